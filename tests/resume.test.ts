/**
 * Resume that cannot re-pulse, and a board left safe (issue 13): journal before errors, torn
 * tails, seq continued, parameters and board checked, SIGKILL at random points, grounding at the
 * end of every run, aborts in every phase, regions, emulated boards that keep their cells.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { Firmware } from '../drivers/emulated/firmware.js';
import { loopback } from '../drivers/emulated/loopback.js';
import { SerialBoard } from '../drivers/serial/serial-board.js';
import { AbortedError, RramError } from '../drivers/errors.js';
import type { Board } from '../drivers/board.js';
import { RunContext } from '../src/engine/run-context.js';
import { RunEngine, type CellJob } from '../src/engine/run-engine.js';
import type { RunEvent } from '../src/engine/events.js';
import { characterize } from '../src/procedures/characterize.js';
import { programArray } from '../src/procedures/program-array.js';
import { patternMap } from '../src/procedures/level-map.js';
import { setupProgramming } from '../src/procedures/program-setup.js';
import { programCell } from '../src/plans/program-cell.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { eventsTextSync } from '../src/store/event-files.js';
import { resumeFrom, runJob } from '../src/jobs/run-job.js';
import { StoreSink } from '../src/store/embedded-store.js';
import { Rng } from '../lib/rng.js';
import { repoRoot } from '../lib/repo-root.js';
import { needTool } from './helpers/env.js';
import { storedEvents } from './helpers/record.js';
import { variantCalibration } from './helpers/boards.js';

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const rram = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', cwd: mkdtempSync(join(tmpdir(), 'res-')), timeout: 300000 });
const lines = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : []);
// Plain while a run is written, packed once it ended: read whichever the store holds; a torn last line is no event.
const events = storedEvents;
const key = (c: { array: number; row: number; col: number }) => `${c.array}:${c.row}:${c.col}`;
/** Resolves with the exit code once the child has exited (also when it already has). */
const exited = (p: ReturnType<typeof spawn>) => new Promise<number | null>((r) => (p.exitCode !== null || p.signalCode !== null ? r(p.exitCode) : p.once('exit', (c) => r(c))));

test('engine: the cells finished in the round an error ends are in the durable record before the error propagates', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jr2-'));
  const store = new EmbeddedStore(dir);
  const b = new EmulatedBoard({ seed: 5 });
  const cfg = setupProgramming({ algo: 'igvva', levels: 4 }, b.info()).config;
  let reads = 0;
  const read = b.read.bind(b);
  // The board dies at its 3000th read: the HRS cells have finished by then, the LRS ones have not.
  b.read = async (c, o) => {
    if (++reads === 3000) throw new RramError('DISCONNECTED', 'board gone');
    return read(c, o);
  };
  const ctx = new RunContext('err');
  const sink = new StoreSink(store, 'err').attach(ctx.events$);
  ctx.onFlush((d) => sink.flushSync(d));
  const done: string[] = [];
  let onDisk: string[] = [];
  ctx.events$.subscribe((e) => e.type === 'cell-done' && done.push(key(e.cell)));
  ctx.begin({ kind: 'program', params: {}, board: b.info() });
  const jobs: CellJob[] = Array.from({ length: 64 }, (_, k) => {
    const lvl = k < 32 ? { level: 0, target_A: 2e-6 } : { level: 3, target_A: 43e-6 };
    return { cell: { array: 0, row: 0, col: k }, ...lvl, plan: () => programCell(cfg, lvl) };
  });
  await assert.rejects(
    new RunEngine(b, ctx).runCells(jobs, { concurrency: 64 }).catch((e) => {
      // Read the file as the error arrives, before anything else runs.
      onDisk = events(dir, 'err').filter((x) => x.type === 'cell-done').map((x) => key((x as { cell: { array: number; row: number; col: number } }).cell));
      throw e;
    }),
    /board gone/,
  );
  assert.ok(done.length > 0, 'cells finished before the error');
  assert.deepEqual(onDisk.sort(), done.sort(), 'every cell-done is on disk when the error propagates');
  await sink.close();
});

test('the record is read back whole after a torn last line (kill -9 mid-write): the cut line is the only loss', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'torn-'));
  const store = new EmbeddedStore(dir);
  const ctx = new RunContext('torn');
  const sink = new StoreSink(store, 'torn').attach(ctx.events$);
  ctx.onFlush((d) => sink.flushSync(d));
  ctx.begin({ kind: 'program', params: {}, board: new EmulatedBoard().info() });
  const c = { array: 0, row: 1, col: 2 };
  ctx.emit({ type: 'intent', pulses: [{ cell: c, kind: 'set', vte_V: 1.2, vsl_V: 0, vg_V: 0.7, width_s: 1e-6, level: 1 }] });
  ctx.emit({ type: 'pulse', cell: c, kind: 'set', vte_V: 1.2, vsl_V: 0, vg_V: 0.7, width_s: 1e-6, level: 1 });
  ctx.emit({ type: 'intent', pulses: [{ cell: c, kind: 'set', vte_V: 1.2, vsl_V: 0, vg_V: 0.71, width_s: 1e-6, level: 1 }] });
  ctx.commit(true);
  appendFileSync(join(store.runDir('torn'), 'events.ndjson'), '{"type":"pulse","cell":{"array":0,"ro'); // crash mid-write
  const r = await resumeFrom(store, 'torn');
  assert.equal(r.lastSeq, 3);
  assert.deepEqual(r.ledger.history(undefined, c), { attempts: 1, pulses: 1, unknownPulses: 0, refusedPulses: 0, reads: 0, unusableReads: 0 });
  assert.equal(r.ledger.openIntents().length, 1, 'the second pulse was in flight: its intent has no pulse event');
  assert.equal(r.ledger.openIntents()[0].vg_V, 0.71);
});

test('resume: the same run continues (seq, one run-resume, counts), refused for unknown, completed or different runs and for a board that forgot', async () => {
  const store = mkdtempSync(join(tmpdir(), 'rs-'));
  const base = ['characterize', '--levels', '4', '--cells-per-level', '256', '--store', store];
  // Interrupt a run: Ctrl-C once its first cells are done in the record (not after a fixed time:
  // start-up time varies, and a fast start finished a small run before a timed Ctrl-C).
  const p = spawn(process.execPath, [main, ...base], { stdio: ['ignore', 'pipe', 'pipe'], cwd: store });
  const journaled = () => {
    const runs = existsSync(join(store, 'runs')) ? readdirSync(join(store, 'runs')) : [];
    return runs.length > 0 && lines(join(store, 'runs', runs[0], 'events.ndjson')).some((l) => l.startsWith('{"type":"cell-done"'));
  };
  for (let k = 0; k < 3000 && !journaled() && p.exitCode === null; k++) await new Promise((r) => setTimeout(r, 5));
  p.kill('SIGINT');
  const code = await exited(p);
  assert.equal(code, 130);
  const [id] = readdirSync(join(store, 'runs'));
  const before = events(store, id);
  assert.equal(JSON.parse(readFileSync(join(store, 'runs', id, 'run.json'), 'utf8')).status, 'aborted');
  // Refusals: unknown id, other parameters (named), a fresh board.
  const unknown = rram(...base, '--resume', '20990101-000000-beef');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /--resume="20990101-000000-beef": no run with this id/);
  const other = rram('characterize', '--levels', '4', '--cells-per-level', '16', '--step', '0.02', '--store', store, '--resume', id);
  assert.equal(other.status, 2, other.stderr + other.stdout);
  assert.match(other.stderr, /cellsPerLevel: was 256, now 16/);
  assert.match(other.stderr, /step_V: was 0\.01, now 0\.02/);
  const fresh = rram(...base, '--resume', id, '--new-board');
  assert.equal(fresh.status, 2);
  assert.match(fresh.stderr, /--new-board.*would discard the cells the run programmed/);
  // A board that forgot (its saved state gone, e.g. another machine): refused, never read as pristine.
  const forgot = mkdtempSync(join(tmpdir(), 'rs-forgot-'));
  cpSync(join(store, 'runs'), join(forgot, 'runs'), { recursive: true });
  const f2 = rram('characterize', '--levels', '4', '--cells-per-level', '256', '--store', forgot, '--resume', id);
  assert.equal(f2.status, 2);
  assert.match(f2.stderr, /does not hold what was programmed/);
  // The resume itself.
  const ok = rram(...base, '--resume', id, '--json');
  assert.equal(ok.status, 0, ok.stderr);
  const all = events(store, id);
  const seqs = all.map((e) => e.seq);
  assert.deepEqual(seqs, seqs.map((_, k) => k), 'seq unique and contiguous across the resume');
  assert.equal(all.filter((e) => e.type === 'run-start').length, 1);
  assert.equal(all.filter((e) => e.type === 'run-resume').length, 1);
  assert.equal(all.filter((e) => e.type === 'run-end').length, 2, 'the aborted end and the completed end');
  const rec = JSON.parse(readFileSync(join(store, 'runs', id, 'run.json'), 'utf8'));
  assert.equal(rec.status, 'completed');
  assert.equal(rec.resumes, 1);
  assert.equal(rec.events, all.length);
  for (const t of ['pulse', 'read', 'cell-done']) assert.equal(rec.counts[t], all.filter((e) => e.type === t).length, `count of ${t}`);
  const finished = new Set(before.filter((e) => e.type === 'cell-done').map((e) => key((e as { cell: { array: number; row: number; col: number } }).cell)));
  const resumedAt = all.findIndex((e) => e.type === 'run-resume');
  assert.ok(all.slice(resumedAt).every((e) => e.type !== 'pulse' || !finished.has(key(e.cell))), 'no finished cell pulsed again');
  const d = JSON.parse(ok.stdout);
  assert.equal(d.summary.cells, 1024);
  assert.ok(d.summary.successRate >= 0.95, 'the resumed board still holds the first part (not pristine reads)');
  assert.equal(rram(...base, '--resume', id).status, 2, 'a completed run is not resumed');
});

/** Pulses per cell key in a list of events (every outcome), and of unknown outcome. */
function pulsesByCell(evs: RunEvent[]): { all: Map<string, number>; unknown: Map<string, number> } {
  const all = new Map<string, number>();
  const unknown = new Map<string, number>();
  for (const e of evs) {
    if (e.type !== 'pulse') continue;
    const k = key(e.cell);
    all.set(k, (all.get(k) ?? 0) + 1);
    if (e.outcome === 'unknown') unknown.set(k, (unknown.get(k) ?? 0) + 1);
  }
  return { all, unknown };
}

/** Kill points of the CLI run below: one seeded random point in each of KILLS equal slices of a whole run. */
const KILLS = 12;

test(`kill -9 at ${KILLS} random points of a real CLI run, spread over all of it, then --resume: no cell done in the record is pulsed again, every pulse is in the result, the board got exactly what the record says`, { timeout: 900000 }, async () => {
  const rng = new Rng(2024);
  const args = (store: string, seed: number) => ['characterize', '--levels', '4', '--cells-per-level', '48', '--reads', '2', '--store', store, '--seed', String(seed)];
  /** Starts a run; resolves once its run.json exists (however slow the machine is at starting node). */
  const start = async (store: string, seed: number) => {
    const p = spawn(process.execPath, [main, ...args(store, seed)], { stdio: 'ignore', cwd: store });
    const t0 = Date.now();
    while (!(existsSync(join(store, 'runs')) && readdirSync(join(store, 'runs')).length) && Date.now() - t0 < 60000 && p.exitCode === null) await new Promise((r) => setTimeout(r, 10));
    return p;
  };
  // How long a whole run lasts on this machine now: the kill points are spread over all of it (the
  // first rounds, the programming between cell-dones, the last reads and the commit at the end).
  // Two reference runs, the shorter counts: the first one on a cold machine (disk cache, a busy
  // neighbour) ran 1.8x longer than the runs after it, and kills drawn past their end were wasted.
  let whole_ms = Infinity;
  for (let k = 0; k < 2; k++) {
    const ref = mkdtempSync(join(tmpdir(), 'kill-ref-'));
    const whole = await start(ref, 0);
    const t0 = Date.now();
    assert.equal(await exited(whole), 0);
    whole_ms = Math.min(whole_ms, Date.now() - t0);
  }
  let trials = 0;
  let attempts = 0;
  let recovered = 0;
  let killedBetween = 0;
  while (trials < KILLS && attempts < 3 * KILLS) {
    attempts++;
    const store = mkdtempSync(join(tmpdir(), 'kill-'));
    const seed = trials + 1;
    const p = await start(store, seed);
    // Trial k's kill lands at a random point of slice k of the run; one that lands after the end
    // (a slow start, a fast run) is drawn again in the same slice.
    const at = ((trials + rng.uniform()) / KILLS) * whole_ms;
    await new Promise((r) => setTimeout(r, at));
    p.kill('SIGKILL');
    await exited(p);
    const runs = existsSync(join(store, 'runs')) ? readdirSync(join(store, 'runs')) : [];
    if (!runs.length) continue; // killed before the run began: not a point of a run
    const id = runs[0];
    const rec = JSON.parse(readFileSync(join(store, 'runs', id, 'run.json'), 'utf8'));
    if (rec.status === 'completed') {
      // Killed after the end: this run was shorter than the reference; the slices shrink to it.
      whole_ms = Math.min(whole_ms, at);
      continue;
    }
    trials++;
    const before = events(store, id);
    // Cells done in the record at the kill (cell-done of the programming step), whatever any index says.
    const doneBefore = new Set(before.filter((e) => e.type === 'cell-done' && !(e as { step?: string }).step).map((e) => key((e as { cell: { array: number; row: number; col: number } }).cell)));
    const r = rram(...args(store, seed), '--resume', id, '--json');
    assert.equal(r.status, 0, `trial ${trials} (kill at ${at.toFixed(0)} ms): ${r.stderr}`);
    const all = events(store, id);
    const seqs = all.map((e) => e.seq);
    assert.deepEqual(seqs, seqs.map((_, k) => k), 'seq unique and contiguous across the kill and the resume');
    const from = all.findIndex((e) => e.type === 'run-resume');
    assert.ok(from > 0);
    const after = all.slice(from);
    const repulsed = after.filter((e) => e.type === 'pulse' && !(e as { recovered?: boolean }).recovered && doneBefore.has(key(e.cell)));
    assert.equal(repulsed.length, 0, `trial ${trials}: ${repulsed.length} pulses on cells the record had done`);
    recovered += after.filter((e) => e.type === 'pulse' && (e as { recovered?: boolean }).recovered).length;
    if (before.filter((e) => e.type === 'cell-done').length > 0 && before.at(-1)?.type !== 'cell-done') killedBetween++;
    process.stdout.write(`# kill ${trials}: at ${at.toFixed(0)} of ${whole_ms.toFixed(0)} ms, ${before.length} events and ${doneBefore.size} of 192 cells done in the record\n`);
    // Every pulse of every attempt is in the result, cell by cell.
    const d = JSON.parse(readFileSync(join(store, 'runs', id, 'level-cdf.json'), 'utf8'));
    const { all: pulses, unknown } = pulsesByCell(all);
    const cellsOut: { array: number; row: number; col: number; pulses: number; unknownPulses: number; attempts: number }[] = d.levels.flatMap((l: { cells: unknown[] }) => l.cells);
    assert.equal(cellsOut.length, 192);
    for (const c of cellsOut) {
      assert.equal(c.pulses, pulses.get(key(c)) ?? 0, `trial ${trials}: cell ${key(c)}: the result says ${c.pulses} pulses, the record holds ${pulses.get(key(c)) ?? 0}`);
      assert.equal(c.unknownPulses, unknown.get(key(c)) ?? 0);
    }
    assert.equal(cellsOut.reduce((a, c) => a + c.pulses, 0), all.filter((e) => e.type === 'pulse').length, 'every pulse event is counted once in the result');
    // The board (its saved state) received exactly what the record says: each confirmed pulse, and of
    // the unknown ones (in flight at the kill) those that it applied before it died.
    const board = new EmulatedBoard({ seed });
    board.attachState(join(store, 'boards'));
    for (const c of cellsOut) {
      const k = board.countersSync(c);
      const got = k.form + k.set + k.reset;
      const rec2 = pulses.get(key(c)) ?? 0;
      const unk = unknown.get(key(c)) ?? 0;
      assert.ok(got >= rec2 - unk && got <= rec2, `trial ${trials}: cell ${key(c)}: the board got ${got} pulses, the record says ${rec2 - unk} confirmed + ${unk} unknown`);
    }
    await board.close();
    const out = JSON.parse(r.stdout);
    assert.equal(out.summary.cells, 192);
    assert.ok(out.summary.successRate >= 0.9, `trial ${trials}: ${JSON.stringify(out.summary)}`);
  }
  assert.equal(trials, KILLS, `only ${trials} kills landed inside a run in ${attempts} attempts (a whole run: ${whole_ms} ms)`);
  assert.ok(killedBetween > 0, 'some kills landed between a cell-done and the next round');
  void recovered;
});

/** A board that records the last operation it was asked for. */
function tracked(b: Board): { b: Board; last: () => string } {
  let last = '';
  for (const op of ['form', 'set', 'reset', 'read', 'readRow', 'readArray', 'wait', 'ground'] as const) {
    const f = (b[op] as (...a: unknown[]) => Promise<unknown>).bind(b);
    (b as unknown as Record<string, unknown>)[op] = (...a: unknown[]) => {
      last = op;
      return f(...a);
    };
  }
  return { b, last: () => last };
}

test('the board is grounded at the end of every run: completed, failed, aborted', async () => {
  const o = { algo: 'igvva' as const, levels: 4, cellsPerLevel: 8, reads: 1, relax_s: [], seed: 1 };
  const done = tracked(new EmulatedBoard({ seed: 1 }));
  await characterize(done.b, new RunContext('g1'), o);
  assert.equal(done.last(), 'ground', 'completed');
  const failing = tracked(new EmulatedBoard({ seed: 1 }));
  const ra = failing.b.readArray.bind(failing.b);
  failing.b.readArray = async (a, x) => {
    await ra(a, x);
    throw new RramError('DISCONNECTED', 'gone in the read-back');
  };
  await assert.rejects(characterize(failing.b, new RunContext('g2'), o), /gone in the read-back/);
  assert.equal(failing.last(), 'ground', 'failed in the read-back');
  const ac = new AbortController();
  const aborted = tracked(new EmulatedBoard({ seed: 1 }));
  const ctx = new RunContext('g3');
  let n = 0;
  ctx.events$.subscribe((e) => e.type === 'cell-done' && ++n === 5 && ac.abort());
  await assert.rejects(programArray(aborted.b, ctx, { algo: 'igvva', levels: 4, array: 0, map: patternMap('random', 4, 64, 64), mapName: 'random', cells: Array.from({ length: 64 }, (_, k) => k), engine: { signal: ac.signal, concurrency: 8 } }), AbortedError);
  assert.equal(aborted.last(), 'ground', 'aborted');
});

test('abort is honoured within a second in every phase on a board that really waits: programming, read-back, relaxation wait', async () => {
  for (const phase of ['program', 'readback', 'relax']) {
    const board = new EmulatedBoard({ seed: 1 });
    const fw = new Firmware(board, () => undefined, { time: 'real', tOp_s: 0.002 });
    const drv = await SerialBoard.open({ transport: loopback(fw).factory, keepAlive_ms: 0, margin_ms: 50 });
    const ac = new AbortController();
    const ctx = new RunContext(phase);
    let tAbort = 0;
    const abort = () => {
      if (tAbort) return;
      tAbort = performance.now();
      ac.abort();
    };
    ctx.events$.subscribe((e) => {
      if (phase === 'program' && e.type === 'cell-done') abort();
      if (phase === 'readback' && e.type === 'read' && e.phase === 'readback') abort();
    });
    if (phase === 'relax') setTimeout(() => abort(), 1500);
    const run = characterize(drv, ctx, { algo: 'igvva', levels: 4, cellsPerLevel: 8, reads: 3, relax_s: [3600], seed: 1, engine: { signal: ac.signal } });
    await assert.rejects(run, AbortedError, phase);
    const lag = performance.now() - tAbort;
    assert.ok(tAbort > 0 && lag < 1000, `${phase}: stopped ${lag.toFixed(0)} ms after the abort`);
    await drv.close();
  }
});

test('program --region and --cells: only those cells are pulsed; the rest are untouched and not counted', () => {
  const store = mkdtempSync(join(tmpdir(), 'rg-'));
  const r = rram('program', '--map', 'random', '--levels', '4', '--region', '2:5,10:13', '--store', store, '--json');
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.summary.cells, 16);
  const [id] = readdirSync(join(store, 'runs'));
  const pulsed = new Set(events(store, id).filter((e) => e.type === 'pulse').map((e) => key((e as { cell: { array: number; row: number; col: number } }).cell)));
  assert.equal(pulsed.size, 16);
  for (const k of pulsed) {
    const [, row, col] = k.split(':').map(Number);
    assert.ok(row >= 2 && row <= 5 && col >= 10 && col <= 13, k);
  }
  const file = join(store, 'cells.csv');
  writeFileSync(file, 'row,col,level\n0,0,3\n0,1,0\n63,63,2\n');
  const c = rram('program', '--cells', file, '--levels', '4', '--array', '1', '--store', store, '--json');
  assert.equal(c.status, 0, c.stderr);
  const k = JSON.parse(c.stdout);
  assert.equal(k.summary.cells, 3);
  assert.deepEqual(k.stats.map((s: { n: number }) => s.n), [1, 0, 1, 1]);
  for (const [args, re] of [
    [['--region', '5:2,0:3'], /--region="5:2,0:3": must lie within/],
    [['--region', '0:64,0:3'], /--region="0:64,0:3"/],
  ] as const) {
    const bad = rram('program', '--map', 'random', '--levels', '4', ...args, '--store', store);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, re);
  }
  writeFileSync(file, 'row,col,level\n0,0,9\n');
  const badLevel = rram('program', '--cells', file, '--levels', '4', '--store', store);
  assert.equal(badLevel.status, 2);
  assert.match(badLevel.stderr, /cells.csv: line 2: level 9 is not an integer in 0\.\.3/);
});

test('an emulated board keeps its cells between commands; --new-board starts pristine; one process at a time', async () => {
  const store = mkdtempSync(join(tmpdir(), 'st-'));
  assert.equal(rram('pulse', 'form', '--cell', '4,4', '--vte', '3.9', '--vg', '1.6', '--width', '1e-5', '--store', store).status, 0);
  const after = JSON.parse(rram('read', '--cell', '4,4', '--json', '--store', store).stdout).cells[0].current_A;
  assert.ok(after > 5e-6, `the formed cell reads ${after} in the next command`);
  const other = JSON.parse(rram('read', '--cell', '4,4', '--json', '--store', store, '--seed', '2').stdout).cells[0].current_A;
  assert.ok(other < 1e-6, 'another seed is another board');
  const fresh = JSON.parse(rram('read', '--cell', '4,4', '--json', '--store', store, '--new-board').stdout).cells[0].current_A;
  assert.ok(fresh < 1e-6, '--new-board is pristine');
  // While one process holds the board, another is refused with the holder's pid.
  const b = new EmulatedBoard({ seed: 1 });
  b.attachState(join(store, 'boards'));
  const busy = rram('read', '--cell', '4,4', '--store', store);
  assert.notEqual(busy.status, 0);
  assert.match(busy.stderr, new RegExp(`in use by process ${process.pid}`));
  await b.close();
  assert.equal(rram('read', '--cell', '4,4', '--store', store).status, 0);
});

test('a board without a calibration (hardware on --port) below --min-success: exit 3, everything stored, the run record says why', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const { file } = variantCalibration('stuck-20-pty', { fraction_stuck_lrs: 0.2 });
  const emu = spawn(process.execPath, [main, 'emulate', '--pty', '--json', '--virtual-time', '--calibration', file], { stdio: ['ignore', 'pipe', 'ignore'] });
  const path = await new Promise<string>((res) => emu.stdout!.once('data', (d: Buffer) => res(JSON.parse(d.toString().split('\n')[0]).path)));
  try {
    const store = mkdtempSync(join(tmpdir(), 'x3-'));
    const r = rram('characterize', '--levels', '4', '--cells-per-level', '16', '--port', path, '--store', store, '--json');
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /below --min-success 95 %\); failures: .*stuck/);
    const [id] = readdirSync(join(store, 'runs'));
    const rec = JSON.parse(readFileSync(join(store, 'runs', id, 'run.json'), 'utf8'));
    assert.equal(rec.status, 'completed');
    assert.equal(rec.verdict.belowMinSuccess, true);
    assert.ok(existsSync(join(store, 'runs', id, 'level-cdf.json')));
  } finally {
    emu.kill('SIGTERM');
  }
});

test('runJob: a resumed job whose run cannot be found never writes into the store', async () => {
  const store = new EmbeddedStore(mkdtempSync(join(tmpdir(), 'rj-')));
  await assert.rejects(runJob({ store, runId: 'nope', resume: true }, async () => 1), /no run with this id/);
  assert.deepEqual(store.listRuns(), []);
});
