/**
 * General crossbar forward pass in TensorFlow.js: any mapped net (dense and conv layers, pools,
 * any activation), optionally with ADC quantization of every column output. Each weight layer is
 * computed the way the array computes it: positive-column currents and the reference side
 * (partner columns, offset column or fixed reference) separately, each through the ADC, then
 * combined and scaled back by alpha.
 */
import { cropBinarize } from './bnn/spec.js';
import type * as TF from '@tensorflow/tfjs';
import type { CrossbarNet, WeightOp, Act } from './crossbar-net.js';
import type { MappedLayer } from './mapping.js';
import type { Tf } from './tf-backend.js';

/** What the forward pass needs of a mapped layer (workers get only this much). */
export type ForwardLayer = Pick<MappedLayer, 'scheme' | 'cols' | 'alpha' | 'ref'>;

/** Per weight layer: effective weights (no ADC), or cell values (with ADC). */
export type LayerValues = { eff: Float32Array } | { gp: Float32Array; gn?: Float32Array };

export interface AdcConfig {
  bits: number;
  /** Per weight layer, per row tile, full scale of [positive side, reference side] (A x input units). */
  fullScale: [number, number][][];
  /** Crossbar side (rows per tile): each tile's column currents are digitized on their own and summed digitally. */
  tile: number;
}

/** Per weight layer, per row tile: the largest positive-side and reference-side output (noise-free pass). */
export type FullScaleRecord = [number, number][][];

/**
 * The row tiles of a layer: dense layers cut their fanIn + 1 rows (bias last) into runs of `tile`;
 * conv layers cut their input channels into groups of floor(tile / (kh kw)) (a tile holds whole
 * kernel windows), the bias row riding with the last group.
 */
export function rowTiles(op: WeightOp, tile: number): [number, number][] {
  const units = op.op === 'dense' ? op.fanIn + 1 : op.inChannels!;
  const per = op.op === 'dense' ? tile : Math.max(1, Math.floor(tile / (op.kernel![0] * op.kernel![1])));
  const out: [number, number][] = [];
  for (let a = 0; a < units; a += per) out.push([a, Math.min(units, a + per)]);
  return out;
}

function activate(tf: Tf, x: TF.Tensor, act: Act): TF.Tensor {
  if (act === 'step') return tf.cast(tf.greaterEqual(x, 0), 'float32'); // a comparator at the reference (seed 003)
  if (act.startsWith('quant:')) {
    const top = 2 ** Number(act.slice(6)) - 1;
    return tf.clipByValue(tf.floor(tf.add(tf.mul(tf.div(tf.add(x, 1), 2), top), 0.5)), 0, top);
  }
  switch (act) {
    case 'relu':
      return tf.relu(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'tanh':
      return tf.tanh(x);
    default:
      return x; // softmax and linear: argmax is unchanged
  }
}

function adc(tf: Tf, y: TF.Tensor, bits: number, fs: number): TF.Tensor {
  const steps = 2 ** bits - 1;
  const s = fs > 0 ? fs : 1;
  return tf.mul(tf.round(tf.mul(tf.clipByValue(tf.div(y, s), 0, 1), steps)), s / steps);
}

/**
 * x . M (+ bias row) for a dense or conv op; M given as (fanIn + 1) x cols values. An op whose
 * bias is applied digitally after the crossbar (`post`) drives its bias row with 0: the row's
 * cells are programmed but take no part.
 */
function product(tf: Tf, h: TF.Tensor, op: WeightOp, m: Float32Array, cols: number, part?: [number, number]): TF.Tensor {
  if (op.op === 'dense') {
    const [a, b] = part ?? [0, op.fanIn + 1];
    const hasBias = b > op.fanIn;
    const end = Math.min(b, op.fanIn);
    let y: TF.Tensor = end > a ? tf.matMul((part ? tf.slice(h, [0, a], [-1, end - a]) : h) as TF.Tensor2D, tf.tensor2d(m.subarray(a * cols, end * cols), [end - a, cols])) : tf.zeros([h.shape[0], cols]);
    if (hasBias && !op.post) y = tf.add(y, tf.tensor1d(m.subarray(op.fanIn * cols, (op.fanIn + 1) * cols)));
    return y;
  }
  const [kh, kw] = op.kernel!;
  const cin = op.inChannels!;
  const [a, b] = part ?? [0, cin];
  let k = tf.tensor4d(m.subarray(0, op.fanIn * cols), [kh, kw, cin, cols]);
  let x = h as TF.Tensor4D;
  if (part) {
    k = tf.slice(k, [0, 0, a, 0], [-1, -1, b - a, -1]);
    x = tf.slice(x, [0, 0, 0, a], [-1, -1, -1, b - a]);
  }
  const y = tf.conv2d(x, k, op.strides!, op.padding!);
  return b === cin && !op.post ? tf.add(y, tf.tensor1d(m.subarray(op.fanIn * cols, (op.fanIn + 1) * cols))) : y;
}

/**
 * Forward all images (`x`, batch first) through the net with the given per-layer values.
 * Returns the predicted classes. `record` (noise-free calibration pass) receives each layer's
 * largest positive-side and reference-side output, used as ADC full scale.
 */
export function forwardTf(
  tf: Tf,
  net: CrossbarNet,
  mapped: ForwardLayer[],
  values: LayerValues[],
  x: TF.Tensor,
  adcCfg?: AdcConfig,
  record?: FullScaleRecord,
  tile = 64,
): TF.Tensor1D {
  return tf.tidy(() => {
    let h = x;
    let li = 0;
    for (const op of net.ops) {
      if (op.op === 'flatten') h = tf.reshape(h, [h.shape[0], -1]);
      else if (op.op === 'act') h = activate(tf, h, op.act);
      else if (op.op === 'maxpool') h = tf.maxPool(h as TF.Tensor4D, op.pool, op.strides, op.padding);
      else {
        const v = values[li];
        const l = mapped[li];
        let y: TF.Tensor;
        if ('eff' in v) y = product(tf, h, op, v.eff, l.cols);
        else {
          // Each row tile's columns are read (and digitized) on their own; the tiles' digital outputs add up.
          // Without an ADC the tiles' analog sums add up exactly: one product per side is enough.
          const tiles = adcCfg || record ? rowTiles(op, adcCfg?.tile ?? tile) : [[0, op.op === 'dense' ? op.fanIn + 1 : op.inChannels!] as [number, number]];
          const ones = new Float32Array(op.fanIn + 1).fill(1); // signed: the reference current is the sum of inputs + 1 (bias row)
          if (record) record[li] = [];
          let sum: TF.Tensor | undefined;
          tiles.forEach((part, ti) => {
            const p = tiles.length > 1 ? part : undefined;
            let yp = product(tf, h, op, v.gp, l.cols, p);
            let yn = l.scheme === 'diff' ? product(tf, h, op, v.gn!, l.cols, p) : product(tf, h, op, l.scheme === 'offset' ? v.gn! : ones, 1, p);
            if (record) record[li][ti] = [tf.max(yp).dataSync()[0], l.scheme === 'signed' ? 0 : tf.max(yn).dataSync()[0]];
            if (adcCfg) {
              const [fp, fn] = adcCfg.fullScale[li][ti];
              yp = adc(tf, yp, adcCfg.bits, fp);
              if (l.scheme !== 'signed') yn = adc(tf, yn, adcCfg.bits, fn);
            }
            if (l.scheme === 'signed') yn = tf.mul(yn, l.ref!);
            const d = tf.sub(yp, yn);
            sum = sum ? tf.add(sum, d) : d;
          });
          y = tf.mul(sum!, l.alpha);
        }
        // Applied after the crossbar, digitally: a merged batch norm's per-channel scale and shift.
        if (op.post) y = tf.add(tf.mul(y, tf.tensor1d(op.post.scale)), tf.tensor1d(op.post.shift));
        h = activate(tf, y, op.act);
        li++;
      }
    }
    return tf.argMax(h, -1) as TF.Tensor1D;
  });
}

/** Values per input image the net takes. */
export const inputSize = (net: CrossbarNet): number => net.inputShape.reduce((a, b) => a * b, 1);

/** Images as the net's input tensor (centre-cropped and binarized first when the net asks). */
export function inputTensor(tf: Tf, net: CrossbarNet, images: Float32Array, n: number): TF.Tensor {
  if (net.input) return tf.tensor(cropBinarize(images, n, net.input.crop), [n, ...net.inputShape]);
  return tf.tensor(images.subarray(0, n * inputSize(net)), [n, ...net.inputShape]);
}

/**
 * Predicted classes of the first `n` images with the given per-layer values, in batches (conv
 * nets in batches of 2000 to bound memory). `record` collects each layer's largest outputs.
 */
export function predictAll(
  tf: Tf,
  net: CrossbarNet,
  mapped: ForwardLayer[],
  values: LayerValues[],
  images: Float32Array,
  n: number,
  adcCfg?: AdcConfig,
  record?: FullScaleRecord,
  tile = 64,
): Int32Array {
  const batch = net.ops.some((x) => x.op === 'conv') ? 2000 : n;
  const out = new Int32Array(n);
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    const px = net.input ? 784 : inputSize(net); // binary nets crop 28x28 images themselves
    const x = inputTensor(tf, net, images.subarray(s * px, (s + m) * px), m);
    const rec: FullScaleRecord = [];
    const p = forwardTf(tf, net, mapped, values, x, adcCfg, record ? rec : undefined, tile);
    out.set(p.dataSync(), s);
    p.dispose();
    x.dispose();
    if (record) rec.forEach((layer, i) => (record[i] = layer.map((r, t) => [Math.max(record[i]?.[t]?.[0] ?? 0, r[0]), Math.max(record[i]?.[t]?.[1] ?? 0, r[1])])));
  }
  return out;
}
