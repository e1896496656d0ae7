/**
 * The model parameters a characterize run can move (fit-characterize.ts), each in the space where
 * the run's statistics answer it nearly linearly (indirect.ts), with its bounds and what is known
 * before the run: a sweep's fit where there is one, else a broad prior around the base value (a
 * parameter the run cannot see then stays where it was and is reported not identifiable).
 */
import type { CalValues, RelaxationTable, ScalarName } from '../../calibration/calibration.js';
import type { TransferSpline } from '../../calibration/transfer-spline.js';
import type { FitParam, Space } from './indirect.js';

/** What a replay needs besides the base calibration: the values, the spline (as knot increments) if the transfer is one, the relaxation table. */
export interface ModelState {
  p: CalValues;
  spline?: TransferSpline;
  /** Spline knot positions as increments (V): x_k = sum of the first k+1. */
  inc?: number[];
  relaxation: RelaxationTable;
}

export const cloneState = (s: ModelState): ModelState => ({ p: { ...s.p }, spline: s.spline, inc: s.inc?.slice(), relaxation: s.relaxation });

/** The state's spline with its knots where the increments put them. */
export function splineOf(s: ModelState): TransferSpline | undefined {
  if (!s.spline || !s.inc) return s.spline;
  let x = 0;
  return { ...s.spline, x_V: s.inc.map((d) => (x += d)) };
}

export type Priors = Partial<Record<ScalarName, { value: number; se: number }>>;

interface Spec {
  space: Space;
  lo: number;
  hi: number;
  /** Step in the parameter's unit (lin), relative (log), or the typical spread whose square sets the variance step (sq). */
  h: number;
  /** Broad prior width around the base value (unit; relative for log). */
  width: number;
}
const lin = (lo: number, hi: number, h: number, width: number): Spec => ({ space: 'lin', lo, hi, h, width });
const log = (lo: number, hi: number, h = 0.05, width = 1): Spec => ({ space: 'log', lo, hi, h, width });
/** A spread: typical size `typ` (the step and the prior's width scale with it). */
const sq = (hi: number, typ: number): Spec => ({ space: 'sq', lo: 0, hi, h: typ, width: 2 * typ });

export const SPECS: Partial<Record<ScalarName, Spec>> = {
  transfer_v0_V: lin(0, 3, 0.02, 0.3),
  transfer_gsat_S: log(1e-6, 1e-2),
  transfer_slope_per_V: log(0.01, 30),
  g_cap_S: log(1e-6, 1e-2),
  g_cap_sharpness: log(1, 40, 0.1),
  transfer_v0_sigma_V: sq(0.5, 0.03),
  gain_sigma_rel: sq(0.5, 0.04),
  vg_jitter_V: sq(0.2, 0.005),
  set_sigma_rel: sq(0.5, 0.015),
  set_sigma_abs_S: sq(20e-6, 0.5e-6),
  relax_fast_sigma_rel: sq(0.5, 0.02),
  relax_fast_sigma_S: sq(50e-6, 0.5e-6),
  relax_fast_g_peak_S: log(1e-6, 1e-3, 0.1, 1),
  relax_fast_g_width: sq(5, 1),
  relax_fast_drift_rel: lin(-0.5, 0.5, 0.005, 0.05),
  relaxation_time_exp: lin(-1, 1, 0.05, 0.3),
  relaxation_g_exp: lin(-3, 3, 0.1, 1),
  relaxation_drift_rel: lin(-0.2, 0.2, 0.002, 0.03),
  relax_fast_tau_s: log(1e-3, 100, 0.3, 2),
  relaxation_scale: log(1e-3, 100, 0.1, 2),
  read_noise_S: sq(5e-6, 0.3e-6),
  read_noise_rel: sq(0.2, 0.004),
  fraction_rtn: lin(0, 1, 0.02, 0.3),
  rtn_amplitude_rel: log(0.005, 1, 0.1, 1),
  reset_v_median_V: lin(0, 3, 0.02, 0.3),
  reset_v_sigma_V: sq(0.5, 0.05),
  reset_v_c2c_V: sq(0.5, 0.04),
  reset_width_V: log(0.01, 2, 0.1, 1),
  reset_sigma_rel: sq(2, 0.15),
  g_hrs_S: log(1e-8, 1e-3, 0.05, 1),
  g_hrs_sigma_log: sq(3, 0.25),
  g_hrs_floor_S: sq(50e-6, 1e-6),
  form_v_median_V: lin(0, 8, 0.03, 0.5),
  form_v_sigma_V: sq(2, 0.2),
};

/** A scalar parameter of the model as a fit parameter. */
export function scalarParam(k: ScalarName, unit: string, base: CalValues, priors: Priors): FitParam<ModelState> {
  const s = SPECS[k];
  if (!s) throw new Error(`no fit specification for ${k}`);
  const b = base[k];
  const sweep = priors[k];
  const h = s.space === 'sq' ? 0.5 * Math.max(s.h, sweep?.value ?? 0, b) ** 2 : s.h;
  const width = s.space === 'log' ? s.width * Math.max(b, s.lo) : s.space === 'sq' ? Math.max(s.width, 2 * b) : s.width;
  return {
    name: k,
    unit,
    space: s.space,
    lo: s.lo,
    hi: s.hi,
    h,
    get: (st) => st.p[k],
    set: (st, v) => void (st.p[k] = v),
    prior: sweep && sweep.se > 0 ? { value: sweep.value, se: sweep.se, from: 'sweep' } : { value: Math.min(s.hi, Math.max(s.lo, b)), se: width, from: 'base' },
  };
}

/**
 * The spline's knot increments as fit parameters (each above a floor: every knot stays above the
 * one below). Steps of one 10 mV gate step: a smaller move changes too few cells' climbs for the
 * replay's difference to stand above its own noise.
 */
export function knotParams(inc: number[], levels: number[]): FitParam<ModelState>[] {
  return inc.map((d, j) => ({
    name: `transfer_knot_L${levels[j]}_V`,
    unit: 'V',
    space: 'lin' as const,
    lo: 2e-3,
    hi: 5,
    h: 0.01,
    get: (st: ModelState) => st.inc![j],
    set: (st: ModelState, v: number) => void (st.inc![j] = v),
    prior: { value: d, se: Math.max(0.05, 2 * d), from: 'base' as const },
  }));
}
