/**
 * What travels through the queue: a job's kind and content (everything its result depends on:
 * hashed into its id) and `where` (this machine's paths to the input files, not hashed: the
 * content carries the files' digests, which a worker checks). A worker returns the result with
 * who ran it and for how long, kept apart from the result so results stay identical whoever runs them.
 */
import { splitmix32 } from '../../lib/rng.js';
import { contentId } from './content-id.js';

export const QUEUE_NAME = 'rram-points';

export interface QueuedJob {
  kind: string;
  /** The point's key, for log lines (also inside the content). */
  key: string;
  content: unknown;
  where?: unknown;
}

export interface QueueTask {
  key: string;
  job: QueuedJob;
  /** Units of work (Monte Carlo trials, epochs) for progress and ETA. */
  weight: number;
}

export interface Ran {
  /** host:pid of the worker, or "this process". */
  worker: string;
  seconds: number;
}

export interface JobReturn {
  result: unknown;
  ran: Ran;
}

/** What a running job reports: units done out of its weight. */
export interface JobProgress {
  done: number;
  total: number;
}

export const jobIdOf = (j: QueuedJob): string => contentId({ kind: j.kind, content: j.content });

/** Retries after a failure; a job whose worker dies is put back by the stalled-job check instead. */
export const JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: 'fixed' as const, delay: 2000 },
  // Finished jobs stay a week: a resubmitted study (another --out, a lost points.ndjson) reuses them.
  removeOnComplete: { age: 7 * 86400 },
  removeOnFail: { age: 7 * 86400 },
};

/**
 * A worker renews its jobs' locks every lockDuration / 2 from its main thread (the jobs run in
 * worker threads); a killed worker's job is put back within lockDuration + stalledInterval.
 */
export const WORKER_LOCKS = { lockDuration: 10_000, stalledInterval: 5_000, maxStalledCount: 5 };

/** The order jobs are added in (a test knob: the result must not depend on it). */
export type JobOrder = 'given' | 'reverse' | { shuffle: number };

export function parseJobOrder(raw: string | undefined): JobOrder {
  if (!raw || raw === 'given') return 'given';
  if (raw === 'reverse') return 'reverse';
  const m = /^shuffle:(\d+)$/.exec(raw);
  if (m) return { shuffle: Number(m[1]) };
  throw new RangeError(`job order "${raw}" is not given, reverse or shuffle:SEED`);
}

export function ordered<T>(xs: T[], order: JobOrder): T[] {
  if (order === 'given') return xs;
  if (order === 'reverse') return [...xs].reverse();
  // Fisher-Yates, reproducible for a seed.
  const out = [...xs];
  const next = splitmix32(order.shuffle);
  for (let i = out.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
