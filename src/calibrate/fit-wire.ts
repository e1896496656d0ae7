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
import { solveCrossbar } from '../../lib/crossbar-solver.js';
import type { MvmProbe } from '../procedures/mvm-probe.js';
import type { ParamRecord } from './param-record.js';

/** Upper bound of the fit (the emulator's and the calibration's limit). */
export const MAX_OHM = 1000;
const PRIOR_SE = MAX_OHM / Math.sqrt(12);

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

const sse = (a: Float64Array, b: Float64Array) => a.reduce((s, x, k) => s + (x - b[k]) ** 2, 0);

/** The least-squares resistance on [0, MAX_OHM]: bracketed by doubling, then golden section to 1e-4 relative. */
function leastSquares(probes: MvmProbe[], y: Float64Array): number {
  const f = (r: number) => sse(predict(probes, r), y);
  let lo = 0;
  let mid = 0.05;
  let hi = 0.1;
  if (f(mid) >= f(0)) return searchGolden(f, 0, mid);
  while (hi < MAX_OHM && f(hi) < f(mid)) [lo, mid, hi] = [mid, hi, Math.min(MAX_OHM, 2 * hi)];
  return searchGolden(f, lo, hi);
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
  /** Measured and fitted mean column current (A), the jackknife error. */
  fit?: { value: number; se: number; columns: number; meanMeasured_A: number; meanModel_A: number; meanIdeal_A: number };
}

/** The wire resistance from the probes of the runs (runId per probe), or why it cannot be told. */
export function fitWireResistance(probes: { runId: string; probe: MvmProbe }[], base: number, why: string): WireFit {
  const unit = 'ohm';
  if (!probes.length) return { record: { value: base, unit, status: 'not-identifiable', method: `no MVM probe in the runs (${why}): kept at the base value`, runs: [] } };
  const ps = probes.map((p) => p.probe);
  const runs = [...new Set(probes.map((p) => p.runId))];
  const y = measured(ps);
  const r = leastSquares(ps, y);
  const model = predict(ps, r);
  // Sensitivity of every current to r (central difference, or one-sided at 0), and the linearised jackknife over columns.
  const h = Math.max(1e-3, 1e-3 * r);
  const lo = Math.max(0, r - h);
  const S = predict(ps, r + h).map((x, k) => (x - (lo === r ? model[k] : predict(ps, lo)[k])) / (r + h - lo));
  const res = y.map((v, k) => v - model[k]);
  let sSS = 0;
  let sSR = 0;
  for (let k = 0; k < y.length; k++) {
    sSS += S[k] * S[k];
    sSR += S[k] * res[k];
  }
  const n = y.length;
  const loo = Array.from({ length: n }, (_, k) => r + (sSR - S[k] * res[k]) / (sSS - S[k] * S[k]));
  const m = loo.reduce((a, b) => a + b, 0) / n;
  const se = Math.sqrt(((n - 1) / n) * loo.reduce((a, b) => a + (b - m) ** 2, 0));
  const mean = (a: Float64Array) => a.reduce((s, x) => s + x, 0) / a.length;
  const fit = { value: r, se, columns: n, meanMeasured_A: mean(y), meanModel_A: mean(model), meanIdeal_A: mean(predict(ps, 0)) };
  const evidence = [{ statistic: 'MVM column current, every row at vread (mean over columns)', measured: fit.meanMeasured_A, model: fit.meanModel_A, se: Math.sqrt(res.reduce((s, x) => s + x * x, 0) / Math.max(1, n - 1) / n), unit: 'A' }];
  const method = `least squares of ${n} MVM column currents (every row at vread, ${ps[0].currents_A.length} repeats) against the crossbar solver on the read-back conductances of the same arrays (ideal wires: ${(fit.meanIdeal_A * 1e6).toFixed(2)} uA mean, measured ${(fit.meanMeasured_A * 1e6).toFixed(2)} uA); error: jackknife over columns`;
  if (!(se < 0.7 * PRIOR_SE)) return { fit, record: { value: base, unit, status: 'not-identifiable', method: `${method}: error ${se.toPrecision(2)} ohm narrows the prior (0..${MAX_OHM} ohm) by less than 30 % (cells too dim for the wires to matter): kept at the base value`, runs } };
  if (r >= MAX_OHM * (1 - 1e-3)) return { fit, record: { value: r, unit, status: 'at-bound', method: `${method}; at its bound ${MAX_OHM} ohm (the currents fall further than any wire in range explains: the board's MVM may not be the network the solver assumes)`, runs, evidence } };
  if (r <= 1e-3 || r < 0.25 * se) return { fit, record: { value: r, unit, status: 'at-bound', method: `${method}; at its bound 0 (the data say it is below ~${Math.max(se, 1e-3).toPrecision(2)} ohm, not how far)`, runs, evidence } };
  return { fit, record: { value: r, unit, status: 'fitted', method, runs, uncertainty: se, evidence } };
}
