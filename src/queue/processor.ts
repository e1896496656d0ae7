/**
 * Turns a job function into BullMQ's sandboxed processor: progress throttled to a few events a
 * second, and the result wrapped with who ran it and for how long.
 */
import { UnrecoverableError, type SandboxedJob } from 'bullmq';
import { workerName } from './worker.js';
import type { JobReturn, QueuedJob } from './job.js';
import { checkQueuedJob } from './envelope.js';

export interface JobCallbacks {
  /** Units of the job's weight done so far. */
  onProgress: (done: number, total: number) => void;
}

/**
 * `check` refuses a job that makes no sense (its envelope is checked here): such a job fails at
 * once, without retries, since no worker could run it.
 */
export function sandboxedProcessor(run: (job: QueuedJob, cb: JobCallbacks) => Promise<unknown>, check: (job: QueuedJob) => void = () => undefined): (job: SandboxedJob) => Promise<JobReturn> {
  return async (job) => {
    let data: QueuedJob;
    try {
      data = checkQueuedJob(job.data, job.id);
      check(data);
    } catch (e) {
      throw new UnrecoverableError((e as Error).message);
    }
    const t0 = performance.now();
    let last = 0;
    const onProgress = (done: number, total: number) => {
      const now = performance.now();
      if (now - last < 300 && done < total) return;
      last = now;
      void job.updateProgress({ done, total }).catch(() => undefined); // progress is best effort
    };
    const result = await run(data, { onProgress });
    return { result, ran: { worker: workerName(), seconds: (performance.now() - t0) / 1000 } };
  };
}
