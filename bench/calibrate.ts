/**
 * Calibration benchmark (issue 14): a board with hidden parameters (transfer +0.25 V, saturation
 * -15 %, cycle-to-cycle spreads and read noise x1.5) measured as in the tests: an 8x128 IGVVA
 * characterize run (2 read-backs, re-reads at 1 s and 60 s) and a 256-cell sweep. Reported: the
 * fit's wall time from the characterize run alone and from both; the twin's distances to the board
 * for the fitted calibration, for the hidden truth itself (the floor: sampling noise) and for the
 * shipped default.
 */
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { loadCalibration } from '../calibration/calibration.js';
import { hiddenBoard } from '../tests/helpers/hidden-board.js';
import { RunContext } from '../src/engine/run-context.js';
import { characterize } from '../src/procedures/characterize.js';
import { sweep } from '../src/procedures/sweep.js';
import { fitCalibration } from '../src/calibrate/fit.js';
import { twin } from '../src/calibrate/twin.js';

export async function calibrateBench(): Promise<Record<string, unknown>> {
  const base = loadCalibration();
  const hidden = hiddenBoard(base);
  const board = new EmulatedBoard({ seed: 11, calibration: hidden });
  const cdf = await characterize(board, new RunContext('cdf'), { algo: 'igvva', levels: 8, cellsPerLevel: 128, reads: 2, relax_s: [1, 60], seed: 11, calibration: hidden });
  const sw = await sweep(board, new RunContext('sw'), { cells: 256, seed: 12 });
  const cdfOnly = await fitCalibration({ base, sweeps: [], cdfs: [{ runId: 'cdf', data: cdf }] });
  const both = await fitCalibration({ base, sweeps: [{ runId: 'sw', data: sw }], cdfs: [{ runId: 'cdf', data: cdf }] });
  const tw = async (cal: typeof base) => {
    const t = await twin({ calibration: cal, against: cdf });
    const worst = (q: string) => Math.max(...t.rows.filter((r) => r.quantity === q).map((r) => r.ks));
    return { worstKs: +t.worstKs.toFixed(3), readCurrent: +worst('read current').toFixed(3), finalVoltage: +worst('final stepped voltage').toFixed(3), pulses: +worst('pulses per cell').toFixed(3), ksNoise: +t.ksNoise.toFixed(3), pass: t.pass };
  };
  return {
    fit_s_characterize_8x128_only: +cdfOnly.elapsed_s.toFixed(2),
    fit_s_sweep256_and_characterize_8x128: +both.elapsed_s.toFixed(2),
    twin_fitted_from_both: await tw(both.calibration),
    twin_fitted_from_characterize_only: await tw(cdfOnly.calibration),
    twin_hidden_truth: await tw(hidden),
    twin_shipped_default: await tw(base),
  };
}
