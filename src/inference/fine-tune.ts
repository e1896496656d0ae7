/**
 * Chip-in-the-loop fine-tuning (issue 27; NeuRRAM's progressive scheme): after a layer is
 * programmed, its outputs for N training images are measured through the board's MVM
 * (on-board-forward.ts, issue 28) or, on a board without it, computed from its read-back
 * conductances (`measuredLayerOutput`), the layers not yet
 * programmed are trained on them (Adam, hardware noise in every batch: hw-noise.ts), and after the
 * last crossbar the digital scale and bias per output are re-fitted to its measured outputs.
 * Pure computation: procedures/program-net-progressive.ts drives the board.
 */
import type * as TF from '@tensorflow/tfjs';
import { weightOps, type CrossbarNet, type WeightOp } from './crossbar-net.js';
import { effective, type MappedLayer } from './mapping.js';
import { NoiseInjector, type HwNoiseSpec } from './hw-noise.js';
import type { Tf } from './tf-backend.js';
import { TrainableNet } from './trainable-net.js';
import { accuracyOf, trainLoop, type LoopData } from './train-loop.js';

/** Per layer of a progressive run: what was predicted before it, how the layers after it were tuned, what it cost. */
export interface FineTuneLayerReport {
  layer: number;
  name: string;
  tiles: number;
  /** The Monte Carlo's prediction of the final accuracy before this layer was programmed (earlier layers as read back). */
  prediction?: { mean: number; p5: number; p95: number; trials: number; engine: string };
  /** The fine-tuning done before this layer (layers it..last on the measured outputs of the layer before; the first: on the images); accuracies on those images with the tuned layers on their levels, noise-free. */
  fineTune?: { layers: string[]; trainAccuracyBefore: number; trainAccuracyAfter: number; epochs: number; elapsed_s: number };
  status: 'pending' | 'predicted' | 'programmed';
  /**
   * Where this layer's outputs for the N images (what the next layers were fine-tuned on) came
   * from: measured through the board's analog MVM (HELLO feature bit 2), or computed from its
   * read-back conductances (a board without MVM: `reason` says why). The last layer has none.
   */
  outputs?: { source: 'mvm' | 'read-back'; reason?: string; vIn_V?: number; elapsed_s: number };
  programming_s?: number;
  /** Share of the gap (software - read-back without fine-tuning) the prediction after this layer's fine-tuning recovers (filled at the end). */
  recovered?: number;
}

export interface FineTuneReport {
  mode: 'progressive';
  images: number;
  epochs: number;
  lr: number;
  batchSize: number;
  reads: number;
  layers: FineTuneLayerReport[];
  /**
   * The digital scale and bias after the last crossbar, fitted to its outputs for the N images:
   * measured through the board's MVM (`mvm`) when it offers it, else computed from the read-back
   * (`read-back`, `reason` says why).
   */
  refit?: { trainAccuracyBefore: number; trainAccuracyAfter: number; kept: boolean; outputs?: { source: 'mvm' | 'read-back'; reason?: string; vIn_V?: number } };
  /** The final table (test images). */
  table?: {
    software: number;
    quantized: number;
    /** The same net programmed without fine-tuning on a board of the same seed (or a given run), when known. */
    baseline?: { readback: number; runId?: string; source: string };
    /** The prediction made before the first layer. */
    prediction?: FineTuneLayerReport['prediction'];
    readbackBeforeRefit: number;
    /**
     * The final net evaluated through the board's analog MVM on the same test images (the
     * mapping of `rram infer --on-board`), when the board offers it and every tile is still on
     * the board; else absent.
     */
    onBoard?: { accuracy: number; images: number; elapsed_s: number };
    readback: number;
    /** (read-back - baseline) / (software - baseline). */
    recovered?: number;
  };
  timing: { programming_s: number; fineTuning_s: number; prediction_s: number; baseline_s?: number; total_s?: number };
}

export interface StageOptions {
  epochs: number;
  lr: number;
  batchSize: number;
  seed: number;
  hw: HwNoiseSpec;
  signal?: AbortSignal;
}

/** Binary nets keep their weights on the grid: only their digital scale and shift are tuned. */
const tunesWeights = (net: CrossbarNet) => !net.input;

/** A batched forward pass through weight layer `li` and the ops up to the next weight layer. */
function layerForward(tf: Tf, net: CrossbarNet, li: number, op: WeightOp, eff: Float32Array, x: TF.Tensor): TF.Tensor {
  let k = -1;
  const start = net.ops.findIndex((o) => (o.op === 'dense' || o.op === 'conv') && ++k === li);
  let h = x;
  for (let i = start; i < net.ops.length; i++) {
    const o = net.ops[i];
    if (i > start && (o.op === 'dense' || o.op === 'conv')) break;
    if (o.op === 'flatten') h = tf.reshape(h, [h.shape[0], -1]);
    else if (o.op === 'maxpool') h = tf.maxPool(h as TF.Tensor4D, o.pool, o.strides, o.padding);
    else if (o.op === 'act') h = actOf(tf, h, o.act);
    else {
      const n = op.fanIn * op.units;
      const kernel = op.op === 'dense' ? tf.tensor2d(eff.subarray(0, n), [op.fanIn, op.units]) : tf.tensor4d(eff.subarray(0, n), [op.kernel![0], op.kernel![1], op.inChannels!, op.units]);
      let y = op.op === 'dense' ? tf.matMul(h as TF.Tensor2D, kernel as TF.Tensor2D) : tf.conv2d(h as TF.Tensor4D, kernel as TF.Tensor4D, op.strides!, op.padding!);
      // As the crossbar's periphery does (forward-tf.ts): a digital scale and shift replace the bias row.
      y = op.post ? tf.add(tf.mul(y, tf.tensor1d(op.post.scale)), tf.tensor1d(op.post.shift)) : tf.add(y, tf.tensor1d(eff.subarray(n)));
      h = actOf(tf, y, op.act);
    }
  }
  return h;
}

function actOf(tf: Tf, x: TF.Tensor, act: string): TF.Tensor {
  if (act === 'relu') return tf.relu(x);
  if (act === 'sigmoid') return tf.sigmoid(x);
  if (act === 'tanh') return tf.tanh(x);
  if (act === 'step') return tf.cast(tf.greaterEqual(x, 0), 'float32');
  if (act.startsWith('quant:')) {
    const top = 2 ** Number(act.slice(6)) - 1;
    return tf.clipByValue(tf.floor(tf.add(tf.mul(tf.div(tf.add(x, 1), 2), top), 0.5)), 0, top);
  }
  return x;
}

/**
 * The outputs of programmed layer `li` for the inputs `input` (what the next layer receives:
 * after its activation, pooling and flattening), computed from the layer's read-back cell values
 * (a board without the analog MVM; with it, procedures/program-net-progressive.ts measures them).
 */
export function measuredLayerOutput(tf: Tf, net: CrossbarNet, li: number, mapped: MappedLayer, values: { gp: Float32Array; gn?: Float32Array }, input: LoopData, batch = 2000): LoopData {
  const op = weightOps(net)[li];
  const eff = effective(mapped, values.gp, values.gn, new Float32Array(mapped.rows * mapped.cols));
  const per = input.shape.reduce((a, b) => a * b, 1);
  let out: Float32Array | undefined;
  let shape: number[] = [];
  for (let s = 0; s < input.n; s += batch) {
    const m = Math.min(batch, input.n - s);
    const y = tf.tidy(() => layerForward(tf, net, li, op, eff, tf.tensor(input.x.subarray(s * per, (s + m) * per), [m, ...input.shape])));
    shape = y.shape.slice(1);
    const size = shape.reduce((a, b) => a * b, 1);
    out ??= new Float32Array(input.n * size);
    out.set(y.dataSync() as Float32Array, s * size);
    y.dispose();
  }
  return { x: out!, shape, labels: input.labels, n: input.n };
}

/**
 * Trains weight layers from..last on `data` (the inputs of layer `from`) with hardware noise in
 * every batch; returns the net with their new weights and the accuracy on `data` before and after.
 */
export async function fineTuneStage(tf: Tf, net: CrossbarNet, from: number, data: LoopData, o: StageOptions): Promise<{ net: CrossbarNet; before: number; after: number; elapsed_s: number; layers: string[] }> {
  const t0 = performance.now();
  const tn = new TrainableNet(tf, net, { from, weights: tunesWeights(net) });
  const optimizer = tf.train.adam(o.lr);
  try {
    const noise = new NoiseInjector(o.hw, o.seed + 1000 * (from + 1));
    const before = accuracyOf(tf, tn, data, from, noise);
    if (o.epochs > 0) await trainLoop(tf, tn, data, { epochs: o.epochs, batchSize: o.batchSize, seed: o.seed + from, optimizer, noise, signal: o.signal });
    const after = accuracyOf(tf, tn, data, from, noise);
    return { net: tn.snapshot(), before, after, elapsed_s: (performance.now() - t0) / 1000, layers: tn.ops.slice(from).map((x) => x.name) };
  } finally {
    tn.dispose();
    optimizer.dispose();
  }
}

/** The net with weight layer `li`'s bias row off (scale 1, shift 0: the row driven at 0) and no activation: its bare column outputs, what the re-fit fits a scale and shift to. */
export function bareLayer(net: CrossbarNet, li: number): CrossbarNet {
  const op = weightOps(net)[li];
  const bare: WeightOp = { ...op, post: { scale: new Float32Array(op.units).fill(1), shift: new Float32Array(op.units) }, act: 'linear' };
  return { ...net, ops: net.ops.map((x) => (x === op ? bare : x)) };
}

/**
 * The digital scale and bias after the last crossbar, fitted (Adam, full batch) to its measured
 * column outputs for the training images: z_j = a_j y_j + b_j, y without the bias row (the bias
 * becomes digital). `measured`: those outputs as the board's MVM gave them (bareLayer's, for the
 * same inputs); else computed from the read-back `values`. Started from a = 1 (or the net's own
 * scale) and b = the read-back bias row; kept only if it does better on those images.
 */
export function refitDigital(tf: Tf, net: CrossbarNet, li: number, mapped: MappedLayer, values: { gp: Float32Array; gn?: Float32Array }, input: LoopData, measured?: LoopData, steps = 300, lr = 0.01): { net: CrossbarNet; before: number; after: number; kept: boolean } {
  const ops = weightOps(net);
  const op = ops[li];
  const eff = effective(mapped, values.gp, values.gn, new Float32Array(mapped.rows * mapped.cols));
  const n = op.fanIn * op.units;
  const y = measured ?? measuredLayerOutput(tf, bareLayer(net, li), li, mapped, values, input);
  if (y.n !== input.n || y.x.length !== y.n * op.units) throw new Error(`internal: re-fit of ${op.name} on ${y.n} outputs of ${y.x.length / Math.max(1, y.n)} values, expected ${input.n} of ${op.units}`);
  const scale0 = op.post ? Float32Array.from(op.post.scale) : new Float32Array(op.units).fill(1);
  const shift0 = op.post ? Float32Array.from(op.post.shift) : Float32Array.from(eff.subarray(n));
  const Y = tf.tensor2d(y.x, [y.n, op.units]);
  const onehot = tf.oneHot(tf.tensor1d(Array.from(y.labels), 'int32'), 10);
  const a = tf.variable(tf.tensor1d(scale0));
  const b = tf.variable(tf.tensor1d(shift0));
  const acc = () => tf.tidy(() => {
    const p = tf.argMax(tf.add(tf.mul(Y, a), b), -1).dataSync();
    let c = 0;
    for (let i = 0; i < y.n; i++) if (p[i] === y.labels[i]) c++;
    return c / y.n;
  });
  const before = acc();
  const opt = tf.train.adam(lr);
  for (let s = 0; s < steps; s++) tf.tidy(() => void opt.minimize(() => tf.losses.softmaxCrossEntropy(onehot, tf.add(tf.mul(Y, a), b)) as TF.Scalar, false, [a, b]));
  const after = acc();
  const kept = after > before;
  const post = kept ? { scale: Float32Array.from(a.dataSync()), shift: Float32Array.from(b.dataSync()) } : op.post;
  tf.dispose([Y, onehot, a, b]);
  opt.dispose();
  if (!kept) return { net, before, after, kept };
  return { net: { ...net, ops: net.ops.map((x) => (x === op ? { ...op, post } : x)) }, before, after, kept };
}
