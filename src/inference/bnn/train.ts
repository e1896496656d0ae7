/**
 * Training a binary / low-precision MLP (BinaryNet, Courbariaux et al. 2016; seed 003): latent
 * real weights quantized to their grid in the forward pass, the gradient passed straight through
 * where the latent weight lies within the grid (straight-through estimator), activations
 * quantized likewise with a hard-tanh window, batch norm after every layer (batch statistics while
 * training, running averages after). Adam; latent weights clipped to the grid after each step.
 * Plain tensors and our own loop: tfjs layers have no STE, and the result is our own file.
 */
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { Rng } from '../../../lib/rng.js';
import type { Dataset, Split } from '../datasets.js';
import type { Tf } from '../tf-backend.js';
import { cropBinarize, synapseBits, weightGrid, type BnnSpec } from './spec.js';
import { bnnAccuracy, type BnnModel } from './model.js';

export interface BnnTrainOptions {
  spec: BnnSpec;
  epochs: number;
  seed: number;
  learningRate: number;
  batchSize: number;
  out?: string;
  onEpoch?: (epoch: number, loss: number, testAcc: number) => void;
  /**
   * Hardware-aware training (issue 27): per batch, what the crossbar makes of each layer's grid
   * weights minus those weights ((fanIn + 1) x units with a zero bias row, as the crossbar holds
   * them), added in the forward pass with the gradient passed straight through.
   */
  perturb?: (layer: number, grid: Float32Array, fanIn: number, units: number) => Float32Array;
}

export interface BnnTrainReport {
  format: 'rram-hil/train-report';
  arch: string;
  crop: number;
  weightBits: number;
  actBits: number;
  bn: boolean;
  dataset: string;
  epochs: number;
  seed: number;
  optimizer: { kind: 'adam'; learningRate: number; batchSize: number };
  synapseBits: number;
  trainAccuracy: number;
  testAccuracy: number;
  tfBackend: string;
  elapsed_s: number;
  created: string;
}

const EPS = 1e-4;
const MOMENTUM = 0.9;

/** The net's tensors: latent weights, batch-norm scale and shift, running statistics. */
interface BnnVars {
  W: TF.Variable[];
  gamma: TF.Variable[];
  beta: TF.Variable[];
  runMean: TF.Variable[];
  runVar: TF.Variable[];
  /** The latent weights' scale: a B-bit grid is k = 2^(B-1) steps of its half range. */
  k: number;
  onGrid: (w: TF.Tensor) => TF.Tensor;
  quantA: (z: TF.Tensor) => TF.Tensor;
}

function initVars(tf: Tf, s: BnnSpec, rng: Rng): BnnVars {
  const L = s.sizes.length - 1;
  const init = (n: number, scale: number) => Float32Array.from({ length: n }, () => (rng.uniform() * 2 - 1) * scale);
  // Latent weights in units of the grid's half range (k): a B-bit grid {-2^(B-1)..2^(B-1)-1} is
  // k = 2^(B-1) steps wide, and Adam moves a latent weight by about the learning rate per step
  // whatever its gradient's size, so without this an 8-bit weight would need 100x the steps of a
  // 2-bit one to cross its grid (the grid is the same fixed point [-1, 1) in steps of 1/k).
  const k = s.weightBits === 1 ? 1 : 2 ** (s.weightBits - 1);
  const W = Array.from({ length: L }, (_, l) => tf.variable(tf.tensor2d(init(s.sizes[l] * s.sizes[l + 1], s.weightBits === 1 ? 1 : 0.5), [s.sizes[l], s.sizes[l + 1]]), true, `w${l}`));
  const { quantW, quantA } = steOps(tf, s.weightBits, s.actBits);
  return {
    W,
    gamma: Array.from({ length: L }, (_, l) => tf.variable(tf.ones([s.sizes[l + 1]]), s.bn, `g${l}`)),
    beta: Array.from({ length: L }, (_, l) => tf.variable(tf.zeros([s.sizes[l + 1]]), true, `b${l}`)),
    runMean: Array.from({ length: L }, (_, l) => tf.variable(tf.zeros([s.sizes[l + 1]]), false, `m${l}`)),
    runVar: Array.from({ length: L }, (_, l) => tf.variable(tf.ones([s.sizes[l + 1]]), false, `v${l}`)),
    k,
    onGrid: (w: TF.Tensor) => quantW(k === 1 ? w : w.mul(k)),
    quantA,
  };
}

/** The forward pass; `delta` adds this batch's hardware offsets to the grid weights while training. */
function forwardPass(tf: Tf, s: BnnSpec, v: BnnVars, x: TF.Tensor, training: boolean, delta: (TF.Tensor | undefined)[] = []): TF.Tensor {
  const L = s.sizes.length - 1;
  let a = x;
  for (let l = 0; l < L; l++) {
    const y = a.matMul(training && delta[l] ? v.onGrid(v.W[l]).add(delta[l]!) : v.onGrid(v.W[l]));
    let z: TF.Tensor;
    if (s.bn) {
      let mean: TF.Tensor;
      let variance: TF.Tensor;
      if (training) {
        const m = tf.moments(y, 0);
        mean = m.mean;
        variance = m.variance;
        // Running statistics for inference (an assignment: no gradient flows through it).
        v.runMean[l].assign(v.runMean[l].mul(MOMENTUM).add(mean.mul(1 - MOMENTUM)));
        v.runVar[l].assign(v.runVar[l].mul(MOMENTUM).add(variance.mul(1 - MOMENTUM)));
      } else {
        mean = v.runMean[l];
        variance = v.runVar[l];
      }
      z = y.sub(mean).div(variance.add(EPS).sqrt()).mul(v.gamma[l]).add(v.beta[l]);
    } else z = y; // no batch norm and no bias, as BinaryNet without its BN layers (Table 4's "w/o BN")
    a = l < L - 1 ? v.quantA(z) : z;
  }
  return a;
}

/** A layer's weights on their grid, as plain numbers. */
function quantized(tf: Tf, v: BnnVars, w: TF.Variable): number[] {
  const t = tf.tidy(() => v.onGrid(w));
  const d = Array.from(t.dataSync() as Float32Array);
  t.dispose();
  return d;
}

/** The trained net as plain numbers: quantized weights and the inference-time batch norm. */
function snapshot(tf: Tf, s: BnnSpec, v: BnnVars): BnnModel {
  return {
    format: 'rram-hil/bnn',
    version: 1,
    spec: s,
    layers: v.W.map((w, l) => ({
      fanIn: s.sizes[l],
      units: s.sizes[l + 1],
      W: quantized(tf, v, w),
      bn: s.bn ? { gamma: Array.from(v.gamma[l].dataSync()), beta: Array.from(v.beta[l].dataSync()), mean: Array.from(v.runMean[l].dataSync()), variance: Array.from(v.runVar[l].dataSync()), eps: EPS } : { gamma: new Array(s.sizes[l + 1]).fill(1), beta: new Array(s.sizes[l + 1]).fill(0), mean: new Array(s.sizes[l + 1]).fill(0), variance: new Array(s.sizes[l + 1]).fill(1 - EPS), eps: EPS },
    })),
  };
}

/** One epoch of Adam over shuffled batches (the hardware offsets drawn per batch); its mean loss. */
async function trainEpoch(tf: Tf, s: BnnSpec, v: BnnVars, ds: Dataset, trainX: Float32Array, order: number[], opt: TF.Optimizer, o: BnnTrainOptions): Promise<number> {
  const g = weightGrid(s.weightBits);
  const bs = o.batchSize;
  const dim = s.sizes[0];
  const xb = new Float32Array(bs * dim);
  const yb = new Float32Array(bs * 10);
  const trainable = [...v.W, ...(s.bn ? [...v.beta, ...v.gamma] : [])];
  let lossSum = 0;
  let batches = 0;
  for (let b = 0; b + bs <= ds.train.n; b += bs) {
    yb.fill(0);
    for (let i = 0; i < bs; i++) {
      const src = order[b + i];
      xb.set(trainX.subarray(src * dim, (src + 1) * dim), i * dim);
      yb[i * 10 + ds.train.labels[src]] = 1;
    }
    const delta = o.perturb
      ? v.W.map((w, l) => {
          const grid = new Float32Array((s.sizes[l] + 1) * s.sizes[l + 1]);
          grid.set(quantized(tf, v, w));
          return tf.tensor2d(o.perturb!(l, grid, s.sizes[l], s.sizes[l + 1]).subarray(0, s.sizes[l] * s.sizes[l + 1]), [s.sizes[l], s.sizes[l + 1]]);
        })
      : [];
    const loss = tf.tidy(() => {
      const x = tf.tensor2d(xb, [bs, dim]);
      const y = tf.tensor2d(yb, [bs, 10]);
      return opt.minimize(() => tf.losses.softmaxCrossEntropy(y, forwardPass(tf, s, v, x, true, delta)) as TF.Scalar, true, trainable) as TF.Scalar;
    });
    lossSum += (await loss.data())[0];
    loss.dispose();
    tf.dispose(delta);
    batches++;
    // Latent weights stay within the grid (beyond it the estimator passes no gradient back).
    tf.tidy(() => v.W.forEach((w) => w.assign(tf.clipByValue(w, (g.min - 0.5) / v.k, (g.max + 0.5) / v.k))));
  }
  return lossSum / Math.max(1, batches);
}

export async function trainBnn(tf: Tf, backend: string, ds: Dataset, o: BnnTrainOptions): Promise<{ model: BnnModel; report: BnnTrainReport }> {
  if (ds.train.rows !== 28 || ds.train.cols !== 28 || ds.train.channels !== 1) throw new InvalidArgumentError('dataset', ds.name, 'binary nets (seed 003) take 28x28 grey images (mnist, fashion) and crop them');
  const t0 = performance.now();
  const s = o.spec;
  const rng = new Rng(o.seed);
  const v = initVars(tf, s, rng);
  const trainX = cropBinarize(ds.train.images, ds.train.n, s.crop);
  let opt = tf.train.adam(o.learningRate);
  const order = Array.from({ length: ds.train.n }, (_, i) => i);
  let model = snapshot(tf, s, v);
  for (let e = 0; e < o.epochs; e++) {
    rng.shuffle(order);
    // Halve the learning rate each epoch over the second half of training (BinaryNet decays it);
    // a new Adam each time (its rate is fixed at construction).
    if (e >= Math.ceil(o.epochs / 2)) {
      opt.dispose();
      opt = tf.train.adam(o.learningRate * 0.5 ** (e - Math.ceil(o.epochs / 2) + 1));
    }
    const loss = await trainEpoch(tf, s, v, ds, trainX, order, opt, o);
    model = snapshot(tf, s, v);
    o.onEpoch?.(e + 1, loss, bnnAccuracy(model, ds.test));
  }
  const report: BnnTrainReport = {
    format: 'rram-hil/train-report',
    arch: s.text,
    crop: s.crop,
    weightBits: s.weightBits,
    actBits: s.actBits,
    bn: s.bn,
    dataset: ds.name,
    epochs: o.epochs,
    seed: o.seed,
    optimizer: { kind: 'adam', learningRate: o.learningRate, batchSize: o.batchSize },
    synapseBits: synapseBits(s),
    trainAccuracy: bnnAccuracy(model, ds.train),
    testAccuracy: bnnAccuracy(model, ds.test),
    tfBackend: backend,
    elapsed_s: (performance.now() - t0) / 1000,
    created: new Date().toISOString(),
  };
  if (o.out) {
    mkdirSync(o.out, { recursive: true });
    writeFileSync(join(o.out, 'bnn.json'), JSON.stringify(model));
    writeFileSync(join(o.out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  }
  tf.dispose([...v.W, ...v.gamma, ...v.beta, ...v.runMean, ...v.runVar]);
  opt.dispose();
  return { model, report };
}

/**
 * The straight-through estimators: weights onto their grid (sign, or round and clip) with the
 * gradient passed where the latent weight lies within half a step of the grid; activations onto
 * theirs ({0,1}: z >= 0) with a hard-tanh window (|z| <= 1), scaled by the grid's slope.
 */
export function steOps(tf: Tf, weightBits: number, actBits: number): { quantW: (w: TF.Tensor) => TF.Tensor; quantA: (z: TF.Tensor) => TF.Tensor } {
  const g = weightGrid(weightBits);
  const quantW = tf.customGrad(((w: TF.Tensor, save: TF.GradSaveFunc) => {
    save([w]);
    const q = weightBits === 1 ? tf.where(tf.greaterEqual(w, 0), tf.onesLike(w), tf.onesLike(w).neg()) : tf.clipByValue(tf.round(w), g.min, g.max);
    return { value: q, gradFunc: (dy: TF.Tensor, [x]: TF.Tensor[]) => dy.mul(tf.logicalAnd(tf.greaterEqual(x, g.min - 0.5), tf.lessEqual(x, g.max + 0.5)).cast('float32')) };
  }) as unknown as Parameters<Tf['customGrad']>[0]) as unknown as (w: TF.Tensor) => TF.Tensor;
  const top = 2 ** actBits - 1;
  const quantA = tf.customGrad(((z: TF.Tensor, save: TF.GradSaveFunc) => {
    save([z]);
    const q = actBits === 1 ? tf.greaterEqual(z, 0).cast('float32') : tf.clipByValue(tf.floor(z.add(1).div(2).mul(top).add(0.5)), 0, top);
    return { value: q, gradFunc: (dy: TF.Tensor, [x]: TF.Tensor[]) => dy.mul(tf.lessEqual(tf.abs(x), 1).cast('float32')).mul(top / 2) };
  }) as unknown as Parameters<Tf['customGrad']>[0]) as unknown as (z: TF.Tensor) => TF.Tensor;
  return { quantW, quantA };
}
