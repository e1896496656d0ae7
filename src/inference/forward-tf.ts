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
  /** Per weight layer full scale of [positive side, reference side] (A x input units). */
  fullScale: [number, number][];
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
function product(tf: Tf, h: TF.Tensor, op: WeightOp, m: Float32Array, cols: number): TF.Tensor {
  const main = m.subarray(0, op.fanIn * cols);
  const bias = op.post ? tf.zeros([cols]) : tf.tensor1d(m.subarray(op.fanIn * cols, (op.fanIn + 1) * cols));
  if (op.op === 'dense') return tf.add(tf.matMul(h as TF.Tensor2D, tf.tensor2d(main, [op.fanIn, cols])), bias);
  const k = tf.tensor4d(main, [op.kernel![0], op.kernel![1], op.inChannels!, cols]);
  return tf.add(tf.conv2d(h as TF.Tensor4D, k, op.strides!, op.padding!), bias);
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
  record?: [number, number][],
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
          let yp = product(tf, h, op, v.gp, l.cols);
          let yn: TF.Tensor;
          if (l.scheme === 'diff') yn = product(tf, h, op, v.gn!, l.cols);
          else if (l.scheme === 'offset') yn = product(tf, h, op, v.gn!, 1);
          else yn = product(tf, h, op, new Float32Array(op.fanIn + 1).fill(1), 1); // sum of inputs + 1 (bias row)
          if (record) record[li] = [tf.max(yp).dataSync()[0], l.scheme === 'signed' ? 0 : tf.max(yn).dataSync()[0]];
          if (adcCfg) {
            const [fp, fn] = adcCfg.fullScale[li];
            yp = adc(tf, yp, adcCfg.bits, fp);
            if (l.scheme !== 'signed') yn = adc(tf, yn, adcCfg.bits, fn);
          }
          if (l.scheme === 'signed') yn = tf.mul(yn, l.ref!);
          y = tf.mul(tf.sub(yp, yn), l.alpha);
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

/** Images as the net's input tensor (centre-cropped and binarized first when the net asks). */
export function inputTensor(tf: Tf, net: CrossbarNet, images: Float32Array, n: number): TF.Tensor {
  if (net.input) return tf.tensor(cropBinarize(images, n, net.input.crop), [n, ...net.inputShape]);
  return tf.tensor(images.subarray(0, n * 784), [n, ...net.inputShape]);
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
  record?: [number, number][],
): Int32Array {
  const batch = net.ops.some((x) => x.op === 'conv') ? 2000 : n;
  const out = new Int32Array(n);
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    const x = inputTensor(tf, net, images.subarray(s * 784, (s + m) * 784), m);
    const rec: [number, number][] = [];
    const p = forwardTf(tf, net, mapped, values, x, adcCfg, record ? rec : undefined);
    out.set(p.dataSync(), s);
    p.dispose();
    x.dispose();
    if (record) rec.forEach((r, i) => (record[i] = [Math.max(record[i]?.[0] ?? 0, r[0]), Math.max(record[i]?.[1] ?? 0, r[1])]));
  }
  return out;
}
