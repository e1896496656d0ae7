/**
 * The DEVICE of `rram train --hw-aware DEVICE`: a level-CDF file (its measured level
 * distributions, bootstrapped, with the share of cells that ended not programmed from its
 * counts), a calibration file (the same, measured on an in-process emulated board built from it),
 * or a parametric spec (gaussian:5%, ...). The reads in a CDF's samples carry one read's noise;
 * --read-noise adds more.
 */
import { existsSync, readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { loadCalibration } from '../../calibration/calibration.js';
import { readCurrent } from '../../calibration/transfer.js';
import { buildDeviceModel, countsForModel, defectReads, loadMeasuredLevels, measuredFromCdf, parseDeviceSpec, type DeviceModel, type MeasuredLevels } from '../inference/device-models.js';

export interface TrainingDevice {
  device: DeviceModel;
  /** What the device is, for reports: the spec, and for a calibration where its levels came from. */
  text: string;
  /** Levels the device has to offer (a CDF's count; parametric: any). */
  available?: number;
}

/** Whether a JSON file is a calibration (params + ivCurve) rather than a level CDF. */
function isCalibrationFile(file: string): boolean {
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    return typeof j === 'object' && j !== null && 'ivCurve' in j && 'params' in j;
  } catch {
    return false;
  }
}

export async function trainingDevice(spec: string, levels: number, o: { readNoise_A?: number; seed: number }): Promise<TrainingDevice> {
  const base = { shared: false, stuckHrs: 0, stuckLrs: 0, readNoise_A: o.readNoise_A ?? 0, vread_V: 0.2, bootstrap: true };
  const ds = parseDeviceSpec(spec);
  if (ds.kind !== 'empirical') return { device: buildDeviceModel(ds, levels, base), text: spec };
  if (!existsSync(spec)) throw new InvalidArgumentError('--hw-aware', spec, 'no such file (a level-CDF file, a calibration file, or gaussian:5%)');
  let measured: MeasuredLevels;
  let text = spec;
  let fallback: Float32Array | undefined;
  if (isCalibrationFile(spec)) {
    const cal = loadCalibration(spec);
    const { virtualLevelCdf } = await import('../calibrate/virtual-cdf.js');
    const n = Math.max(levels, 2);
    if (n > 8) throw new InvalidArgumentError('--levels', levels, 'a calibration is measured at 2..8 levels (the programming level sets)');
    const d = await virtualLevelCdf(cal, { levels: n, cellsPerLevel: 256, seed: o.seed });
    measured = measuredFromCdf(JSON.parse(JSON.stringify(d)), `calibration ${cal.id}`);
    text = `${spec} (levels measured on an emulated board of calibration ${cal.id}, ${n} x 256 cells)`;
    fallback = defectReads(readCurrent(cal, cal.params.g_pristine_S.value, 0.2), readCurrent(cal, cal.params.g_cap_S.value, 0.2), cal.params.fraction_unformable.value, cal.params.fraction_stuck_lrs.value);
  } else measured = loadMeasuredLevels(spec);
  if (levels > measured.pools.length) throw new InvalidArgumentError('--levels', levels, `the device ${spec} has only ${measured.pools.length} levels`);
  const probe = buildDeviceModel(ds, levels, base, measured);
  const counts = measured.outcomes && probe.levelsUsed ? [countsForModel(measured.outcomes, probe.levelsUsed)] : undefined;
  return { device: buildDeviceModel(ds, levels, { ...base, failureCounts: counts, failureFallback_A: fallback }, measured), text, available: measured.pools.length };
}
