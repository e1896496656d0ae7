/** Worker-thread entry: run one range of Monte Carlo trials (dense or conv kernel) and post the result back. */
import { parentPort, workerData } from 'node:worker_threads';
import { runCnnTrials, type CnnTrialJob } from './mc-cnn-trials.js';
import { runTrials, type TrialJob } from './mc-trials.js';

try {
  const job = workerData as TrialJob | CnnTrialJob;
  const r = 'kind' in job && job.kind === 'cnn' ? runCnnTrials(job, () => parentPort!.postMessage({ progress: 1 })) : runTrials(job as TrialJob, (n) => parentPort!.postMessage({ progress: n }));
  parentPort!.postMessage({ ok: true, result: r }, [r.correct.buffer as ArrayBuffer, r.confusion.buffer as ArrayBuffer]);
} catch (e) {
  parentPort!.postMessage({ ok: false, error: (e as Error).message });
}
