/**
 * Monte Carlo trials split over worker threads: worker w runs trials [first, first + count) of an
 * even split, reports progress (trials finished) and posts its result. An abort sets a shared stop
 * flag: every worker ends after its current trial and posts what it did, so an aborted run keeps
 * the trials done (a worker that does not answer within 30 s is terminated). Trial k is seeded by
 * (seed, k) alone, so the split never changes a result.
 */
import { Worker } from 'node:worker_threads';
import { AbortedError } from '../../drivers/errors.js';

/** A stop flag the trial runners read (shared with every worker). */
export const newStopFlag = (): Int32Array => new Int32Array(new SharedArrayBuffer(4));

export async function runOnWorkers<R>(
  script: URL,
  trials: number,
  workers: number,
  job: (first: number, count: number, stop: Int32Array) => unknown,
  onTrials: (n: number) => void,
  signal?: AbortSignal,
): Promise<R[]> {
  if (signal?.aborted) throw new AbortedError('inference aborted');
  const stop = newStopFlag();
  const running: Worker[] = [];
  let watchdog: NodeJS.Timeout | undefined;
  const onAbort = () => {
    Atomics.store(stop, 0, 1);
    watchdog = setTimeout(() => running.forEach((w) => void w.terminate()), 30000);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await Promise.all(
      Array.from({ length: workers }, (_, w) => {
        const first = Math.floor((trials * w) / workers);
        const count = Math.floor((trials * (w + 1)) / workers) - first;
        return new Promise<R>((resolve, reject) => {
          const wk = new Worker(script, { workerData: job(first, count, stop) });
          running.push(wk);
          wk.on('message', (m: { progress?: number; ok?: boolean; result?: R; error?: string }) => {
            if (m.progress) onTrials(m.progress);
            else if (m.ok) resolve(m.result!);
            else reject(new Error(m.error));
          });
          wk.once('error', reject);
          wk.once('exit', (code) => (signal?.aborted ? reject(new AbortedError('inference aborted')) : code !== 0 && reject(new Error(`Monte Carlo worker exited with code ${code}`))));
        });
      }),
    );
  } finally {
    signal?.removeEventListener('abort', onAbort);
    clearTimeout(watchdog);
    running.forEach((w) => void w.terminate());
  }
}

/**
 * The same in this thread, `chunk` trials per call with a yield between them: progress and abort
 * reach a hosting server (a dashboard job) while the trials run.
 */
export async function runInChunks<R>(trials: number, chunk: number, run: (first: number, count: number) => R, onTrials: (n: number) => void, signal?: AbortSignal): Promise<R[]> {
  const out: R[] = [];
  for (let first = 0; first < trials; first += chunk) {
    if (signal?.aborted) break;
    const count = Math.min(chunk, trials - first);
    out.push(run(first, count));
    onTrials(count);
    await new Promise((r) => setImmediate(r));
  }
  return out;
}
