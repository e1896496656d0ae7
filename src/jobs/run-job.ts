/**
 * Runs one job (characterize, program, ...) with its sinks: the embedded store always, InfluxDB
 * when configured, plus any extra subscriber (progress bar, dashboard). Emits run-end whatever
 * happens, so every sink learns the outcome; data measured before an abort or error is kept.
 */
import { Subject } from 'rxjs';
import type { Board } from '../../drivers/board.js';
import { AbortedError, RramError } from '../../drivers/errors.js';
import type { RunEvent } from '../engine/events.js';
import { newRunId } from '../engine/events.js';
import { RunContext } from '../engine/run-context.js';
import { EmbeddedStore, StoreSink } from '../store/embedded-store.js';

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
  /** The board the job drives: its link events (lost, restored, rebooted) become warnings of the run. */
  board?: Board;
}

export interface JobOutcome<T> {
  runId: string;
  status: 'completed' | 'aborted' | 'failed';
  result?: T;
  error?: unknown;
}

export async function runJob<T>(
  env: JobEnv,
  body: (ctx: RunContext, signal: AbortSignal | undefined) => Promise<T>,
  opts: { resultName?: string; summarize?: (r: T) => Record<string, unknown> } = {},
  onContext?: (ctx: RunContext) => void,
): Promise<JobOutcome<T>> {
  const runId = env.runId ?? newRunId();
  const events$ = new Subject<RunEvent>();
  const ctx = new RunContext(runId, events$);
  const storeSink = new StoreSink(env.store, runId).attach(events$);
  for (const s of env.sinks ?? []) s.attach(events$);
  const busSub = env.bus ? events$.subscribe((e) => env.bus!.next(e)) : undefined;
  onContext?.(ctx);
  // A lost link or a reboot is never silent: it enters the run's record as a warning with its code.
  const linkSub = env.board?.linkEvents?.subscribe((e) => {
    if (ctx.eventCount > 0) ctx.emit({ type: 'warning', code: e.code, message: e.message });
  });
  let out: JobOutcome<T>;
  try {
    const result = await body(ctx, env.signal);
    if (opts.resultName) env.store.saveResult(runId, opts.resultName, result);
    ctx.emit({ type: 'run-end', status: 'completed', summary: opts.summarize?.(result) });
    out = { runId, status: 'completed', result };
  } catch (e) {
    const aborted = e instanceof AbortedError || (e instanceof RramError && e.code === 'ABORTED');
    if (ctx.eventCount > 0) ctx.emit({ type: 'run-end', status: aborted ? 'aborted' : 'failed', error: (e as Error).message });
    out = { runId, status: aborted ? 'aborted' : 'failed', error: e };
  } finally {
    linkSub?.unsubscribe();
    await storeSink.close();
    for (const s of env.sinks ?? []) await s.close();
    busSub?.unsubscribe();
    events$.complete();
  }
  return out;
}
