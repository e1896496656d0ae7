/**
 * Indirect inference by damped Gauss-Newton (Levenberg-Marquardt) with bounds and priors: move
 * parameters until statistics of a simulation (one seed: common random numbers between
 * candidates) match the measured ones, weighted by their standard errors inflated by the
 * simulation's own sampling noise (1 + 1 / simFactor). Each parameter lives in a space where the
 * statistics answer nearly linearly: spreads as variances (a spread at 0 still has a gradient),
 * scales as logarithms. The sensitivities are measured by one simulation per parameter (in
 * parallel) at the start and again after large moves; the covariance (J^T W J + priors)^-1 gives
 * the uncertainties. A parameter the solution pushes against its bound is held there (at-bound).
 */
import { invSym } from './numeric.js';

export type Space = 'lin' | 'log' | 'sq';

export interface FitParam<S> {
  name: string;
  unit: string;
  space: Space;
  /** Bounds in the parameter's own unit. */
  lo: number;
  hi: number;
  /** Finite-difference step in the transformed space. */
  h: number;
  get(s: S): number;
  set(s: S, v: number): void;
  /** What is known before these data (a sweep's fit, or a broad prior around the base value). */
  prior: { value: number; se: number; from: 'sweep' | 'base' };
}

export interface IIEResult<S> {
  state: S;
  /** Per parameter: value, standard error, whether held at a bound, posterior / prior error ratio. */
  values: number[];
  se: number[];
  atBound: boolean[];
  shrink: number[];
  /** Simulated statistics at the result, and the sensitivities (statistic per transformed unit). */
  sim: number[];
  J: number[][];
  runs: number;
  cost: number;
}

const toT = (sp: Space, v: number) => (sp === 'log' ? Math.log(Math.max(v, 1e-30)) : sp === 'sq' ? v * v : v);
const fromT = (sp: Space, t: number) => (sp === 'log' ? Math.exp(t) : sp === 'sq' ? Math.sqrt(Math.max(0, t)) : t);
/** Prior in transformed space: centre and standard error. */
function priorT(p: FitParam<unknown>): { t: number; se: number } {
  const { value, se } = p.prior;
  if (p.space === 'log') return { t: Math.log(Math.max(value, 1e-30)), se: se / Math.max(value, 1e-30) };
  if (p.space === 'sq') return { t: value * value, se: Math.max(2 * value * se, se * se) };
  return { t: value, se };
}

export async function indirectInference<S>(o: {
  params: FitParam<S>[];
  state: S;
  clone: (s: S) => S;
  simulate: (s: S) => Promise<number[]>;
  /** A cheaper simulation for the sensitivities (fewer cells, same seed: differences stay precise). */
  simulateJ?: (s: S) => Promise<number[]>;
  obs: number[];
  se: number[];
  simFactor: number;
  maxRuns?: number;
  /** The sensitivities at the starting state (and the simulation there, when it is this one's), from an earlier fit of the same statistics and parameters that ended there. */
  start?: { y?: number[]; J: number[][] };
}): Promise<IIEResult<S>> {
  const P = o.params;
  const w = o.se.map((s, i) => (Number.isFinite(o.obs[i]) && s > 0 ? 1 / (s * s * (1 + 1 / o.simFactor)) : 0));
  const pr = P.map(priorT);
  const lo = P.map((p) => toT(p.space, p.space === 'log' ? Math.max(p.lo, 1e-30) : p.lo));
  const hi = P.map((p) => toT(p.space, p.hi));
  const stateAt = (t: number[]) => {
    const s = o.clone(o.state);
    P.forEach((p, j) => p.set(s, fromT(p.space, t[j])));
    return s;
  };
  const cost = (y: number[], t: number[]) => y.reduce((a, v, i) => a + (w[i] && Number.isFinite(v) ? w[i] * (v - o.obs[i]) ** 2 : w[i] ? 1e6 : 0), 0) + t.reduce((a, v, j) => a + ((v - pr[j].t) / pr[j].se) ** 2, 0);
  let t = P.map((p, j) => Math.min(hi[j], Math.max(lo[j], toT(p.space, p.get(o.state)))));
  const warm = o.start && o.start.J.length === o.obs.length && o.start.J.every((r) => r.length === P.length) ? o.start : undefined;
  const warmY = warm?.y && warm.y.length === o.obs.length ? warm.y : undefined;
  // With a cheaper simulation for the sensitivities, the first ones run beside the first
  // simulation (they do not need it): one wave of the pool fewer.
  const first = warmY ? undefined : o.simulate(stateAt(t));
  first?.catch(() => undefined); // awaited below; not an unhandled rejection while the sensitivities run
  let y: number[] = [];
  let J: number[][] = warm ? warm.J.map((r) => r.slice()) : [];
  let runs = warmY ? 0 : 1;
  const simJ = o.simulateJ ?? o.simulate;
  const jacobian = async () => {
    J = o.obs.map(() => new Array<number>(P.length).fill(0));
    // The cheaper simulation's own centre runs beside the steps (one wave of the pool fewer).
    const steps = P.map((p, j) => (t[j] + p.h > hi[j] ? -p.h : p.h)); // inwards at the upper bound
    const [y0, ...yps] = await Promise.all([o.simulateJ ? o.simulateJ(stateAt(t)) : Promise.resolve(y), ...P.map((_, j) => simJ(stateAt(t.map((v, k) => (k === j ? v + steps[j] : v)))))]);
    yps.forEach((yp, j) => o.obs.forEach((_, i) => (J[i][j] = Number.isFinite(yp[i] - y0[i]) ? (yp[i] - y0[i]) / steps[j] : 0)));
    runs += P.length + (o.simulateJ ? 1 : 0);
  };
  if (!warm && o.simulateJ) await jacobian();
  y = warmY ? warmY.slice() : await first!;
  if (!warm && !o.simulateJ) await jacobian();
  let c = cost(y, t);
  const normal = (held: boolean[]) => P.map((_, a) => P.map((_, b) => (held[a] || held[b] ? (a === b ? 1 : 0) : J.reduce((acc, row, i) => acc + w[i] * row[a] * row[b], 0) + (a === b ? 1 / pr[a].se ** 2 : 0))));
  const gradient = () => P.map((_, a) => J.reduce((acc, row, i) => acc + (w[i] && Number.isFinite(y[i]) ? w[i] * row[a] * (y[i] - o.obs[i]) : 0), 0) + (t[a] - pr[a].t) / pr[a].se ** 2);
  let lambda = 0.05;
  let held = P.map(() => false);
  let accepted = 0;
  let rejected = 0;
  const maxRuns = o.maxRuns ?? 3 * (P.length + 1) + 6;
  while (runs < maxRuns) {
    const g = gradient();
    // At a bound with the gradient pushing outwards: held there for this step.
    held = P.map((_, j) => (t[j] <= lo[j] + 1e-6 * P[j].h && g[j] > 0) || (t[j] >= hi[j] - 1e-6 * P[j].h && g[j] < 0));
    const A = normal(held).map((row, a) => row.map((v, b) => (a === b ? v * (1 + lambda) + 1e-30 : v)));
    const inv = invSym(A);
    const step = inv.map((row, j) => (held[j] ? 0 : -row.reduce((acc, v, b) => acc + (held[b] ? 0 : v * g[b]), 0)));
    // No coordinate moves more than twice its step size of the sensitivities per iteration: the linearisation holds no further.
    const tn = t.map((v, j) => Math.min(hi[j], Math.max(lo[j], v + Math.max(-20 * P[j].h, Math.min(20 * P[j].h, step[j])))));
    if (tn.every((v, j) => Math.abs(v - t[j]) < 1e-3 * P[j].h)) break;
    const yn = await o.simulate(stateAt(tn));
    runs++;
    const cn = cost(yn, tn);
    if (process.env.RRAM_FIT_DEBUG) process.stderr.write(`iie run ${runs} cost ${c.toFixed(1)} -> ${cn.toFixed(1)} lambda ${lambda.toExponential(1)}\n`);
    if (cn < c) {
      // Under 3 % better: the linearisation has given what it can (another step costs a simulation).
      const small = c - cn < 0.03 * c;
      [t, y, c] = [tn, yn, cn];
      lambda = Math.max(1e-4, lambda / 4);
      accepted++;
      rejected = 0;
      if (small && c < 3 * (o.obs.length + P.length)) break;
    } else {
      lambda *= 8;
      rejected++;
      // Already within the statistics' noise (chi^2 no more than their count, or within one of
      // its standard deviations above it after a second failed step at a larger damping): a step
      // the linearisation cannot make better would only chase the replay's sampling noise.
      const n = o.obs.filter((_, i) => w[i] > 0).length;
      if (c <= n || (rejected >= 2 && c <= n + Math.sqrt(2 * n))) break;
    }
    if ((accepted >= 3 || rejected >= 2) && c > 3 * (o.obs.length + P.length) && runs + P.length < maxRuns) {
      await jacobian();
      accepted = 0;
      rejected = 0;
    } else if (rejected >= 4) break;
  }
  // At a bound at the end is at-bound, whichever way the gradient points (the data do not place it inside).
  held = P.map((_, j) => t[j] <= lo[j] + 1e-3 * P[j].h || t[j] >= hi[j] - 1e-3 * P[j].h);
  const cov = invSym(normal(P.map(() => false)));
  const values = t.map((v, j) => fromT(P[j].space, v));
  const se = P.map((p, j) => {
    const st = Math.sqrt(Math.max(0, cov[j][j]));
    if (p.space === 'log') return values[j] * st;
    if (p.space === 'sq') return values[j] ** 2 > st ? st / (2 * values[j]) : Math.sqrt(st);
    return st;
  });
  const shrink = P.map((_, j) => Math.sqrt(Math.max(0, cov[j][j])) / pr[j].se);
  return { state: stateAt(t), values, se, atBound: held, shrink, sim: y, J, runs, cost: c };
}

