/** Worker-thread entry: run one range of Monte Carlo trials and post the result back. */
import { parentPort, workerData } from 'node:worker_threads';
import { runTrials, type TrialJob } from './mc-trials.js';

try {
  const r = runTrials(workerData as TrialJob);
  parentPort!.postMessage({ ok: true, result: r }, [r.correct.buffer as ArrayBuffer, r.confusion.buffer as ArrayBuffer]);
} catch (e) {
  parentPort!.postMessage({ ok: false, error: (e as Error).message });
}
