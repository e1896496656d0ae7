/**
 * Monte Carlo trials on the general tfjs path (conv nets, ADC, anything the fast kernel does not
 * take): per trial, draw every cell and run one batched forward pass. Trial k is seeded by
 * (seed, k) alone, so the result is the same whether one thread runs all trials or workers
 * split them.
 */
import type { CrossbarNet } from './crossbar-net.js';
import { CellSampler } from './device-models.js';
import { predictAll, type AdcConfig, type ForwardLayer, type LayerValues } from './forward-tf.js';
import { layerWeights, sampleLayer, stopped, type McLayer, type TrialSlice } from './mc-trials.js';
import type { Tf } from './tf-backend.js';

export interface TfTrialJob extends TrialSlice {
  net: CrossbarNet;
  layers: (McLayer & ForwardLayer)[];
  images: Float32Array;
  adc?: AdcConfig;
}

export interface TfTrialResult {
  first: number;
  /** Trials run from `first` (fewer than asked when stopped). */
  done: number;
  correct: Int32Array;
  confusion: Float64Array;
}

/** Runs the job's trials; `between` is awaited after each (progress, abort, yielding). */
export async function runTfTrials(tf: Tf, job: TfTrialJob, between: (done: number) => Promise<void> | void = () => {}): Promise<TfTrialResult> {
  const n = job.labels.length;
  const sampler = new CellSampler(job.device, job.seed);
  const gp = job.layers.map((l) => new Float32Array(l.pos.length));
  const gn = job.layers.map((l) => (l.neg ? new Float32Array(l.neg.length) : undefined));
  const correct = new Int32Array(job.count);
  const confusion = new Float64Array(100);
  let done = 0;
  for (let t = 0; t < job.count; t++) {
    if (stopped(job)) break;
    sampler.beginTrial(job.first + t);
    const values: LayerValues[] = job.layers.map((l, li) => {
      if (job.adc) {
        sampleLayer(sampler, l, gp[li], gn[li]);
        return { gp: gp[li], gn: gn[li] };
      }
      return { eff: layerWeights(sampler, l, gp[li], gn[li], new Float32Array(l.rows * l.cols)) };
    });
    const pred = predictAll(tf, job.net, job.layers, values, job.images, n, job.adc);
    let c = 0;
    for (let i = 0; i < n; i++) {
      if (pred[i] === job.labels[i]) c++;
      confusion[job.labels[i] * 10 + pred[i]]++;
    }
    correct[t] = c;
    done++;
    await between(t + 1);
  }
  return { first: job.first, done, correct, confusion };
}
