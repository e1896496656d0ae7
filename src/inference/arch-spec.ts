/**
 * The compact network specs of seed 000: `dense:H1[,H2...]` (hidden ReLU layers, 10 softmax
 * outputs) and `cnn:LxF/pP/hH` (L conv layers of F 3x3 filters, valid padding, each followed by a
 * PxP max-pool, one dense layer of H units, 10 outputs). Synapses = weights + biases, as the seed
 * counts them.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { Tf } from './tf-backend.js';
import type * as TF from '@tensorflow/tfjs';

export type ArchSpec =
  | { kind: 'dense'; hidden: number[]; text: string }
  | { kind: 'cnn'; convLayers: number; filters: number; pool: number; hidden: number; text: string };

const CLASSES = 10;

/** The images a net takes: side x side x channels (MNIST 28x28x1, CIFAR-10 32x32x3). */
export interface ImageGeometry {
  side: number;
  channels: number;
}
export const MNIST_GEOMETRY: ImageGeometry = { side: 28, channels: 1 };

/** The feature map side after each conv layer + pool, or the layer where it vanishes. */
function convSides(a: { convLayers: number; pool: number }, side: number): number[] {
  const out: number[] = [];
  for (let l = 0; l < a.convLayers; l++) {
    side = Math.floor((side - 2) / a.pool);
    out.push(side);
  }
  return out;
}

/** Refuses a spec whose feature map vanishes on images of this size. */
export function checkArchFits(a: ArchSpec, g: ImageGeometry = MNIST_GEOMETRY): void {
  if (a.kind !== 'cnn') return;
  const sides = convSides(a, g.side);
  const bad = sides.findIndex((s) => s < 1);
  if (bad >= 0) throw new InvalidArgumentError('arch', a.text, `the feature map vanishes after conv layer ${bad + 1} (3x3 valid conv then ${a.pool}x${a.pool} pool) on ${g.side}x${g.side} images`);
}

export function parseArch(text: string): ArchSpec {
  const dense = /^dense:(\d+(?:,\d+)*)$/.exec(text);
  if (dense) {
    const hidden = dense[1].split(',').map(Number);
    if (hidden.some((h) => h < 1 || h > 4096)) throw new InvalidArgumentError('arch', text, 'hidden layer sizes must be in 1..4096');
    return { kind: 'dense', hidden, text };
  }
  const cnn = /^cnn:(\d+)x(\d+)\/p(\d+)\/h(\d+)$/.exec(text);
  if (cnn) {
    const [convLayers, filters, pool, hidden] = cnn.slice(1).map(Number);
    if (convLayers < 1 || filters < 1 || pool < 1 || hidden < 1) throw new InvalidArgumentError('arch', text, 'L, F, P and H must be positive');
    const spec: ArchSpec = { kind: 'cnn', convLayers, filters, pool, hidden, text };
    checkArchFits(spec);
    return spec;
  }
  throw new InvalidArgumentError('arch', text, 'expected dense:H[,H...] or cnn:LxF/pP/hH (e.g. dense:32,32, cnn:2x8/p2/h16)');
}

/** Weights + biases of every layer, computed from the spec alone. */
export function synapses(a: ArchSpec, g: ImageGeometry = MNIST_GEOMETRY): number {
  let total = 0;
  if (a.kind === 'dense') {
    let fanIn = g.side * g.side * g.channels;
    for (const h of [...a.hidden, CLASSES]) {
      total += fanIn * h + h;
      fanIn = h;
    }
    return total;
  }
  let side = g.side;
  let ch = g.channels;
  for (let l = 0; l < a.convLayers; l++) {
    total += 9 * ch * a.filters + a.filters;
    ch = a.filters;
    side = Math.floor((side - 2) / a.pool);
  }
  const flat = side * side * ch;
  total += flat * a.hidden + a.hidden + a.hidden * CLASSES + CLASSES;
  return total;
}

/** Input tensor shape for a spec (without the batch dimension). */
export function inputShape(a: ArchSpec, g: ImageGeometry = MNIST_GEOMETRY): number[] {
  return a.kind === 'dense' ? [g.side * g.side * g.channels] : [g.side, g.side, g.channels];
}

export function buildModel(tf: Tf, a: ArchSpec, seed: number, g: ImageGeometry = MNIST_GEOMETRY): TF.Sequential {
  checkArchFits(a, g);
  const shape = inputShape(a, g);
  const m = tf.sequential();
  let s = seed;
  const init = () => tf.initializers.glorotUniform({ seed: s++ });
  if (a.kind === 'dense') {
    a.hidden.forEach((h, i) => m.add(tf.layers.dense({ units: h, activation: 'relu', kernelInitializer: init(), ...(i === 0 ? { inputShape: shape } : {}) })));
  } else {
    for (let l = 0; l < a.convLayers; l++) {
      m.add(tf.layers.conv2d({ filters: a.filters, kernelSize: 3, padding: 'valid', activation: 'relu', kernelInitializer: init(), ...(l === 0 ? { inputShape: shape } : {}) }));
      m.add(tf.layers.maxPooling2d({ poolSize: a.pool, strides: a.pool }));
    }
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: a.hidden, activation: 'relu', kernelInitializer: init() }));
  }
  m.add(tf.layers.dense({ units: CLASSES, activation: 'softmax', kernelInitializer: init() }));
  return m;
}
