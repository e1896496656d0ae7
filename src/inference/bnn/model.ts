/**
 * A trained binary / low-precision MLP as plain numbers, and the ways its batch norm reaches the
 * hardware (seed 003, section 3.2). Every layer computes z = (a W) * scale + shift, then the
 * activation; W is what the crossbar holds, scale and shift are applied after it:
 *  - none: batch norm kept in software: W on the grid, scale = gamma / sigma, shift = beta - scale mu;
 *  - arithmetic (eqs. 4-5): W' = (gamma / sigma) W put back on the weight grid with one step per
 *    layer, delta = max|W'| / the grid's top (the crossbar holds nothing else), scale delta, shift
 *    b' = beta - (gamma / sigma) mu: the weights lose each neuron's own scale, the bias keeps it;
 *  - signed (eqs. 6-7): W' = sign(gamma / sigma) W (still on the grid), scale 1, shift
 *    sign(gamma / sigma) (beta sigma / gamma - mu): exact before a sign activation;
 *  - sbn: one shared scale per layer (the mean of gamma / sigma), per-channel shift: an approximation.
 */
import { DataError } from '../../../drivers/errors.js';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Split } from '../datasets.js';
import type { CrossbarNet, WeightOp } from '../crossbar-net.js';
import { cropBinarize, quantizeAct, quantizeWeight, weightGrid, type BnnSpec } from './spec.js';

export interface BnnLayer {
  fanIn: number;
  units: number;
  /** fanIn x units, row-major, on the weight grid. */
  W: number[];
  bn: { gamma: number[]; beta: number[]; mean: number[]; variance: number[]; eps: number };
}

export interface BnnModel {
  format: 'rram-hil/bnn';
  version: 1;
  spec: BnnSpec;
  layers: BnnLayer[];
}

export const BN_MERGES = ['none', 'arithmetic', 'signed', 'sbn'] as const;
export type BnMerge = (typeof BN_MERGES)[number];

export interface MergedLayer {
  fanIn: number;
  units: number;
  W: Float32Array;
  scale: Float32Array;
  shift: Float32Array;
  /** Activation after the layer: quantized to `actBits` for hidden layers, none (argmax) for the last. */
  act: 'quant' | 'linear';
}

export interface MergedBnn {
  spec: BnnSpec;
  merge: BnMerge;
  layers: MergedLayer[];
}

/** `requantize: false` keeps an arithmetic merge's real weights (eqs. 4-5 exactly, before the grid). */
export function mergeBn(m: BnnModel, merge: BnMerge, o: { requantize?: boolean } = {}): MergedBnn {
  const layers = m.layers.map((l, li): MergedLayer => {
    const s = l.bn.gamma.map((gm, j) => gm / Math.sqrt(l.bn.variance[j] + l.bn.eps));
    const act = li < m.layers.length - 1 ? 'quant' : 'linear';
    const W = Float32Array.from(l.W);
    const scale = new Float32Array(l.units).fill(1);
    const shift = new Float32Array(l.units);
    if (merge === 'none') {
      s.forEach((v, j) => {
        scale[j] = v;
        shift[j] = l.bn.beta[j] - v * l.bn.mean[j];
      });
    } else if (merge === 'signed') {
      s.forEach((v, j) => {
        const sg = v >= 0 ? 1 : -1;
        for (let r = 0; r < l.fanIn; r++) W[r * l.units + j] *= sg;
        shift[j] = sg * (l.bn.beta[j] / (v || 1e-12) - l.bn.mean[j]);
      });
    } else if (merge === 'sbn') {
      const shared = s.reduce((a, v) => a + v, 0) / s.length;
      scale.fill(shared);
      s.forEach((_, j) => (shift[j] = l.bn.beta[j] - shared * l.bn.mean[j]));
    } else {
      // Arithmetic (eqs. 4-5): W' = s W, b' = beta - s mu. W' is not on the grid and the crossbar
      // holds grid values only: W' goes back onto the grid with one step per layer (a layer's
      // cells share one conductance step; delta = max|W'| / the grid's top), and delta multiplies
      // the column sums after the crossbar. What is lost is each neuron's own scale s_j: with 1-bit
      // weights every W' becomes +-1 at the layer's largest |s|; with more bits the grid keeps it.
      let top = 0;
      for (let i = 0; i < W.length; i++) top = Math.max(top, Math.abs(W[i] * s[i % l.units]));
      const g = weightGrid(m.spec.weightBits);
      const delta = o.requantize === false ? 1 : top / (m.spec.weightBits === 1 ? 1 : g.max) || 1;
      for (let i = 0; i < W.length; i++) W[i] = o.requantize === false ? W[i] * s[i % l.units] : quantizeWeight((W[i] * s[i % l.units]) / delta, m.spec.weightBits);
      scale.fill(delta);
      s.forEach((v, j) => (shift[j] = l.bn.beta[j] - v * l.bn.mean[j]));
    }
    return { fanIn: l.fanIn, units: l.units, W, scale, shift, act };
  });
  return { spec: m.spec, merge, layers };
}

/** Class scores of one preprocessed (cropped, binarized) input, digitally. */
export function forwardBnn(n: MergedBnn, x: Float32Array): Float32Array {
  let a: Float32Array = x;
  for (const l of n.layers) {
    const z = new Float32Array(l.units);
    for (let r = 0; r < l.fanIn; r++) {
      const v = a[r];
      if (v === 0) continue;
      const row = r * l.units;
      for (let j = 0; j < l.units; j++) z[j] += v * l.W[row + j];
    }
    for (let j = 0; j < l.units; j++) z[j] = z[j] * l.scale[j] + l.shift[j];
    a = l.act === 'quant' ? z.map((v) => quantizeAct(v, n.spec.actBits)) : z;
  }
  return a;
}

export function mergedAccuracy(n: MergedBnn, split: Split, images = split.n): number {
  const d = n.spec.sizes[0];
  const x = cropBinarize(split.images, images, n.spec.crop);
  let c = 0;
  for (let i = 0; i < images; i++) {
    const y = forwardBnn(n, x.subarray(i * d, (i + 1) * d));
    let best = 0;
    for (let k = 1; k < y.length; k++) if (y[k] > y[best]) best = k;
    if (best === split.labels[i]) c++;
  }
  return c / images;
}

/** Test accuracy with batch norm in software (the paper's baseline). */
export const bnnAccuracy = (m: BnnModel, split: Split): number => mergedAccuracy(mergeBn(m, 'none'), split);

/** Load `DIR/bnn.json`, checked. */
export function loadBnn(dir: string): BnnModel {
  const file = dir.endsWith('.json') ? dir : join(dir, 'bnn.json');
  if (!existsSync(file)) throw new DataError(file, 'no binary net here (expected bnn.json from `rram train --arch bnn:...`)');
  let m: BnnModel;
  try {
    m = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new DataError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (m.format !== 'rram-hil/bnn' || !Array.isArray(m.layers) || !m.spec) throw new DataError(file, 'not an rram-hil/bnn model');
  m.layers.forEach((l, i) => {
    if (l.W.length !== l.fanIn * l.units || l.bn.gamma.length !== l.units) throw new DataError(file, `layer ${i}: shapes do not match`);
  });
  return m;
}

/** Whether a model folder holds a binary net (bnn.json) rather than a tfjs layers model. */
export const isBnnDir = (dir: string): boolean => existsSync(dir.endsWith('.json') ? dir : join(dir, 'bnn.json'));

/**
 * The merged net for the crossbar pipeline (mapping, Monte Carlo, program-net): each layer's W on
 * the crossbar with a zero bias row, its scale and shift applied after it digitally, a comparator
 * (`step`) or a quantizing activation between layers, the input cropped and binarized.
 */
export function bnnCrossbarNet(n: MergedBnn): CrossbarNet {
  const ops: WeightOp[] = n.layers.map((l, i) => {
    const W = new Float32Array((l.fanIn + 1) * l.units);
    W.set(l.W);
    return { op: 'dense', name: `bnn_${i + 1}`, fanIn: l.fanIn, units: l.units, W, act: l.act === 'linear' ? 'linear' : n.spec.actBits === 1 ? 'step' : (`quant:${n.spec.actBits}` as const), post: { scale: l.scale, shift: l.shift } };
  });
  return { inputShape: [n.spec.sizes[0]], ops, input: { crop: n.spec.crop } };
}
