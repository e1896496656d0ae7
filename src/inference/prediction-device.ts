/**
 * The device model program-net predicts its read-back with, for the CLI and the station alike:
 * the level CDF's distributions with a bootstrap of its cells, the share of cells that end
 * unprogrammed from the CDF's outcomes (a Beta posterior; the cells the board's store knows are
 * bad taken out when the CDF was measured on this board), unprogrammed cells read as the
 * calibration's defects, and the share of weight cells no earlier run formed. With these the
 * prediction's interval is split by source (devices, measured distributions, failure rates).
 */
import { values, type Calibration } from '../../calibration/calibration.js';
import { readCurrent } from '../../calibration/transfer.js';
import { buildDeviceModel, countsForModel, defectReads, withoutCells, type DeviceModel, type DeviceOptions, type DeviceSpec, type MeasuredLevels, type OutcomeCounts } from './device-models.js';

export interface PredictionKnobs {
  stuckHrs?: number;
  stuckLrs?: number;
  readNoise_A?: number;
  /** Read back this long after programming: the prediction ages alike (the calibration's relaxation table). */
  relax_s?: number;
}

/** The device options of the prediction: bootstrap on, unprogrammed cells read as the calibration's defects. */
export function predictionDeviceOptions(cal: Calibration, k: PredictionKnobs = {}): DeviceOptions {
  const cv = values(cal);
  const fallback = defectReads(readCurrent(cal, cv.g_pristine_S, 0.2), readCurrent(cal, cv.g_cap_S, 0.2), cv.fraction_unformable, cv.fraction_stuck_lrs);
  return { shared: false, stuckHrs: k.stuckHrs ?? 0, stuckLrs: k.stuckLrs ?? 0, readNoise_A: k.readNoise_A ?? 0, vread_V: 0.2, relax_s: k.relax_s, relaxTable: k.relax_s !== undefined ? cal.relaxation : undefined, relaxValues: k.relax_s !== undefined ? cv : undefined, bootstrap: true, failureFallback_A: fallback };
}

/**
 * The model without failure counts (its nominal levels place the net), and the level CDF's counts
 * of cells not programmed for the levels it uses - without the cells in `knownBad` (the CDF was
 * measured on this board: they take no weight, so their outcomes say nothing of the cells used).
 */
export function cdfFailureCounts(spec: DeviceSpec, levels: number, o: DeviceOptions, measured: MeasuredLevels | undefined, knownBad?: ReadonlySet<string>): { probe: DeviceModel; counts: OutcomeCounts[] } {
  const probe = buildDeviceModel(spec, levels, o, measured);
  const counts = measured?.outcomes && probe.levelsUsed ? [countsForModel(measured.outcomes, probe.levelsUsed)] : [];
  return { probe, counts: knownBad ? counts.map((c) => withoutCells(c, knownBad)) : counts };
}
