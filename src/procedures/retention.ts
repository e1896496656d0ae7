/**
 * `rram retention`: programmed levels read at log-spaced times (docs/formats.md, "Retention").
 * Cells are programmed by write-verify exactly as characterize does (step `program`), read back
 * (the time origin, t = 0), then read again at each `times_s` after the origin. The board's clock
 * decides how a time is reached: an in-process emulator, or a board whose WAIT returns at once
 * (`rram emulate --virtual-time`, foreign-v2 `--wait virtual`), is virtual and simply waited; any
 * other board waits in real time, and the time since the origin is the host's wall clock since the
 * origin's record, so a run killed and resumed a day later reads at the right ages (a time point
 * missed while no process ran is read at once and its real age recorded).
 * The record holds each phase as a mark (retention-origin, retention-wait begin/end on a virtual
 * clock, retention-point with every cell's current), so a resume re-programs no cell, re-reads no
 * finished point, and knows what the board's clock did; a virtual wait a kill interrupted is
 * waited again and the next point's age flagged uncertain by that much.
 */
import type { Board, CellAddress } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { digest } from '../../lib/digest.js';
import type { LevelSpec } from '../analysis/levels.js';
import { mean, quantile, robustSigma, sorted, std } from '../analysis/stats.js';
import { cellKey, type MarkEvent } from '../engine/events.js';
import type { CellResult } from '../engine/cell-ledger.js';
import type { RunContext } from '../engine/run-context.js';
import type { EngineOptions } from '../engine/run-engine.js';
import { unusableRead } from '../engine/readings.js';
import { checkAbort, groundedAfter, waitAbortable } from './board-phases.js';
import { cellParams, datasetHeader, type DatasetHeader, experimentCells, type ExperimentCommon } from './experiment-setup.js';
import { levelJob } from './level-job.js';
import { programCells } from './program-cells.js';
import type { ProgramOptions } from './program-config.js';
import { setupProgramming } from './program-setup.js';
import { runSummary, type RunSummary } from './program-array.js';

export interface RetentionOptions extends ProgramOptions, Omit<ExperimentCommon, keyof ProgramOptions> {
  levels: number;
  cellsPerLevel: number;
  /** Read times after the origin (s), ascending. */
  times_s: number[];
  /** Given cells' levels (same order as `cells`); default levels interleaved. */
  cellLevels?: number[];
  minSuccess?: number;
  engine?: EngineOptions;
}

export type RetentionClock = 'virtual' | 'real';

export interface RetentionCell {
  array: number;
  row: number;
  col: number;
  level: number;
  status: string;
  pulses: number;
  /** The last verify read of the write-verify loop ("right after verify"). */
  verify_A: number;
  /** The read-back at the origin, then per time point (null: unusable). */
  origin_A: number | null;
  reads_A: (number | null)[];
}

export interface TimeStats {
  t_s: number;
  /** Age the point was read at (s since the origin), and by how much more it may be (an interrupted virtual wait). */
  age_s: number;
  uncertain_s: number;
  n: number;
  median_A: number;
  sigma_A: number;
  sigmaRobust_A: number;
  /** Of I(t) - I(verify), per cell: median, mean and spread. */
  driftMedian_A: number;
  driftMean_A: number;
  driftSigma_A: number;
  driftSigmaRobust_A: number;
}

export interface RetentionDataset extends DatasetHeader {
  format: 'rram-hil/retention';
  version: 1;
  vread_V: number;
  clock: RetentionClock;
  /** Host wall time of the origin (ms since the epoch). */
  origin_ms: number;
  times_s: number[];
  summary: RunSummary;
  /** Per level: its spec, statistics at the origin (t 0) and each time, its cells. */
  levels: { spec: LevelSpec; origin: TimeStats; times: TimeStats[]; cells: RetentionCell[] }[];
}

const ORIGIN = 'retention-origin';
const WAIT = 'retention-wait';
const POINT = 'retention-point';

/** A board whose WAIT does not take the time it says runs a virtual clock. */
async function detectClock(board: Board): Promise<RetentionClock> {
  if (!board.linkEvents) return 'virtual';
  const t0 = performance.now();
  await board.wait(0.2);
  return performance.now() - t0 < 100 ? 'virtual' : 'real';
}

/** Every programmed cell read once (whole arrays), recorded; currents in `cells` order (null: unusable). */
async function readAll(board: Board, ctx: RunContext, cells: { cell: CellAddress; level: number }[], vread_V: number, phase: 'readback' | 'relax', t_s: number, age_s: number, signal?: AbortSignal): Promise<(number | null)[]> {
  const info = board.info();
  const arrays = [...new Set(cells.map((c) => c.cell.array))].sort((a, b) => a - b);
  const byArray = new Map<number, Float64Array>();
  for (const a of arrays) {
    checkAbort(signal);
    byArray.set(a, await board.readArray(a, { vread_V }));
  }
  return cells.map(({ cell, level }) => {
    const i = byArray.get(cell.array)![cell.row * info.cols + cell.col];
    const why = unusableRead(i);
    ctx.emit({ type: 'read', cell, vread_V, current_A: why ? null : i, phase, level, relax_s: t_s, age_s, ...(why ? { unusable: why } : {}) });
    return why ? null : i;
  });
}

export async function retention(board: Board, ctx: RunContext, o: RetentionOptions): Promise<RetentionDataset> {
  const info = board.info();
  const times = [...o.times_s];
  if (!times.length) throw new InvalidArgumentError('times', '', 'give at least one time');
  for (let k = 0; k < times.length; k++) if (!(times[k] > 0 && Number.isFinite(times[k])) || (k && !(times[k] > times[k - 1]))) throw new InvalidArgumentError('times', times[k], 'times must be positive and increasing');
  if (!Number.isInteger(o.cellsPerLevel) || o.cellsPerLevel < 1) throw new InvalidArgumentError('cells-per-level', o.cellsPerLevel, 'must be a positive integer');
  const setup = setupProgramming({ ...o, linked: !!board.linkEvents }, info, o.calibration, o.userLimits);
  const vread = setup.config.igvva.vread_V;
  const chosen = await experimentCells(board, ctx, { ...o, count: o.cells ? undefined : o.levels * o.cellsPerLevel }, vread, setup.config.form.formedAbove_A / 2);
  const cells = chosen.cells;
  const resumedLevels = ctx.resume?.params.cellLevels as number[] | undefined;
  const lv = resumedLevels ?? o.cellLevels ?? cells.map((_, k) => k % o.levels);
  if (lv.length !== cells.length || lv.some((l) => !(Number.isInteger(l) && l >= 0 && l < o.levels))) throw new InvalidArgumentError('cells', cells.length, `every cell needs a level in 0..${o.levels - 1}`);
  const created = new Date().toISOString();
  const cp = cellParams(cells, chosen.name);
  const params = { ...o, cells: cp.cells, cellsName: cp.cellsName, cellLevels: lv, knownFormed: undefined, calibration: o.calibration?.id, engine: undefined, usedCells: undefined, times_s: times, levelTargets_A: setup.levels.map((l) => l.target_A), levelSpecs: setup.levels, startGates_V: setup.startGates_V, retryGates_V: setup.retryGates_V, ispvaGates_V: setup.ispvaGates_V, config: setup.config, inputs: { 'cell list': digest(`${(cp.cells as string[]).join(' ')}|${lv.join(',')}`), ...(o.calibration ? { 'calibration contents': digest(o.calibration) } : {}) } };
  ctx.begin({ kind: 'retention', params, board: info, calibration: info.calibration, setup: { sources: setup.sources, notes: setup.notes, predicted: setup.predicted } });
  if (chosen.note) ctx.emit({ type: 'warning', code: 'fresh-cells', message: chosen.note });
  const signal = o.engine?.signal;
  return groundedAfter(board, async () => {
    const jobs = cells.map((cell, k) => levelJob(setup.config, setup.levels[lv[k]], cell, setup, undefined, !!o.knownFormed?.has(cellKey(cell))));
    const results = await programCells(board, ctx, jobs, { ...o.engine, limits: o.userLimits, phase: 'program' });
    const programmed = cells.map((cell, k) => ({ cell, level: lv[k] })).filter(({ cell }) => results.get(cellKey(cell))?.outcome.status === 'ok');
    // The origin: read-back, then its mark (a kill between them reads the origin again).
    let origin = ctx.ledger.marks(ORIGIN).at(-1);
    if (!origin) {
      const clock = await detectClock(board);
      const currents = await readAll(board, ctx, programmed, vread, 'readback', 0, 0, signal);
      origin = ctx.emit({ type: 'mark', name: ORIGIN, value: { t_ms: Date.now(), clock, currents } }) as MarkEvent;
      ctx.commit(true);
    }
    const clock = origin.value.clock as RetentionClock;
    const t0 = origin.value.t_ms as number;
    for (const t of times) {
      if (ctx.ledger.marks(POINT).some((m) => m.value.t_s === t)) continue;
      const { age, uncertain } = await waitFor(board, ctx, clock, t0, t, signal);
      const currents = await readAll(board, ctx, programmed, vread, 'relax', t, age, signal);
      ctx.emit({ type: 'mark', name: POINT, value: { t_s: t, age_s: age, uncertain_s: uncertain, currents } });
      ctx.commit(true);
    }
    return retentionDataset(ctx, created, info, params, setup.levels, vread, cells, lv, results, programmed, clock, t0, times);
  });
}

/** Brings the board to `t` s after the origin; the age it is at and how much older it may be. */
async function waitFor(board: Board, ctx: RunContext, clock: RetentionClock, t0_ms: number, t: number, signal?: AbortSignal): Promise<{ age: number; uncertain: number }> {
  if (clock === 'real') {
    for (;;) {
      checkAbort(signal);
      const left = t - (Date.now() - t0_ms) / 1000;
      if (left <= 0) break;
      await waitAbortable(board, Math.min(left, 1), signal);
    }
    return { age: (Date.now() - t0_ms) / 1000, uncertain: 0 };
  }
  const waits = ctx.ledger.marks(WAIT);
  const last = waits.at(-1);
  let uncertain = 0;
  let from = 0;
  for (const w of waits) if (w.value.state === 'end') from = Math.max(from, w.value.to_s as number);
  if (last && last.value.state === 'begin') {
    // A kill interrupted this wait: the board may have waited all of it already.
    uncertain = (last.value.to_s as number) - from;
    ctx.emit({ type: 'warning', code: 'resume', message: `a wait to ${last.value.to_s} s after the origin was interrupted: the board may have waited up to ${uncertain} s of it; waited again, the next read's age may be that much more` });
  }
  if (t > from) {
    ctx.emit({ type: 'mark', name: WAIT, value: { state: 'begin', from_s: from, to_s: t } });
    ctx.commit(true);
    checkAbort(signal);
    await board.wait(t - from);
    ctx.emit({ type: 'mark', name: WAIT, value: { state: 'end', from_s: from, to_s: t } });
    ctx.commit(true);
  }
  return { age: t, uncertain };
}

function timeStats(t_s: number, age_s: number, uncertain_s: number, now: (number | null)[], verify: number[]): TimeStats {
  const ok = now.map((x, k) => (x === null ? null : { x, d: x - verify[k] })).filter((v): v is { x: number; d: number } => v !== null && Number.isFinite(v.d));
  const xs = ok.map((v) => v.x);
  const ds = ok.map((v) => v.d);
  return { t_s, age_s, uncertain_s, n: ok.length, median_A: quantile(sorted(xs), 0.5), sigma_A: std(xs), sigmaRobust_A: robustSigma(xs), driftMedian_A: quantile(sorted(ds), 0.5), driftMean_A: mean(ds), driftSigma_A: std(ds), driftSigmaRobust_A: robustSigma(ds) };
}

function retentionDataset(ctx: RunContext, created: string, info: ReturnType<Board['info']>, params: Record<string, unknown>, specs: LevelSpec[], vread: number, cells: CellAddress[], lv: number[], results: Map<string, CellResult>, programmed: { cell: CellAddress; level: number }[], clock: RetentionClock, t0: number, times: number[]): RetentionDataset {
  const origin = ctx.ledger.marks(ORIGIN).at(-1)!;
  const idx = new Map(programmed.map((p, k) => [cellKey(p.cell), k]));
  const originI = origin.value.currents as (number | null)[];
  // The last complete read of each point (a point read twice across a kill: the later one).
  const points = times.map((t) => ctx.ledger.marks(POINT).filter((m) => m.value.t_s === t).at(-1)!);
  const recs: RetentionCell[] = cells.map((cell, k) => {
    const e = results.get(cellKey(cell));
    const j = idx.get(cellKey(cell));
    return { ...cell, level: lv[k], status: e?.outcome.status ?? 'failed', pulses: ctx.ledger.history(undefined, cell).pulses, verify_A: e?.outcome.final_A ?? NaN, origin_A: j === undefined ? null : originI[j], reads_A: points.map((m) => (j === undefined ? null : (m.value.currents as (number | null)[])[j])) };
  });
  const levels = specs.map((spec) => {
    const mine = recs.filter((r) => r.level === spec.level && r.status === 'ok');
    const verify = mine.map((r) => r.verify_A);
    return {
      spec,
      origin: timeStats(0, 0, 0, mine.map((r) => r.origin_A), verify),
      times: points.map((m, j) => timeStats(m.value.t_s as number, m.value.age_s as number, (m.value.uncertain_s as number) ?? 0, mine.map((r) => r.reads_A[j]), verify)),
      cells: recs.filter((r) => r.level === spec.level),
    };
  });
  return {
    format: 'rram-hil/retention',
    version: 1,
    ...datasetHeader(ctx, created, info, params),
    vread_V: vread,
    clock,
    origin_ms: t0,
    times_s: times,
    summary: runSummary(recs.map((r) => r.status), (params.minSuccess as number | undefined) ?? 0.95),
    levels,
  };
}

/** Mean verify read of a level's cells, for reports. */
export const levelVerifyMean = (l: RetentionDataset['levels'][number]) => mean(l.cells.filter((c) => c.status === 'ok').map((c) => c.verify_A));
