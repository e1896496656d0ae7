/**
 * Monte Carlo trials of a conv net on the conv kernel: per trial, draw every cell, turn the cells
 * into effective weights and run all images. Trial k is seeded by (seed, k) alone (as every path),
 * so the result does not depend on how trials are split over workers.
 */
import { loadCnnKernel, type CnnStage } from './cnn-kernel.js';
import { CellSampler } from './device-models.js';
import type { KernelChoice } from './mc-kernel.js';
import { layerWeights, stopped, type McLayer, type TrialResult, type TrialSlice } from './mc-trials.js';

export interface CnnTrialJob extends TrialSlice {
  kind: 'cnn';
  layers: McLayer[];
  stages: Omit<CnnStage, 'w'>[];
  input: [number, number, number];
  images: Float32Array;
  kernel: KernelChoice;
}

export function runCnnTrials(job: CnnTrialJob, onTrial?: () => void): TrialResult {
  const kernel = loadCnnKernel(job.kernel);
  const n = job.labels.length;
  const sampler = new CellSampler(job.device, job.seed);
  const gp = job.layers.map((l) => new Float32Array(l.pos.length));
  const gn = job.layers.map((l) => (l.neg ? new Float32Array(l.neg.length) : undefined));
  const eff = job.layers.map((l) => new Float32Array(l.rows * l.cols));
  const out = new Uint8Array(n);
  const correct = new Int32Array(job.count);
  const confusion = new Float64Array(100);
  const [H, W, C] = job.input;
  let done = 0;
  for (let t = 0; t < job.count; t++) {
    if (stopped(job)) break;
    sampler.beginTrial(job.first + t);
    const stages: CnnStage[] = job.stages.map((s, li) => ({ ...s, w: layerWeights(sampler, job.layers[li], gp[li], gn[li], eff[li]) }));
    kernel.forwardCnn(job.images, n, H, W, C, stages, out);
    let c = 0;
    for (let i = 0; i < n; i++) {
      const y = job.labels[i];
      if (out[i] === y) c++;
      confusion[y * 10 + out[i]]++;
    }
    correct[t] = c;
    done++;
    onTrial?.();
  }
  return { first: job.first, done, correct, confusion, kernel: kernel.name };
}
