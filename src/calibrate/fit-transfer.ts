/**
 * The gate transfer from gate staircases (measured G(VG) at the reference VTE, one curve per cell
 * and cycle): the model's G = max(HRS, cap(gain * Gsat * (1 - exp(-slope (VG - v0))))) fitted
 * with a shift v0 and a gain per curve and one shape for all (Gsat, slope, cap, sharpness),
 * alternating the two until they settle. The device-to-device spreads come from the covariance
 * of a cell's two cycles: cycle-to-cycle noise is independent between cycles and drops out.
 */
import type { CalValues, Calibration } from '../../calibration/calibration.js';
import type { SweepCell } from '../procedures/sweep.js';
import { toG } from './sweep-stats.js';
import { bootstrapSE, covariance, median } from './numeric.js';
import { std } from '../analysis/stats.js';

export interface Curve {
  cell: number;
  cycle: number;
  vg: Float64Array;
  g: Float64Array;
  floor_S: number;
}

export interface TransferFit {
  gsat_S: number;
  slope_perV: number;
  v0_V: number;
  v0Sigma_V: number;
  /** Device-to-device spread of the curve's scale (gain and anything scaling it, e.g. the SET threshold's effect). */
  gainSigmaEff: number;
  gCap_S: number;
  sharpness: number;
  /** Whether the curves reach far enough into saturation to fit the cap and its sharpness. */
  capIdentified: boolean;
  rmsResidual_S: number;
  curves: number;
  /** Standard errors: the shape refitted on four disjoint groups of curves, the spreads bootstrapped over cells. */
  se: { gsat_S: number; slope_perV: number; gCap_S: number; sharpness: number; v0Sigma_V: number };
  perCurve: { cell: number; cycle: number; v0_V: number; gain: number }[];
}

interface Shape {
  gsat: number;
  s: number;
  cap: number;
  n: number;
}

function T(sh: Shape, vg: number, v0: number, gain: number): number {
  const x = vg - v0;
  if (x <= 0) return 0;
  const raw = gain * sh.gsat * (1 - Math.exp(-sh.s * x));
  return raw / Math.pow(1 + Math.pow(raw / sh.cap, sh.n), 1 / sh.n);
}

function sse(sh: Shape, c: Curve, v0: number, gain: number): number {
  let e = 0;
  for (let k = 0; k < c.vg.length; k++) {
    const d = Math.max(c.floor_S, T(sh, c.vg[k], v0, gain)) - c.g[k];
    e += d * d;
  }
  return e;
}

/**
 * Per-curve (v0, ln gain) by Levenberg-Marquardt with analytic derivatives: the model's value and
 * slope are cheap, and 1000 curves must fit in well under a second.
 */
function fitCurve(sh: Shape, c: Curve, v0: number, lg: number): { v0: number; lg: number } {
  let lambda = 1e-3;
  let cur = sse(sh, c, v0, Math.exp(lg));
  for (let it = 0; it < 30; it++) {
    const gain = Math.exp(lg);
    let a11 = 0, a12 = 0, a22 = 0, b1 = 0, b2 = 0;
    for (let k = 0; k < c.vg.length; k++) {
      const x = c.vg[k] - v0;
      let t = 0;
      let d0 = 0;
      let d1 = 0;
      if (x > 0) {
        const e = Math.exp(-sh.s * x);
        const raw = gain * sh.gsat * (1 - e);
        const q = Math.pow(raw / sh.cap, sh.n);
        const dc = Math.pow(1 + q, -1 / sh.n - 1);
        t = raw * Math.pow(1 + q, -1 / sh.n);
        d0 = dc * -gain * sh.gsat * sh.s * e;
        d1 = dc * raw;
      }
      if (t < c.floor_S) continue; // the floor (HRS) does not depend on the curve's parameters
      const r = t - c.g[k];
      a11 += d0 * d0;
      a12 += d0 * d1;
      a22 += d1 * d1;
      b1 += d0 * r;
      b2 += d1 * r;
    }
    const m11 = a11 * (1 + lambda);
    const m22 = a22 * (1 + lambda);
    const det = m11 * m22 - a12 * a12;
    if (!(det > 0)) break;
    const dv = -(m22 * b1 - a12 * b2) / det;
    const dl = -(m11 * b2 - a12 * b1) / det;
    const next = sse(sh, c, v0 + dv, Math.exp(lg + dl));
    if (next < cur) {
      v0 += dv;
      lg += dl;
      lambda = Math.max(1e-7, lambda / 5);
      if (cur - next < 1e-12 * cur) {
        cur = next;
        break;
      }
      cur = next;
    } else lambda *= 10;
    if (lambda > 1e8) break;
  }
  return { v0, lg };
}

export function fitTransfer(curves: Curve[], base: CalValues, o: { standardErrors?: boolean } = {}): TransferFit {
  const gmax = Math.max(...curves.map((c) => c.g[c.g.length - 1]));
  // The cap is seen only when curves run well into saturation (the staircase's top reaches it).
  const capIdentified = gmax > 0.85 * base.g_cap_S;
  let sh: Shape = { gsat: base.transfer_gsat_S, s: base.transfer_slope_per_V, cap: base.g_cap_S, n: base.g_cap_sharpness };
  let per = curves.map(() => ({ v0: base.transfer_v0_V, lg: 0 }));
  const fitCurves = () => {
    per = curves.map((c, i) => fitCurve(sh, c, per[i].v0, per[i].lg));
    // gain and Gsat are one product: the median curve has gain 1.
    const m = median(per.map((p) => p.lg));
    per = per.map((p) => ({ ...p, lg: p.lg - m }));
    sh = { ...sh, gsat: sh.gsat * Math.exp(m) };
  };
  // The shape on a subset of curves (every other point): as good, four times faster.
  const sub = curves.filter((_, i) => i % Math.max(1, Math.floor(curves.length / 48)) === 0);
  const subIdx = sub.map((c) => curves.indexOf(c));
  // The shape by Levenberg-Marquardt in log parameters, numeric Jacobian (a handful of residual
  // evaluations per step instead of hundreds of simplex moves).
  const fitShape = (on = sub, idx = subIdx, start = sh): Shape => {
    const keys: (keyof Shape)[] = capIdentified ? ['gsat', 's', 'cap', 'n'] : ['gsat', 's'];
    const toShape = (x: number[]) => {
      const t = { ...start };
      keys.forEach((k, j) => (t[k] = Math.exp(x[j])));
      return t;
    };
    const resid = (t: Shape) => {
      const r: number[] = [];
      on.forEach((c, j) => {
        const pc = per[idx[j]];
        const gain = Math.exp(pc.lg);
        for (let k = 0; k < c.vg.length; k += 2) r.push(Math.max(c.floor_S, T(t, c.vg[k], pc.v0, gain)) - c.g[k]);
      });
      return r;
    };
    let x = keys.map((k) => Math.log(start[k]));
    let r = resid(toShape(x));
    let cost = r.reduce((a, v) => a + v * v, 0);
    let lambda = 1e-3;
    for (let it = 0; it < 40; it++) {
      const h = 1e-5;
      const J = keys.map((_, j) => {
        const xp = x.slice();
        xp[j] += h;
        const rp = resid(toShape(xp));
        return rp.map((v, i) => (v - r[i]) / h);
      });
      const A = keys.map((_, a) => keys.map((_, b) => J[a].reduce((acc, v, i) => acc + v * J[b][i], 0)));
      const g = keys.map((_, a) => J[a].reduce((acc, v, i) => acc + v * r[i], 0));
      for (let a = 0; a < keys.length; a++) A[a][a] *= 1 + lambda;
      const step = solve(A, g.map((v) => -v));
      const xn = x.map((v, j) => v + step[j]);
      const tn = toShape(xn);
      if (!(tn.n >= 1 && tn.n <= 40) || step.some((v) => !Number.isFinite(v))) {
        lambda *= 10;
        continue;
      }
      const rn = resid(tn);
      const cn = rn.reduce((a, v) => a + v * v, 0);
      if (cn < cost) {
        const done = cost - cn < 1e-10 * cost;
        x = xn;
        r = rn;
        cost = cn;
        lambda = Math.max(1e-7, lambda / 5);
        if (done) break;
      } else lambda *= 10;
      if (lambda > 1e8) break;
    }
    return toShape(x);
  };
  for (let round = 0; round < 2; round++) {
    fitCurves();
    sh = fitShape();
  }
  fitCurves();
  // The whole fit again on four disjoint groups of curves (their own shifts and gains, then the
  // shape, twice): the spread of the four / 2 is the standard error. Refitting only the shape with
  // the shifts held would hide how much the two trade off.
  const groups = [0, 1, 2, 3].map((g) => curves.map((c, i) => i).filter((i) => i % 4 === g));
  const gs = groups
    .filter((g) => o.standardErrors !== false && g.length >= 8)
    .map((g) => {
      const on = g.map((i) => curves[i]);
      const keepPer = per;
      let shG = sh;
      for (let round = 0; round < 2; round++) {
        const inG = new Set(g);
        per = curves.map((c, i) => (inG.has(i) ? fitCurve(shG, c, keepPer[i].v0, keepPer[i].lg) : keepPer[i]));
        const m = median(g.map((i) => per[i].lg));
        per = per.map((q, i) => (inG.has(i) ? { ...q, lg: q.lg - m } : q));
        shG = fitShape(on, g, { ...shG, gsat: shG.gsat * Math.exp(m) });
      }
      per = keepPer;
      return shG;
    });
  const seOf = (f: (x: Shape) => number) => (gs.length >= 2 ? std(gs.map(f)) / Math.sqrt(gs.length) : NaN);
  let e = 0;
  let n = 0;
  curves.forEach((c, i) => {
    e += sse(sh, c, per[i].v0, Math.exp(per[i].lg));
    n += c.vg.length;
  });
  // Device-to-device: covariance of a cell's first two cycles.
  const byCell = new Map<number, { v0: number; g: number }[]>();
  curves.forEach((c, i) => {
    const l = byCell.get(c.cell) ?? [];
    l[c.cycle] = { v0: per[i].v0, g: Math.exp(per[i].lg) };
    byCell.set(c.cell, l);
  });
  const pairs = [...byCell.values()].filter((l) => l[0] && l[1]);
  const v0s = [...byCell.values()].map((l) => median(l.filter(Boolean).map((x) => x.v0)));
  const sd = (cv: number) => Math.sqrt(Math.max(0, cv));
  const v0Sigma = (ps: typeof pairs) => sd(covariance(ps.map((p) => p[0].v0), ps.map((p) => p[1].v0)));
  return {
    gsat_S: sh.gsat,
    slope_perV: sh.s,
    v0_V: median(v0s),
    v0Sigma_V: pairs.length > 2 ? sd(covariance(pairs.map((p) => p[0].v0), pairs.map((p) => p[1].v0))) : NaN,
    gainSigmaEff: pairs.length > 2 ? sd(covariance(pairs.map((p) => p[0].g), pairs.map((p) => p[1].g))) : NaN,
    gCap_S: sh.cap,
    sharpness: sh.n,
    capIdentified,
    rmsResidual_S: Math.sqrt(e / Math.max(1, n)),
    curves: curves.length,
    se: { gsat_S: seOf((x) => x.gsat), slope_perV: seOf((x) => x.s), gCap_S: capIdentified ? seOf((x) => x.cap) : NaN, sharpness: capIdentified ? seOf((x) => x.n) : NaN, v0Sigma_V: pairs.length > 4 ? bootstrapSE(pairs, v0Sigma) : NaN },
    perCurve: curves.map((c, i) => ({ cell: c.cell, cycle: c.cycle, v0_V: per[i].v0, gain: Math.exp(per[i].lg) })),
  };
}

/** Solves a small linear system (Gaussian elimination with partial pivoting). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const m = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    if (!m[c][c]) return new Array(n).fill(NaN);
    for (let r = c + 1; r < n; r++) {
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  const x = new Array(n).fill(0);
  for (let r = n - 1; r >= 0; r--) x[r] = (m[r][n] - m[r].slice(r + 1, n).reduce((a, v, k) => a + v * x[r + 1 + k], 0)) / m[r][r];
  return x;
}

/** The gate staircases of a sweep's formed cells as conductance curves (cells that did not reset are left out). */
export function staircaseCurves(cells: SweepCell[], cal: Calibration, vread: number): Curve[] {
  const curves: Curve[] = [];
  cells.forEach((c, i) =>
    c.cycles.slice(0, 2).forEach((y, cycle) => {
      if (y.gate.length < 5 || y.hrs_A > 10e-6) return;
      curves.push({ cell: i, cycle, vg: Float64Array.from(y.gate.map((q) => q[0])), g: Float64Array.from(y.gate.map((q) => toG(cal, q[1], vread))), floor_S: toG(cal, y.hrs_A, vread) });
    }),
  );
  return curves;
}
