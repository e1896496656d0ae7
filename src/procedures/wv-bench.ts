/**
 * The write-verify benchmark (`rram wv-bench`): each algorithm programs its own fresh cells of the
 * same board (levels x cells per level, one characterize run per algorithm), and the runs are
 * compared per algorithm and level: pulses per cell (mean, p99; forming and reset-verify
 * included), pulse time and an energy proxy per cell, success, median and robust sigma right
 * after programming and at each relaxation time, and the adjacent-level bit error rate at each
 * time against fixed read thresholds (the ones the level set was designed with).
 * Energy proxy: per pulse V^2 x width x G, with V the pulsed amplitude (VTE for FORM/SET, VSL for
 * RESET) and G the larger of the conductances read before and after it: the order of magnitude a
 * lab compares algorithms by, not a measurement of the board's supply.
 */
import type { Observable } from 'rxjs';
import type { BoardInfo, CellAddress } from '../../drivers/board.js';
import { mean, qfunc, quantile, robustSigma, sorted, std } from '../analysis/stats.js';
import type { LevelSpec } from '../analysis/levels.js';
import { cellKey, type RunEvent } from '../engine/events.js';
import type { Algo } from '../plans/program-cell.js';
import type { LevelCdfDataset } from './characterize.js';

export interface CellCost {
  energy_J: number;
  pulseTime_s: number;
}

/** Follows a run's events and adds up each cell's energy proxy and pulse time. */
export function costTracker(events$: Observable<RunEvent>): Map<string, CellCost> {
  const costs = new Map<string, CellCost>();
  const last = new Map<string, { v: number; w: number; g: number; pending: boolean }>();
  events$.subscribe((e) => {
    if (e.type === 'pulse') {
      const k = cellKey(e.cell);
      const s = last.get(k) ?? { v: 0, w: 0, g: 0, pending: false };
      s.v = e.kind === 'reset' ? e.vsl_V : e.vte_V;
      s.w = e.width_s;
      s.pending = true;
      last.set(k, s);
      const c = costs.get(k) ?? { energy_J: 0, pulseTime_s: 0 };
      c.pulseTime_s += e.width_s;
      costs.set(k, c);
    } else if (e.type === 'read' && e.phase === 'verify' && e.current_A !== null) {
      const k = cellKey(e.cell);
      const g = e.current_A / e.vread_V;
      const s = last.get(k) ?? { v: 0, w: 0, g, pending: false };
      if (s.pending) {
        const c = costs.get(k)!;
        c.energy_J += s.v * s.v * s.w * Math.max(s.g, g);
        s.pending = false;
      }
      s.g = g;
      last.set(k, s);
    }
  });
  return costs;
}

export interface LevelRow {
  algo: Algo;
  level: number;
  kind: LevelSpec['kind'];
  target_A: number;
  cells: number;
  ok: number;
  success: number;
  pulsesMean: number;
  pulsesP99: number;
  pulseTimeMean_s: number;
  energyMean_J: number;
  /** Per time of `times_s` (0 = the read-back right after programming): over programmed cells. */
  median_A: number[];
  sigmaRobust_A: number[];
}

export interface AlgoSummary {
  algo: Algo;
  runId: string;
  cells: number;
  success: number;
  /** Over every LRS cell (programmed or not), forming and reset-verify included. */
  lrsPulsesMean: number;
  lrsPulsesP99: number;
  /** Mean over LRS levels of the robust sigma right after programming. */
  lrsSigmaRobustMean_A: number;
  /** That sigma over IGVVA's (when IGVVA is in the benchmark). */
  sigmaVsIgvva?: number;
  energyMean_J: number;
  pulseTimeMean_s: number;
  /** Wall time of the whole run and per cell (throughput with the engine's concurrency). */
  wall_s: number;
  wallPerCell_s: number;
  /** Per time of `times_s`: misread share over all adjacent level pairs at the fixed thresholds, counted and Gaussian (worst pair). */
  ber: { t_s: number; empirical: number; gaussianWorst: number }[];
  reverify?: LevelCdfDataset['reverify'];
}

export interface WvBenchResult {
  format: 'rram-hil/wv-bench';
  version: 1;
  board: BoardInfo;
  params: Record<string, unknown>;
  /** 0 (right after programming, the read-back) then the relaxation re-read times. */
  times_s: number[];
  algos: AlgoSummary[];
  rows: LevelRow[];
}

/** Read threshold between adjacent levels: where their decision bands meet (analysis/levels.ts). */
export function thresholds(specs: LevelSpec[]): number[] {
  return specs.slice(0, -1).map((s, k) => (s.band_A[1] + specs[k + 1].band_A[0]) / 2);
}

/** Misreads at a fixed threshold: counted, and the Gaussian estimate from each level's mean and sigma. */
export function berAt(thr: number, lo: number[], hi: number[]): { errors: number; n: number; gaussian: number } {
  const errors = lo.filter((x) => x > thr).length + hi.filter((x) => x < thr).length;
  const n = lo.length + hi.length;
  if (!lo.length || !hi.length) return { errors, n, gaussian: NaN };
  const g = (qfunc((thr - mean(lo)) / (std(lo) || 1e-12)) * lo.length + (1 - qfunc((thr - mean(hi)) / (std(hi) || 1e-12))) * hi.length) / n;
  return { errors, n, gaussian: g };
}

const p99 = (xs: number[]) => (xs.length ? quantile(sorted(xs), 0.99) : NaN);

export function summarizeAlgo(algo: Algo, d: LevelCdfDataset, costs: Map<string, CellCost>, wall_s: number): { summary: AlgoSummary; rows: LevelRow[] } {
  const times = [0, ...(d.levels[0]?.relax.map((r) => r.t_s) ?? [])];
  const sampleAt = (l: LevelCdfDataset['levels'][number], j: number) => (j === 0 ? l.samples_A : l.relax[j - 1].samples_A);
  const rows: LevelRow[] = d.levels.map((l) => {
    const cs = l.cells.map((c) => costs.get(cellKey(c as CellAddress)) ?? { energy_J: 0, pulseTime_s: 0 });
    return {
      algo,
      level: l.spec.level,
      kind: l.spec.kind,
      target_A: l.spec.target_A,
      cells: l.cells.length,
      ok: l.stats.nOk,
      success: l.stats.successRate,
      pulsesMean: mean(l.cells.map((c) => c.pulses)),
      pulsesP99: p99(l.cells.map((c) => c.pulses)),
      pulseTimeMean_s: mean(cs.map((c) => c.pulseTime_s)),
      energyMean_J: mean(cs.map((c) => c.energy_J)),
      median_A: times.map((_, j) => quantile(sorted(sampleAt(l, j)), 0.5)),
      sigmaRobust_A: times.map((_, j) => robustSigma(sampleAt(l, j))),
    };
  });
  const thr = thresholds(d.levels.map((l) => l.spec));
  const ber = times.map((t_s, j) => {
    let errors = 0;
    let n = 0;
    let worst = 0;
    thr.forEach((th, k) => {
      const b = berAt(th, sampleAt(d.levels[k], j), sampleAt(d.levels[k + 1], j));
      errors += b.errors;
      n += b.n;
      if (b.gaussian > worst) worst = b.gaussian;
    });
    return { t_s, empirical: n ? errors / n : NaN, gaussianWorst: worst };
  });
  const lrs = d.levels.filter((l) => l.spec.kind === 'lrs');
  const lrsPulses = lrs.flatMap((l) => l.cells.map((c) => c.pulses));
  const all = d.levels.flatMap((l) => l.cells);
  const allCosts = all.map((c) => costs.get(cellKey(c as CellAddress)) ?? { energy_J: 0, pulseTime_s: 0 });
  const summary: AlgoSummary = {
    algo,
    runId: d.runId,
    cells: all.length,
    success: d.summary.successRate,
    lrsPulsesMean: mean(lrsPulses),
    lrsPulsesP99: p99(lrsPulses),
    lrsSigmaRobustMean_A: mean(lrs.map((l) => l.stats.sigmaRobust_A).filter(Number.isFinite)),
    energyMean_J: mean(allCosts.map((c) => c.energy_J)),
    pulseTimeMean_s: mean(allCosts.map((c) => c.pulseTime_s)),
    wall_s,
    wallPerCell_s: wall_s / Math.max(1, all.length),
    ber,
    ...(d.reverify ? { reverify: d.reverify } : {}),
  };
  return { summary, rows };
}

/** Adds each algorithm's sigma relative to IGVVA's, when IGVVA ran. */
export function relativeToIgvva(algos: AlgoSummary[]): AlgoSummary[] {
  const ref = algos.find((a) => a.algo === 'igvva')?.lrsSigmaRobustMean_A;
  return algos.map((a) => (ref ? { ...a, sigmaVsIgvva: a.lrsSigmaRobustMean_A / ref } : a));
}

/** One CSV row per algorithm, level and time. */
export function wvBenchCsv(r: WvBenchResult): string {
  const head = 'algo,run,level,kind,target_uA,cells,ok,success,pulses_mean,pulses_p99,pulse_time_us,energy_pJ,t_s,median_uA,sigma_robust_uA';
  const lines = r.rows.flatMap((row) =>
    r.times_s.map((t, j) =>
      [row.algo, r.algos.find((a) => a.algo === row.algo)!.runId, row.level, row.kind, row.target_A * 1e6, row.cells, row.ok, row.success, row.pulsesMean, row.pulsesP99, row.pulseTimeMean_s * 1e6, row.energyMean_J * 1e12, t, row.median_A[j] * 1e6, row.sigmaRobust_A[j] * 1e6]
        .map((v) => (typeof v === 'number' ? (Number.isFinite(v) ? +v.toPrecision(6) : '') : v))
        .join(','),
    ),
  );
  return [head, ...lines].join('\n') + '\n';
}
