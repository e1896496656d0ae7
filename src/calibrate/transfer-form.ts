/**
 * Starting values for the two forms of the transfer (issue 26): a characterize run's levels give
 * points (mean final gate, target conductance) of the median cell's transfer; the saturating
 * exponential is fitted to them, the monotone spline drawn through them. Which form the board
 * gets is decided by a held-out replay fit (fit-characterize.ts, chooseForm).
 */
import type { CalValues } from '../../calibration/calibration.js';
import { transferG } from '../../calibration/transfer.js';
import type { TransferSpline } from '../../calibration/transfer-spline.js';
import { nelderMead } from './numeric.js';
import { trimmedMean } from './replay-stats.js';

export interface LevelPoint {
  level: number;
  g_S: number;
  /** Mean final gate of the even and of the odd cells, and their standard errors. */
  even: { v: number; se: number };
  odd: { v: number; se: number };
  all: number;
}

export interface FormChoice {
  model: 'exp' | 'spline';
  /**
   * Held-out chi^2 of each form (the odd cells' statistics against a replay of the even cells'
   * fit), over that many statistics; the spline's null when it was not fitted (the exponential's
   * chi^2 was already within the statistics' count, or RRAM_FORM=exp).
   */
  heldOut: { exp: number; spline: number | null; statistics: number };
  /** Set by RRAM_FORM (a debugging switch): the form was not chosen by the held-out fit. */
  forced?: 'exp' | 'spline';
  /** Exponential shape fitted to all points (starting values). */
  exp: Pick<CalValues, 'transfer_v0_V' | 'transfer_gsat_S' | 'transfer_slope_per_V' | 'g_cap_S' | 'g_cap_sharpness'>;
  /** Spline through all points (starting knots). */
  spline: TransferSpline;
}

/** Gate at which a transfer reaches g (bisection on the nominal cell). */
function gateAt(f: (vg: number) => number, g: number, from: number): number {
  let lo = from;
  let hi = from + 8;
  if (f(hi) < g) return Infinity;
  for (let k = 0; k < 50; k++) {
    const m = (lo + hi) / 2;
    if (f(m) < g) lo = m;
    else hi = m;
  }
  return (lo + hi) / 2;
}

type ExpShape = FormChoice['exp'];
function fitExp(pts: { v: number; se: number; g: number }[], start: CalValues): ExpShape {
  const toShape = (x: number[]): ExpShape => ({ transfer_v0_V: x[0], transfer_gsat_S: Math.exp(x[1]), transfer_slope_per_V: Math.exp(x[2]), g_cap_S: Math.exp(x[3]), g_cap_sharpness: Math.min(40, Math.max(1, Math.exp(x[4]))) });
  const chi = (x: number[]) => {
    const sh = { ...start, ...toShape(x) };
    return pts.reduce((a, p) => {
      const v = gateAt((vg) => transferG(sh, vg), p.g, sh.transfer_v0_V);
      return a + (Number.isFinite(v) ? ((v - p.v) / p.se) ** 2 : 1e6);
    }, 0);
  };
  // The lowest point fixes where the curve starts; the shape from the base (a saturating curve is scale-free enough).
  const x0 = [Math.min(start.transfer_v0_V, pts[0].v - 0.05), Math.log(start.transfer_gsat_S), Math.log(start.transfer_slope_per_V), Math.log(Math.max(start.g_cap_S, 1.3 * pts[pts.length - 1].g)), Math.log(start.g_cap_sharpness)];
  let best = nelderMead(chi, x0, [0.1, 0.3, 0.3, 0.2, 0.3], { iterations: 600 });
  best = nelderMead(chi, best.x, [0.03, 0.1, 0.1, 0.1, 0.1], { iterations: 400 });
  return toShape(best.x);
}

/** A spline whose median cell crosses each point's G at its gate (knots relative to v0). */
export function splineThrough(pts: { v: number; g: number }[], v0: number, source: string): TransferSpline {
  const x: number[] = [];
  const g: number[] = [];
  for (const p of [...pts].sort((a, b) => a.g - b.g)) {
    const xv = p.v - v0;
    // Monotone: each knot strictly above the last in both coordinates (a noisy pair is merged away).
    if (xv > (x[x.length - 1] ?? 0) + 1e-4 && p.g > (g[g.length - 1] ?? 0)) {
      x.push(xv);
      g.push(p.g);
    }
  }
  return { model: 'spline', x_V: x, g_S: g, tail_V: 0.3, source };
}

export function levelPoints(levels: { level: number; g_S: number; gates: number[] }[]): LevelPoint[] {
  const half = (xs: number[], odd: boolean) => {
    const h = xs.filter((_, i) => i % 2 === (odd ? 1 : 0)).filter(Number.isFinite);
    const m = trimmedMean(h);
    const sd = Math.sqrt(h.reduce((a, x) => a + (x - m) ** 2, 0) / Math.max(1, h.length - 1));
    return { v: m, se: Math.max(1e-3, sd / Math.sqrt(Math.max(1, h.length))) };
  };
  return levels.map((l) => ({ level: l.level, g_S: l.g_S, even: half(l.gates, false), odd: half(l.gates, true), all: trimmedMean(l.gates) })).filter((p) => Number.isFinite(p.even.v) && Number.isFinite(p.odd.v));
}

/** Both forms' starting values from the levels' points: the exponential fitted to them, the spline through them. */
export function startingForms(pts: LevelPoint[], start: CalValues): Pick<FormChoice, 'exp' | 'spline'> {
  const all = pts.map((p) => ({ v: p.all, se: Math.hypot(p.even.se, p.odd.se) / 2, g: p.g_S }));
  const v0 = Math.min(start.transfer_v0_V, pts[0].all - 0.1);
  return { exp: fitExp(all, start), spline: splineThrough(all, v0, 'levels of the characterize run') };
}
