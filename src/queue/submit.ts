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
import { checkJobReturn, progressOf } from './envelope.js';
import type { QueueUrl } from './redis-url.js';
import { JOB_OPTIONS, QUEUE_NAME, jobIdOf, ordered, type JobOrder, type JobProgress, type QueueTask, type Ran } from './job.js';

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
  const c = new Collection(tasks, o);
  try {
    const rep = await c.submit();
    await c.collect();
    return rep;
  } finally {
    await c.close();
  }
}

/** One submission's state: the tasks by job id, those still pending, the running ones' progress. */
class Collection {
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly byId = new Map<string, QueueTask>();
  private readonly pending: Set<string>;
  private readonly running = new Map<string, number>();
  private readonly flagged = new Set<string>();
  private readonly total: number;
  private doneWeight = 0;
  private wake?: () => void;
  private lastError = '';
  /** When Redis last answered: a watchdog says so when it has been quiet for a while. */
  private answered = Date.now();
  private readonly watchdog: NodeJS.Timeout;

  constructor(
    tasks: QueueTask[],
    private readonly o: CollectOptions,
  ) {
    for (const t of tasks) {
      const id = jobIdOf(t.job);
      if (this.byId.has(id)) throw new Error(`tasks ${this.byId.get(id)!.key} and ${t.key} have the same content`);
      this.byId.set(id, t);
    }
    const connection = connectionOptions(o.url);
    this.queue = new Queue(QUEUE_NAME, { connection });
    this.events = new QueueEvents(QUEUE_NAME, { connection });
    const onError = (e: Error) => void (this.lastError = e.message);
    this.queue.on('error', onError);
    this.events.on('error', onError);
    this.total = tasks.reduce((s, t) => s + t.weight, 0);
    this.pending = new Set(this.byId.keys());
    this.events.on('completed', ({ jobId }) => this.flag(jobId));
    this.events.on('failed', ({ jobId }) => this.flag(jobId));
    this.events.on('progress', ({ jobId, data }) => this.progress(jobId, progressOf(data)));
    let warned = 0;
    this.watchdog = setInterval(() => {
      const quiet = (Date.now() - this.answered) / 1000;
      if (quiet > 5 && Date.now() - warned > 10_000) {
        warned = Date.now();
        o.log(`queue: no answer from Redis at ${o.url.shown} for ${quiet.toFixed(0)} s${this.lastError ? ` (${this.lastError})` : ''}; waiting for it (points collected so far are kept: Ctrl-C and --resume later is safe)`);
      }
    }, 1000);
    this.watchdog.unref();
  }

  private flag(id: string): void {
    if (!this.pending.has(id)) return;
    this.flagged.add(id);
    this.wake?.();
  }

  private progress(id: string, p: JobProgress | undefined): void {
    const t = this.byId.get(id);
    if (!t || !p || !this.pending.has(id)) return;
    this.running.set(id, (t.weight * Math.min(p.done, p.total)) / p.total);
    this.report();
  }

  private report(): void {
    this.o.onProgress?.(this.doneWeight + [...this.running.values()].reduce((a, b) => a + b, 0), this.total);
  }

  /** Adds what Redis does not have; finished jobs are collected, failed ones retried, queued ones joined. */
  async submit(): Promise<CollectReport> {
    await this.events.waitUntilReady(); // listening before the first add: no completion is missed
    const rep: CollectReport = { added: 0, reused: 0, joined: 0, retried: 0 };
    const ids = ordered([...this.byId.keys()], this.o.order ?? 'given');
    const states = await Promise.all(ids.map((id) => this.queue.getJobState(id)));
    const toAdd: QueueTask[] = [];
    for (const [i, id] of ids.entries()) {
      const s = states[i];
      if (s === 'unknown') toAdd.push(this.byId.get(id)!);
      else if (s === 'completed') {
        rep.reused++;
        this.flagged.add(id);
      } else if (s === 'failed') {
        rep.retried++;
        await (await Job.fromId(this.queue, id))?.retry('failed');
      } else rep.joined++;
    }
    await add(this.queue, toAdd);
    rep.added = toAdd.length;
    this.answered = Date.now();
    this.o.log(`queue ${this.o.url.shown}: ${this.byId.size} job(s): ${rep.added} added, ${rep.reused} already finished there (results reused), ${rep.joined} already queued, ${rep.retried} retried after an earlier failure`);
    return rep;
  }

  /** Until every task's result is in: jobs flagged by events at once, all pending ones every pollMs. */
  async collect(): Promise<void> {
    let lastFull = Date.now();
    let lastWorkerCheck = Date.now();
    while (this.pending.size) {
      if (this.o.signal?.aborted) throw new AbortedError('study aborted: the points collected so far are kept (--resume)');
      if (!this.flagged.size) await Promise.race([new Promise<void>((r) => (this.wake = r)), sleep(200)]);
      this.wake = undefined;
      const full = Date.now() - lastFull >= (this.o.pollMs ?? 2000);
      const check = full ? [...this.pending] : [...this.flagged].filter((id) => this.pending.has(id));
      this.flagged.clear();
      if (full) lastFull = Date.now();
      await this.settle(check);
      if (full && Date.now() - lastWorkerCheck > 30_000 && this.running.size === 0) {
        lastWorkerCheck = Date.now();
        if ((await this.queue.getWorkersCount()) === 0) this.o.log(`queue: no worker is serving ${QUEUE_NAME} at ${this.o.url.shown}: start one with rram worker --queue ${this.o.url.shown}`);
      }
    }
  }

  private async settle(ids: string[]): Promise<void> {
    const states = await Promise.all(ids.map((id) => this.queue.getJobState(id)));
    this.answered = Date.now();
    for (const [i, id] of ids.entries()) {
      const t = this.byId.get(id)!;
      if (states[i] === 'completed') {
        const job = await Job.fromId(this.queue, id);
        const ret = checkJobReturn(job?.returnvalue, t.key, id);
        this.pending.delete(id);
        this.running.delete(id);
        this.doneWeight += t.weight;
        await this.o.onResult(t.key, ret.result, ret.ran);
        this.report();
      } else if (states[i] === 'failed') {
        const job = await Job.fromId(this.queue, id);
        throw new JobFailedError(t.key, `${job?.failedReason ?? 'unknown reason'} (after ${job?.attemptsMade ?? '?'} attempt(s); job ${id})`);
      } else if (states[i] === 'unknown') {
        this.o.log(`queue: the job of ${t.key} is gone from Redis (restarted without persistence?): added again`);
        this.running.delete(id);
        await add(this.queue, [t]);
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.watchdog);
    await Promise.allSettled([this.events.close(), this.queue.close()]);
  }
}

async function add(queue: Queue, tasks: QueueTask[]): Promise<void> {
  if (!tasks.length) return;
  await queue.addBulk(tasks.map((t) => ({ name: t.job.kind, data: t.job, opts: { ...JOB_OPTIONS, jobId: jobIdOf(t.job) } })));
}
