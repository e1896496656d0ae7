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

/** Interpolate `tbl` (rows = g0_S, columns = t_s) in G0 (clamped) then in log10 t. */
export function relaxationAt(r: RelaxationTable, tbl: number[][], g0_S: number, t_s: number): number {
  if (t_s <= 1e-6) return 0;
  const gs = r.g0_S;
  let b = 0;
  while (b < gs.length - 2 && g0_S > gs[b + 1]) b++;
  const wg = Math.min(1, Math.max(0, (g0_S - gs[b]) / (gs[b + 1] - gs[b])));
  const lt = Math.log10(t_s);
  const L = logTimes(r);
  const row = (k: number): number => {
    const v = tbl[k];
    // Below the first measured time the spread fades to 0 at 1 us (log-linear).
    if (lt <= L[0]) return (v[0] * (lt + 6)) / (L[0] + 6);
    if (lt >= L[L.length - 1]) return v[v.length - 1];
    let j = 0;
    while (lt > L[j + 1]) j++;
    const w = (lt - L[j]) / (L[j + 1] - L[j]);
    return v[j] * (1 - w) + v[j + 1] * w;
  };
  return row(b) * (1 - wg) + row(b + 1) * wg;
}
