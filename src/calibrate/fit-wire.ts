/**
 * `wire_resistance_ohm` (issue 28: line resistance, a calibration parameter) from a characterize
 * run's MVM probe (procedures/mvm-probe.ts): each probed array read back whole, then its column
 * currents measured through the board's analog MVM with every row driven at the read voltage. The
 * read-back conductances and the same row voltages through the crossbar solver the emulator and
 * the Monte Carlo share (lib/crossbar-solver.ts) give the column currents as a function of the wire
 * resistance per segment; the value is the least-squares fit of the measured currents (a bracketed
 * golden-section search: the currents fall monotonically with the resistance). Its uncertainty is
 * a jackknife over columns (one column's currents left out at a time, through the linearised fit):
 * a cell's read-back error moves mostly its own column's current.
 *
 * Statuses (docs/calibration.md): `fitted`; `at-bound` at 0 (or within a quarter of its error of
 * 0: small, not how small); `not-identifiable` when no run has a probe (the board does not offer
 * the MVM, HELLO feature bit 2) or the probe's currents barely depend on it (cells too dim: the
 * error is more than 70 % of the prior's, uniform on 0..MAX_OHM, so it narrows it by under 30 %).
 */
import { z } from 'zod';
import { solveCrossbar } from '../../lib/crossbar-solver.js';
import { parseFile } from '../io/validate.js';
import type { MvmProbe } from '../procedures/mvm-probe.js';
import type { ParamRecord } from './param-record.js';

/** Upper bound of the fit (the emulator's and the calibration's limit). */
export const MAX_OHM = 1000;
const PRIOR_SE = MAX_OHM / Math.sqrt(12);
/** chi2 per degree of freedom a fitting network stays under (the variances are themselves estimated from a few repeats). */
const CHI2_LIMIT = 2;

const current = z.number().finite();
/** A stored probe as the fit needs it (a run's level-cdf.json is read back from the store: checked, never trusted). */
const ProbeFile = z
  .object({
    array: z.number().int().gte(0),
    rows: z.number().int().positive().lte(1024),
    cols: z.number().int().positive().lte(1024),
    vread_V: z.number().finite().positive(),
    reads: z.number().int().positive(),
    readback_A: z.array(current),
    readbackColumnVar_A2: z.array(current.gte(0)).optional(),
    currents_A: z.array(z.array(current)).min(1),
  })
  .passthrough()
  .superRefine((p, ctx) => {
    const bad = (path: string, message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path: [path], message });
    if (p.readback_A.length !== p.rows * p.cols) bad('readback_A', `must hold rows x cols = ${p.rows * p.cols} currents, not ${p.readback_A.length}`);
    if (p.readbackColumnVar_A2 && p.readbackColumnVar_A2.length !== p.cols) bad('readbackColumnVar_A2', `must hold ${p.cols} columns`);
    if (p.currents_A.some((c) => c.length !== p.cols)) bad('currents_A', `every repeat must hold ${p.cols} column currents`);
  });

/** Every probe's predicted column currents (A) at wire resistance r, in the order of `measured`. */
function predict(probes: MvmProbe[], r: number): Float64Array {
  const out: number[] = [];
  for (const p of probes) {
    const G = p.readback_A.map((i) => Math.max(0, i) / p.vread_V);
    const cols = solveCrossbar({ rows: p.rows, cols: p.cols, G, V: new Float64Array(p.rows).fill(p.vread_V), r_ohm: r }).columns;
    for (const c of cols) out.push(c);
  }
  return Float64Array.from(out);
}

/** Per probe and column: the mean of its repeated MVM currents. */
function measured(probes: MvmProbe[]): Float64Array {
  const out: number[] = [];
  for (const p of probes)
    for (let j = 0; j < p.cols; j++) {
      let s = 0;
      for (const v of p.currents_A) s += v[j];
      out.push(s / p.currents_A.length);
    }
  return Float64Array.from(out);
}

/** The least-squares resistance on [0, MAX_OHM] of the currents at `idx`: bracketed by doubling, then golden section to 1e-4 relative. */
function leastSquares(probes: MvmProbe[], y: Float64Array, idx: number[]): number {
  const f = (r: number) => {
    const m = predict(probes, r);
    return idx.reduce((s, k) => s + (m[k] - y[k]) ** 2, 0);
  };
  let lo = 0;
  let mid = 0.05;
  let hi = 0.1;
  if (f(mid) >= f(0)) return searchGolden(f, 0, mid);
  while (hi < MAX_OHM && f(hi) < f(mid)) [lo, mid, hi] = [mid, hi, Math.min(MAX_OHM, 2 * hi)];
  return searchGolden(f, lo, hi);
}

/** The fit on the currents at `idx`, its jackknife error over them (through the linearised fit), the model's currents and the residuals. */
function fitOn(ps: MvmProbe[], y: Float64Array, idx: number[]): { r: number; se: number; model: Float64Array; res: number[] } {
  const r = leastSquares(ps, y, idx);
  const model = predict(ps, r);
  // Sensitivity of every current to r (central difference, or one-sided at 0).
  const h = Math.max(1e-3, 1e-3 * r);
  const lo = Math.max(0, r - h);
  const below = lo === r ? model : predict(ps, lo);
  const up = predict(ps, r + h);
  const S = idx.map((k) => (up[k] - below[k]) / (r + h - lo));
  const res = idx.map((k) => y[k] - model[k]);
  let sSS = 0;
  let sSR = 0;
  S.forEach((s, i) => {
    sSS += s * s;
    sSR += s * res[i];
  });
  const n = idx.length;
  const loo = S.map((s, i) => r + (sSR - s * res[i]) / (sSS - s * s));
  const m = loo.reduce((a, b) => a + b, 0) / n;
  return { r, se: Math.sqrt(((n - 1) / n) * loo.reduce((a, b) => a + (b - m) ** 2, 0)), model, res };
}

/**
 * Goodness of fit against the noise the probe measured: each column's residual beside the spread
 * its prediction inherits from the read-back (the cells' read variance) and its measurement from
 * the MVM repeats; chi2 per degree of freedom. Well above 1 says the solver's network is not the
 * board's, whatever value the fit found. Undefined for probes without the read variance (recorded
 * before it was kept).
 */
function chi2PerDof(ps: MvmProbe[], y: Float64Array, res: number[]): number | undefined {
  if (ps.some((p) => !p.readbackColumnVar_A2)) return undefined;
  // The MVM's repeat variance of a column from a few repeats is itself uncertain (with 4 repeats,
  // res^2/s^2 averages 3, not 1, from the columns whose s^2 came out small): at least the median
  // relative repeat variance of the columns, at each column's current.
  const repVar: number[] = [];
  for (const p of ps)
    for (let j = 0; j < p.cols; j++) {
      const reps = p.currents_A.map((c) => c[j]);
      const m = reps.reduce((a, b) => a + b, 0) / reps.length;
      repVar.push(reps.length > 1 ? reps.reduce((a, b) => a + (b - m) ** 2, 0) / (reps.length - 1) / reps.length : 0);
    }
  const rel = repVar.map((v, k) => (y[k] ? v / y[k] ** 2 : 0)).sort((a, b) => a - b);
  const relMedian = rel[Math.floor(rel.length / 2)];
  const readVar = ps.flatMap((p) => p.readbackColumnVar_A2!);
  let chi2 = 0;
  for (let k = 0; k < y.length; k++) {
    // A floor (0.01 % of the current) below any board's noise: the search stops at 1e-4 of the resistance.
    const v = readVar[k] + Math.max(repVar[k], relMedian * y[k] ** 2) + (1e-4 * y[k]) ** 2 + 1e-30;
    chi2 += res[k] ** 2 / v;
  }
  return chi2 / Math.max(1, y.length - 1);
}

/** Why the residuals are too large for the measured noise, or undefined. */
function residualsTooLarge(chi2: number | undefined, n: number): string | undefined {
  if (chi2 === undefined) return undefined;
  const dof = Math.max(1, n - 1);
  const limit = CHI2_LIMIT + 4 * Math.sqrt(2 / dof);
  if (chi2 <= limit) return undefined;
  return `the residuals are ${Math.sqrt(chi2).toPrecision(3)}x the noise the probe measured (chi2/dof ${chi2.toPrecision(3)} over ${dof}, limit ${limit.toPrecision(3)}): the solver's network (row drivers at column 0, uniform wires, the read-back conductances) does not describe this board's MVM`;
}

/**
 * Goodness of fit: the wires act more on the columns far from the row drivers than on the near ones,
 * so the columns of each half give the resistance alone; a network that is not the board's (an ADC
 * gain, sneak paths the solver does not have, a driver at the other end) makes the halves disagree,
 * where one fit over all columns would still find some value. Undefined when they agree.
 */
function halvesDisagree(ps: MvmProbe[], y: Float64Array): string | undefined {
  const near: number[] = [];
  const far: number[] = [];
  let k = 0;
  for (const p of ps) for (let j = 0; j < p.cols; j++) (j < p.cols / 2 ? near : far).push(k++);
  if (near.length < 4 || far.length < 4) return undefined;
  const a = fitOn(ps, y, near);
  const b = fitOn(ps, y, far);
  // 4 standard errors (jackknife errors of ~32 columns are themselves uncertain), and the search's tolerance.
  const tol = 4 * Math.hypot(a.se, b.se) + 2e-3 * Math.max(1, a.r, b.r);
  if (Math.abs(a.r - b.r) <= tol) return undefined;
  return `the near half of the columns says ${a.r.toPrecision(3)} +- ${a.se.toPrecision(2)} ohm, the far half ${b.r.toPrecision(3)} +- ${b.se.toPrecision(2)} ohm: more apart than their errors allow, so the solver's network (row drivers at column 0, uniform wires) does not describe this board's MVM`;
}

function searchGolden(f: (r: number) => number, a: number, b: number): number {
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  while (b - a > 1e-4 * Math.max(1, b) && b - a > 1e-6) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  return (a + b) / 2;
}

export interface WireFit {
  record: ParamRecord;
  /** Measured and fitted mean column current (A), the jackknife error, the residuals' chi2 per degree of freedom (when the probe kept its read variance). */
  fit?: { value: number; se: number; columns: number; meanMeasured_A: number; meanModel_A: number; meanIdeal_A: number; chi2PerDof?: number };
}

/** The wire resistance from the probes of the runs (runId per probe), or why it cannot be told. */
export function fitWireResistance(probes: { runId: string; probe: MvmProbe }[], base: number, why: string): WireFit {
  const unit = 'ohm';
  if (!probes.length) return { record: { value: base, unit, status: 'not-identifiable', method: `no MVM probe in the runs (${why}): kept at the base value`, runs: [] } };
  const ps = probes.map((p, k) => parseFile(ProbeFile, p.probe, `run ${p.runId} level-cdf result: mvmProbe[${k}]`) as MvmProbe);
  const runs = [...new Set(probes.map((p) => p.runId))];
  const y = measured(ps);
  const all = Array.from(y, (_, k) => k);
  const { r, se, model, res } = fitOn(ps, y, all);
  const n = y.length;
  const mean = (a: Float64Array) => a.reduce((s, x) => s + x, 0) / a.length;
  const fit = { value: r, se, columns: n, meanMeasured_A: mean(y), meanModel_A: mean(model), meanIdeal_A: mean(predict(ps, 0)), chi2PerDof: chi2PerDof(ps, y, res) };
  const evidence = [{ statistic: 'MVM column current, every row at vread (mean over columns)', measured: fit.meanMeasured_A, model: fit.meanModel_A, se: Math.sqrt(res.reduce((s, x) => s + x * x, 0) / Math.max(1, n - 1) / n), unit: 'A' }];
  const method = `least squares of ${n} MVM column currents (every row at vread, ${ps[0].currents_A.length} repeats) against the crossbar solver on the read-back conductances of the same arrays (ideal wires: ${(fit.meanIdeal_A * 1e6).toFixed(2)} uA mean, measured ${(fit.meanMeasured_A * 1e6).toFixed(2)} uA); error: jackknife over columns`;
  const misfit = se < 0.7 * PRIOR_SE ? residualsTooLarge(fit.chi2PerDof, n) ?? halvesDisagree(ps, y) : undefined;
  if (misfit) return { fit, record: { value: base, unit, status: 'not-identifiable', method: `${method}; ${misfit}: kept at the base value`, runs, evidence } };
  if (!(se < 0.7 * PRIOR_SE)) return { fit, record: { value: base, unit, status: 'not-identifiable', method: `${method}: error ${se.toPrecision(2)} ohm narrows the prior (0..${MAX_OHM} ohm) by less than 30 % (cells too dim for the wires to matter): kept at the base value`, runs } };
  if (r >= MAX_OHM * (1 - 1e-3)) return { fit, record: { value: r, unit, status: 'at-bound', method: `${method}; at its bound ${MAX_OHM} ohm (the currents fall further than any wire in range explains: the board's MVM may not be the network the solver assumes)`, runs, evidence } };
  if (r <= 1e-3 || r < 0.25 * se) return { fit, record: { value: r, unit, status: 'at-bound', method: `${method}; at its bound 0 (the data say it is below ~${Math.max(se, 1e-3).toPrecision(2)} ohm, not how far)`, runs, evidence } };
  return { fit, record: { value: r, unit, status: 'fitted', method: fit.chi2PerDof === undefined ? `${method}; goodness of fit not checked (the probe kept no read variance)` : method, runs, uncertainty: se, evidence } };
}
