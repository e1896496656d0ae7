/**
 * The published behaviour (device-facts.md) on the emulated board with the default calibration:
 * 8 levels x 128 cells. IGVVA-10 >= 99 % success, medians ordered and in band, spread ranking
 * IGVVA-10 < ISPVA < IGVVA-100, mean pulses of the order of 121 (IGVVA-10) and 16 (ISPVA).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { RunContext } from '../src/engine/run-context.js';
import { characterize, type LevelCdfDataset } from '../src/procedures/characterize.js';
import { defaultLevels } from '../src/analysis/levels.js';

async function run(algo: 'igvva' | 'ispva', step: number): Promise<LevelCdfDataset> {
  const b = new EmulatedBoard({ seed: 1 });
  const gates = defaultLevels(8).map((s) => Math.min(3.3, b.gateFor(Math.min(240e-6, s.target_A / 0.2 + 2e-6))));
  return characterize(b, new RunContext(`${algo}${step}`), { algo, step_V: step, levels: 8, cellsPerLevel: 128, reads: 1, relax_s: [], ispvaGates_V: gates });
}

const lrsSpread = (d: LevelCdfDataset) => d.levels.slice(1).reduce((s, l) => s + l.stats.sigmaRobust_A, 0) / 7;
const lrsPulses = (d: LevelCdfDataset) => {
  const all = d.levels.slice(1).flatMap((l) => l.cells.map((c) => c.pulses));
  return all.reduce((a, b) => a + b, 0) / all.length;
};

test('8 levels x 128 cells reproduce the published IGVVA / ISPVA behaviour', async () => {
  const [i10, i100, isp] = [await run('igvva', 0.01), await run('igvva', 0.1), await run('ispva', 0.1)];
  const ok = i10.levels.reduce((n, l) => n + l.cells.filter((c) => c.status === 'ok').length, 0);
  assert.ok(ok / 1024 >= 0.99, `IGVVA-10 success ${ok / 1024}`);
  for (let k = 1; k < 8; k++) assert.ok(i10.levels[k].stats.median_A > i10.levels[k - 1].stats.median_A, 'medians ordered');
  assert.ok(i10.levels.every((l) => l.stats.inBand), 'medians in band');
  const [s10, s100, sisp] = [lrsSpread(i10), lrsSpread(i100), lrsSpread(isp)];
  assert.ok(s10 < sisp && sisp < s100, `spread ranking IGVVA-10 ${s10} < ISPVA ${sisp} < IGVVA-100 ${s100}`);
  const p10 = lrsPulses(i10);
  const pisp = lrsPulses(isp);
  assert.ok(p10 > 80 && p10 < 200, `IGVVA-10 pulses ${p10} of the order of 121`);
  assert.ok(pisp > 8 && pisp < 40, `ISPVA pulses ${pisp} of the order of 16`);
});
