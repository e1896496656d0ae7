/**
 * Model pieces added for boards unlike the lab's (issue 26), as plain functions of the
 * calibration's values so the emulator and the fit compute them alike. Each is off at its
 * default (calibration.ts OPTIONAL_PARAMS):
 *  - fast relaxation: right after a pulse the filament settles, most of it within ~tau, so a read
 *    a second later spreads wider than the verify read that ended the loop; variance
 *    (rel G0 + abs shape(G0))^2 (1 - exp(-t / tau)) and drift rel G0 (1 - exp(-t / tau)), the shape
 *    a bump in ln G (a board whose filaments relax most in mid-range and hardly at HRS);
 *  - the slow relaxation table reshaped in time and conductance (tableShape);
 *  - an HRS floor under the log-normal HRS distribution;
 *  - random-telegraph read noise on a share of cells: each read sits on one of two levels
 *    amplitude x G apart, independently per read (reads far apart compared with the trap's time);
 *  - the SET's cycle-to-cycle spread with a conductance-independent part.
 */
import type { CalValues, RelaxationTable } from './calibration.js';
import { relaxationPair } from './relaxation.js';

/** Fast relaxation at t seconds after the pulse: mean (S) and variance (S^2) of the change. */
export function fastRelaxation(p: CalValues, g0_S: number, t_s: number, out: { mean: number; variance: number }): void {
  fastRelaxationFrom(p, fastSd(p, g0_S), g0_S, t_s, out);
}

/** The fast relaxation's full spread for a cell programmed to g0 (it depends on G0 only: a cell keeps it until its next pulse). */
export function fastSd(p: CalValues, g0_S: number): number {
  return p.relax_fast_sigma_rel * g0_S + p.relax_fast_sigma_S * fastShape(p, g0_S);
}

/** fastRelaxation with the cell's fastSd already known. */
export function fastRelaxationFrom(p: CalValues, sd: number, g0_S: number, t_s: number, out: { mean: number; variance: number }): void {
  if ((sd === 0 && p.relax_fast_drift_rel === 0) || !(t_s > 0)) {
    out.mean = 0;
    out.variance = 0;
    return;
  }
  const f = 1 - Math.exp(-t_s / Math.max(1e-9, p.relax_fast_tau_s));
  out.mean = p.relax_fast_drift_rel * g0_S * f;
  out.variance = sd * sd * f;
}

/** A cell's HRS level from its device-to-device draw z. */
export function hrsLevel(p: CalValues, z: number): number {
  return p.g_hrs_floor_S + p.g_hrs_S * Math.exp(p.g_hrs_sigma_log * z);
}

/** The SET's conductance with its cycle-to-cycle spread (z: one standard normal draw). */
export function setSpread(p: CalValues, g_S: number, z: number): number {
  return g_S * (1 + p.set_sigma_rel * z) + p.set_sigma_abs_S * z;
}

/** Random-telegraph factor on a read: the read's level (u uniform in [0, 1)) for a cell of this amplitude. */
export function rtnFactor(amplitude: number, u: number): number {
  return 1 + amplitude * (u < 0.5 ? -0.5 : 0.5);
}

/** The fast relaxation's absolute part against G0: 1 at the peak, a Gaussian in ln G around it (flat at width 0). */
export function fastShape(p: CalValues, g0_S: number): number {
  if (p.relax_fast_g_width === 0) return 1;
  const z = Math.log(Math.max(g0_S, 1e-9) / Math.max(p.relax_fast_g_peak_S, 1e-9)) / p.relax_fast_g_width;
  return Math.exp(-0.5 * z * z);
}

/** The slow drift's mean change (S) at t seconds after the pulse. */
export function slowDrift(p: CalValues, g0_S: number, t_s: number): number {
  return p.relaxation_drift_rel === 0 ? 0 : p.relaxation_drift_rel * g0_S * Math.log10(1 + Math.max(0, t_s));
}

/** Factor on the relaxation table's spread and drift at (G0, t): 1 unless reshaped. */
export function tableShape(p: CalValues, g0_S: number, t_s: number): number {
  return tableTimeShape(p, t_s) * tableGShape(p, g0_S);
}

/** tableShape's two factors: in time, and in G0 (a cell keeps the latter until its next pulse). */
export function tableTimeShape(p: CalValues, t_s: number): number {
  return p.relaxation_time_exp === 0 ? 1 : Math.pow(Math.max(t_s, 1e-6), p.relaxation_time_exp);
}
export function tableGShape(p: CalValues, g0_S: number): number {
  return p.relaxation_g_exp === 0 ? 1 : Math.pow(Math.max(g0_S, 1e-9) / 50e-6, p.relaxation_g_exp);
}

/**
 * The whole relaxation a cell programmed to g0 has undergone t seconds after its pulse, as the
 * emulator ages it (cell-model.ts advances a cell by exactly these terms): the table's mean and
 * spread times relaxation_scale and its reshaping in time and G0, the fast component, the slow
 * drift. The Monte Carlo ages its devices by the same moments, so a prediction and the board
 * agree (the table alone, unscaled, is another board). Not in it: the retention drift G t^-nu
 * (retention_nu; the Monte Carlo's --retention), and the emulator's spread never shrinking (it adds
 * only positive variance steps): equal while table spread and fast variance grow with time, as
 * every calibration made so far has them.
 */
export function relaxationMoments(p: CalValues, table: RelaxationTable, g0_S: number, t_s: number, out: { mean: number; sigma: number }): void {
  const a = { mean: 0, sigma: 0 };
  relaxationPair(table, g0_S, t_s, a);
  const f = p.relaxation_scale * tableShape(p, g0_S, t_s);
  const fa = { mean: 0, variance: 0 };
  fastRelaxation(p, g0_S, t_s, fa);
  out.mean = a.mean * f + fa.mean + slowDrift(p, g0_S, t_s);
  out.sigma = Math.sqrt((a.sigma * f) ** 2 + fa.variance);
}
