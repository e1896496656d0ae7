/**
 * Where each weight's conductance comes from in a Monte Carlo trial.
 *
 *  - empirical (default with a level-CDF file): every device draws one of the measured read-back
 *    values of its target level, uniformly - the measured distribution itself, tails included;
 *  - gaussian / lognormal / truncnorm (seed 001: normal truncated at mu +- s*mu) around nominal
 *    level values, s relative (5%) or absolute (0.5uA);
 *  - `shared`: seed 001's variant - one draw per level per trial, shared by every device;
 *  - stuck-at-HRS / LRS fault rates, read noise, and relaxation to a time t (the file's own
 *    relaxation re-reads when it has that time, else the calibration's fitted drift and spread).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { DataError, InvalidArgumentError } from '../../drivers/errors.js';
import type { CalValues, RelaxationTable } from '../../calibration/calibration.js';
import { relaxationPair } from '../../calibration/relaxation.js';
import { relaxationMoments } from '../../calibration/model-extensions.js';
import { HRS_MAX_A, LRS_MAX_A, LRS_MIN_A, type LevelSpec } from '../analysis/levels.js';
import { quantile, robustSigma } from '../analysis/stats.js';
import { MAX_LEVELS } from './mapping.js';
import { rotl, splitmix32 } from '../../lib/rng.js';
import { parseFile, parseJsonText } from '../io/validate.js';
import { LevelCdfFile } from '../io/schemas/level-cdf.js';
import { measuredCurrent } from '../io/schemas/currents.js';
import { parseNumberTable } from '../io/number-table.js';

export type DeviceKind = 'empirical' | 'gaussian' | 'lognormal' | 'truncnorm' | 'ideal';

export interface DeviceSpec {
  kind: DeviceKind;
  /** Relative spread (fraction of the level value) ... */
  sigmaRel?: number;
  /** ... or absolute spread (A). */
  sigmaAbs_A?: number;
  /** empirical: the file the samples come from. */
  file?: string;
  text: string;
}

/**
 * `CDF_FILE | gaussian:5% | gaussian:0.5uA | lognormal:5% | truncnorm:5% | ideal`. A spread needs
 * its unit (issue 25: `gaussian:0.05` was read as 0.05 %): % for a relative one, uA/nA/A for an
 * absolute one; a relative spread lies in (0, 100 %] (0 is `ideal`).
 */
export function parseDeviceSpec(text: string): DeviceSpec {
  if (text === 'ideal') return { kind: 'ideal', text };
  const m = /^(gaussian|lognormal|truncnorm):\s*([0-9.eE+-]+)\s*(%|uA|nA|A)?$/.exec(text);
  if (m) {
    const v = Number(m[2]);
    if (!(v >= 0) || !Number.isFinite(v)) throw new InvalidArgumentError('device', text, 'spread must be a non-negative number');
    if (!m[3]) throw new InvalidArgumentError('device', text, `the spread has no unit: write ${m[1]}:${v}% for a relative spread${m[1] === 'gaussian' ? ` or gaussian:${v}uA for an absolute one` : ''}`);
    const unit = m[3];
    if (!(v > 0)) throw new InvalidArgumentError('device', text, 'a spread of 0 is no spread: use ideal');
    // A relative spread above 100 % of a level's conductance draws mostly negative conductances: a typo, not a device.
    if (unit === '%' && v > 100) throw new InvalidArgumentError('device', text, 'a relative spread must be within (0, 100 %]');
    if (m[1] !== 'gaussian' && unit !== '%') throw new InvalidArgumentError('device', text, `${m[1]} takes a relative spread like ${m[1]}:5%`);
    return unit === '%' ? { kind: m[1] as DeviceKind, sigmaRel: v / 100, text } : { kind: m[1] as DeviceKind, sigmaAbs_A: v * { uA: 1e-6, nA: 1e-9, A: 1 }[unit as 'uA'], text };
  }
  if (/^[a-z]+:/.test(text) && !existsSync(text)) throw new InvalidArgumentError('device', text, 'expected a level-CDF file, gaussian:S%, gaussian:XuA, lognormal:S%, truncnorm:S% or ideal');
  return { kind: 'empirical', file: text, text };
}

export interface MeasuredLevels {
  /** Per level (ascending), the measured values (A at the verify read voltage). */
  pools: Float32Array[];
  /** Per relaxation time the file holds, per level. */
  relax: { t_s: number; pools: Float32Array[] }[];
  source: string;
  /** The programming targets the levels were characterized with (level-CDF datasets); absent for CSV files. */
  specs?: LevelSpec[];
  /** Every cell's outcome per level (level-CDF datasets): how many were not programmed and what they read. */
  outcomes?: OutcomeCounts;
  /** The board the levels were measured on (level-CDF datasets). */
  board?: { id: string; kind: string; state?: string };
}

/**
 * Read a level-CDF dataset (docs/formats.md; its schema in src/io/schemas/level-cdf.ts) or a
 * `level,current_A` / `level,conductance_S` CSV. Every sample is checked: a null, a string, a
 * negative current beyond read noise or a 1 kA value is refused naming the file, the field and the
 * value (issue 25: such files ran at chance accuracy with exit 0).
 */
export function loadMeasuredLevels(file: string): MeasuredLevels {
  if (!existsSync(file)) throw new DataError(file, 'level-CDF file not found');
  if (statSync(file).isDirectory()) throw new DataError(file, 'is a folder: give the level-CDF file itself (rram characterize --out FILE)');
  const text = readFileSync(file, 'utf8');
  if (text.trimStart().startsWith('{')) return measuredFromCdf(parseFile(LevelCdfFile, parseJsonText(text, file), file), file);
  const first = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0].split(',').map((x) => x.trim());
  const unit = first[1] === 'current_A' ? 1 : first[1] === 'conductance_S' ? 0.2 : NaN;
  if (first.length !== 2 || first[0] !== 'level' || Number.isNaN(unit)) throw new DataError(file, `line 1: the header must be level,current_A or level,conductance_S (got ${JSON.stringify(first.join(','))})`);
  const rows = parseNumberTable(text, file, { columns: first, fields: 2 });
  const by = new Map<number, number[]>();
  for (const { line, values } of rows) {
    const [level, v] = [values[0], values[1] * unit];
    if (!Number.isInteger(level) || level < 0 || level >= MAX_LEVELS) throw new DataError(file, `line ${line}, field 1 (level) = ${values[0]}: must be an integer in 0..${MAX_LEVELS - 1}`);
    const c = measuredCurrent.safeParse(v);
    if (!c.success) throw new DataError(file, `line ${line}, field 2 (${first[1]}) = ${values[1]}: ${c.error.issues[0].message}`);
    by.set(level, [...(by.get(level) ?? []), v]);
  }
  if (!by.size) throw new DataError(file, 'no rows after the header');
  const n = Math.max(...by.keys()) + 1;
  const pools: Float32Array[] = [];
  for (let k = 0; k < n; k++) {
    if (!by.has(k)) throw new DataError(file, `level ${k} has no rows (levels must be 0..${n - 1})`);
    pools.push(Float32Array.from(by.get(k)!));
  }
  return { pools, relax: [], source: file };
}

/**
 * A level-CDF dataset (checked) as measured levels. `outcomes` keeps which cells did not end
 * programmed (array:row:col, per level) so a yield-aware programming can leave out the ones it
 * avoids; `board` is the board the CDF was measured on.
 */
export function measuredFromCdf(d: LevelCdfFile, source: string): MeasuredLevels {
  const times = (d.levels[0].relax ?? []).map((r) => r.t_s);
  const key = (c: Record<string, unknown>) => (typeof c.array === 'number' && typeof c.row === 'number' && typeof c.col === 'number' ? `${c.array}:${c.row}:${c.col}` : undefined);
  return {
    pools: d.levels.map((l) => Float32Array.from(l.samples_A)),
    relax: times.map((t, j) => ({ t_s: t, pools: d.levels.map((l) => Float32Array.from(l.relax![j].samples_A)) })),
    source,
    specs: d.levels.every((l) => l.spec) ? d.levels.map((l) => l.spec as unknown as LevelSpec) : undefined,
    outcomes: d.levels.every((l) => Array.isArray(l.cells))
      ? {
          perLevel: d.levels.map((l) => ({ n: l.cells!.length, failed: l.cells!.filter((c) => c.status !== 'ok').length })),
          failedValues_A: d.levels.flatMap((l) => l.cells!.filter((c) => c.status !== 'ok' && c.current_A !== null).map((c) => c.current_A as number)),
          failedLevels: d.levels.flatMap((l, k) => l.cells!.filter((c) => c.status !== 'ok' && c.current_A !== null).map(() => k)),
          failedCells: d.levels.map((l) => l.cells!.filter((c) => c.status !== 'ok').flatMap((c) => key(c) ?? [])),
          source,
        }
      : undefined,
    board: (d as { board?: MeasuredLevels['board'] }).board,
  };
}

/** Nominal level values for parametric models: HRS at 1 uA, N-1 LRS levels over 10-45 uA. */
export function nominalLevels(n: number): number[] {
  checkLevelCount(n);
  const k = n - 1;
  const lrs = k === 1 ? [LRS_MAX_A] : Array.from({ length: k }, (_, i) => LRS_MIN_A + ((LRS_MAX_A - LRS_MIN_A) * i) / (k - 1));
  return [HRS_MAX_A / 2, ...lrs];
}

/** N of the measured levels, spread evenly from HRS to the top level. */
export function pickLevels(available: number, n: number): number[] {
  if (!Number.isInteger(n) || n < 2) throw new InvalidArgumentError('levels', n, 'must be an integer >= 2');
  if (n > available) throw new InvalidArgumentError('levels', n, `the level-CDF file has only ${available} levels`);
  return Array.from({ length: n }, (_, k) => Math.round((k * (available - 1)) / (n - 1)));
}

export interface DeviceOptions {
  shared: boolean;
  stuckHrs: number;
  stuckLrs: number;
  readNoise_A: number;
  relax_s?: number;
  relaxTable?: RelaxationTable;
  /**
   * The calibration's relaxation model around the table (relaxation_scale, its reshaping, fast
   * relaxation, slow drift: relaxationMoments), as the emulated board of that calibration ages;
   * without it the table as it stands.
   */
  relaxValues?: CalValues;
  vread_V: number;
  /** Resample the measured distributions per trial (their own uncertainty). */
  bootstrap?: boolean;
  /** Counts of cells not programmed, per level of this model (see countsForModel): a per-trial Beta posterior of their share. */
  failureCounts?: OutcomeCounts[];
  /**
   * Yield-aware programming: the share of the cells to be used that the board's store never saw
   * programmed (the others did end programmed before and are not known bad): the counts' failure
   * share applies to those only, so the failures counted are scaled by it. Default 1.
   */
  unseenShare?: number;
  /** What a failed cell reads while no failed read is known (defectReads); default the HRS and top level pools. */
  failureFallback_A?: Float32Array;
  /** Parametric models: the level values themselves (read currents, A, increasing) instead of the default set. */
  levelValues_A?: number[];
  /** Parametric models: levels evenly spaced in conductance from G_on / R to G_on (the on/off ratio R, seed 001). */
  dynamicRange?: number;
  /**
   * Largest read voltage an input drives a row with (input 1 -> maxInput_V; seed 002's "max input
   * voltage"). Cell currents scale with V while the read noise (A, given at vread_V) does not, so
   * the noise in units of the level values is readNoise_A x vread_V / maxInput_V.
   */
  maxInput_V?: number;
  /**
   * Empirical models: scale each level's measured spread about its median to this relative sigma
   * (robust sigma / median), keeping the measured shape - seed 001's variation axis on our own
   * distributions. 0 collapses every level to its median.
   */
  spreadTo?: number;
  /**
   * Endurance (seed 002): the window after this many set/reset cycles, shrinking toward its middle
   * by exp(-cycles / tau); with a measured failure law (`rram endurance`), the cells that failed by
   * then are stuck at LRS or HRS on top of stuckLrs/stuckHrs.
   */
  endurance?: { cycles: number; tau: number; failure?: { median: number; sigmaLog: number; lrsShare: number }; source?: string };
  /**
   * Retention (seed 002, MemTorch's drift model): G(t) = G0 (t / 1 s)^-nu per device, nu ~ N(nu,
   * nuSigma); or, `measured` (`rram retention`), each level's measured drift median and spread at t.
   */
  retention?: { t_s: number; nu: number; nuSigma: number; measured?: MeasuredRetention };
}

/** A `rram endurance` run's fitted law (src/calibrate/aging.ts): window tau, cycles to failure, failure mode. */
export interface MeasuredEndurance {
  tau: number;
  failMedian?: number;
  failSigmaLog?: number;
  lrsShare?: number;
  source: string;
}

/** A `rram retention` run per level: its current, the drift of I(t) - I(verify) at each time (A), and a log-linear fit after 1 s. */
export interface MeasuredRetention {
  levels: { current_A: number; t_s: number[]; driftMedian_A: number[]; driftSigma_A: number[]; n: number[]; fit: { mu: [number, number]; sigma: [number, number] } }[];
  source: string;
}

/** One measured level's drift relative to its current at time t: between its times in log t, beyond them its fitted line. */
function relDriftAt(l: MeasuredRetention['levels'][number], t: number): { mu: number; sigma: number } {
  const lt = Math.log10(t);
  const T = l.t_s.map(Math.log10);
  const at = (ys: number[], line: [number, number]) => {
    if (lt <= T[0]) return ys[0];
    if (lt >= T[T.length - 1]) return Number.isFinite(line[1]) && lt > 0 ? line[0] + line[1] * lt : ys[ys.length - 1];
    let j = 0;
    while (lt > T[j + 1]) j++;
    const w = (lt - T[j]) / (T[j + 1] - T[j]);
    return ys[j] * (1 - w) + ys[j + 1] * w;
  };
  return { mu: at(l.driftMedian_A, l.fit.mu) / l.current_A, sigma: Math.max(0, at(l.driftSigma_A, l.fit.sigma)) / l.current_A };
}

/** The measured drift (A) at current i and time t: the levels' relative drifts, linear in current between them, held beyond. */
export function measuredDriftAt(m: MeasuredRetention, i_A: number, t_s: number): { mean_A: number; sigma_A: number } {
  const ls = m.levels.filter((l) => l.current_A > 0 && l.t_s.length).sort((a, b) => a.current_A - b.current_A);
  if (!ls.length) return { mean_A: 0, sigma_A: 0 };
  const rel = ls.map((l) => relDriftAt(l, t_s));
  const last = ls.length - 1;
  if (i_A <= ls[0].current_A || i_A >= ls[last].current_A) {
    const r = rel[i_A <= ls[0].current_A ? 0 : last];
    return { mean_A: i_A * r.mu, sigma_A: i_A * r.sigma };
  }
  let k = 0;
  while (i_A > ls[k + 1].current_A) k++;
  const w = (i_A - ls[k].current_A) / (ls[k + 1].current_A - ls[k].current_A);
  return { mean_A: i_A * (rel[k].mu * (1 - w) + rel[k + 1].mu * w), sigma_A: i_A * (rel[k].sigma * (1 - w) + rel[k + 1].sigma * w) };
}

/** Share of devices failed by `cycles` under a log-normal cycles-to-failure law. */
export function failedShare(cycles: number, f: { median: number; sigmaLog: number }): number {
  if (!(cycles > 0)) return 0;
  return 0.5 * (1 + erfApprox((Math.log(cycles) - Math.log(f.median)) / (f.sigmaLog * Math.SQRT2)));
}
function erfApprox(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

/** Endurance and retention as they act on a drawn value (plain data for workers). */
export interface Aging {
  /** Window factor exp(-cycles/tau) and the window's middle (A): v -> mid + (v - mid) x window. */
  window: number;
  mid_A: number;
  /** ln(t / 1 s); 0 when no retention time. */
  logT: number;
  nu: number;
  nuSigma: number;
  /** Measured retention: per level the drift added at the retention time (A), instead of the power law. */
  drift?: { mean_A: number[]; sigma_A: number[] };
  /** Measured endurance: devices failed by the cycles, stuck at LRS and at HRS (added to the fault rates). */
  failed?: { lrs: number; hrs: number };
  text: string;
}

function agingOf(o: DeviceOptions, nominal: number[]): Aging | undefined {
  const e = o.endurance;
  const r = o.retention;
  if (!e && !r) return undefined;
  if (e && !(e.cycles >= 0 && e.tau > 0)) throw new InvalidArgumentError('endurance', `${e.cycles}/${e.tau}`, 'cycles must be >= 0 and tau > 0');
  if (r && !(r.t_s >= 1 && Number.isFinite(r.t_s))) throw new InvalidArgumentError('retention', r.t_s, 'must be a time of at least 1 s (drift is referred to t0 = 1 s)');
  if (r && !r.measured && !(r.nu >= 0 && r.nuSigma >= 0)) throw new InvalidArgumentError('drift-nu', r.nu, 'drift coefficient and its spread must be >= 0');
  const f = e?.failure;
  const share = f ? failedShare(e!.cycles, f) : 0;
  const failed = f ? { lrs: share * f.lrsShare, hrs: share * (1 - f.lrsShare) } : undefined;
  const drift = r?.measured ? { mean_A: nominal.map((v) => measuredDriftAt(r.measured!, v, r.t_s).mean_A), sigma_A: nominal.map((v) => measuredDriftAt(r.measured!, v, r.t_s).sigma_A) } : undefined;
  const eText = e ? `endurance ${e.cycles} cycles (tau ${+e.tau.toPrecision(4)}${failed ? `, ${+(100 * share).toPrecision(3)} % failed` : ''}${e.source ? `, from ${e.source}` : ''})` : '';
  const rText = r ? (r.measured ? `retention ${r.t_s} s (measured drift, ${r.measured.source})` : `retention ${r.t_s} s (nu ${r.nu}${r.nuSigma ? ` +- ${r.nuSigma}` : ''})`) : '';
  const parts = [eText, rText].filter(Boolean);
  return { window: e ? Math.exp(-e.cycles / e.tau) : 1, mid_A: (nominal[0] + nominal[nominal.length - 1]) / 2, logT: r && !r.measured ? Math.log(r.t_s) : 0, nu: r?.nu ?? 0, nuSigma: r?.nuSigma ?? 0, drift, failed, text: parts.join(', ') };
}

/** Levels evenly spaced in conductance between the top level / R and the top level (read currents, A). */
export function dynamicRangeLevels(n: number, range: number, top_A = LRS_MAX_A): number[] {
  if (!(range > 1) || !Number.isFinite(range)) throw new InvalidArgumentError('dynamic-range', range, 'must be an on/off ratio above 1, e.g. 10, 100, 1000');
  checkLevelCount(n);
  const lo = top_A / range;
  return Array.from({ length: n }, (_, k) => lo + ((top_A - lo) * k) / (n - 1));
}

function checkLevelCount(n: number): void {
  if (!Number.isInteger(n) || n < 2 || n > MAX_LEVELS) throw new InvalidArgumentError('levels', n, `must be an integer in 2..${MAX_LEVELS}`);
}

/** A calibration's defects as reads: a pristine (unformable) cell and a stuck-at-LRS one, 100 values in their shares. */
export function defectReads(pristine_A: number, stuck_A: number, unformable: number, stuck: number): Float32Array {
  const nStuck = unformable + stuck > 0 ? Math.round((100 * stuck) / (unformable + stuck)) : 50;
  return Float32Array.from({ length: 100 }, (_, i) => (i < nStuck ? stuck_A : pristine_A));
}

/** A level-CDF's counts (per file level) for the levels a model uses. */
export function countsForModel(c: OutcomeCounts, levelsUsed: number[]): OutcomeCounts {
  // A failed read's level renumbered as the model's; one of a level the model does not use gets
  // levelsUsed.length, no level's own: it joins the pools only if it reads like a defect.
  const failedLevels = c.failedLevels?.map((k) => {
    const j = levelsUsed.indexOf(k);
    return j >= 0 ? j : levelsUsed.length;
  });
  return { ...c, perLevel: levelsUsed.map((k) => c.perLevel[k] ?? { n: 0, failed: 0 }), failedLevels, failedCells: c.failedCells && levelsUsed.map((k) => c.failedCells![k] ?? []) };
}

/** Everything a worker needs to draw conductances: plain data, cloneable to worker threads. */
export interface DeviceModel {
  kind: DeviceKind;
  text: string;
  nominal: number[];
  pools?: Float32Array[];
  /** Empirical models aged by the file's own re-reads: the levels' pools right after programming (drift compensation's reference read at t = 0). */
  pools0?: Float32Array[];
  sigma_A: number[];
  /** Per level: relaxation drift and spread (A) added per device (table-based relaxation). */
  relaxMean_A: number[];
  relaxSigma_A: number[];
  shared: boolean;
  stuckHrs: number;
  stuckLrs: number;
  readNoise_A: number;
  /** Where relaxation came from, for the report. */
  relaxSource?: string;
  levelsUsed?: number[];
  /** Each trial draws each level's pool anew from the measured one (bootstrap): the uncertainty of the measured distributions themselves. */
  bootstrap?: boolean;
  /**
   * Cells that end not programmed (failed, stuck, unformable), per level a Beta(alpha, beta)
   * posterior of their share, drawn per trial; such a cell takes a value from `pool` (what
   * not-programmed cells read).
   */
  failure?: FailureModel;
  /** What a failed cell reads beside the failed reads seen (failureModel's fallback), kept for counts added later (withMoreCounts). */
  failureFallback_A?: Float32Array;
  /** Endurance and retention applied to every drawn value. */
  aging?: Aging;
  /** The input voltage the read noise was scaled to (report only). */
  maxInput_V?: number;
}

export interface FailureModel {
  alpha: number[];
  beta: number[];
  /** Per level, what a cell of that level that did not get programmed reads (failureModel). */
  pools: Float32Array[];
  /** The failed reads seen, with the level each was meant for (-1: not known), and the fallback. */
  seen: { values_A: number[]; levels: number[]; fallback: Float32Array; nominal?: ArrayLike<number> };
  /** The counts behind it, per level (cells seen, of them not programmed) and where they came from. */
  counts: { n: number; failed: number }[];
  sources: string[];
}

/** Per level, cells seen and not programmed, and what the not-programmed ones read. */
export interface OutcomeCounts {
  perLevel: { n: number; failed: number }[];
  failedValues_A: number[];
  /** The level each failed read was meant for (same order); absent in records before it was kept: every read then counts for every level. */
  failedLevels?: number[];
  /** Per level, the cells (array:row:col) that did not end programmed, when known. */
  failedCells?: string[][];
  source: string;
}

/**
 * The counts with the cells of `avoid` taken out (yield-aware programming leaves them unused):
 * a cell that failed there and is now left out no longer counts, as a cell seen nor as a failure.
 */
export function withoutCells(c: OutcomeCounts, avoid: ReadonlySet<string>): OutcomeCounts {
  if (!c.failedCells || !avoid.size) return c;
  const perLevel = c.perLevel.map((p, k) => {
    const drop = (c.failedCells![k] ?? []).filter((x) => avoid.has(x)).length;
    return { n: p.n - drop, failed: p.failed - drop };
  });
  return { ...c, perLevel, failedCells: c.failedCells.map((l) => l.filter((x) => !avoid.has(x))), source: `${c.source} (known-bad cells left out)` };
}

/**
 * The failure model from counts (Jeffreys prior: alpha = failed + 1/2, beta = ok + 1/2, so a
 * level with none failed in n cells still allows ~1/(2n)). What a failed cell reads mixes the
 * failed reads seen with `fallback` (the board calibration's defects: a pristine cell's read, a
 * stuck cell's, in their shares; else the HRS and top levels) as PRIOR_FAILED_READS pseudo-cells:
 * one or two failed cells of a small level CDF do not stand for every way a cell fails. With the
 * `nominal` levels, each level has its own pool (levelPools).
 */
export const PRIOR_FAILED_READS = 4;
export function failureModel(counts: OutcomeCounts[], levels: number, fallback: Float32Array, nominal?: ArrayLike<number>): FailureModel {
  const per = Array.from({ length: levels }, (_, k) => ({ n: counts.reduce((a, c) => a + (c.perLevel[k]?.n ?? 0), 0), failed: counts.reduce((a, c) => a + (c.perLevel[k]?.failed ?? 0), 0) }));
  const seen = { values_A: counts.flatMap((c) => c.failedValues_A), levels: counts.flatMap((c) => c.failedValues_A.map((_, i) => c.failedLevels?.[i] ?? -1)), fallback, nominal };
  return { alpha: per.map((c) => c.failed + 0.5), beta: per.map((c) => c.n - c.failed + 0.5), pools: levelPools(seen, levels), seen, counts: per, sources: counts.map((c) => c.source) };
}

/**
 * Per level, the pool a failed cell of that level reads from. A cell whose write-verify did not
 * converge mostly ends near its own target (a range failure), so a failed read counts for its own
 * level; for the other levels only if it reads like a defect, as a stuck or unformable cell does
 * whatever it was meant for: below the middle of the two lowest levels (HRS-like) or above the top
 * level by more than half a level step. One pool for every level made a failing HRS cell read as a
 * top-level range failure (docs/benchmarks.md, issue 28). Reads of unknown level and, without
 * `nominal`, every read count for every level. Seen reads weigh `rep` each, the fallback
 * PRIOR_FAILED_READS in all.
 */
export function levelPools(seen: FailureModel['seen'], levels: number): Float32Array[] {
  const { values_A, fallback, nominal } = seen;
  const n = nominal?.length ?? 0;
  const lowCut = n >= 2 ? (nominal![0] + nominal![1]) / 2 : -Infinity;
  const highCut = n >= 2 ? nominal![n - 1] + (nominal![n - 1] - nominal![n - 2]) / 2 : Infinity;
  const everyLevel = (i: number) => seen.levels[i] < 0 || !nominal || values_A[i] < lowCut || values_A[i] > highCut;
  const rep = Math.max(1, Math.round(fallback.length / PRIOR_FAILED_READS));
  return Array.from({ length: levels }, (_, k) => {
    let mine = values_A.filter((_, i) => seen.levels[i] === k || everyLevel(i));
    // Nothing for this level and no fallback: every read seen (a pool is never empty).
    if (!mine.length && !fallback.length) mine = values_A.length ? values_A : [nominal?.[k] ?? 0];
    const pool = new Float32Array(mine.length * rep + fallback.length);
    mine.forEach((v, i) => pool.fill(v, i * rep, (i + 1) * rep));
    pool.set(fallback, mine.length * rep);
    return pool;
  });
}

/**
 * The device model with more cells counted (a run's own programmed cells, as it goes): each
 * level's Beta posterior takes the new cells and failures, the failed cells' reads join the pool.
 * A model without a failure model gets one only from counts that saw a failure.
 */
export function withMoreCounts(d: DeviceModel, more: OutcomeCounts): DeviceModel {
  const levels = d.nominal.length;
  const f = d.failure;
  const add = (k: number) => more.perLevel[k] ?? { n: 0, failed: 0 };
  if (!f) return more.perLevel.some((c) => c.failed > 0) ? { ...d, failure: failureModel([more], levels, d.failureFallback_A ?? new Float32Array(0), d.nominal) } : d;
  const seen = { ...f.seen, values_A: [...f.seen.values_A, ...more.failedValues_A], levels: [...f.seen.levels, ...more.failedValues_A.map((_, i) => more.failedLevels?.[i] ?? -1)] };
  return {
    ...d,
    failure: {
      alpha: f.alpha.map((a, k) => a + add(k).failed),
      beta: f.beta.map((b, k) => b + add(k).n - add(k).failed),
      pools: levelPools(seen, levels),
      seen,
      counts: f.counts.map((c, k) => ({ n: c.n + add(k).n, failed: c.failed + add(k).failed })),
      sources: [...f.sources, more.source],
    },
  };
}

export function buildDeviceModel(spec: DeviceSpec, nLevels: number, o: DeviceOptions, measured?: MeasuredLevels): DeviceModel {
  for (const [k, v] of [['stuck-hrs', o.stuckHrs], ['stuck-lrs', o.stuckLrs]] as const) {
    if (!(v >= 0 && v <= 1)) throw new InvalidArgumentError(k, v, 'must be a fraction in 0..1');
  }
  if (o.stuckHrs + o.stuckLrs > 1) throw new InvalidArgumentError('stuck-lrs', o.stuckLrs, 'stuck-hrs + stuck-lrs must not exceed 1');
  if (!(o.readNoise_A >= 0)) throw new InvalidArgumentError('read-noise', o.readNoise_A, 'must be >= 0');
  if (o.maxInput_V !== undefined && !(o.maxInput_V > 0 && Number.isFinite(o.maxInput_V))) throw new InvalidArgumentError('max-input-V', o.maxInput_V, 'must be a positive voltage');
  let nominal: number[];
  let pools: Float32Array[] | undefined;
  let levelsUsed: number[] | undefined;
  let relaxSource: string | undefined;
  let pools0: Float32Array[] | undefined;
  if (spec.kind === 'empirical') {
    if (!measured) throw new InvalidArgumentError('device', spec.text, 'needs a level-CDF file');
    if (o.levelValues_A || o.dynamicRange !== undefined) throw new InvalidArgumentError(o.levelValues_A ? 'level-values' : 'dynamic-range', o.levelValues_A?.join(',') ?? o.dynamicRange, 'sets the levels of a parametric model (gaussian:, lognormal:, truncnorm:, ideal); a level-CDF brings its own measured levels');
    levelsUsed = pickLevels(measured.pools.length, nLevels);
    let src = measured.pools;
    if (o.relax_s !== undefined) {
      const hit = measured.relax.find((r) => Math.abs(r.t_s - o.relax_s!) <= 0.01 * o.relax_s!);
      if (hit) {
        src = hit.pools;
        pools0 = levelsUsed.map((k) => measured.pools[k]);
        relaxSource = `${measured.source} re-reads at ${hit.t_s} s`;
      }
    }
    pools = levelsUsed.map((k) => src[k]);
    nominal = pools.map((p) => quantile(Array.from(p).sort((a, b) => a - b), 0.5));
    if (o.spreadTo !== undefined) {
      if (!(o.spreadTo >= 0 && o.spreadTo <= 1)) throw new InvalidArgumentError('variation', o.spreadTo, 'must be a relative sigma in 0..1');
      pools = pools.map((p, k) => {
        const rel = robustSigma(p) / nominal[k];
        const f = rel > 0 ? o.spreadTo! / rel : 0;
        return Float32Array.from(p, (v) => nominal[k] + (v - nominal[k]) * f);
      });
    }
    for (let k = 1; k < nominal.length; k++) {
      if (!(nominal[k] > nominal[k - 1])) throw new DataError(measured.source, `level medians are not increasing (level ${levelsUsed[k]} <= level ${levelsUsed[k - 1]})`);
    }
  } else if (o.levelValues_A) {
    if (o.levelValues_A.length !== nLevels) throw new InvalidArgumentError('level-values', o.levelValues_A.length, `gives ${o.levelValues_A.length} values for ${nLevels} levels`);
    nominal = o.levelValues_A.slice();
  } else if (o.dynamicRange !== undefined) {
    nominal = dynamicRangeLevels(nLevels, o.dynamicRange);
  } else {
    nominal = measured ? pickLevels(measured.pools.length, nLevels).map((k) => quantile(Array.from(measured.pools[k]).sort((a, b) => a - b), 0.5)) : nominalLevels(nLevels);
  }
  const sigma_A = nominal.map((m) => (spec.sigmaAbs_A !== undefined ? spec.sigmaAbs_A : (spec.sigmaRel ?? 0) * m));
  const relaxMean_A = nominal.map(() => 0);
  const relaxSigma_A = nominal.map(() => 0);
  if (o.relax_s !== undefined && !relaxSource) {
    if (!o.relaxTable) throw new InvalidArgumentError('relax', o.relax_s, 'needs a calibration relaxation table');
    const mo = { mean: 0, sigma: 0 };
    nominal.forEach((m, k) => {
      const g = m / o.vread_V;
      if (o.relaxValues) relaxationMoments(o.relaxValues, o.relaxTable!, g, o.relax_s!, mo);
      else relaxationPair(o.relaxTable!, g, o.relax_s!, mo);
      relaxMean_A[k] = mo.mean * o.vread_V;
      relaxSigma_A[k] = mo.sigma * o.vread_V;
    });
    const scale = o.relaxValues?.relaxation_scale;
    relaxSource = `calibration relaxation${o.relaxValues ? '' : ' table'} at ${o.relax_s} s${scale !== undefined && scale !== 1 ? ` (table x ${scale})` : ''}`;
  }
  const fallback = o.failureFallback_A ?? Float32Array.from([...(pools?.[0] ?? [nominal[0]]), ...(pools?.[nominal.length - 1] ?? [nominal[nominal.length - 1]])]);
  const u = o.unseenShare ?? 1;
  if (!(u >= 0 && u <= 1)) throw new InvalidArgumentError('unseen-share', u, 'must be a share in 0..1');
  const counts = u === 1 ? o.failureCounts : o.failureCounts?.map((c) => ({ ...c, perLevel: c.perLevel.map((p) => ({ n: p.n, failed: p.failed * u })) }));
  const failure = counts?.length ? failureModel(counts, nominal.length, fallback, nominal) : undefined;
  const levelSet = o.levelValues_A ? ` levels ${o.levelValues_A.map((v) => +(v * 1e6).toPrecision(4)).join('/')}uA` : o.dynamicRange !== undefined ? ` on/off ${o.dynamicRange}` : '';
  const aging = agingOf(o, nominal);
  const readNoise_A = o.maxInput_V !== undefined ? (o.readNoise_A * o.vread_V) / o.maxInput_V : o.readNoise_A;
  const extras = [levelSet, o.spreadTo !== undefined && spec.kind === 'empirical' ? ` spread scaled to ${+(o.spreadTo * 100).toFixed(3)}%` : '', aging ? ` ${aging.text}` : '', o.maxInput_V !== undefined ? ` inputs to ${o.maxInput_V} V` : ''].join('');
  // Devices an endurance law says failed by the cycles are stuck on top of the given fault rates.
  const stuckHrs = Math.min(1, o.stuckHrs + (aging?.failed?.hrs ?? 0));
  const stuckLrs = Math.min(1 - stuckHrs, o.stuckLrs + (aging?.failed?.lrs ?? 0));
  return { kind: spec.kind, text: spec.text + extras, nominal, pools, pools0, sigma_A, relaxMean_A, relaxSigma_A, shared: o.shared, stuckHrs, stuckLrs, readNoise_A, relaxSource, levelsUsed, bootstrap: !!(o.bootstrap && pools), failure, failureFallback_A: fallback, aging, maxInput_V: o.maxInput_V };
}

/**
 * Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9); used once
 * to build the sampling table.
 */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * Normal draws by inverse CDF: 2^16 quantiles of N(0,1) interpolated linearly with the low bits
 * of the same 32-bit word - one uniform per normal, no log/sin in the hot loop. The outermost
 * bins end at the 1/2^17 quantiles (|z| <= 4.42): a 1.5e-5 tail mass is folded inward.
 */
const NQ_BITS = 16;
const NQ = (() => {
  const n = 1 << NQ_BITS;
  const t = new Float64Array(n + 1);
  for (let k = 0; k <= n; k++) t[k] = normalQuantile(Math.min(1 - 0.5 / n, Math.max(0.5 / n, k / n)));
  return t;
})();

/** xoshiro128** seeded per (seed, trial) so results do not depend on worker count. */
export class TrialRng {
  a = 0;
  b = 0;
  c = 0;
  d = 0;

  reseed(seed: number, trial: number): void {
    const next = splitmix32(Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(trial + 1, 0x85ebca6b));
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1;
  }

  /** 32 random bits. */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  uniform(): number {
    return this.u32() / 4294967296;
  }

  normal(): number {
    const r = this.u32();
    const k = r >>> (32 - NQ_BITS);
    const f = (r & 0xffff) / 65536;
    return NQ[k] + (NQ[k + 1] - NQ[k]) * f;
  }
}

/** Draws cell values for one trial at a time. */
export class CellSampler {
  private readonly rng = new TrialRng();
  private readonly shared: Float64Array;
  /** Shared mode: this trial's level values right after programming (from pools0). */
  private readonly shared0: Float64Array;
  /** The uniform the last empirical draw used: the same draw from pools0 is the cell's read at t = 0. */
  private lastU = 0;
  private readonly relaxing: boolean;
  /** This trial's pools: the measured ones, or a bootstrap resample of them. */
  private readonly pools?: Float32Array[];
  /** This trial's share of not-programmed cells per level. */
  private readonly failShare?: Float64Array;

  constructor(
    private readonly m: DeviceModel,
    private readonly seed: number,
  ) {
    this.shared = new Float64Array(m.nominal.length);
    this.shared0 = new Float64Array(m.nominal.length);
    this.relaxing = m.relaxSigma_A.some((s) => s > 0) || m.relaxMean_A.some((s) => s !== 0);
    this.pools = m.pools && m.bootstrap ? m.pools.map((p) => new Float32Array(p.length)) : m.pools;
    if (m.failure) this.failShare = new Float64Array(m.nominal.length);
  }

  beginTrial(trial: number): void {
    this.rng.reseed(this.seed, trial);
    const m = this.m;
    if (m.bootstrap && m.pools) {
      m.pools.forEach((src, k) => {
        const dst = this.pools![k];
        for (let i = 0; i < dst.length; i++) dst[i] = src[(this.rng.uniform() * src.length) | 0];
      });
    }
    if (m.failure) for (let k = 0; k < this.failShare!.length; k++) this.failShare![k] = betaDraw(this.rng, m.failure.alpha[k], m.failure.beta[k]);
    if (m.shared)
      for (let k = 0; k < this.shared.length; k++) {
        this.shared[k] = this.drawLevel(k);
        this.shared0[k] = this.atProgramming(k, this.shared[k]);
      }
  }

  /** What the cell whose (last) draw was `v` read right after programming: v itself, or the same draw from the t = 0 pools. */
  private atProgramming(k: number, v: number): number {
    const p0 = this.m.pools0?.[k];
    return p0 ? p0[(this.lastU * p0.length) | 0] : v;
  }

  /** One value for level k, before faults, read noise and relaxation. */
  private drawLevel(k: number): number {
    const m = this.m;
    const rng = this.rng;
    switch (m.kind) {
      case 'ideal':
        return m.nominal[k];
      case 'empirical': {
        const p = this.pools![k];
        this.lastU = rng.uniform();
        return p[(this.lastU * p.length) | 0];
      }
      case 'gaussian':
        return m.nominal[k] + m.sigma_A[k] * rng.normal();
      case 'lognormal':
        return m.nominal[k] * Math.exp((m.sigma_A[k] / m.nominal[k]) * rng.normal());
      case 'truncnorm': {
        // Seed 001: normal(mu, s*mu) truncated to mu +- s*mu (rejection: ~68 % acceptance).
        const s = m.sigma_A[k];
        if (s === 0) return m.nominal[k];
        for (;;) {
          const z = rng.normal();
          if (z >= -1 && z <= 1) return m.nominal[k] + s * z;
        }
      }
    }
  }

  /**
   * Fill `out` with one value per cell whose target levels are `targets`; `before` (drift
   * compensation) gets what each cell read right after programming: its value before relaxation
   * and retention drift, without read noise. Asking for `before` does not change `out`.
   */
  sample(targets: Uint8Array, out: Float32Array, before?: Float32Array): Float32Array {
    const m = this.m;
    const rng = this.rng;
    // The two commonest cases get tight loops: per-device empirical or Gaussian draws, no extras
    // (the general loop below draws the same sequence).
    if (!before && !m.shared && m.stuckHrs + m.stuckLrs === 0 && m.readNoise_A === 0 && !this.relaxing && !m.failure && !m.aging) {
      if (m.kind === 'empirical' || m.kind === 'gaussian') {
        // xoshiro128** inlined: same sequence as TrialRng.u32(), state written back at the end.
        let { a, b, c, d } = rng;
        const pools = this.pools;
        const mu = m.nominal;
        const sd = m.sigma_A;
        for (let i = 0; i < targets.length; i++) {
          const r = Math.imul((Math.imul(b, 5) << 7) | (Math.imul(b, 5) >>> 25), 9) >>> 0;
          const t = b << 9;
          c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = (d << 11) | (d >>> 21);
          const k = targets[i];
          if (pools) {
            const p = pools[k];
            out[i] = p[Math.floor((r * p.length) / 4294967296)];
          } else {
            const j = r >>> 16;
            const v = mu[k] + sd[k] * (NQ[j] + (NQ[j + 1] - NQ[j]) * ((r & 0xffff) / 65536));
            out[i] = v > 0 ? v : 0;
          }
        }
        Object.assign(rng, { a: a >>> 0, b: b >>> 0, c: c >>> 0, d: d >>> 0 });
        return out;
      }
    }
    const top = m.nominal.length - 1;
    const faults = m.stuckHrs + m.stuckLrs > 0;
    const noisy = m.readNoise_A > 0;
    const fail = m.failure;
    const ag = m.aging;
    for (let i = 0; i < targets.length; i++) {
      let k = targets[i];
      if (faults) {
        const u = rng.uniform();
        if (u < m.stuckHrs) k = 0;
        else if (u < m.stuckHrs + m.stuckLrs) k = top;
      }
      if (fail && rng.uniform() < this.failShare![targets[i]]) {
        // A cell that did not get programmed reads what such cells read (no relaxation model for them).
        const pool = fail.pools[targets[i]];
        const f = pool[(rng.uniform() * pool.length) | 0];
        const v = f + (noisy ? m.readNoise_A * rng.normal() : 0);
        out[i] = v > 0 ? v : 0;
        if (before) before[i] = f > 0 ? f : 0;
        continue;
      }
      let v = m.shared ? this.shared[k] : this.drawLevel(k);
      let v0 = before ? (m.shared ? this.shared0[k] : this.atProgramming(k, v)) : 0;
      if (this.relaxing) v += m.relaxMean_A[k] + m.relaxSigma_A[k] * rng.normal();
      if (ag) {
        // Cycling first (the window the device was programmed in), then drift since programming.
        v = ag.mid_A + (v - ag.mid_A) * ag.window;
        v0 = ag.mid_A + (v0 - ag.mid_A) * ag.window;
        if (ag.drift) v += ag.drift.mean_A[k] + ag.drift.sigma_A[k] * rng.normal();
        else if (ag.logT > 0) v *= Math.exp(-(ag.nu + (ag.nuSigma > 0 ? ag.nuSigma * rng.normal() : 0)) * ag.logT);
      }
      if (noisy) v += m.readNoise_A * rng.normal();
      out[i] = v > 0 ? v : 0;
      if (before) before[i] = v0 > 0 ? v0 : 0;
    }
    return out;
  }
}

/** Gamma(shape, 1) by Marsaglia and Tsang (shape < 1 boosted by U^(1/shape)). */
function gammaDraw(rng: TrialRng, shape: number): number {
  if (shape < 1) return gammaDraw(rng, shape + 1) * Math.pow(Math.max(rng.uniform(), 1e-300), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.uniform();
    if (u < 1 - 0.0331 * x * x * x * x || Math.log(Math.max(u, 1e-300)) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(alpha, beta) as a ratio of two gamma draws. */
export function betaDraw(rng: TrialRng, alpha: number, beta: number): number {
  const x = gammaDraw(rng, alpha);
  const y = gammaDraw(rng, beta);
  return x / (x + y);
}
