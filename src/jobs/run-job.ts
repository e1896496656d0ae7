/**
 * Runs one job (characterize, program, ...) with its sinks: the embedded store always, InfluxDB
 * when configured, plus any extra subscriber (progress bar, dashboard). Emits run-end whatever
 * happens after the run began, so every sink learns the outcome; data measured before an abort or
 * error is kept. A resumed job continues the stored run (same id, seq continued) and is refused
 * when the run does not exist or already completed.
 */
import { Subject } from 'rxjs';
import type { Board } from '../../drivers/board.js';
import { AbortedError, InvalidArgumentError, RramError, StoreWriteError, isFileSystemError } from '../../drivers/errors.js';
import type { RunEvent } from '../engine/events.js';
import { newRunId } from '../engine/events.js';
import { RunContext, type ResumeFrom } from '../engine/run-context.js';
import { EmbeddedStore, NotFoundError, StoreSink } from '../store/embedded-store.js';
import { CellLedger } from '../engine/cell-ledger.js';
import type { RunMetadata } from '../io/schemas/run-metadata.js';

export interface Sink {
  attach(events$: Subject<RunEvent>): unknown;
  close(): Promise<void>;
}

export interface JobEnv {
  store: EmbeddedStore;
  /** Extra sinks (InfluxDB, ...). */
  sinks?: Sink[];
  /** A shared stream to publish into as well (the server's bus). */
  bus?: Subject<RunEvent>;
  signal?: AbortSignal;
  runId?: string;
  /** Continue the stored run `runId` (its recorded cell-done events keep finished cells from being pulsed again). */
  resume?: boolean;
  /** The board the job drives: its link events (lost, restored, rebooted) become warnings of the run. */
  board?: Board;
  /** The run's metadata (sample, wafer, ...), written into run.json when the run starts (or added on a resume). */
  metadata?: RunMetadata;
  /** Held at a checkpoint (a station's paused queue: src/station/) whenever `holdRequested` says so. */
  checkpoint?: (ctx: RunContext) => Promise<void>;
  holdRequested?: () => boolean;
}

export interface JobOutcome<T> {
  runId: string;
  status: 'completed' | 'aborted' | 'failed';
  result?: T;
  error?: unknown;
  /** Whether this job wrote the run into the store (it began, or a resume was accepted). */
  stored: boolean;
}

/** The stored run a resume continues (its events folded per cell), or a clear refusal. */
export async function resumeFrom(store: EmbeddedStore, runId: string): Promise<ResumeFrom> {
  let rec;
  try {
    rec = store.getRun(runId);
  } catch (e) {
    if (e instanceof NotFoundError) throw new InvalidArgumentError('--resume', runId, `no run with this id in the store ${store.root} (see \`rram runs\`)`);
    throw e;
  }
  if (rec.status === 'completed') throw new InvalidArgumentError('--resume', runId, 'that run completed: there is nothing to resume');
  if (rec.pruned) throw new InvalidArgumentError('--resume', runId, `its events were pruned on ${rec.pruned}: it cannot be continued`);
  const ledger = await CellLedger.fromEvents(store.events(runId));
  return { lastSeq: store.lastSeq(runId), kind: rec.kind, params: rec.params, board: rec.board as ResumeFrom['board'], ledger };
}

export async function runJob<T>(
  env: JobEnv,
  body: (ctx: RunContext, signal: AbortSignal | undefined) => Promise<T>,
  opts: { resultName?: string; summarize?: (r: T) => Record<string, unknown>; verdict?: (r: T) => Record<string, unknown> | undefined } = {},
  onContext?: (ctx: RunContext) => void,
): Promise<JobOutcome<T>> {
  const runId = env.runId ?? newRunId();
  const resume = env.resume ? await resumeFrom(env.store, runId) : undefined;
  const events$ = new Subject<RunEvent>();
  const ctx = new RunContext(runId, events$, resume);
  if (env.checkpoint) {
    ctx.checkpoint = () => env.checkpoint!(ctx);
    if (env.holdRequested) ctx.holdRequested = env.holdRequested;
  }
  const storeSink = new StoreSink(env.store, runId, { metadata: env.metadata }).attach(events$);
  // The board's state (an in-process emulated board's) is durable before any event about it.
  if (env.board?.persistDirty) storeSink.beforeWrite = (d) => env.board!.persistDirty!(d);
  ctx.onFlush((d) => storeSink.flushSync(d));
  for (const s of env.sinks ?? []) s.attach(events$);
  const busSub = env.bus ? events$.subscribe((e) => env.bus!.next(e)) : undefined;
  let begun = false;
  const beginSub = events$.subscribe((e) => {
    if (e.type === 'run-start' || e.type === 'run-resume') begun = true;
  });
  onContext?.(ctx);
  // A lost link or a reboot is never silent: it enters the run's record as a warning with its code.
  const linkSub = env.board?.linkEvents?.subscribe((e) => {
    if (begun) ctx.emit({ type: 'warning', code: e.code, message: e.message });
  });
  let out: JobOutcome<T>;
  try {
    const result = await body(ctx, env.signal);
    // A write that failed between commits (a timer's flush) still fails the run.
    if (storeSink.failure) throw storeSink.failure;
    if (opts.resultName) env.store.saveResult(runId, opts.resultName, result);
    const verdict = opts.verdict?.(result);
    ctx.emit({ type: 'run-end', status: 'completed', summary: { ...opts.summarize?.(result), ...(verdict ? { verdict } : {}) } });
    out = { runId, status: 'completed', result, stored: true };
  } catch (thrown) {
    // A store that failed is the cause of whatever the body met after it (and a raw fs error is one too).
    const e = storeSink.failure ?? (isFileSystemError(thrown) ? StoreWriteError.from(thrown, env.store.runDir(runId)) : thrown);
    const aborted = e instanceof AbortedError || (e instanceof RramError && e.code === 'ABORTED');
    if (begun) ctx.emit({ type: 'run-end', status: aborted ? 'aborted' : 'failed', error: (e as Error).message });
    out = { runId, status: aborted ? 'aborted' : 'failed', error: e, stored: begun };
  } finally {
    linkSub?.unsubscribe();
    beginSub.unsubscribe();
    await storeSink.close();
    for (const s of env.sinks ?? []) await s.close();
    busSub?.unsubscribe();
    events$.complete();
  }
  return out;
}
