/**
 * Interpolation in the fitted relaxation table (calibration JSON `relaxation`): the mean drift
 * and spread of dG after a time t for a cell programmed to G0. Shared by the emulator and the
 * inference Monte Carlo so both age devices the same way.
 */
import type { RelaxationTable } from './calibration.js';

const logCache = new WeakMap<RelaxationTable, number[]>();
function logTimes(r: RelaxationTable): number[] {
  let L = logCache.get(r);
  if (!L) logCache.set(r, (L = r.t_s.map(Math.log10)));
  return L;
}

/** Where (g0, t) falls in the table: the G0 rows and weight, the time bracket (-1: before the first time, where the spread fades to 0 at 1 us log-linearly; -2: after the last) and weight. */
interface Spot {
  b: number;
  wg: number;
  j: number;
  w: number;
  lt: number;
  L: number[];
}

function locate(r: RelaxationTable, g0_S: number, t_s: number): Spot {
  const gs = r.g0_S;
  let b = 0;
  while (b < gs.length - 2 && g0_S > gs[b + 1]) b++;
  const wg = Math.min(1, Math.max(0, (g0_S - gs[b]) / (gs[b + 1] - gs[b])));
  const lt = Math.log10(t_s);
  const L = logTimes(r);
  let j = -1;
  let w = 0;
  if (lt > L[0] && lt < L[L.length - 1]) {
    j = 0;
    while (lt > L[j + 1]) j++;
    w = (lt - L[j]) / (L[j + 1] - L[j]);
  } else if (lt > L[0]) j = -2;
  return { b, wg, j, w, lt, L };
}

function at(s: Spot, tbl: number[][]): number {
  const row = (v: number[]): number => (s.j === -1 ? (v[0] * (s.lt + 6)) / (s.L[0] + 6) : s.j === -2 ? v[v.length - 1] : v[s.j] * (1 - s.w) + v[s.j + 1] * s.w);
  return row(tbl[s.b]) * (1 - s.wg) + row(tbl[s.b + 1]) * s.wg;
}

/** Interpolate `tbl` (rows = g0_S, columns = t_s) in G0 (clamped) then in log10 t. */
export function relaxationAt(r: RelaxationTable, tbl: number[][], g0_S: number, t_s: number): number {
  if (t_s <= 1e-6) return 0;
  return at(locate(r, g0_S, t_s), tbl);
}

/** Mean and spread together at (g0, t), the table located once (the emulator asks for both at every pulse and read). */
export function relaxationPair(r: RelaxationTable, g0_S: number, t_s: number, out: { mean: number; sigma: number }): void {
  if (t_s <= 1e-6) {
    out.mean = 0;
    out.sigma = 0;
    return;
  }
  const s = locate(r, g0_S, t_s);
  out.mean = at(s, r.mean_S);
  out.sigma = at(s, r.sigma_S);
}
