/**
 * Monte Carlo trials split over worker threads: worker w runs trials [first, first + count) of an
 * even split, reports progress per trial and posts its result; an abort terminates them all.
 * Trial k is seeded by (seed, k) alone, so the split never changes a result.
 */
import { Worker } from 'node:worker_threads';
import { AbortedError } from '../../drivers/errors.js';

export async function runOnWorkers<R>(script: URL, trials: number, workers: number, job: (first: number, count: number) => unknown, onTrial: () => void, signal?: AbortSignal): Promise<R[]> {
  if (signal?.aborted) throw new AbortedError('inference aborted');
  const running: Worker[] = [];
  const stop = () => running.forEach((w) => void w.terminate());
  signal?.addEventListener('abort', stop, { once: true });
  try {
    return await Promise.all(
      Array.from({ length: workers }, (_, w) => {
        const first = Math.floor((trials * w) / workers);
        const count = Math.floor((trials * (w + 1)) / workers) - first;
        return new Promise<R>((resolve, reject) => {
          const wk = new Worker(script, { workerData: job(first, count) });
          running.push(wk);
          wk.on('message', (m: { progress?: number; ok?: boolean; result?: R; error?: string }) => {
            if (m.progress) onTrial();
            else if (m.ok) resolve(m.result!);
            else reject(new Error(m.error));
          });
          wk.once('error', reject);
          wk.once('exit', (code) => (signal?.aborted ? reject(new AbortedError('inference aborted')) : code !== 0 && reject(new Error(`Monte Carlo worker exited with code ${code}`))));
        });
      }),
    );
  } finally {
    signal?.removeEventListener('abort', stop);
    stop();
  }
}
