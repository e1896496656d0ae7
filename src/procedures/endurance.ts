/**
 * `rram endurance`: SET/RESET cycling of chosen cells for N cycles, read every K cycles
 * (docs/formats.md, "Endurance"). Each cell is formed if pristine, reset-verified, and given one
 * cycle with reads (its initial window); then segments of K cycles (plans/endurance-cycle.ts),
 * each a step of the run (`cycles-<end>`): a resumed run continues an interrupted segment with the
 * pulses the record says it still lacked, so the cycle count stays what the board did.
 * After each segment every cell's window (LRS read - HRS read) is judged: a cell fails when its
 * window stays below `collapse` x its initial window for `confirm` reads in a row: stuck (no window
 * left, under STUCK_WINDOW of the initial: at LRS when the cell reads above the initial window's
 * middle, else at HRS) or window collapse (a window remains, closed in); it is not cycled further
 * and its cycles to failure are the first of those reads.
 */
import type { Board, CellAddress } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { digest } from '../../lib/digest.js';
import { quantile, sorted } from '../analysis/stats.js';
import { cellKey } from '../engine/events.js';
import type { CellResult } from '../engine/cell-ledger.js';
import type { RunContext } from '../engine/run-context.js';
import type { CellJob, EngineOptions } from '../engine/run-engine.js';
import { enduranceSegment, type EnduranceConfig, type EnduranceRead } from '../plans/endurance-cycle.js';
import { preparedCell } from '../plans/prepared-cell.js';
import { groundedAfter } from './board-phases.js';
import { cellParams, datasetHeader, type DatasetHeader, experimentCells, experimentPulses, type prepSettings, type ExperimentCommon } from './experiment-setup.js';
import { programCells } from './program-cells.js';

export interface EnduranceOptions extends ExperimentCommon {
  cycles: number;
  /** Read every this many cycles. */
  every: number;
  /** Failure: the window below this share of the cell's initial window ... */
  collapse?: number;
  /** ... for this many reads in a row. */
  confirm?: number;
  vte_V?: number;
  vg_V?: number;
  complianceTarget_A?: number;
  vsl_V?: number;
  engine?: EngineOptions;
}

export type FailureMode = 'stuck-lrs' | 'stuck-hrs' | 'window-collapse';

export interface EnduranceCellRead extends EnduranceRead {
  window_A: number;
}

export interface EnduranceCell {
  array: number;
  row: number;
  col: number;
  /** ok: cycled to the end (or failed as a device, see failure); else why it could not be cycled (unformable, stuck before cycling, ...). */
  status: string;
  pulses: number;
  unknownPulses: number;
  reads: EnduranceCellRead[];
  initialWindow_A: number;
  failure: FailureMode | null;
  /** Cycles at the first read of the confirmed failure; null when the cell survived. */
  cyclesToFailure: number | null;
  /** Cycles the cell received in this run. */
  cycles: number;
}

export interface EnduranceDataset extends DatasetHeader {
  format: 'rram-hil/endurance';
  version: 1;
  config: EnduranceConfig;
  vread_V: number;
  criteria: { collapse: number; confirm: number };
  /** Cycle counts at which cells were read. */
  readCycles: number[];
  summary: {
    cells: number;
    cycled: number;
    failed: number;
    failures: Record<FailureMode, number>;
    notCycled: Record<string, number>;
    /** Over cycled cells: cycles to failure (median, p10), survivors counted apart (censored). */
    cyclesToFailure: { median: number | null; p10: number | null; survivors: number };
  };
  /** Per read cycle, over the cells still cycling: median, p10, p90 window (A) and LRS / HRS medians. */
  window: { cycle: number; n: number; median_A: number; p10_A: number; p90_A: number; lrsMedian_A: number; hrsMedian_A: number }[];
  cells: EnduranceCell[];
}

export const segmentStep = (endCycle: number) => `cycles-${endCycle}`;

/** The read cycles: 1 (after the first cycle), then every K up to N (N itself always). */
export function readCycles(n: number, k: number): number[] {
  const out = [1];
  for (let c = 1 + k; c < n; c += k) out.push(c);
  if (n > 1) out.push(n);
  return out;
}

export function enduranceConfig(o: EnduranceOptions, info: ReturnType<Board['info']>): { cfg: EnduranceConfig; prep: ReturnType<typeof prepSettings> } {
  const a = experimentPulses(o, info, { name: 'vte', value: o.vte_V, default: 1.2 }, { name: 'vsl', value: o.vsl_V });
  const w = a.prep.reset.width_s;
  return { cfg: { vread_V: a.vread_V, set: { vte_V: a.vte_V, vg_V: a.vg_V, width_s: w }, reset: { vsl_V: a.vsl_V, vg_V: a.prep.reset.vg_V, width_s: w } }, prep: a.prep };
}

/** A window under this share of the initial one is none: the cell is stuck (SET and RESET leave it where it is). */
export const STUCK_WINDOW = 0.05;

/** Judges a cell's reads: the confirmed failure and its first cycle, or none. */
export function judge(reads: EnduranceRead[], collapse: number, confirm: number): { initial: number; failure: FailureMode | null; at: number | null } {
  const first = reads[0];
  const initial = first ? first.lrs_A - first.hrs_A : NaN;
  if (!first || !(initial > 0)) return { initial, failure: first ? 'window-collapse' : null, at: first ? first.cycle : null };
  let run = 0;
  for (let k = 1; k < reads.length; k++) {
    const r = reads[k];
    const w = r.lrs_A - r.hrs_A;
    // A read the record lacks (NaN) neither confirms nor breaks a failure.
    if (!Number.isFinite(w)) continue;
    run = w < collapse * initial ? run + 1 : 0;
    if (run >= confirm) {
      const at = reads[k - confirm + 1].cycle;
      // Stuck: SET and RESET no longer move the cell (no window left); else the window closed in.
      const mid = (first.lrs_A + first.hrs_A) / 2;
      const mode: FailureMode = Math.abs(w) > STUCK_WINDOW * initial ? 'window-collapse' : (r.lrs_A + r.hrs_A) / 2 >= mid ? 'stuck-lrs' : 'stuck-hrs';
      return { initial, failure: mode, at };
    }
  }
  return { initial, failure: null, at: null };
}

export async function endurance(board: Board, ctx: RunContext, o: EnduranceOptions): Promise<EnduranceDataset> {
  const info = board.info();
  if (!Number.isInteger(o.cycles) || o.cycles < 1) throw new InvalidArgumentError('cycles', o.cycles, 'must be a positive integer');
  if (!Number.isInteger(o.every) || o.every < 1) throw new InvalidArgumentError('every', o.every, 'must be a positive integer');
  const collapse = o.collapse ?? 0.2;
  const confirm = o.confirm ?? 2;
  if (!(collapse > 0 && collapse < 1)) throw new InvalidArgumentError('collapse', collapse, 'must be a share in (0, 1)');
  if (!Number.isInteger(confirm) || confirm < 1) throw new InvalidArgumentError('confirm', confirm, 'must be a positive integer');
  const { cfg, prep } = enduranceConfig(o, info);
  const chosen = await experimentCells(board, ctx, o, cfg.vread_V, prep.form.formedAbove_A / 2);
  const cells = chosen.cells;
  const created = new Date().toISOString();
  const cp = cellParams(cells, chosen.name);
  const params = { cycles: o.cycles, every: o.every, collapse, confirm, vte_V: o.vte_V, vg_V: o.vg_V, vsl_V: o.vsl_V, complianceTarget_A: o.complianceTarget_A, count: o.count, array: o.array, seed: o.seed, calibration: o.calibration?.id, config: cfg, form: prep.form, reset: prep.reset, ...cp, inputs: { ...(cp.inputs as object), ...(o.calibration ? { 'calibration contents': digest(o.calibration) } : {}) } };
  ctx.begin({ kind: 'endurance', params, board: info, calibration: info.calibration, setup: { notes: prep.notes } });
  if (chosen.note) ctx.emit({ type: 'warning', code: 'fresh-cells', message: chosen.note });
  const at = readCycles(o.cycles, o.every);
  return groundedAfter(board, async () => {
    const reads = new Map<string, EnduranceRead[]>(cells.map((c) => [cellKey(c), []]));
    const notCycled = new Map<string, string>();
    let active: CellAddress[] = cells;
    for (let s = 0; s < at.length && active.length; s++) {
      const end = at[s];
      const len = s === 0 ? 1 : end - at[s - 1];
      const step = segmentStep(end);
      const jobs: CellJob[] = active.map((cell) => {
        const h = ctx.ledger.history(step, cell);
        const applied = s === 0 ? 0 : h.pulses - h.refusedPulses;
        return {
          cell,
          level: 0,
          target_A: 0,
          step,
          plan: () => (s === 0 ? preparedCell(prep.form, prep.reset, !!o.knownFormed?.has(cellKey(cell)), (t) => enduranceSegment(cfg, 1, 1, 0, t)) : enduranceSegment(cfg, len, end, applied)),
        };
      });
      const done = await programCells(board, ctx, jobs, { ...o.engine, limits: o.userLimits, pulseBudget: 2 * len + 200, phase: `cycles to ${end} of ${o.cycles}` });
      active = active.filter((c) => {
        const k = cellKey(c);
        const e = done.get(k) as CellResult | undefined;
        if (!e || e.outcome.status !== 'ok') {
          notCycled.set(k, e?.outcome.status ?? 'failed');
          return false;
        }
        reads.get(k)!.push(e.outcome.data as unknown as EnduranceRead);
        return !judge(reads.get(k)!, collapse, confirm).failure;
      });
    }
    return enduranceDataset(ctx, created, info, params, cfg, { collapse, confirm }, at, cells, reads, notCycled);
  });
}

function enduranceDataset(ctx: RunContext, created: string, info: ReturnType<Board['info']>, params: Record<string, unknown>, cfg: EnduranceConfig, criteria: { collapse: number; confirm: number }, at: number[], cells: CellAddress[], reads: Map<string, EnduranceRead[]>, notCycled: Map<string, string>): EnduranceDataset {
  const out: EnduranceCell[] = cells.map((c) => {
    const k = cellKey(c);
    const rs = reads.get(k) ?? [];
    const j = judge(rs, criteria.collapse, criteria.confirm);
    let pulses = 0;
    let unknown = 0;
    for (const end of at) {
      const h = ctx.ledger.history(segmentStep(end), c);
      pulses += h.pulses;
      unknown += h.unknownPulses;
    }
    const status = notCycled.get(k) && !rs.length ? notCycled.get(k)! : 'ok';
    return { ...c, status, pulses, unknownPulses: unknown, reads: rs.map((r) => ({ ...r, window_A: r.lrs_A - r.hrs_A })), initialWindow_A: j.initial, failure: rs.length ? j.failure : null, cyclesToFailure: rs.length ? j.at : null, cycles: rs.length ? rs[rs.length - 1].cycle : 0 };
  });
  const cycled = out.filter((c) => c.reads.length);
  const failed = cycled.filter((c) => c.failure);
  const failures = { 'stuck-lrs': 0, 'stuck-hrs': 0, 'window-collapse': 0 } as Record<FailureMode, number>;
  for (const c of failed) failures[c.failure!]++;
  const notCycledCounts: Record<string, number> = {};
  for (const c of out.filter((x) => !x.reads.length)) notCycledCounts[c.status] = (notCycledCounts[c.status] ?? 0) + 1;
  // Cycles to failure with the survivors as censored beyond the last read: the median exists when over half failed.
  const ctf = failed.map((c) => c.cyclesToFailure!).sort((a, b) => a - b);
  const qAt = (q: number) => (cycled.length && ctf.length >= Math.ceil(q * cycled.length) ? ctf[Math.max(0, Math.ceil(q * cycled.length) - 1)] : null);
  const window = at.map((cycle) => {
    const rs = cycled.map((c) => c.reads.find((r) => r.cycle === cycle)).filter((r): r is EnduranceCellRead => !!r && Number.isFinite(r.window_A));
    const w = sorted(rs.map((r) => r.window_A));
    return { cycle, n: rs.length, median_A: quantile(w, 0.5), p10_A: quantile(w, 0.1), p90_A: quantile(w, 0.9), lrsMedian_A: quantile(sorted(rs.map((r) => r.lrs_A)), 0.5), hrsMedian_A: quantile(sorted(rs.map((r) => r.hrs_A)), 0.5) };
  });
  return {
    format: 'rram-hil/endurance',
    version: 1,
    ...datasetHeader(ctx, created, info, params),
    config: cfg,
    vread_V: cfg.vread_V,
    criteria,
    readCycles: at,
    summary: { cells: out.length, cycled: cycled.length, failed: failed.length, failures, notCycled: notCycledCounts, cyclesToFailure: { median: qAt(0.5), p10: qAt(0.1), survivors: cycled.length - failed.length } },
    window,
    cells: out,
  };
}
