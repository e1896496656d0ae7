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
