/**
 * One device experiment (iv, endurance, retention, sweep, reverify) as a stored job, from its request
 * (src/server/experiment-requests.ts). The CLI's direct run and a station's queued run both come
 * here with the same request, so a run through a station is the run the command makes itself.
 */
import type { Board } from '../../drivers/board.js';
import type { Calibration } from '../../calibration/calibration.js';
import type { RunContext } from '../engine/run-context.js';
import { endurance, type EnduranceDataset } from '../procedures/endurance.js';
import { iv, type IvDataset } from '../procedures/iv.js';
import { retention, type RetentionDataset } from '../procedures/retention.js';
import { sweep, type SweepDataset } from '../procedures/sweep.js';
import { checkReverifySelection, firstPassReads, reverifySelection, type ReverifySelectionDataset, type ReverifySelectionOptions } from '../procedures/reverify-selection.js';
import { boardHistory, boardKey } from '../store/board-history.js';
import { pulsedSince, runTargets } from '../store/run-targets.js';
import { cellKey, type RunEvent } from '../engine/events.js';
import type { ExperimentRequest, ReverifyRequest } from '../server/experiment-requests.js';
import { runJob, type JobEnv, type JobOutcome } from './run-job.js';

/** The result's name in the store per kind (GET /api/runs/:id/results/:name). */
export const EXPERIMENT_RESULT = { iv: 'iv', endurance: 'endurance', retention: 'retention', sweep: 'sweep', reverify: 'reverify' } as const;

/**
 * A re-verify's cells, source and refusals, from the request (before anything is created: the
 * station calls it when the request arrives too, so a refusal answers the request, not a run).
 */
export async function reverifyPlan(env: Pick<JobEnv, 'store' | 'resume' | 'runId'>, board: Board, o: ReverifyRequest): Promise<{ opts: ReverifySelectionOptions; storedBefore?: Map<string, number | null> }> {
  const source = await runTargets(env.store, o.run);
  // Every cell the run programmed (on --array when given) when none are chosen.
  const cells = o.cells ?? [...source.cells.values()].map((e) => e.cell).filter((c) => o.array === undefined || c.array === o.array);
  // Cells a later run pulsed hold that run's work: refused unless the request takes them on purpose.
  const pulsedLater = o.includePulsedLater ? undefined : await pulsedSince(env.store, source, cells.map(cellKey));
  const opts: ReverifySelectionOptions = { source, boardKey: boardKey(board.info()), cells, band: o.band, passes: o.passes, after_s: o.after_s, minSuccess: o.minSuccess, pulsedLater };
  checkReverifySelection(opts);
  if (!(env.resume && env.runId)) return { opts };
  const stored: RunEvent[] = [];
  for await (const e of env.store.events(env.runId, { type: 'read' })) stored.push(e);
  return { opts, storedBefore: firstPassReads(stored, o.band) };
}

/** The engine knobs of a request (--concurrency, --on-unknown-outcome), with the job's abort signal. */
const engineOf = (req: { concurrency: number; onUnknownOutcome?: 're-verify' | 'stop' }) => (signal: AbortSignal | undefined) => ({ signal, concurrency: req.concurrency, ...(req.onUnknownOutcome ? { onUnknownOutcome: req.onUnknownOutcome } : {}) });

export async function runExperimentJob(env: JobEnv, board: Board, calibration: Calibration | undefined, req: ExperimentRequest, onContext?: (ctx: RunContext) => void): Promise<JobOutcome<unknown>> {
  if (req.kind === 'reverify') return reverifyJob(env, board, req, onContext);
  const history = await boardHistory(env.store, board.info(), { except: env.resume ? env.runId : undefined });
  const engine = engineOf(req);
  const { concurrency: _c, onUnknownOutcome: _u, metadata: _m, ...o } = req;
  const known = { calibration, usedCells: history.pulsed, knownFormed: history.formed };
  const job = <T>(body: (ctx: RunContext, signal: AbortSignal | undefined) => Promise<T>, summarize: (r: T) => Record<string, unknown>) => runJob(env, body, { resultName: EXPERIMENT_RESULT[o.kind], summarize }, onContext) as Promise<JobOutcome<unknown>>;
  switch (o.kind) {
    case 'iv': {
      const { kind: _k, ...x } = o;
      return job((ctx, signal) => iv(board, ctx, { ...x, ...known, engine: engine(signal) }), (d: IvDataset) => ({ cells: d.summary, stats: d.stats }));
    }
    case 'endurance': {
      const { kind: _k, ...x } = o;
      return job((ctx, signal) => endurance(board, ctx, { ...x, ...known, engine: engine(signal) }), (d: EnduranceDataset) => ({ summary: d.summary }));
    }
    case 'retention': {
      const { kind: _k, ...x } = o;
      return job((ctx, signal) => retention(board, ctx, { ...x, ...known, engine: engine(signal) }), (d: RetentionDataset) => ({ cells: d.summary, clock: d.clock }));
    }
    case 'sweep': {
      const { kind: _k, ...x } = o;
      return job((ctx, signal) => sweep(board, ctx, { ...x, calibration, usedCells: history.pulsed, engine: engine(signal) }), (d: SweepDataset) => ({ cells: d.summary }));
    }
  }
}

/** A re-verify as a stored job (its board history is its source run's record, not the board's). */
async function reverifyJob(env: JobEnv, board: Board, req: ReverifyRequest, onContext?: (ctx: RunContext) => void): Promise<JobOutcome<unknown>> {
  const { opts, storedBefore } = await reverifyPlan(env, board, req);
  const engine = engineOf(req);
  return runJob(env, (ctx, signal) => reverifySelection(board, ctx, { ...opts, storedBefore, engine: engine(signal) }), { resultName: EXPERIMENT_RESULT.reverify, summarize: (d: ReverifySelectionDataset) => ({ source: d.source, summary: d.summary }) }, onContext) as Promise<JobOutcome<unknown>>;
}
