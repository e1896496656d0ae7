/**
 * Multilevel targets and per-level statistics: the summary table and the adjacent-level
 * overlap (bit-error) estimates of a level-CDF characterization.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { CellStatus } from '../plans/commands.js';
import { mean, qfunc, quantile, sorted, std, robustSigma } from './stats.js';

export interface LevelSpec {
  level: number;
  kind: 'hrs' | 'lrs';
  /** Target read current (A): for LRS the write-verify threshold, for HRS the ceiling. */
  target_A: number;
  /** Decision band used to judge the level (A). */
  band_A: [number, number];
}

export const LRS_MIN_A = 10e-6;
export const LRS_MAX_A = 45e-6;
export const HRS_MAX_A = 2e-6;

/**
 * N levels in total: the HRS plus N-1 LRS levels evenly spaced over 10-45 uA at 0.2 V
 * (50-225 uS). With a single LRS level it sits at the top (largest window).
 */
export function defaultLevels(n: number, lrsMin_A = LRS_MIN_A, lrsMax_A = LRS_MAX_A, hrsMax_A = HRS_MAX_A): LevelSpec[] {
  if (!Number.isInteger(n) || n < 2 || n > 8) throw new InvalidArgumentError('levels', n, 'must be an integer in 2..8');
  if (!(lrsMin_A > hrsMax_A && lrsMax_A >= lrsMin_A)) throw new InvalidArgumentError('lrs-range', [lrsMin_A, lrsMax_A], `needs HRS ceiling ${hrsMax_A} < LRS min <= LRS max`);
  const k = n - 1;
  // Two LRS levels on one target cannot be told apart.
  if (k > 1 && !(lrsMax_A > lrsMin_A)) throw new InvalidArgumentError('lrs-range', [lrsMin_A, lrsMax_A], `${k} LRS levels need LRS min < LRS max`);
  const targets = k === 1 ? [lrsMax_A] : Array.from({ length: k }, (_, i) => lrsMin_A + ((lrsMax_A - lrsMin_A) * i) / (k - 1));
  const spacing = k === 1 ? lrsMax_A - hrsMax_A : (lrsMax_A - lrsMin_A) / (k - 1);
  // Decision bands meet at the thresholds halfway between adjacent targets (issue 25: per-level
  // bands of +-spacing/2 overlapped the HRS band whenever the HRS ceiling sat above the first LRS
  // target minus half a spacing); the top band reaches half a spacing above its target.
  const all = [hrsMax_A, ...targets];
  const thr = decisionThresholds(all);
  return all.map((t, i) => ({ level: i, kind: i === 0 ? 'hrs' : 'lrs', target_A: t, band_A: [i === 0 ? 0 : thr[i - 1], i === k ? t + spacing / 2 : thr[i]] }));
}

/** Read thresholds between adjacent levels: halfway between their targets (ascending targets in, one threshold fewer out). */
export function decisionThresholds(targets_A: number[]): number[] {
  return targets_A.slice(0, -1).map((t, i) => (t + targets_A[i + 1]) / 2);
}

/** Cells of a level that did not end programmed, by why (see CellStatus). */
export type FailureCounts = Partial<Record<Exclude<CellStatus, 'ok'>, number>>;

export interface LevelStats {
  level: number;
  target_A: number;
  /** Cells assigned to the level. */
  n: number;
  /** Cells programmed (status ok): every statistic below is over these only. */
  nOk: number;
  failures: FailureCounts;
  /** nOk / n. */
  successRate: number;
  median_A: number;
  mean_A: number;
  sigma_A: number;
  /** IQR / 1.349: the spread of the bulk. */
  sigmaRobust_A: number;
  p1_A: number;
  p99_A: number;
  pulsesMean: number;
  pulsesMedian: number;
  /** The median of the programmed cells lies in the level's decision band (false when none was programmed). */
  inBand: boolean;
}

export interface CellSample {
  current_A: number;
  pulses: number;
  status: CellStatus | string;
}

/** Statistics of one level over its programmed cells; failed cells are counted apart, never folded in. */
export function levelStats(spec: LevelSpec, cells: CellSample[]): LevelStats {
  const ok = cells.filter((c) => c.status === 'ok');
  const failures: FailureCounts = {};
  for (const c of cells) if (c.status !== 'ok') failures[c.status as keyof FailureCounts] = (failures[c.status as keyof FailureCounts] ?? 0) + 1;
  const s = sorted(ok.map((c) => c.current_A));
  const p = sorted(ok.map((c) => c.pulses));
  const median = quantile(s, 0.5);
  return {
    level: spec.level,
    target_A: spec.target_A,
    n: cells.length,
    nOk: ok.length,
    failures,
    successRate: cells.length ? ok.length / cells.length : 0,
    median_A: median,
    mean_A: mean(s),
    sigma_A: std(s),
    sigmaRobust_A: robustSigma(s),
    p1_A: quantile(s, 0.01),
    p99_A: quantile(s, 0.99),
    pulsesMean: mean(p),
    pulsesMedian: quantile(p, 0.5),
    inBand: s.length > 0 && median >= spec.band_A[0] && median <= spec.band_A[1],
  };
}

/** Failures of several levels added up. */
export function sumFailures(fs: FailureCounts[]): FailureCounts {
  const out: FailureCounts = {};
  for (const f of fs) for (const [k, v] of Object.entries(f)) out[k as keyof FailureCounts] = (out[k as keyof FailureCounts] ?? 0) + (v ?? 0);
  return out;
}

export function formatFailures(f: FailureCounts): string {
  const e = Object.entries(f).filter(([, v]) => v);
  return e.length ? e.map(([k, v]) => `${k} ${v}`).join(', ') : '-';
}

export interface Overlap {
  lower: number;
  upper: number;
  /** Read threshold between the two levels that minimises errors on these samples (A). */
  threshold_A: number;
  /** Misread fraction on the samples at that threshold. */
  empiricalBer: number;
  /** Gaussian estimate at the same threshold (non-zero when the samples do not overlap). */
  gaussianBer: number;
}

export function overlap(lowerLevel: number, lo: number[], upperLevel: number, hi: number[]): Overlap {
  const a = sorted(lo);
  const b = sorted(hi);
  if (!a.length || !b.length) return { lower: lowerLevel, upper: upperLevel, threshold_A: NaN, empiricalBer: NaN, gaussianBer: NaN };
  // Candidate thresholds: every sample; errors = lower samples above + upper samples below.
  const cands = sorted([...a, ...b]);
  let best = { thr: (a[a.length - 1] + b[0]) / 2, err: Infinity };
  let ia = 0;
  let ib = 0;
  for (const c of cands) {
    while (ia < a.length && a[ia] <= c) ia++;
    while (ib < b.length && b[ib] <= c) ib++;
    const err = a.length - ia + ib;
    if (err < best.err) best = { thr: c, err };
  }
  if (best.err === 0) best.thr = (a[a.length - 1] + b[0]) / 2;
  const ma = mean(a), sa = std(a) || 1e-12, mb = mean(b), sb = std(b) || 1e-12;
  const g = (qfunc((best.thr - ma) / sa) * a.length + (1 - qfunc((best.thr - mb) / sb)) * b.length) / (a.length + b.length);
  return { lower: lowerLevel, upper: upperLevel, threshold_A: best.thr, empiricalBer: best.err / (a.length + b.length), gaussianBer: g };
}

/**
 * The level specs of recorded targets (ascending, the HRS ceiling first, as a run's
 * `levelTargets_A`): decision bands meeting halfway between adjacent targets, the top band half a
 * spacing above its target - what `defaultLevels` makes, rebuilt from any run's record (a
 * re-verify against a run's targets, `rram reverify`). `levels[i]` numbers target i (a net may
 * program a subset of a CDF's levels).
 */
export function levelSpecsFromTargets(targets_A: readonly number[], levels: readonly number[] = targets_A.map((_, i) => i)): LevelSpec[] {
  if (targets_A.length < 2 || levels.length !== targets_A.length) throw new InvalidArgumentError('levelTargets_A', targets_A.length, 'needs two or more targets, one level number each');
  for (let i = 0; i < targets_A.length; i++) {
    if (!(Number.isFinite(targets_A[i]) && targets_A[i] > 0)) throw new InvalidArgumentError('levelTargets_A', targets_A[i], `target ${i} is not a positive current`);
    if (i && !(targets_A[i] > targets_A[i - 1])) throw new InvalidArgumentError('levelTargets_A', targets_A[i], `targets must ascend (target ${i} is not above target ${i - 1})`);
  }
  const thr = decisionThresholds([...targets_A]);
  const k = targets_A.length - 1;
  const top = targets_A[k] + (targets_A[k] - targets_A[k - 1]) / 2;
  return targets_A.map((t, i) => ({ level: levels[i], kind: levels[i] === 0 ? 'hrs' : 'lrs', target_A: t, band_A: [i === 0 ? 0 : thr[i - 1], i === k ? top : thr[i]] }));
}
