/** Issue 28: program-net --refresh-after T rewrites exactly the cells that relaxed out of their decision band, through the run engine. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { loadCalibration, values } from '../calibration/calibration.js';
import { withValues } from '../src/calibrate/fit.js';
import { cellKey, type RunEvent } from '../src/engine/events.js';
import { RunContext } from '../src/engine/run-context.js';
import { UNUSED, type Tile } from '../src/inference/tiling.js';
import { refreshSummary } from '../src/procedures/net-on-arrays.js';
import { bandDeviation, pickCells } from '../src/procedures/reverify.js';
import fc from 'fast-check';
import { NetProgrammer, type ProgramNetOptions, type ProgramNetResult } from '../src/procedures/program-net.js';
import type { Board } from '../drivers/board.js';

const base = loadCalibration();
// A board that relaxes ten times as much as the default (which at 1e4 s moves no cell out of its whole decision band): a share of the cells leaves it.
const strong = { ...withValues(base, { ...values(base), relaxation_scale: values(base).relaxation_scale * 10 }), id: 'strong-relax' };

/** One tile on array `array`: `rows` full rows of 4 levels in turn, the rest unused. */
function tile(index: number, rows: number, array: number): Tile {
  const levels = new Uint8Array(64 * 64).fill(UNUSED);
  for (let i = 0; i < rows * 64; i++) levels[i] = (i * 7 + index) % 4;
  const ids = (n: number) => Array.from({ length: n }, (_, k) => k);
  return { index, layer: 0, layerName: 'test', array, row0: 0, col0: 0, rows, cols: 64, rowAt: ids(rows), colAt: ids(64), levels, used: rows * 64 };
}

/** The tiles programmed in order by one run, as program-net does. */
async function programNet(board: Board, ctx: RunContext, o: Omit<ProgramNetOptions, 'planned'> & { tiles: Tile[] }): Promise<ProgramNetResult> {
  const p = new NetProgrammer(board, ctx, { ...o, planned: { tiles: o.tiles.length, cells: o.tiles.reduce((s, t) => s + t.used, 0) } });
  p.begin();
  const out = [];
  for (const t of o.tiles) out.push(await p.tile(t));
  return p.result(out);
}

test('refresh: re-reads every programmed cell after T and programs again exactly those outside their decision band, through the run engine (every refresh pulse announced by an intent first)', async () => {
  for (const seed of [3, 8]) {
    const board = new EmulatedBoard({ seed, calibration: strong });
    const ctx = new RunContext(`refresh-${seed}`);
    const events: RunEvent[] = [];
    ctx.events$.subscribe((e) => events.push(e));
    const tiles = [tile(0, 4, 0), tile(1, 3, 1)];
    const r = await programNet(board, ctx, { algo: 'igvva', levels: 4, tiles, arrays: [0, 1], calibration: strong, refreshAfter_s: 1e4, describe: {} });
    assert.equal(r.refresh!.length, 2);
    const bands = new Map(r.levels.map((s) => [s.level, s.band_A]));
    for (const t of tiles) {
      const step = `tile ${t.index + 1} refresh`;
      const checks = events.filter((e): e is Extract<RunEvent, { type: 'read' }> => e.type === 'read' && e.phase === 'refresh' && e.step === step);
      const out = new Set(checks.filter((e) => e.current_A !== null && (e.current_A < bands.get(e.level)![0] || e.current_A > bands.get(e.level)![1])).map((e) => cellKey(e.cell)));
      const pulsed = new Set(events.filter((e) => e.type === 'pulse' && e.step === step).map((e) => cellKey((e as Extract<RunEvent, { type: 'pulse' }>).cell)));
      const done = events.filter((e): e is Extract<RunEvent, { type: 'cell-done' }> => e.type === 'cell-done' && e.step === step);
      const rep = r.refresh!.find((x) => x.tile === t.index)!.passes[0];
      const programmedOk = events.filter((e) => e.type === 'cell-done' && e.step === `tile ${t.index + 1}` && (e as Extract<RunEvent, { type: 'cell-done' }>).outcome.status === 'ok').length;
      assert.equal(checks.length, programmedOk, `seed ${seed} tile ${t.index}: every programmed cell is checked`);
      assert.equal(rep.checked, programmedOk);
      assert.ok(out.size > 0, `seed ${seed} tile ${t.index}: relaxation moved some cells out (${out.size})`);
      assert.ok(out.size < checks.length, `seed ${seed} tile ${t.index}: ... not all of them`);
      assert.deepEqual([...pulsed].sort(), [...out].sort(), `seed ${seed} tile ${t.index}: the refresh pulses exactly the cells out of band`);
      assert.deepEqual(done.map((e) => cellKey(e.cell)).sort(), [...out].sort(), 'each rewritten cell is recorded done once');
      assert.equal(rep.outside, out.size, 'the report counts them');
      assert.equal(rep.ok, done.filter((e) => e.outcome.status === 'ok').length);
      // Write-ahead: at every point of the record a cell's refresh pulses never outnumber the intents announcing them.
      const announced = new Map<string, number>();
      const sent = new Map<string, number>();
      for (const e of events) {
        if (e.type === 'intent') for (const p of e.pulses) if (p.step === step) announced.set(cellKey(p.cell), (announced.get(cellKey(p.cell)) ?? 0) + 1);
        if (e.type === 'pulse' && e.step === step) {
          const k = cellKey(e.cell);
          sent.set(k, (sent.get(k) ?? 0) + 1);
          assert.ok(sent.get(k)! <= (announced.get(k) ?? 0), `seed ${seed}: pulse ${k} without its intent`);
        }
      }
    }
    const sum = refreshSummary(1e4, r.refresh!);
    assert.equal(sum.rewritten, r.refresh!.reduce((a, t) => a + t.passes[0].outside, 0));
    assert.ok(Math.abs(sum.share - sum.rewritten / sum.checked) < 1e-12);
  }
});

test('refresh-after must be a positive time', async () => {
  const board = new EmulatedBoard({ seed: 1, calibration: strong });
  await assert.rejects(programNet(board, new RunContext('bad'), { algo: 'igvva', levels: 4, tiles: [tile(0, 1, 0)], arrays: [0], refreshAfter_s: -5, describe: {} }), /refresh-after=-5/);
});

test('refresh budget: of any deviations, the farthest cells first, never more than the budget, never one inside the inner half of its band; without a budget exactly those out of band', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ d: fc.oneof(fc.double({ min: 0, max: 3, noNaN: true }), fc.constant(Infinity)), done: fc.boolean() }), { maxLength: 200 }), fc.option(fc.double({ min: 0.001, max: 1, noNaN: true }), { nil: undefined }), (cells, budget) => {
      const checked = cells.map((c, i) => ({ e: { i, ...c }, d: c.d }));
      const { picked, leftOutOfBand } = pickCells(checked, budget, (e) => e.done);
      const ids = new Set(picked.map((e) => e.i));
      // Cells the record shows rewritten (a resume) are always kept.
      for (const c of checked) if (c.e.done) assert.ok(ids.has(c.e.i));
      const fresh = checked.filter((c) => !c.e.done);
      if (budget === undefined) {
        assert.deepEqual([...ids].sort((a, b) => a - b), checked.filter((c) => c.e.done || c.d > 1).map((c) => c.e.i));
        assert.equal(leftOutOfBand, 0);
        return;
      }
      const newly = fresh.filter((c) => ids.has(c.e.i));
      assert.ok(picked.length <= Math.max(Math.floor(budget * checked.length), checked.filter((c) => c.e.done).length), 'within the budget');
      assert.ok(newly.every((c) => c.d > 0.5), 'none inside the inner half band');
      // Farthest first: every cell left out (beyond half the band) is no farther than every one taken.
      const minTaken = Math.min(...newly.map((c) => c.d));
      for (const c of fresh) if (!ids.has(c.e.i) && c.d > 0.5) assert.ok(c.d <= minTaken);
      assert.equal(leftOutOfBand, fresh.filter((c) => !ids.has(c.e.i) && c.d > 1).length);
    }),
  );
});

test('a refresh with a budget rewrites at most that share of each tile, the cells read farthest from their targets, and counts the out-of-band cells it left', async () => {
  const board = new EmulatedBoard({ seed: 3, calibration: strong });
  const ctx = new RunContext('refresh-budget');
  const events: RunEvent[] = [];
  ctx.events$.subscribe((e) => events.push(e));
  const tiles = [tile(0, 4, 0)];
  const r = await programNet(board, ctx, { algo: 'igvva', levels: 4, tiles, arrays: [0], calibration: strong, refreshAfter_s: 1e4, refreshBudget: 0.02, describe: {} });
  const specs = new Map(r.levels.map((s) => [s.level, s]));
  const checks = events.filter((e): e is Extract<RunEvent, { type: 'read' }> => e.type === 'read' && e.phase === 'refresh');
  const pulsed = new Set(events.filter((e) => e.type === 'pulse' && e.step === 'tile 1 refresh').map((e) => cellKey((e as Extract<RunEvent, { type: 'pulse' }>).cell)));
  const pass = r.refresh![0].passes[0];
  assert.equal(pass.outside, Math.floor(0.02 * checks.length), 'the budget is spent (this board has more cells out of band than it)');
  assert.equal(pulsed.size, pass.outside);
  const dev = checks.map((e) => ({ k: cellKey(e.cell), d: e.current_A === null ? 0 : bandDeviation(specs.get(e.level)! as never, e.current_A, 'refresh') }));
  const minPicked = Math.min(...dev.filter((x) => pulsed.has(x.k)).map((x) => x.d));
  assert.ok(dev.filter((x) => !pulsed.has(x.k)).every((x) => x.d <= minPicked), 'the farthest cells were picked');
  assert.equal(pass.leftOutOfBand, dev.filter((x) => !pulsed.has(x.k) && x.d > 1).length);
  assert.ok(pass.leftOutOfBand! > 0);
  await assert.rejects(programNet(new EmulatedBoard({ seed: 1, calibration: strong }), new RunContext('b2'), { algo: 'igvva', levels: 4, tiles: [tile(0, 1, 0)], arrays: [0], refreshBudget: 0.05, describe: {} }), /refresh-budget=0\.05.*applies with --refresh-after only/);
  await assert.rejects(programNet(new EmulatedBoard({ seed: 1, calibration: strong }), new RunContext('b3'), { algo: 'igvva', levels: 4, tiles: [tile(0, 1, 0)], arrays: [0], refreshAfter_s: 1e4, refreshBudget: 1.5, describe: {} }), /refresh-budget=1\.5/);
});
