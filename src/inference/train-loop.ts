/**
 * The mini-batch loop hardware-aware training and fine-tuning share: seeded shuffles (our Rng, as
 * `rram train`), softmax cross-entropy on the logits, and with a NoiseInjector every batch's
 * forward pass on freshly drawn hardware weights (each trained layer quantized to its levels and
 * its cells drawn from the device model; the gradient straight through to the weights).
 */
import type * as TF from '@tensorflow/tfjs';
import { AbortedError } from '../../drivers/errors.js';
import { Rng } from '../../lib/rng.js';
import type { NoiseInjector } from './hw-noise.js';
import type { TrainableNet } from './trainable-net.js';
import type { Tf } from './tf-backend.js';

export interface LoopData {
  /** Inputs of weight layer `start`, n x (per-item shape), row-major. */
  x: Float32Array;
  shape: number[];
  labels: Uint8Array;
  n: number;
}

export interface LoopOptions {
  epochs: number;
  batchSize: number;
  seed: number;
  optimizer: TF.Optimizer;
  /** Weight layer the data feeds (default the net's first trained layer). */
  start?: number;
  noise?: NoiseInjector;
  /** Share of the batches run on hardware weights (the others on the float weights); default 1. */
  noiseShare?: number;
  /**
   * Gradients scaled down to this global norm (default: 1 with noise, none without). A cell
   * stuck at a level puts a full-scale error on its weight, the scale grows with the largest
   * weight, and without a bound an SGD step on such a batch could feed that back (seen: NaN).
   */
  clipNorm?: number;
  onEpoch?: (epoch: number, loss: number) => void;
  signal?: AbortSignal;
}

/** Trains `tn` in place; returns the mean loss of each epoch. */
export async function trainLoop(tf: Tf, tn: TrainableNet, d: LoopData, o: LoopOptions): Promise<number[]> {
  const start = o.start ?? tn.o.from;
  const per = d.shape.reduce((a, b) => a * b, 1);
  const rng = new Rng(o.seed);
  const noiseRng = new Rng(o.seed ^ 0x4e015e);
  const order = Array.from({ length: d.n }, (_, i) => i);
  const losses: number[] = [];
  const vars = tn.trainable();
  for (let e = 0; e < o.epochs; e++) {
    rng.shuffle(order);
    let sum = 0;
    let batches = 0;
    for (let b = 0; b < d.n; b += o.batchSize) {
      if (o.signal?.aborted) throw new AbortedError('training aborted');
      const m = Math.min(o.batchSize, d.n - b);
      const xb = new Float32Array(m * per);
      const yb = new Float32Array(m * 10);
      for (let i = 0; i < m; i++) {
        const src = order[b + i];
        xb.set(d.x.subarray(src * per, (src + 1) * per), i * per);
        yb[i * 10 + d.labels[src]] = 1;
      }
      const delta: (Float32Array | undefined)[] = [];
      // A seeded share of the batches on hardware weights, the others on the float weights.
      const noise = o.noise && (o.noiseShare === undefined || o.noiseShare >= 1 || noiseRng.uniform() < o.noiseShare) ? o.noise : undefined;
      if (noise) {
        noise.next();
        for (let li = start; li < tn.ops.length; li++) delta[li] = noise.delta(tn.layer(li));
      }
      const clip = o.clipNorm ?? (noise ? 1 : undefined);
      const loss = tf.tidy(() => {
        const x = tf.tensor(xb, [m, ...d.shape]);
        const y = tf.tensor2d(yb, [m, 10]);
        const f = () => tf.losses.softmaxCrossEntropy(y, tn.forward(x, start, delta)) as TF.Scalar;
        if (clip === undefined) return o.optimizer.minimize(f, true, vars) as TF.Scalar;
        const { value, grads } = tf.variableGrads(f, vars);
        const norm = Math.sqrt(Object.values(grads).reduce((s, g) => s + tf.sum(tf.square(g)).dataSync()[0], 0));
        const k = norm > clip ? clip / norm : 1;
        o.optimizer.applyGradients(Object.fromEntries(Object.entries(grads).map(([n, g]) => [n, k === 1 ? g : tf.mul(g, k)])));
        return value;
      });
      sum += loss.dataSync()[0];
      loss.dispose();
      batches++;
    }
    losses.push(sum / Math.max(1, batches));
    o.onEpoch?.(e + 1, losses[e]);
    await new Promise((r) => setImmediate(r)); // a hosting server breathes between epochs
  }
  return losses;
}

/**
 * Share of items whose logits' argmax is the label (batched). With `noise`, the trained layers are
 * taken quantized to their levels (noise-free): the accuracy the net keeps on the hardware's grid.
 */
export function accuracyOf(tf: Tf, tn: TrainableNet, d: LoopData, start = tn.o.from, noise?: NoiseInjector, batch = 2000): number {
  const per = d.shape.reduce((a, b) => a * b, 1);
  const delta: (Float32Array | undefined)[] = [];
  if (noise) for (let li = start; li < tn.ops.length; li++) delta[li] = noise.quantizedDelta(tn.layer(li));
  let c = 0;
  for (let s = 0; s < d.n; s += batch) {
    const m = Math.min(batch, d.n - s);
    const p = tf.tidy(() => tf.argMax(tn.forward(tf.tensor(d.x.subarray(s * per, (s + m) * per), [m, ...d.shape]), start, delta), -1).dataSync());
    for (let i = 0; i < m; i++) if (p[i] === d.labels[s + i]) c++;
  }
  return c / d.n;
}
