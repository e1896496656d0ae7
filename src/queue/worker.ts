/**
 * `rram worker`: a BullMQ worker on the points queue. Jobs run in worker threads (BullMQ's
 * sandboxed processors), so a long Monte Carlo or training never stops the main thread from
 * renewing the job's lock; a worker killed mid-job loses its lock and another worker's stalled
 * check puts the job back. One line per job started, finished, failed or put back.
 */
import { hostname } from 'node:os';
import { Worker } from 'bullmq';
import { connectionOptions } from './redis-check.js';
import type { QueueUrl } from './redis-url.js';
import { QUEUE_NAME, WORKER_LOCKS, type JobReturn, type QueuedJob } from './job.js';

export interface WorkerOptions {
  url: QueueUrl;
  /** The sandboxed processor module (a file exporting the job function as default). */
  processor: string;
  /** Jobs at once (each in its own worker thread). */
  concurrency: number;
  /** Environment for the job threads (e.g. how many trial threads one job may use). */
  env?: Record<string, string>;
  log: (line: string) => void;
}

export const workerName = (): string => `${hostname()}:${process.pid}`;

export function startWorker(o: WorkerOptions): Worker {
  const w = new Worker(QUEUE_NAME, o.processor, {
    connection: connectionOptions(o.url),
    concurrency: o.concurrency,
    useWorkerThreads: true,
    workerThreadsOptions: { env: { ...process.env, ...o.env } },
    name: workerName(),
    ...WORKER_LOCKS,
  });
  const what = (data: unknown) => (data as QueuedJob | undefined)?.key ?? '?';
  w.on('active', (job) => o.log(`started ${what(job.data)} (${job.data?.kind}, job ${job.id}${job.attemptsStarted > 1 ? `, attempt ${job.attemptsStarted}` : ''})`));
  w.on('completed', (job, ret: JobReturn) => o.log(`finished ${what(job.data)} in ${ret?.ran?.seconds?.toFixed(1) ?? '?'} s`));
  w.on('failed', (job, err) => o.log(`failed ${what(job?.data)} (attempt ${job?.attemptsMade ?? '?'} of ${job?.opts.attempts ?? '?'}): ${err.message}`));
  w.on('stalled', (id) => o.log(`job ${id} stalled (its worker stopped?): put back in the queue`));
  let lastError = 0;
  w.on('error', (e) => {
    if (Date.now() - lastError < 10_000) return;
    lastError = Date.now();
    o.log(`Redis at ${o.url.shown}: ${e.message} (retrying)`);
  });
  return w;
}
