/** Small numerical tools for fitting: Nelder-Mead, bootstrap, two-sample KS, covariance. */
import { mean, quantile, sorted } from '../analysis/stats.js';
import { Rng } from '../../lib/rng.js';
import { digest } from '../../lib/digest.js';

/** Nelder-Mead minimisation (no derivatives); `scale` sets the initial simplex per coordinate. */
export function nelderMead(f: (x: number[]) => number, x0: number[], scale: number[], o: { iterations?: number; tol?: number } = {}): { x: number[]; fx: number } {
  const n = x0.length;
  let simplex = [x0.slice(), ...x0.map((_, i) => x0.map((v, j) => (j === i ? v + scale[i] : v)))];
  let vals = simplex.map(f);
  const iters = o.iterations ?? 200 * n;
  for (let it = 0; it < iters; it++) {
    const order = vals.map((v, i) => i).sort((a, b) => vals[a] - vals[b]);
    simplex = order.map((i) => simplex[i]);
    vals = order.map((i) => vals[i]);
    if (Math.abs(vals[n] - vals[0]) <= (o.tol ?? 1e-10) * (Math.abs(vals[0]) + 1e-30)) break;
    const c = Array.from({ length: n }, (_, j) => simplex.slice(0, n).reduce((s, p) => s + p[j], 0) / n);
    const at = (t: number) => c.map((cj, j) => cj + t * (simplex[n][j] - cj));
    const xr = at(-1);
    const fr = f(xr);
    if (fr < vals[0]) {
      const xe = at(-2);
      const fe = f(xe);
      [simplex[n], vals[n]] = fe < fr ? [xe, fe] : [xr, fr];
    } else if (fr < vals[n - 1]) [simplex[n], vals[n]] = [xr, fr];
    else {
      const xc = fr < vals[n] ? at(-0.5) : at(0.5);
      const fc = f(xc);
      if (fc < Math.min(fr, vals[n])) [simplex[n], vals[n]] = [xc, fc];
      else {
        for (let i = 1; i <= n; i++) {
          simplex[i] = simplex[i].map((v, j) => simplex[0][j] + 0.5 * (v - simplex[0][j]));
          vals[i] = f(simplex[i]);
        }
      }
    }
  }
  const best = vals.indexOf(Math.min(...vals));
  return { x: simplex[best], fx: vals[best] };
}

/** Two-sample Kolmogorov-Smirnov distance (largest CDF gap). */
export function ks(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const x = sorted(a);
  const y = sorted(b);
  if (!x.length || !y.length) return NaN;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i], y[j]);
    while (i < x.length && x[i] <= v) i++;
    while (j < y.length && y[j] <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

export function covariance(a: number[], b: number[]): number {
  const ma = mean(a);
  const mb = mean(b);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - ma) * (b[i] - mb);
  return a.length > 1 ? s / (a.length - 1) : NaN;
}

export const median = (xs: number[]) => quantile(sorted(xs), 0.5);
export { robustSigma } from '../analysis/stats.js';

/** Standard error of a statistic by resampling items with replacement (seeded). */
export function bootstrapSE<T>(items: T[], stat: (xs: T[]) => number, reps = 40, seed = 7): number {
  const rng = new Rng(seed);
  const vals: number[] = [];
  for (let r = 0; r < reps; r++) {
    const s = Array.from({ length: items.length }, () => items[rng.int(items.length)]);
    const v = stat(s);
    if (Number.isFinite(v)) vals.push(v);
  }
  const m = mean(vals);
  return Math.sqrt(vals.reduce((a, v) => a + (v - m) ** 2, 0) / Math.max(1, vals.length - 1));
}

/** Least squares A x = y with x >= 0, by trying every set of free variables (a handful of unknowns). */
export function nnls(A: number[][], y: number[]): number[] {
  const n = A[0].length;
  let best: { x: number[]; err: number } = { x: new Array(n).fill(0), err: y.reduce((a, v) => a + v * v, 0) };
  for (let mask = 1; mask < 1 << n; mask++) {
    const free = Array.from({ length: n }, (_, j) => j).filter((j) => mask & (1 << j));
    const M = free.map((a) => free.map((b) => A.reduce((s, row) => s + row[a] * row[b], 0)));
    const r = free.map((a) => A.reduce((s, row, i) => s + row[a] * y[i], 0));
    const inv = invSym(M);
    const xf = inv.map((row) => row.reduce((s, v, k) => s + v * r[k], 0));
    if (xf.some((v) => !(v >= 0))) continue;
    const x = new Array(n).fill(0);
    free.forEach((j, k) => (x[j] = xf[k]));
    const err = A.reduce((s, row, i) => s + (row.reduce((a, v, j) => a + v * x[j], 0) - y[i]) ** 2, 0);
    if (err < best.err) best = { x, err };
  }
  return best.x;
}

/** Inverse of a small symmetric matrix (Gauss-Jordan); NaN when singular. */
export function invSym(M: number[][]): number[][] {
  const n = M.length;
  const a = M.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[piv][c])) piv = r;
    [a[c], a[piv]] = [a[piv], a[c]];
    const d = a[c][c];
    if (!d) return M.map((row) => row.map(() => NaN));
    for (let k = 0; k < 2 * n; k++) a[c][k] /= d;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r][c];
      for (let k = 0; k < 2 * n; k++) a[r][k] -= f * a[c][k];
    }
  }
  return a.map((row) => row.slice(n));
}

/**
 * Quantile of values on a grid (a staircase's steps), interpolated within the step as for grouped
 * data: the plain quantile of such values jumps a whole step at a time, so a fit that moves a
 * parameter until the simulated quantile matches the measured one would never see small moves.
 * The grid step is the smallest gap between distinct values.
 */
export function groupedQuantile(xs: number[], q: number): number {
  const s = sorted(xs);
  const n = s.length;
  if (!n) return NaN;
  let step = Infinity;
  for (let i = 1; i < n; i++) if (s[i] - s[i - 1] > 1e-9) step = Math.min(step, s[i] - s[i - 1]);
  if (!Number.isFinite(step)) return s[0];
  const want = q * n;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j < n && Math.abs(s[j] - s[i]) <= 1e-9) j++;
    if (j >= want) return s[i] - step / 2 + (step * (want - i)) / (j - i);
    i = j;
  }
  return s[n - 1] + step / 2;
}
export const groupedMedian = (xs: number[]) => groupedQuantile(xs, 0.5);
export const groupedSigma = (xs: number[]) => (groupedQuantile(xs, 0.75) - groupedQuantile(xs, 0.25)) / 1.349;

/**
 * The simulation seed of a fit, drawn from the measured data themselves. Indirect inference
 * compares the data with simulations at one seed (common random numbers across candidates); the
 * simulation's own sampling error then shifts the result. With one fixed seed for every fit that
 * shift was the same for every board (a bias no stated uncertainty covered: reset_v_sigma_V came
 * out ~1 sigma low on every board seed); a seed from the data makes it an independent error per
 * fit, which the uncertainty's (1 + n / nSim) factor accounts for. Same data, same fit.
 */
export function seedOf(data: unknown, salt = 0): number {
  return (parseInt(digest(data).slice(0, 8), 16) + Math.imul(salt, 0x9e3779b1)) >>> 0;
}
