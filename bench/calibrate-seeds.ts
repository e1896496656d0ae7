/**
 * The calibration fit's recovery over board seeds (`node dist/bench/run.js calibrate-seeds [SEEDS]`):
 * the hidden-parameter board (tests/helpers/hidden-board.ts) measured by an 8x128 characterize run
 * and a 256-cell sweep on fresh cells, fitted, and every parameter the fit calls identified (stated
 * error under 10 %) judged against the truth: within 10 % (30 mV for shifts) or 3 stated sigmas.
 * Where the stated sigmas do not cover the truth the fit's uncertainty is wrong: those are listed.
 */
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { loadCalibration, type ScalarName } from '../calibration/calibration.js';
import { hiddenBoard, hiddenValues } from '../tests/helpers/hidden-board.js';
import { RunContext } from '../src/engine/run-context.js';
import { cellKey } from '../src/engine/events.js';
import { characterize } from '../src/procedures/characterize.js';
import { sweep } from '../src/procedures/sweep.js';
import { fitCalibration } from '../src/calibrate/fit.js';

const SHIFTS = new Set<string>(['transfer_v0_V', 'form_v_median_V', 'set_v_median_V', 'reset_v_median_V']);

export async function calibrateSeedsBench(seeds: number[]) {
  const base = loadCalibration();
  const hidden = hiddenValues(base);
  const cal = hiddenBoard(base);
  const rows = [];
  for (const seed of seeds) {
    const board = new EmulatedBoard({ seed, calibration: cal });
    const cdf = await characterize(board, new RunContext('cdf'), { algo: 'igvva', levels: 8, cellsPerLevel: 128, reads: 2, relax_s: [1, 60], seed, calibration: cal });
    const sw = await sweep(board, new RunContext('sw'), { cells: 256, seed: seed + 1, usedCells: new Set(cdf.levels.flatMap((l) => l.cells.map(cellKey))) });
    const fit = await fitCalibration({ base, sweeps: [{ runId: 'sw', data: sw }], cdfs: [{ runId: 'cdf', data: cdf }] });
    let judged = 0;
    const misses: string[] = [];
    for (const [k, p] of Object.entries(fit.params)) {
      if (p.status !== 'fitted' || k === 'relaxation_scale' || p.uncertainty === undefined || !(p.uncertainty / Math.max(Math.abs(p.value), 1e-12) < 0.1)) continue;
      judged++;
      const truth = hidden[k as ScalarName];
      const tol = Math.max(SHIFTS.has(k) ? 0.03 : 0.1 * Math.abs(truth), 3 * p.uncertainty);
      if (Math.abs(p.value - truth) > tol) misses.push(`${k} ${p.value.toPrecision(3)} (truth ${truth.toPrecision(3)}, +-${p.uncertainty.toPrecision(2)})`);
    }
    rows.push({ seed, judged, misses });
    console.error(`seed ${seed}: ${judged} judged, ${misses.length} outside: ${misses.join('; ') || '-'}`);
  }
  return rows;
}
