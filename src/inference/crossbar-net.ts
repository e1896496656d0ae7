/**
 * A trained tfjs model reduced to what a crossbar needs: weight layers (dense, conv) as
 * matrices with the bias as one extra row driven by a constant 1, and the glue between them
 * (activations, max-pools, flatten). Inference-time batch norm is folded into the weights before
 * it. Any tfjs layers model built from these parts is accepted; anything else is refused by layer
 * name and class.
 */
import type * as TF from '@tensorflow/tfjs';
import { DataError } from '../../drivers/errors.js';

export type Act = 'linear' | 'relu' | 'softmax' | 'sigmoid' | 'tanh' | 'step' | `quant:${number}`;

export interface WeightOp {
  op: 'dense' | 'conv';
  name: string;
  /** Inputs per output (fan-in without the bias). */
  fanIn: number;
  units: number;
  /** (fanIn + 1) x units, row-major; the last row is the bias. */
  W: Float32Array;
  act: Act;
  /** conv only */
  kernel?: [number, number];
  strides?: [number, number];
  padding?: 'valid' | 'same';
  inChannels?: number;
  /** Applied digitally after the crossbar, per output: y * scale + shift (a merged batch norm; the bias row is then 0). */
  post?: { scale: Float32Array; shift: Float32Array };
}
export type NetOp = WeightOp | { op: 'maxpool'; pool: [number, number]; strides: [number, number]; padding: 'valid' | 'same' } | { op: 'flatten' } | { op: 'act'; act: Act };

export interface CrossbarNet {
  inputShape: number[];
  ops: NetOp[];
  /** Input preprocessing of 28x28 images: centre crop and binarize (binary nets, seed 003). */
  input?: { crop: number };
}

const ACTS: Act[] = ['linear', 'relu', 'softmax', 'sigmoid', 'tanh'];

function actOf(layer: TF.layers.Layer, cfg: Record<string, unknown>): Act {
  const a = String(cfg.activation ?? 'linear');
  if (!ACTS.includes(a as Act)) throw new DataError(layer.name, `activation ${a} is not supported (use ${ACTS.join(', ')})`);
  return a as Act;
}

const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v), Number(v)]);

export function toCrossbarNet(model: TF.LayersModel): CrossbarNet {
  const inputShape = model.inputs[0].shape.slice(1).map(Number);
  const ops: NetOp[] = [];
  // True while activations still have spatial axes (image input, conv, pool) - until Flatten.
  let spatial = inputShape.length > 1;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Record<string, unknown>;
    switch (cls) {
      case 'InputLayer':
      case 'Dropout':
        break;
      case 'Flatten':
        spatial = false;
        ops.push({ op: 'flatten' });
        break;
      case 'Activation':
        ops.push({ op: 'act', act: actOf(layer, cfg) });
        break;
      case 'ReLU':
        ops.push({ op: 'act', act: 'relu' });
        break;
      case 'MaxPooling2D':
        ops.push({ op: 'maxpool', pool: pair(cfg.poolSize), strides: pair(cfg.strides ?? cfg.poolSize), padding: (cfg.padding as 'valid' | 'same') ?? 'valid' });
        break;
      case 'Dense':
      case 'Conv2D': {
        const [k, b] = layer.getWeights();
        const ks = k.shape;
        const units = ks[ks.length - 1];
        const fanIn = k.size / units;
        const W = new Float32Array((fanIn + 1) * units);
        W.set(k.dataSync());
        if (b) W.set(b.dataSync(), fanIn * units);
        if (cls === 'Dense') {
          // tfjs Dense accepts rank > 2 inputs (acting on the last axis); a crossbar mapping does not.
          if (spatial) throw new DataError(layer.name, 'dense layers on rank > 2 inputs are not supported');
          ops.push({ op: 'dense', name: layer.name, fanIn, units, W, act: actOf(layer, cfg) });
        } else {
          if (cfg.dataFormat && cfg.dataFormat !== 'channelsLast') throw new DataError(layer.name, `dataFormat ${String(cfg.dataFormat)} is not supported (channelsLast only)`);
          const dil = pair(cfg.dilationRate ?? 1);
          if (dil[0] !== 1 || dil[1] !== 1) throw new DataError(layer.name, 'dilated convolutions are not supported');
          ops.push({ op: 'conv', name: layer.name, fanIn, units, W, act: actOf(layer, cfg), kernel: [Number(ks[0]), Number(ks[1])], strides: pair(cfg.strides ?? 1), padding: (cfg.padding as 'valid' | 'same') ?? 'valid', inChannels: Number(ks[2]) });
        }
        break;
      }
      case 'BatchNormalization':
        foldBatchNorm(layer, cfg, ops[ops.length - 1]);
        break;
      default:
        throw new DataError(layer.name, `layer class ${cls} cannot be mapped onto a crossbar (supported: Dense, Conv2D, MaxPooling2D, Flatten, Activation, ReLU, Dropout, BatchNormalization after a linear Dense/Conv2D)`);
    }
  }
  if (!ops.some((o) => o.op === 'dense' || o.op === 'conv')) throw new DataError('model', 'has no Dense or Conv2D layer to map');
  return { inputShape, ops };
}

/**
 * Inference-time batch normalization folded into the weight layer right before it (seed 003):
 * y = gamma (x W + b - mean) / sqrt(var + eps) + beta  ==  x (W s) + ((b - mean) s + beta),
 * s = gamma / sqrt(var + eps) per output. Only possible while nothing nonlinear sits between.
 */
function foldBatchNorm(layer: TF.layers.Layer, cfg: Record<string, unknown>, prev: NetOp | undefined): void {
  if (!prev || (prev.op !== 'dense' && prev.op !== 'conv') || prev.act !== 'linear') {
    throw new DataError(layer.name, 'BatchNormalization can only be folded into a directly preceding Dense or Conv2D layer without activation (put the activation after the batch norm)');
  }
  const axis = Number(Array.isArray(cfg.axis) ? cfg.axis[0] : (cfg.axis ?? -1));
  const rank = layer.inputSpec?.[0]?.ndim ?? (prev.op === 'conv' ? 4 : 2);
  if (axis !== -1 && axis !== rank - 1) throw new DataError(layer.name, `batch norm over axis ${axis} is not supported (last axis only)`);
  const w = layer.getWeights().map((t) => t.dataSync() as Float32Array);
  let i = 0;
  const gamma = cfg.scale === false ? undefined : w[i++];
  const beta = cfg.center === false ? undefined : w[i++];
  const mean = w[i++];
  const variance = w[i++];
  const eps = Number(cfg.epsilon ?? 1e-3);
  const u = prev.units;
  if (!mean || !variance || mean.length !== u) throw new DataError(layer.name, `expected ${u} moving means and variances`);
  for (let c = 0; c < u; c++) {
    const sc = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + eps);
    for (let r = 0; r < prev.fanIn; r++) prev.W[r * u + c] *= sc;
    const b = prev.fanIn * u + c;
    prev.W[b] = (prev.W[b] - mean[c]) * sc + (beta ? beta[c] : 0);
  }
}

export const weightOps = (net: CrossbarNet): WeightOp[] => net.ops.filter((o): o is WeightOp => o.op === 'dense' || o.op === 'conv');

/** Weights + biases (seed 000's synapse count). */
export const synapseCount = (net: CrossbarNet): number => weightOps(net).reduce((s, o) => s + o.W.length, 0);

/**
 * A dense-only chain (ReLU between layers, any final activation: argmax ignores a monotone one)
 * can run on the fast Monte Carlo kernel.
 */
export function isDenseChain(net: CrossbarNet): boolean {
  const w = weightOps(net);
  // A flat input whose pixel index fits the kernel's 16-bit CSR indices (MNIST 784, CIFAR-10 3072).
  if (net.inputShape.length !== 1 || net.inputShape[0] > 65535 || net.input) return false;
  if (net.ops.some((o) => o.op === 'maxpool' || o.op === 'conv' || o.op === 'act')) return false;
  return w.every((o, i) => (i === w.length - 1 ? o.act === 'softmax' || o.act === 'linear' : o.act === 'relu'));
}
