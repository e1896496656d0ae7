/**
 * Measured aging fitted into a calibration (issue 31; docs/calibration.md, "Aging"):
 *  - `rram iv` runs: the SET and RESET switching voltages (medians, device-to-device spreads);
 *  - `rram endurance` runs: the window's collapse with cycling (tau, the middle it closes on) and
 *    the cycles to failure (log-normal, interval- and right-censored) with the failure's mode;
 *  - `rram retention` runs: the relaxation table's scale and the drift exponent (median, spread),
 *    and the drift per level (median and spread of I(t) - I(verify), log-linear in time) that the
 *    Monte Carlo uses (`rram infer --retention-from`, `rram study crossbar`).
 * Every value carries its standard error (bootstrap over cells) and the runs it came from; what a
 * run cannot identify (no collapse within its cycles, too few failures) is not fitted and says why.
 */
import type { Calibration, Param, ScalarName } from '../../calibration/calibration.js';
import { loadCalibration, values } from '../../calibration/calibration.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { EmbeddedStore } from '../store/embedded-store.js';
import { ivRatio } from '../../calibration/transfer.js';
import { relaxationAt } from '../../calibration/relaxation.js';
import { mean, quantile, sorted, std } from '../analysis/stats.js';
import type { EnduranceDataset } from '../procedures/endurance.js';
import type { IvDataset } from '../procedures/iv.js';
import type { RetentionDataset } from '../procedures/retention.js';
import type { DeviceOptions, MeasuredEndurance, MeasuredRetention } from '../inference/device-models.js';
import { bootstrapSE, nelderMead, nnls } from './numeric.js';
import { EmulatedBoard } from '../../drivers/emulated/emulated-board.js';
import { RunContext } from '../engine/run-context.js';
import { RunEngine } from '../engine/run-engine.js';
import { extractSwitching, ivCycle, type IvCycleData } from '../plans/iv-loop.js';
import { preparedCell } from '../plans/prepared-cell.js';
import type { FormConfig } from '../plans/form.js';
import type { ResetVerifyConfig } from '../plans/reset-verify.js';

export interface AgingParam extends Param {
  status: 'fitted';
  method: string;
  runs: string[];
  uncertainty: number;
}

export interface AgingFit {
  params: Partial<Record<ScalarName, AgingParam>>;
  /** Measured statistics that are not model parameters (or could not be identified), stated as measured. */
  notes: string[];
}

const param = (value: number, unit: string, uncertainty: number, method: string, runId: string): AgingParam => ({ value, unit, source: `fitted by rram calibrate from run ${runId}: ${method}`, status: 'fitted', method, runs: [runId], uncertainty });

/** Conductance from a read current (the I-V curvature at the read voltage taken out). */
export function readToG(cal: Calibration, i_A: number, vread_V: number): number {
  const g = i_A / vread_V;
  return g / ivRatio(cal.ivCurve, g, vread_V);
}

// ---- switching voltages (rram iv) -----------------------------------------------------------

/** Per cell, the extracted voltages of its loops (nulls dropped), the staircase's bias taken off. */
function perCell(d: IvDataset, which: 'vset_V' | 'vreset_V', bias: number): number[][] {
  return d.cells.map((c) => c.cycles.map((y) => y[which]).filter((v): v is number => v !== null).map((v) => v - bias)).filter((xs) => xs.length);
}

/** Device-to-device sigma of per-cell means, the cycle-to-cycle part of those means removed. */
function d2dSigma(cells: number[][]): number {
  const means = cells.map((xs) => mean(xs));
  let ss = 0;
  let dof = 0;
  for (const xs of cells) {
    const m = mean(xs);
    for (const x of xs) ss += (x - m) ** 2;
    dof += xs.length - 1;
  }
  const c2c2 = dof ? ss / dof : 0;
  const loops = mean(cells.map((xs) => xs.length));
  return Math.sqrt(Math.max(0, std(means) ** 2 - c2c2 / loops));
}

/**
 * What the recorded staircase makes of a known threshold (detection lag past the criterion, first
 * passage over cycle-to-cycle noise): the same design simulated on an emulator with the base
 * calibration, extracted the same way, minus the cells' own thresholds. Mean error per branch (V).
 */
export async function switchingBias(d: IvDataset, base: Calibration, cells = 96): Promise<{ set: number; reset: number }> {
  const board = new EmulatedBoard({ calibration: base, seed: 104729, arrays: 1 });
  const form = d.params.form as FormConfig;
  const reset = d.params.reset as ResetVerifyConfig;
  const loops = Number(d.params.cycles ?? 1);
  const info = board.info();
  const addrs = Array.from({ length: Math.min(cells, info.rows * info.cols) }, (_, k) => ({ array: 0, row: Math.floor(k / info.cols), col: k % info.cols }));
  const ctx = new RunContext('aging-bias');
  const err = { set: [] as number[], reset: [] as number[] };
  let active = addrs;
  for (let k = 1; k <= loops && active.length; k++) {
    const jobs = active.map((cell) => ({ cell, level: 0, target_A: 0, plan: () => (k === 1 ? preparedCell(form, reset, false, (t) => ivCycle(d.config, t)) : ivCycle(d.config)) }));
    const res = await new RunEngine(board, ctx).runCells(jobs, { pulseBudget: 100000 });
    active = [];
    for (const r of res) {
      if (r.outcome.status !== 'ok') continue;
      active.push(r.cell);
      const p = board.arrayModel(0).deviceParams(r.cell.row * info.cols + r.cell.col);
      const x = extractSwitching(r.outcome.data as unknown as IvCycleData, d.config);
      if (x.vset_V !== null) err.set.push(x.vset_V - p.vset_V);
      if (x.vreset_V !== null) err.reset.push(x.vreset_V - p.vreset_V);
    }
  }
  return { set: err.set.length ? mean(err.set) : 0, reset: err.reset.length ? mean(err.reset) : 0 };
}

export async function fitSwitching(d: IvDataset, runId: string, base: Calibration): Promise<AgingFit> {
  const out: AgingFit = { params: {}, notes: [] };
  const bias = await switchingBias(d, base);
  for (const [which, pre] of [['vset_V', 'set'], ['vreset_V', 'reset']] as const) {
    const cells = perCell(d, which, bias[pre]);
    if (cells.length < 5) {
      out.notes.push(`${pre}: only ${cells.length} cells switched in run ${runId}: not fitted`);
      continue;
    }
    const med = (cs: number[][]) => quantile(sorted(cs.map((xs) => mean(xs))), 0.5);
    const how = `the first ${pre === 'set' ? 'VTE' : 'VSL'} step of each I-V loop past its switching criterion, less the staircase's bias (${(bias[pre] * 1e3).toFixed(1)} mV: the same design simulated on the base calibration); median over cells of their mean`;
    out.params[`${pre}_v_median_V`] = param(med(cells), 'V', bootstrapSE(cells, med), how, runId);
    out.params[`${pre}_v_sigma_V`] = param(d2dSigma(cells), 'V', bootstrapSE(cells, d2dSigma), `spread of per-cell means over the loops, less the cycle-to-cycle share (${cells.length} cells)`, runId);
    out.notes.push(`${pre}: cycle-to-cycle sigma of the first step past the criterion ${(d.stats[which].sigmaC2c * 1e3).toFixed(1)} mV (a staircase's first passage: below the threshold's own cycle-to-cycle sigma; ${pre}_v_c2c_V not fitted)`);
  }
  return out;
}

// ---- endurance ------------------------------------------------------------------------------

interface CycledCell {
  w: { cycle: number; ratio: number; lrs_A: number; hrs_A: number }[];
  /** Failure interval (previous read, failing read], or survived to `last`. */
  fail: [number, number] | null;
  last: number;
  mode: string | null;
}

/**
 * The cycled cells with their window ratios in conductance (the read's I-V curvature taken out) up
 * to their failure. For the wear-out law a stuck cell failed between the read before and the
 * failing read; a cell whose window only closed in (window collapse: the tau above) had not worn
 * out by then and is censored there, like a survivor at its last read.
 */
function cycledCells(d: EnduranceDataset, base: Calibration): CycledCell[] {
  const g = (i: number) => readToG(base, i, d.vread_V);
  return d.cells
    .filter((c) => c.reads.length && c.initialWindow_A > 0)
    .map((c) => {
      const upto = c.cyclesToFailure ?? Infinity;
      const w0 = g(c.reads[0].lrs_A) - g(c.reads[0].hrs_A);
      const w = c.reads.filter((r) => r.cycle < upto && Number.isFinite(r.window_A)).map((r) => ({ cycle: r.cycle, ratio: (g(r.lrs_A) - g(r.hrs_A)) / w0, lrs_A: r.lrs_A, hrs_A: r.hrs_A }));
      const k = c.cyclesToFailure === null ? -1 : c.reads.findIndex((r) => r.cycle === c.cyclesToFailure);
      const stuck = c.failure === 'stuck-lrs' || c.failure === 'stuck-hrs';
      const fail: [number, number] | null = !stuck || k < 0 ? null : k > 0 ? [c.reads[k - 1].cycle, c.reads[k].cycle] : [0, c.reads[0].cycle];
      const last = stuck || k < 0 ? c.reads[c.reads.length - 1].cycle : c.reads[k].cycle;
      return { w, fail, last, mode: c.failure };
    });
}

/** tau from the median window ratio over the reads: ln r = -(c - 1) / tau, least squares through the origin. */
function fitTau(cells: CycledCell[]): number {
  const byCycle = new Map<number, number[]>();
  for (const c of cells) for (const p of c.w) if (p.cycle > 1 && p.ratio > 0) byCycle.set(p.cycle, [...(byCycle.get(p.cycle) ?? []), p.ratio]);
  let sxy = 0;
  let sxx = 0;
  for (const [cycle, rs] of byCycle) {
    const r = quantile(sorted(rs), 0.5);
    if (!(r > 0 && r < 1.5)) continue;
    sxy += (cycle - 1) * Math.log(r);
    sxx += (cycle - 1) ** 2;
  }
  return sxx && sxy < 0 ? -sxx / sxy : Infinity;
}

/** The middle the window closes on: L(c) - w L(1) = mid (1 - w), the same for HRS, least squares (A). */
function fitMid(cells: CycledCell[], tau: number): number {
  let num = 0;
  let den = 0;
  for (const c of cells) {
    const f = c.w[0];
    if (!f) continue;
    for (const p of c.w.slice(1)) {
      const w = Math.exp(-(p.cycle - f.cycle) / tau);
      num += (1 - w) * (p.lrs_A - w * f.lrs_A + p.hrs_A - w * f.hrs_A);
      den += 2 * (1 - w) ** 2;
    }
  }
  return den > 0 ? num / den : NaN;
}

const Phi = (z: number) => 0.5 * (1 + erf(z / Math.SQRT2));
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

/** Log-normal cycles to failure by maximum likelihood: failures interval-censored between reads, survivors right-censored. */
export function fitLogNormal(cells: Pick<CycledCell, 'fail' | 'last'>[], sigmaFixed?: number): { median: number; sigmaLog: number } {
  const nll = ([mu, ls]: number[]) => {
    const s = sigmaFixed ?? Math.exp(ls);
    let L = 0;
    for (const c of cells) {
      const F = (x: number) => (x <= 0 ? 0 : Phi((Math.log(x) - mu) / s));
      const p = c.fail ? F(c.fail[1]) - F(c.fail[0]) : 1 - F(c.last);
      L -= Math.log(Math.max(p, 1e-300));
    }
    return L;
  };
  const fails = cells.filter((c) => c.fail).map((c) => Math.log(c.fail![1]));
  const mu0 = fails.length ? mean(fails) + (cells.length > fails.length ? 0.5 : 0) : Math.log(Math.max(...cells.map((c) => c.last)));
  const r = nelderMead(nll, [mu0, Math.log(sigmaFixed ?? 0.5)], [0.5, 0.3], { iterations: 600 });
  return { median: Math.exp(r.x[0]), sigmaLog: sigmaFixed ?? Math.exp(r.x[1]) };
}

export function fitEndurance(d: EnduranceDataset, runId: string, base: Calibration): { fit: AgingFit; measured: MeasuredEndurance } {
  const out: AgingFit = { params: {}, notes: [] };
  const cells = cycledCells(d, base);
  const p = values(base);
  const last = Math.max(0, ...d.readCycles);
  const measured: MeasuredEndurance = { tau: Infinity, source: `endurance run ${runId} (${cells.length} cells, ${last} cycles)` };
  if (cells.length < 3) {
    out.notes.push(`only ${cells.length} cells were cycled in run ${runId}: nothing fitted`);
    return { fit: out, measured };
  }
  const tau = fitTau(cells);
  // Identified when the window visibly closed: the median ratio at some read cycle under 0.9.
  const byCycle = new Map<number, number[]>();
  for (const c of cells) for (const x of c.w) byCycle.set(x.cycle, [...(byCycle.get(x.cycle) ?? []), x.ratio]);
  const endRatio = Math.min(...[...byCycle.values()].filter((rs) => rs.length >= 3).map((rs) => quantile(sorted(rs), 0.5)));
  if (Number.isFinite(tau) && endRatio < 0.9) {
    const seTau = bootstrapSE(cells, fitTau);
    out.params.endurance_tau_cycles = param(tau, '1', seTau, 'the median window (LRS read - HRS read) over its first read, ln of it against the cycles, least squares through the origin', runId);
    const mid = fitMid(cells, tau);
    const midSE = bootstrapSE(cells, (cs) => fitMid(cs, tau));
    out.params.endurance_mid_S = param(readToG(base, mid, d.vread_V), 'S', midSE / d.vread_V, 'the LRS and HRS reads closing on one middle at the fitted tau, least squares', runId);
    measured.tau = tau;
  } else out.notes.push(`the window closed by only ${Number.isFinite(endRatio) ? ((1 - endRatio) * 100).toFixed(1) : '?'} % over ${last} cycles in run ${runId}: tau not identified (above ~${Math.round((last - 1) / -Math.log(0.9))} cycles), not fitted`);
  const failed = cells.filter((c) => c.fail);
  if (failed.length >= 5) {
    const f = fitLogNormal(cells);
    out.params.endurance_fail_cycles = param(f.median, '1', bootstrapSE(cells, (cs) => fitLogNormal(cs).median, 20), 'log-normal cycles to failure by maximum likelihood, each failure between the read before it and the failing read, survivors censored at their last read', runId);
    out.params.endurance_fail_sigma_log = param(f.sigmaLog, '1', bootstrapSE(cells, (cs) => fitLogNormal(cs).sigmaLog, 20), 'the same likelihood', runId);
    Object.assign(measured, { failMedian: f.median, failSigmaLog: f.sigmaLog });
  } else if (failed.length) {
    const f = fitLogNormal(cells, p.endurance_fail_sigma_log);
    out.params.endurance_fail_cycles = param(f.median, '1', bootstrapSE(cells, (cs) => fitLogNormal(cs, p.endurance_fail_sigma_log).median, 20), `log-normal cycles to failure by maximum likelihood with the log-sigma held at the base's ${p.endurance_fail_sigma_log} (${failed.length} failures: too few for both)`, runId);
    Object.assign(measured, { failMedian: f.median, failSigmaLog: p.endurance_fail_sigma_log });
  } else out.notes.push(`no cell wore out (stuck at LRS or HRS) within ${last} cycles in run ${runId} (${cells.length} cells${cells.some((c) => c.mode === 'window-collapse') ? `, ${cells.filter((c) => c.mode === 'window-collapse').length} of them failed by window collapse: that is the tau above` : ''}): cycles to wear-out not fitted (most likely above ${last})`);
  const stuck = { lrs: failed.filter((c) => c.mode === 'stuck-lrs').length, hrs: failed.filter((c) => c.mode === 'stuck-hrs').length };
  if (stuck.lrs + stuck.hrs > 0) {
    const n = stuck.lrs + stuck.hrs;
    const share = stuck.lrs / n;
    out.params.endurance_fail_lrs_share = param(share, '1', Math.sqrt(Math.max(share * (1 - share), 0.25 / n) / n), `failures stuck at LRS among those stuck at LRS or HRS (${stuck.lrs} of ${n})`, runId);
    measured.lrsShare = share;
  }
  return { fit: out, measured };
}

// ---- retention ------------------------------------------------------------------------------

/** One level's cells of a retention run as conductance drifts per time, for fits and resampling. */
export interface LevelDrift {
  g0_S: number;
  t_s: number[];
  /** Per cell: G(t) - G(verify) (S) per time (NaN where unread). */
  cells: number[][];
}

export function levelDrifts(d: RetentionDataset, base: Calibration): LevelDrift[] {
  const g = (i: number) => readToG(base, i, d.vread_V);
  return d.levels
    .map((l) => {
      const ok = l.cells.filter((c) => c.status === 'ok' && Number.isFinite(c.verify_A));
      return { g0_S: quantile(sorted(ok.map((c) => g(c.verify_A))), 0.5), t_s: d.times_s, cells: ok.map((c) => c.reads_A.map((x) => (x === null ? NaN : g(x) - g(c.verify_A)))) };
    })
    .filter((l) => l.cells.length >= 5);
}

const column = (l: LevelDrift, j: number) => l.cells.map((c) => c[j]).filter(Number.isFinite);

/**
 * Relaxation scale s and drift-exponent spread: sigma^2(t) = (s^2 T(G0, t)^2 + (G0 nu_sigma ln t)^2)
 * e^(-2 nu ln t) + 2 read^2 (the drift scales the relaxed spread too), relative least squares, both >= 0.
 */
function fitSpread(levels: LevelDrift[], base: Calibration, nu = 0): { scale: number; nuSigma: number } {
  const p = values(base);
  const A: number[][] = [];
  const y: number[] = [];
  for (const l of levels)
    l.t_s.forEach((t, j) => {
      const xs = column(l, j);
      if (xs.length < 5) return;
      const s2 = std(xs) ** 2;
      const read = p.read_noise_S + p.read_noise_rel * l.g0_S;
      const T = relaxationAt(base.relaxation, base.relaxation.sigma_S, l.g0_S, t);
      const lt = t > 1 ? Math.log(t) : 0;
      const d2 = Math.exp(-2 * nu * lt);
      A.push([(T * T * d2) / s2, ((l.g0_S * lt) ** 2 * d2) / s2]);
      y.push((s2 - 2 * read * read) / s2);
    });
  const [s2, n2] = A.length ? nnls(A, y) : [NaN, NaN];
  return { scale: Math.sqrt(s2), nuSigma: Math.sqrt(n2) };
}

/** Drift exponent: ln((G0 + median drift) / (G0 + s mean_table)) = -nu ln t, least squares over levels and times after 1 s. */
function fitNu(levels: LevelDrift[], base: Calibration, scale: number): number {
  let sxy = 0;
  let sxx = 0;
  for (const l of levels)
    l.t_s.forEach((t, j) => {
      if (t <= 1) return;
      const xs = column(l, j);
      if (xs.length < 5) return;
      const m = quantile(sorted(xs), 0.5);
      const relax = scale * relaxationAt(base.relaxation, base.relaxation.mean_S, l.g0_S, t);
      const z = Math.log((l.g0_S + m) / (l.g0_S + relax));
      sxy += z * Math.log(t);
      sxx += Math.log(t) ** 2;
    });
  return sxx ? -sxy / sxx : NaN;
}

/** The spread and the median drift fitted in turn (each depends on the other), three rounds. */
function fitRelaxDrift(levels: LevelDrift[], base: Calibration): { scale: number; nuSigma: number; nu: number } {
  let nu = 0;
  let sp = fitSpread(levels, base, nu);
  for (let k = 0; k < 3; k++) {
    nu = fitNu(levels, base, sp.scale);
    sp = fitSpread(levels, base, Number.isFinite(nu) ? nu : 0);
  }
  return { ...sp, nu };
}

/** Resampling cells within each level (the bootstrap of a retention fit). */
export function resampleLevels(levels: LevelDrift[], seed: number): LevelDrift[] {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  return levels.map((l) => ({ ...l, cells: l.cells.map(() => l.cells[Math.floor(next() * l.cells.length)]) }));
}
function seOf(levels: LevelDrift[], stat: (ls: LevelDrift[]) => number, reps = 40): number {
  const v = Array.from({ length: reps }, (_, k) => stat(resampleLevels(levels, 17 + k))).filter(Number.isFinite);
  return v.length > 1 ? std(v) : NaN;
}

/** Per level: the drift at each measured time and its log-linear fit after 1 s (what the Monte Carlo takes). */
export function driftModel(d: RetentionDataset, runId: string): MeasuredRetention {
  const levels = d.levels
    .filter((l) => l.times.some((t) => t.n >= 5))
    .map((l) => {
      const current_A = quantile(sorted(l.cells.filter((c) => c.status === 'ok').map((c) => c.verify_A)), 0.5);
      const pts = l.times.filter((t) => t.n >= 5);
      return { current_A, t_s: pts.map((t) => t.t_s), driftMedian_A: pts.map((t) => t.driftMedian_A), driftSigma_A: pts.map((t) => t.driftSigma_A), n: pts.map((t) => t.n), fit: logLinear(pts.map((t) => t.t_s), pts.map((t) => t.driftMedian_A), pts.map((t) => t.driftSigma_A)) };
    });
  return { levels, source: `retention run ${runId} (${d.clock} clock, ${d.times_s.length} times up to ${Math.max(...d.times_s)} s)` };
}

/** Least-squares lines in log10 t (t >= 1 s) of the median drift and of its spread. */
export function logLinear(t: number[], mu: number[], sigma: number[]): { mu: [number, number]; sigma: [number, number] } {
  const line = (ys: number[]): [number, number] => {
    const pts = t.map((x, k) => [Math.log10(x), ys[k]]).filter(([x, y]) => x >= 0 && Number.isFinite(y));
    if (!pts.length) return [NaN, NaN];
    if (pts.length === 1) return [pts[0][1], 0];
    const mx = mean(pts.map((p) => p[0]));
    const my = mean(pts.map((p) => p[1]));
    const sxx = pts.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
    const b = sxx ? pts.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0) / sxx : 0;
    return [my - b * mx, b];
  };
  return { mu: line(mu), sigma: line(sigma) };
}

export function fitRetention(d: RetentionDataset, runId: string, base: Calibration): { fit: AgingFit; measured: MeasuredRetention } {
  const out: AgingFit = { params: {}, notes: [] };
  const levels = levelDrifts(d, base);
  const measured = driftModel(d, runId);
  if (!levels.length) {
    out.notes.push(`no level of run ${runId} has 5 programmed cells read: nothing fitted`);
    return { fit: out, measured };
  }
  const { scale, nuSigma, nu } = fitRelaxDrift(levels, base);
  const sp = { scale, nuSigma };
  const how = `the spread of G(t) - G(verify) per level and time: s^2 x the relaxation table's sigma^2 + (G0 nu_sigma ln t)^2 + twice the read noise^2, least squares on relative residuals`;
  if (Number.isFinite(sp.scale)) out.params.relaxation_scale = param(sp.scale, '1', seOf(levels, (ls) => fitRelaxDrift(ls, base).scale), how, runId);
  const longest = Math.max(...d.times_s);
  if (longest > 10 && Number.isFinite(nu)) {
    out.params.retention_nu = param(nu, '1', seOf(levels, (ls) => fitRelaxDrift(ls, base).nu), 'the median drift after the relaxation table\'s mean: ln((G0 + median) / (G0 + s x mean)) = -nu ln t, least squares over levels and times after 1 s', runId);
    out.params.retention_nu_sigma = param(sp.nuSigma, '1', seOf(levels, (ls) => fitRelaxDrift(ls, base).nuSigma), how, runId);
  } else out.notes.push(`run ${runId} reads up to ${longest} s: too short to tell a drift exponent from relaxation (not fitted)`);
  return { fit: out, measured };
}

// ---- into the calibration -------------------------------------------------------------------

/** The base calibration with every fitted aging parameter set (status fitted, its runs and error). */
export function applyAging(base: Calibration, fits: AgingFit[], id?: string): Calibration {
  const cal = structuredClone(base);
  for (const f of fits) for (const [k, v] of Object.entries(f.params)) cal.params[k as ScalarName] = v as Param;
  if (id) cal.id = id;
  return cal;
}

// ---- measured aging for the Monte Carlo (rram infer / rram study crossbar) -------------------

/** The endurance and retention laws of stored runs, for `--endurance-from` / `--retention-from`. */
export function agingFromStore(store: EmbeddedStore, o: { enduranceRun?: string; retentionRun?: string }, base: Calibration = loadCalibration()): { endurance?: MeasuredEndurance; retention?: MeasuredRetention } {
  const load = <T>(flag: string, id: string, kind: 'endurance' | 'retention'): T => {
    const rec = store.getRun(id);
    if (rec.kind !== kind) throw new InvalidArgumentError(flag, id, `is a ${rec.kind} run; give a ${kind} run (rram ${kind})`);
    if (!rec.results.includes(kind)) throw new InvalidArgumentError(flag, id, `the ${kind} run ${rec.status} without its dataset (it did not complete: resume it first)`);
    return store.loadResult<T>(id, kind);
  };
  const out: { endurance?: MeasuredEndurance; retention?: MeasuredRetention } = {};
  if (o.enduranceRun) out.endurance = fitEndurance(load<EnduranceDataset>('--endurance-from', o.enduranceRun, 'endurance'), o.enduranceRun, base).measured;
  if (o.retentionRun) {
    out.retention = driftModel(load<RetentionDataset>('--retention-from', o.retentionRun, 'retention'), o.retentionRun);
    if (!out.retention.levels.length) throw new InvalidArgumentError('--retention-from', o.retentionRun, 'no level of the run has 5 programmed cells read at its times');
  }
  return out;
}

/** DeviceOptions' endurance from a measured law (tau not identified: no collapse within the run's cycles). */
export function measuredEnduranceOption(cycles: number, m: MeasuredEndurance): NonNullable<DeviceOptions['endurance']> {
  return { cycles, tau: m.tau, ...(m.failMedian ? { failure: { median: m.failMedian, sigmaLog: m.failSigmaLog ?? 0.5, lrsShare: m.lrsShare ?? 0.5 } } : {}), source: m.source };
}

/** Every aging source of `rram calibrate --from` fitted (in the order given), each fit on the calibration so far. */
export async function fitAgingSources(base: Calibration, sources: { runId: string; kind: 'iv' | 'endurance' | 'retention'; data: unknown }[]): Promise<AgingFit[]> {
  const out: AgingFit[] = [];
  for (const s of sources) out.push(s.kind === 'iv' ? await fitSwitching(s.data as IvDataset, s.runId, base) : s.kind === 'endurance' ? fitEndurance(s.data as EnduranceDataset, s.runId, base).fit : fitRetention(s.data as RetentionDataset, s.runId, base).fit);
  return out;
}
