/**
 * The board with hidden parameters of issue 14's acceptance test (and of the calibration
 * benchmark): the shipped calibration with the transfer shifted +0.25 V, saturation -15 %, the
 * cycle-to-cycle spreads and read noise x1.5.
 */
import { values, type CalValues, type Calibration } from '../../calibration/calibration.js';
import { withValues } from '../../src/calibrate/fit.js';

export function hiddenValues(base: Calibration): CalValues {
  const v = values(base);
  return {
    ...v,
    transfer_v0_V: v.transfer_v0_V + 0.25,
    transfer_gsat_S: v.transfer_gsat_S * 0.85,
    vg_jitter_V: v.vg_jitter_V * 1.5,
    set_sigma_rel: v.set_sigma_rel * 1.5,
    set_v_c2c_V: v.set_v_c2c_V * 1.5,
    reset_v_c2c_V: v.reset_v_c2c_V * 1.5,
    read_noise_S: v.read_noise_S * 1.5,
  };
}

export function hiddenBoard(base: Calibration): Calibration {
  return { ...withValues(base, hiddenValues(base)), id: 'hidden-board' };
}
