/**
 * Worker-thread entry: train one net of a study with its own tfjs backend (wasm runs one thread per
 * backend, so nets train side by side on the cores). Posts the training report, or the error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { parseArch } from '../inference/arch-spec.js';
import { loadDataset, parseDatasetName } from '../inference/datasets.js';
import { initTf, tf } from '../inference/tf-backend.js';
import { train } from '../inference/train.js';

export interface TrainJob {
  dataset: string;
  data?: string;
  arch: string;
  epochs: number;
  seed: number;
  learningRate: number;
  batchSize: number;
  out: string;
}

try {
  const j = workerData as TrainJob;
  const backend = await initTf();
  const ds = loadDataset(parseDatasetName(j.dataset), j.data);
  const report = await train(tf, backend, ds, { arch: parseArch(j.arch), epochs: j.epochs, seed: j.seed, learningRate: j.learningRate, momentum: 0.9, batchSize: j.batchSize, out: j.out });
  parentPort!.postMessage({ ok: true, report });
} catch (e) {
  // The error's family crosses the thread boundary, so the CLI reports it as it would in process.
  parentPort!.postMessage({ ok: false, error: (e as Error).message, code: (e as { code?: string }).code });
}
