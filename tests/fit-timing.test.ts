/**
 * Issue 26: the twin waits between a cell's last verify and its read-back as long as the board did
 * (calibrate/fit-timing.ts). A board behind a serial link takes ~1 ms per operation where the
 * emulator's default takes 5 us: replayed at the default, the fast relaxation looked half done in
 * the twin and complete on the board.
 *  - every programmed cell's delay is the board clock's time from its cell-done to its array's
 *    first read-back, and the fit's replay computes the same delays to within one engine batch;
 *  - a board 20x slower per operation than the default: the fit finds its time per operation;
 *    4x faster (its delays mostly pulse and read times): the secant steps find it in three rounds;
 *  - no delays recorded (an emulator behind a link, a file from before): the value is the
 *    convention, never called fitted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCalibration, values, type Calibration } from '../calibration/calibration.js';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import type { Board } from '../drivers/board.js';
import { RunContext } from '../src/engine/run-context.js';
import { cellKey } from '../src/engine/events.js';
import { characterize, type LevelCdfDataset } from '../src/procedures/characterize.js';
import { replayCharacterize } from '../src/calibrate/simulate.js';
import { fitTiming, boardDelays } from '../src/calibrate/fit-timing.js';
import { characterizeDesign } from '../src/calibrate/sim-tasks.js';
import { SimPool } from '../src/calibrate/sim-pool.js';
import { median } from '../src/calibrate/numeric.js';
import { fitCalibration, withValues } from '../src/calibrate/fit.js';

const base = loadCalibration();
const slow = (c: Calibration, op_s: number): Calibration => ({ ...withValues(c, { ...values(c), op_overhead_s: op_s }), id: 'slow-board' });
const run = (board: Board, seed = 4) => characterize(board, new RunContext(`c${seed}`), { algo: 'igvva', levels: 4, cellsPerLevel: 32, reads: 2, relax_s: [1], seed, calibration: base, mvmProbe: false });

test('each cell records the board clock from its last verify to its read-back; the replay computes the same delays to within one engine batch', async () => {
  const board = new EmulatedBoard({ seed: 6, calibration: base });
  // The clock at each cell-done and at each array's first read, watched from outside the procedure.
  const doneAt = new Map<string, number>();
  const readAt = new Map<number, number>();
  const ctx = new RunContext('c');
  ctx.events$.subscribe((e) => {
    if (e.type === 'cell-done') doneAt.set(cellKey(e.cell), board.now_s);
  });
  const readArray = board.readArray.bind(board);
  board.readArray = (a, o) => {
    if (!readAt.has(a)) readAt.set(a, board.now_s);
    return readArray(a, o);
  };
  const d = await characterize(board, ctx, { algo: 'igvva', levels: 4, cellsPerLevel: 32, reads: 2, relax_s: [1], seed: 6, calibration: base, mvmProbe: false });
  const cells = d.levels.flatMap((l) => l.cells);
  let timed = 0;
  for (const c of cells) {
    const k = cellKey(c);
    if (!doneAt.has(k)) continue;
    timed++;
    assert.equal(c.readbackDelay_s, readAt.get(c.array)! - doneAt.get(k)!, `cell ${k}`);
    assert.ok(c.readbackDelay_s! >= 0);
  }
  assert.equal(timed, cells.length, 'every cell of the run was timed');
  // The fit's replay is the procedure itself, but for when a cell-done is recorded: the engine
  // records it after the batch its last command went in (up to 64 commands, ~8 us each here), the
  // replay right after that command. Each delay within that, the medians within 1 %.
  const r = replayCharacterize(base, d, 1, 6);
  const batch = 64 * (base.params.op_overhead_s.value + base.params.read_time_s.value + 2e-6);
  d.levels.forEach((l, k) => l.cells.forEach((c, i) => assert.ok(Math.abs(r[k][i].readbackDelay_s! - c.readbackDelay_s!) <= batch, `level ${k} cell ${i}: replay ${r[k][i].readbackDelay_s}, run ${c.readbackDelay_s}`)));
  const mr = median(r.flat().map((c) => c.readbackDelay_s!));
  const md = median(cells.map((c) => c.readbackDelay_s!));
  assert.ok(Math.abs(mr / md - 1) < 0.01, `median delay: replay ${mr} s, run ${md} s`);
});

test('a board 20x slower per operation than the default: the fit finds its time per operation, fitted with its evidence', { timeout: 300000 }, async () => {
  const truth = 20 * base.params.op_overhead_s.value;
  const d = await run(new EmulatedBoard({ seed: 4, calibration: slow(base, truth) }));
  assert.ok(boardDelays(d, () => true).length >= 100);
  const pool = new SimPool();
  try {
    const state = { p: values(base), relaxation: base.relaxation };
    const r = await fitTiming({ data: d, keep: () => true, runId: 'c4', state, pool, calibrate: (s) => withValues(base, s.p, s.relaxation), design: characterizeDesign(d), seed: 11 });
    assert.ok(r, 'timed');
    assert.equal(r.record.status, 'fitted');
    assert.ok(Math.abs(r.record.value / truth - 1) < 0.1, `fitted ${r.record.value} s per operation, the board's ${truth}`);
    assert.equal(state.p.op_overhead_s, r.record.value);
    const ev = r.record.evidence![0];
    assert.ok(Math.abs(ev.model - ev.measured) <= 2 * ev.se, `median delay: board ${ev.measured}, replay ${ev.model} +- ${ev.se}`);
    // The error is the replays' own from seed to seed (the delays follow the schedule, not independent draws).
    assert.ok(r.record.uncertainty! > 0 && r.record.uncertainty! < 0.1 * truth, `uncertainty ${r.record.uncertainty}`);
    // A resumed run times only the cells it finished itself (the last, with the shortest delays):
    // half the cells timed is no timing, and the value is left as it was.
    const half = structuredClone(d);
    half.levels.forEach((l) => l.cells.forEach((c, i) => i % 2 && delete c.readbackDelay_s));
    const before = { p: values(base), relaxation: base.relaxation };
    assert.equal(await fitTiming({ data: half, keep: () => true, runId: 'c4', state: before, pool, calibrate: (s) => withValues(base, s.p, s.relaxation), design: characterizeDesign(half), seed: 11 }), undefined);
    assert.equal(before.p.op_overhead_s, base.params.op_overhead_s.value);
  } finally {
    await pool.close();
  }
  // Through the whole fit: the calibration carries it.
  const fit = await fitCalibration({ base, sweeps: [], cdfs: [{ runId: 'c4', data: d }] });
  assert.equal(fit.params.op_overhead_s.status, 'fitted');
  assert.ok(Math.abs(fit.calibration.params.op_overhead_s.value / truth - 1) < 0.1, `${fit.calibration.params.op_overhead_s.value}`);
});

test('a board 4x faster per operation, whose delays are mostly pulse and read times that do not scale: the secant steps find it in three rounds', { timeout: 300000 }, async () => {
  // Scaling alone converges slowly here (the offset): 8 replays and 21 % off after them.
  const truth = 0.25 * base.params.op_overhead_s.value;
  const d = await run(new EmulatedBoard({ seed: 4, calibration: slow(base, truth) }));
  const pool = new SimPool();
  try {
    const state = { p: values(base), relaxation: base.relaxation };
    const r = await fitTiming({ data: d, keep: () => true, runId: 'c4', state, pool, calibrate: (s) => withValues(base, s.p, s.relaxation), design: characterizeDesign(d), seed: 11 });
    assert.ok(r && r.record.status === 'fitted');
    assert.ok(Math.abs(r.record.value / truth - 1) < 0.1, `fitted ${r.record.value} s per operation, the board's ${truth}`);
    assert.ok(r.runs <= 6, `${r.runs} replays (three rounds of two)`);
  } finally {
    await pool.close();
  }
});

test('no delays recorded (an emulator behind a link, a file from before them): the time per operation stays the convention', { timeout: 300000 }, async () => {
  // A board whose clock the host cannot read and that says it is an emulator: its virtual time is not the host's.
  const inner = new EmulatedBoard({ seed: 4, calibration: base });
  const behindLink = new Proxy(inner, { get: (t, k) => (k === 'clock_s' ? undefined : typeof (t as never)[k] === 'function' ? ((t as never)[k] as (...a: unknown[]) => unknown).bind(t) : (t as never)[k]) }) as Board;
  const d: LevelCdfDataset = await run(behindLink);
  assert.ok(d.levels.every((l) => l.cells.every((c) => c.readbackDelay_s === undefined)), 'no delay claimed');
  const fit = await fitCalibration({ base, sweeps: [], cdfs: [{ runId: 'c4', data: d }] });
  assert.equal(fit.params.op_overhead_s.status, 'convention');
  // A hardware board (its physics on real time) behind a link: timed by the host's clock.
  const hw = new Proxy(behindLink, { get: (t, k) => (k === 'info' ? () => ({ ...t.info(), kind: 'hardware' }) : (t as never)[k]) }) as Board;
  const t0 = Date.now();
  const h = await run(new Proxy(hw, {}), 5);
  const wall = (Date.now() - t0) / 1000;
  const hd = h.levels.flatMap((l) => l.cells.filter((c) => c.status === 'ok').map((c) => c.readbackDelay_s));
  assert.ok(hd.length > 100 && hd.every((x) => x !== undefined && x >= 0 && x <= wall), `host-timed delays within the run's ${wall} s`);
  assert.equal(fit.calibration.params.op_overhead_s.value, base.params.op_overhead_s.value);
});

test('runs whose delays hold more than the programming record none: re-verify passes, a hold at a checkpoint, a link outage', { timeout: 300000 }, async () => {
  const timed = (d: LevelCdfDataset) => d.levels.flatMap((l) => l.cells).filter((c) => c.readbackDelay_s !== undefined).length;
  const opts = { algo: 'igvva' as const, levels: 2, cellsPerLevel: 16, reads: 1, relax_s: [], seed: 7, calibration: base, mvmProbe: false };
  // The same small run, timed, as the reference.
  assert.ok(timed(await characterize(new EmulatedBoard({ seed: 7, calibration: base }), new RunContext('a'), opts)) >= 30);
  // Re-verify passes wait and re-program between the last verify and the read-back.
  assert.equal(timed(await characterize(new EmulatedBoard({ seed: 7, calibration: base }), new RunContext('b'), { ...opts, reverify: { after_s: 1, passes: 1 } })), 0);
  // A hardware board (the host's clock) held 0.6 s at a checkpoint; the same with a hold released at once is timed.
  const hardware = () => {
    const inner = new EmulatedBoard({ seed: 7, calibration: base });
    return new Proxy(inner, { get: (t, k) => (k === 'clock_s' ? undefined : k === 'info' ? () => ({ ...t.info(), kind: 'hardware' }) : typeof (t as never)[k] === 'function' ? ((t as never)[k] as (...a: unknown[]) => unknown).bind(t) : (t as never)[k]) }) as Board;
  };
  for (const [hold_ms, want] of [[600, 0], [0, 32]] as const) {
    const ctx = new RunContext(`h${hold_ms}`);
    let asked = 0;
    ctx.holdRequested = () => ++asked === 3;
    ctx.checkpoint = () => new Promise((r) => setTimeout(r, hold_ms));
    const n = timed(await characterize(hardware(), ctx, opts));
    assert.ok(asked >= 3, 'the engine asked for holds');
    assert.ok(want ? n >= 30 : n === 0, `hold ${hold_ms} ms: ${n} cells timed`);
  }
  // A link outage during the programming (its warning in the record).
  const ctx = new RunContext('l');
  const b = hardware();
  let sets = 0;
  const outage = new Proxy(b, { get: (t, k) => (k === 'set' ? async (...a: unknown[]) => { if (++sets === 20) ctx.emit({ type: 'warning', code: 'link-lost', message: 'test: link lost' }); return (t.set as (...x: unknown[]) => Promise<void>)(...a); } : (t as never)[k]) }) as Board;
  assert.equal(timed(await characterize(outage, ctx, opts)), 0);
});
