/**
 * Where a study's points run: in this process (the default, no Redis needed) or on the BullMQ
 * queue (`--queue URL`, any number of `rram worker`s). Both hand back the same results: the
 * in-process one runs the very function a worker runs and passes its result through JSON as the
 * queue does, so a NaN or a typed array cannot make the two differ.
 */
import type { JobResources } from '../inference/job-resources.js';
import type { JobOrder, QueueTask, Ran } from '../queue/job.js';
import type { QueueUrl } from '../queue/redis-url.js';
import { runQueuedJob } from './point-jobs.js';
import { checkJobInput, checkJobResult } from './job-schemas.js';

export interface RunHooks {
  onResult: (key: string, result: unknown, ran: Ran) => void | Promise<void>;
  onProgress: (done: number, total: number) => void;
  log: (line: string) => void;
}

export interface Executor {
  /** "in process" or the queue's URL. */
  readonly where: string;
  run(tasks: QueueTask[], h: RunHooks): Promise<void>;
}

export const LOCAL = 'this process';

export function inProcess(env: { resources: JobResources; threads?: number; netsDir?: string }, concurrency = 1): Executor {
  return {
    where: 'in process',
    async run(tasks, h) {
      const total = tasks.reduce((s, t) => s + t.weight, 0);
      let done = 0;
      const running = new Map<string, number>();
      const report = () => h.onProgress(done + [...running.values()].reduce((a, b) => a + b, 0), total);
      let next = 0;
      // Up to `concurrency` tasks at once; results are handed over one at a time.
      let chain = Promise.resolve();
      const lane = async (): Promise<void> => {
        while (next < tasks.length) {
          const t = tasks[next++];
          const t0 = performance.now();
          checkJobInput(t.job.kind, t.job.key, t.job.content, t.job.where);
          const result = await runQueuedJob(t.job, { ...env, onProgress: (d, n) => (running.set(t.key, (t.weight * Math.min(d, n)) / n), report()) });
          const ran = { worker: LOCAL, seconds: (performance.now() - t0) / 1000 };
          running.delete(t.key);
          done += t.weight;
          chain = chain.then(() => checkedResult(t, JSON.parse(JSON.stringify(result)), ran, h));
          await chain;
          report();
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, tasks.length)) }, lane));
    },
  };
}

export function onQueue(url: QueueUrl, order?: JobOrder): Executor {
  return {
    where: `queue ${url.shown}`,
    async run(tasks, h) {
      if (!tasks.length) return; // a resumed study with every point in its folder: nothing to ask Redis
      const { submitAndCollect } = await import('../queue/submit.js'); // BullMQ loads only when a queue is used
      const byKey = new Map(tasks.map((t) => [t.key, t]));
      await submitAndCollect(tasks, { url, order, log: h.log, onResult: (key, result, ran) => checkedResult(byKey.get(key)!, result, ran, h), onProgress: h.onProgress });
    },
  };
}

/** Every result is checked against its kind's schema before the study stores or uses it, wherever it ran. */
function checkedResult(t: QueueTask, result: unknown, ran: Ran, h: RunHooks): void | Promise<void> {
  checkJobResult(t.job.kind, t.key, result);
  return h.onResult(t.key, result, ran);
}
