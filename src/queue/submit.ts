/**
 * The submitting side: every task becomes a BullMQ job whose id is its content's hash, added
 * unless Redis already has it (a finished one is collected at once, a failed one retried); then
 * results are collected as the workers finish them, in whatever order, until none is left.
 * Progress comes from the workers' job progress events. While Redis is away the submitter waits
 * (and says so); a job that vanished with a Redis restarted without persistence is added again.
 */
import { Job, Queue, QueueEvents } from 'bullmq';
import { AbortedError, RramError } from '../../drivers/errors.js';
import { connectionOptions } from './redis-check.js';
import type { QueueUrl } from './redis-url.js';
import { JOB_OPTIONS, QUEUE_NAME, jobIdOf, ordered, type JobOrder, type JobProgress, type JobReturn, type QueueTask, type Ran } from './job.js';

export interface CollectOptions {
  url: QueueUrl;
  log: (line: string) => void;
  /** Called once per task as its result arrives (any order); awaited before the next. */
  onResult: (key: string, result: unknown, ran: Ran) => void | Promise<void>;
  /** Work units done (finished tasks' weights plus running tasks' progress) out of the total. */
  onProgress?: (done: number, total: number) => void;
  order?: JobOrder;
  signal?: AbortSignal;
  /** Milliseconds between full state checks (events make most checks immediate). */
  pollMs?: number;
}

export interface CollectReport {
  added: number;
  /** Already finished on the queue when submitted: collected without any work. */
  reused: number;
  /** Already waiting or running (another submitter, an earlier run). */
  joined: number;
  /** Failed earlier and retried now. */
  retried: number;
}

/** A job that failed on every attempt. */
export class JobFailedError extends RramError {
  constructor(key: string, reason: string) {
    super('DATA', `point ${key} failed on the queue: ${reason}`, { key });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function submitAndCollect(tasks: QueueTask[], o: CollectOptions): Promise<CollectReport> {
  const connection = connectionOptions(o.url);
  const queue = new Queue(QUEUE_NAME, { connection });
  const events = new QueueEvents(QUEUE_NAME, { connection });
  let lastError = '';
  const onError = (e: Error) => void (lastError = e.message);
  queue.on('error', onError);
  events.on('error', onError);
  const byId = new Map<string, QueueTask>();
  for (const t of tasks) {
    const id = jobIdOf(t.job);
    if (byId.has(id)) throw new Error(`tasks ${byId.get(id)!.key} and ${t.key} have the same content`);
    byId.set(id, t);
  }
  const total = tasks.reduce((s, t) => s + t.weight, 0);
  const pending = new Set(byId.keys());
  const running = new Map<string, number>();
  const flagged = new Set<string>();
  let doneWeight = 0;
  let wake: (() => void) | undefined;
  const flag = (id: string) => {
    if (!pending.has(id)) return;
    flagged.add(id);
    wake?.();
  };
  const report = () => o.onProgress?.(doneWeight + [...running.values()].reduce((a, b) => a + b, 0), total);
  events.on('completed', ({ jobId }) => flag(jobId));
  events.on('failed', ({ jobId }) => flag(jobId));
  events.on('progress', ({ jobId, data }) => {
    const t = byId.get(jobId);
    const p = data as Partial<JobProgress>;
    if (!t || !pending.has(jobId) || typeof p?.done !== 'number' || typeof p.total !== 'number' || !(p.total > 0)) return;
    running.set(jobId, (t.weight * Math.min(p.done, p.total)) / p.total);
    report();
  });
  // A watchdog: Redis commands wait through an outage (they are retried on reconnect); say so meanwhile.
  let answered = Date.now();
  let warned = 0;
  const watchdog = setInterval(() => {
    const quiet = (Date.now() - answered) / 1000;
    if (quiet > 5 && Date.now() - warned > 10_000) {
      warned = Date.now();
      o.log(`queue: no answer from Redis at ${o.url.shown} for ${quiet.toFixed(0)} s${lastError ? ` (${lastError})` : ''}; waiting for it (points collected so far are kept: Ctrl-C and --resume later is safe)`);
    }
  }, 1000);
  watchdog.unref();
  const rep: CollectReport = { added: 0, reused: 0, joined: 0, retried: 0 };
  try {
    await events.waitUntilReady(); // listening before the first add: no completion is missed
    const ids = ordered([...byId.keys()], o.order ?? 'given');
    const states = await Promise.all(ids.map((id) => queue.getJobState(id)));
    const toAdd: string[] = [];
    for (const [i, id] of ids.entries()) {
      const s = states[i];
      if (s === 'unknown') toAdd.push(id);
      else if (s === 'completed') {
        rep.reused++;
        flagged.add(id);
      } else if (s === 'failed') {
        rep.retried++;
        await (await Job.fromId(queue, id))?.retry('failed');
      } else rep.joined++;
    }
    await add(queue, toAdd.map((id) => byId.get(id)!));
    rep.added = toAdd.length;
    o.log(`queue ${o.url.shown}: ${tasks.length} job(s): ${rep.added} added, ${rep.reused} already finished there (results reused), ${rep.joined} already queued, ${rep.retried} retried after an earlier failure`);
    answered = Date.now();
    let lastFull = Date.now();
    let lastWorkerCheck = 0;
    while (pending.size) {
      if (o.signal?.aborted) throw new AbortedError('study aborted: the points collected so far are kept (--resume)');
      if (!flagged.size) await Promise.race([new Promise<void>((r) => (wake = r)), sleep(200)]);
      wake = undefined;
      const full = Date.now() - lastFull >= (o.pollMs ?? 2000);
      const check = full ? [...pending] : [...flagged].filter((id) => pending.has(id));
      flagged.clear();
      if (full) lastFull = Date.now();
      const states = await Promise.all(check.map((id) => queue.getJobState(id)));
      answered = Date.now();
      for (const [i, id] of check.entries()) {
        const state = states[i];
        const t = byId.get(id)!;
        if (state === 'completed') {
          const job = await Job.fromId(queue, id);
          const ret = job?.returnvalue as JobReturn | undefined;
          if (!ret || typeof ret !== 'object' || !('result' in ret)) throw new JobFailedError(t.key, `its stored result is missing or not a result (job ${id})`);
          pending.delete(id);
          running.delete(id);
          doneWeight += t.weight;
          await o.onResult(t.key, ret.result, ret.ran);
          report();
        } else if (state === 'failed') {
          const job = await Job.fromId(queue, id);
          throw new JobFailedError(t.key, `${job?.failedReason ?? 'unknown reason'} (after ${job?.attemptsMade ?? '?'} attempt(s); job ${id})`);
        } else if (state === 'unknown') {
          o.log(`queue: the job of ${t.key} is gone from Redis (restarted without persistence?): added again`);
          running.delete(id);
          await add(queue, [t]);
        }
      }
      if (full && Date.now() - lastWorkerCheck > 30_000 && running.size === 0) {
        lastWorkerCheck = Date.now();
        if ((await queue.getWorkersCount()) === 0) o.log(`queue: no worker is serving ${QUEUE_NAME} at ${o.url.shown}: start one with rram worker --queue ${o.url.shown}`);
      }
    }
    return rep;
  } finally {
    clearInterval(watchdog);
    await Promise.allSettled([events.close(), queue.close()]);
  }
}

async function add(queue: Queue, tasks: QueueTask[]): Promise<void> {
  if (!tasks.length) return;
  await queue.addBulk(tasks.map((t) => ({ name: t.job.kind, data: t.job, opts: { ...JOB_OPTIONS, jobId: jobIdOf(t.job) } })));
}
