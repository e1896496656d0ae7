/**
 * `rram train --hw-aware DEVICE` (issue 27): the same net, seed, shuffles, optimizer and epochs as
 * `rram train`, but every batch's forward pass runs on hardware weights: each layer quantized to
 * the levels it will be mapped to and every cell drawn from the device model (the measured level
 * distributions, stuck / unformable shares, read noise; hw-noise.ts), the gradient straight
 * through to the real weights. A share of the batches (default half) runs on the float weights:
 * with every batch on hardware weights dense:32,32 at 4 levels lost 1.6 points of float accuracy
 * (docs/benchmarks.md has both). Then the plain and the hardware-aware net side by side: float,
 * quantized (noise-free) and Monte Carlo accuracy from the same device model.
 */
import type * as TF from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { buildModel, inputShape } from './arch-spec.js';
import { toCrossbarNet, type CrossbarNet } from './crossbar-net.js';
import type { Dataset, Split } from './datasets.js';
import { NoiseInjector, type HwNoiseSpec } from './hw-noise.js';
import { monteCarlo, type AccuracySummary } from './monte-carlo.js';
import type { Tf } from './tf-backend.js';
import { saveTrained, validateTrain, type TrainOptions, type TrainReport } from './train.js';
import { TrainableNet } from './trainable-net.js';
import { trainLoop } from './train-loop.js';

/** What a hardware-aware net was trained for: program-net refuses a level CDF with fewer levels. */
export interface HwAwareInfo {
  device: string;
  levels: number;
  mapping: HwNoiseSpec['scheme'];
  clip: number;
  /** Share of the batches run on hardware weights (the others on the float weights). */
  share: number;
}

/** One net's accuracies under the device model. */
export interface HwAccuracy {
  float: number;
  quantized: number;
  monteCarlo: AccuracySummary;
  trials: number;
  engine: string;
}

export interface HwComparison {
  device: string;
  levels: number;
  mapping: string;
  clip: number;
  share: number;
  seed: number;
  epochs: number;
  images: number;
  plain: HwAccuracy;
  hwAware: HwAccuracy;
}

/** Trains a dense / conv net hardware-aware and saves it as `rram train` does (report.json with `hwAware`). */
export async function trainHwAware(tf: Tf, backend: string, ds: Dataset, o: TrainOptions, hw: HwNoiseSpec & { info: HwAwareInfo }): Promise<TrainReport & { hwAware: HwAwareInfo }> {
  validateTrain(o);
  const t0 = performance.now();
  if (ds.train.rows !== ds.train.cols) throw new InvalidArgumentError('dataset', ds.name, `images are ${ds.train.rows}x${ds.train.cols}; the net specs take square images`);
  const geometry = { side: ds.train.rows, channels: ds.train.channels };
  const shape = inputShape(o.arch, geometry);
  const model = buildModel(tf, o.arch, o.seed, geometry);
  const tn = new TrainableNet(tf, toCrossbarNet(model), { from: 0 });
  const optimizer = tf.train.momentum(o.learningRate, o.momentum);
  try {
    await trainLoop(tf, tn, { x: ds.train.images, shape, labels: ds.train.labels, n: ds.train.n }, { epochs: o.epochs, batchSize: o.batchSize, seed: o.seed, optimizer, noise: new NoiseInjector(hw, o.seed), noiseShare: hw.info.share, onEpoch: (e, loss) => o.onEpoch?.(e, loss, NaN) });
    setModelWeights(tf, model, tn.snapshot());
  } finally {
    tn.dispose();
    optimizer.dispose();
  }
  return saveTrained(tf, backend, model, ds, o, shape, t0, { hwAware: hw.info });
}

/** Writes a crossbar net's weights back into the tfjs model it came from (Dense / Conv2D layers in order). */
export function setModelWeights(tf: Tf, model: TF.LayersModel, net: CrossbarNet): void {
  const ops = net.ops.filter((x) => x.op === 'dense' || x.op === 'conv');
  let li = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls !== 'Dense' && cls !== 'Conv2D') continue;
    const op = ops[li++];
    if (op.op !== 'dense' && op.op !== 'conv') continue;
    const [k, b] = layer.getWeights();
    const kernel = tf.tensor(op.W.subarray(0, op.fanIn * op.units), k.shape);
    const bias = tf.tensor1d(op.W.subarray(op.fanIn * op.units));
    layer.setWeights(b ? [kernel, bias] : [kernel]);
    tf.dispose([kernel, bias]);
  }
}

/** Float, quantized and Monte Carlo accuracy of one net under the device model. */
export async function hwAccuracy(tf: Tf, backend: string, net: CrossbarNet, test: Split, hw: HwNoiseSpec, o: { trials: number; seed: number; images?: number; engine?: 'auto' | 'native' | 'js' | 'tfjs' }): Promise<HwAccuracy> {
  const mc = await monteCarlo(tf, backend, net, test, { scheme: hw.scheme, clip: hw.clip, device: hw.device, trials: o.trials, seed: o.seed, engine: o.engine ?? 'auto', images: o.images });
  return { float: mc.floatAccuracy, quantized: mc.quantizedAccuracy, monteCarlo: mc.summary, trials: mc.trials, engine: mc.engine };
}
