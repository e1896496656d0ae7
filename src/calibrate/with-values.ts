/** A calibration with other values (and relaxation table, and transfer spline), everything else from the base. */
import { ALL_UNITS, type CalValues, type Calibration, type ScalarName } from '../../calibration/calibration.js';
import type { TransferSpline } from '../../calibration/transfer-spline.js';

export function withValues(base: Calibration, v: CalValues, relaxation = base.relaxation, transfer: TransferSpline | undefined = base.transfer): Calibration {
  const c: Calibration = structuredClone(base);
  for (const k of Object.keys(ALL_UNITS) as ScalarName[]) c.params[k] = { ...c.params[k], value: v[k] };
  c.relaxation = relaxation;
  if (transfer) c.transfer = transfer;
  else delete c.transfer;
  return c;
}
