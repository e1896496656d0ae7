/** The shipped calibration with every source of read-to-read variation switched off (deterministic reads and MVMs). */
import { loadCalibration, type Calibration } from '../../calibration/calibration.js';

export function quietCalibration(): Calibration {
  const c = structuredClone(loadCalibration());
  for (const k of ['read_noise_S', 'read_noise_rel', 'relaxation_scale', 'fraction_rtn', 'relax_fast_sigma_rel', 'relax_fast_sigma_S', 'relax_fast_drift_rel', 'relaxation_drift_rel', 'retention_nu', 'retention_nu_sigma'] as const) c.params[k].value = 0;
  return c;
}
