/** Worker-thread entry for the tfjs path: its own wasm backend, one range of trials, progress per trial. */
import { parentPort, workerData } from 'node:worker_threads';
import { initTf, tf } from './tf-backend.js';
import { runTfTrials, type TfTrialJob } from './mc-tf-trials.js';

try {
  await initTf();
  const r = await runTfTrials(tf, workerData as TfTrialJob, () => parentPort!.postMessage({ progress: 1 }));
  parentPort!.postMessage({ ok: true, result: r }, [r.correct.buffer as ArrayBuffer, r.confusion.buffer as ArrayBuffer]);
} catch (e) {
  parentPort!.postMessage({ ok: false, error: (e as Error).message });
}
