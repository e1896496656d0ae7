/**
 * Retention on the emulator with the shared HfOx relaxation (issue 31's goal): `rram retention`
 * on an emulated board whose relaxation is the HfOx table unscaled (relaxation_scale 1), 8 levels,
 * then the fitted drift of every level against the data's held-out cells near that level
 * (src/calibrate/hfox-retention.ts): the goal holds when every time and level agree within 2
 * combined standard errors.
 */
import { join } from 'node:path';
import { loadCalibration, validateCalibration } from '../calibration/calibration.js';
import { fitRelaxation, HFOX_DIR, readRelaxData, TECH_A_TIMES_S, techAFiles } from '../calibration/fit-hfox.js';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { repoRoot } from '../lib/repo-root.js';
import { compareWithHfox } from '../src/calibrate/hfox-retention.js';
import { RunContext } from '../src/engine/run-context.js';
import { retention } from '../src/procedures/retention.js';

export const RETENTION_BENCH = { levels: 8, cellsPerLevel: 128, times: [1, 10, 100, 1000, 10000] };

export async function retentionHfoxBench(cellsPerLevel = RETENTION_BENCH.cellsPerLevel, seed = 1): Promise<Record<string, unknown>> {
  const raw = structuredClone(loadCalibration());
  raw.id = 'ihp-hfo2-4kbit-v1-hfox-relaxation';
  raw.params.relaxation_scale = { value: 1, unit: '1', source: 'issue 31 benchmark: the HfOx tech-A relaxation table unscaled' };
  // The table at the data's own resolution (10 uS bins, every cell): the emulator carries the data's own relaxation.
  const file = techAFiles(join(repoRoot(), HFOX_DIR)).relax;
  const edges = Array.from({ length: 26 }, (_, k) => k * 10e-6);
  const { counts: _c, ...table } = fitRelaxation(readRelaxData(file), { binEdges_S: edges, times_s: TECH_A_TIMES_S, source: `issue 31 benchmark: ${file} in 10 uS bins, every cell` });
  raw.relaxation = table;
  const cal = validateCalibration(raw);
  const board = new EmulatedBoard({ seed, calibration: cal });
  const t0 = performance.now();
  const d = await retention(board, new RunContext('retention-hfox'), { algo: 'igvva', levels: RETENTION_BENCH.levels, cellsPerLevel, times_s: RETENTION_BENCH.times, calibration: cal, seed });
  const c = compareWithHfox(d, cal, file);
  const uS = (x: number) => +(x * 1e6).toFixed(3);
  return {
    command: `rram retention --levels 8 --cells-per-level ${cellsPerLevel} --times 1s,10s,...,10000s --calibration (default, relaxation_scale 1)`,
    wall_s: +((performance.now() - t0) / 1000).toFixed(1),
    pass: c.pass,
    worstZ: +c.worstZ.toFixed(2),
    rows: c.rows.map((r) => ({ g0_uS: uS(r.g0_S), t_s: r.t_s, n_data: r.n, sigma_fit_uS: `${uS(r.fitSigma_S)} +- ${uS(r.fitSigmaSE_S)}`, sigma_data_uS: `${uS(r.dataSigma_S)} +- ${uS(r.dataSigmaSE_S)}`, mean_fit_uS: `${uS(r.fitMean_S)} +- ${uS(r.fitMeanSE_S)}`, mean_data_uS: `${uS(r.dataMean_S)} +- ${uS(r.dataMeanSE_S)}`, z: `${r.zSigma.toFixed(2)} / ${r.zMean.toFixed(2)}` })),
  };
}
