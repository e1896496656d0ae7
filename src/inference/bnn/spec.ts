/**
 * Binary and low-precision MLPs (seed 003, BinaryNet style): `bnn:IN-H-...-OUT` with a centre crop
 * of the 28x28 image (IN = crop^2, the input binarized), weights on the grid of `weightBits`
 * ({-1, +1} for 1 bit, the integers -2^(B-1) .. 2^(B-1)-1 above) and activations on that of
 * `actBits` ({0, 1} for 1 bit, 0 .. 2^A-1 above), batch norm after every layer.
 */
import { InvalidArgumentError } from '../../../drivers/errors.js';

export interface BnnSpec {
  kind: 'bnn';
  /** Layer widths, input first (400-128-128-10). */
  sizes: number[];
  crop: number;
  weightBits: number;
  actBits: number;
  /** Batch norm after each layer (the paper's baseline; without it a binary net does not train). */
  bn: boolean;
  text: string;
}

export const WEIGHT_BITS = [1, 2, 3, 4, 6, 8];
export const ACT_BITS = [1, 2, 3, 6, 8];

export function parseBnn(text: string, o: { crop?: number; weightBits?: number; actBits?: number; bn?: boolean } = {}): BnnSpec {
  const m = /^bnn:(\d+(?:-\d+)+)$/.exec(text);
  if (!m) throw new InvalidArgumentError('arch', text, 'expected bnn:IN-H[-H...]-OUT, e.g. bnn:400-128-128-10');
  const sizes = m[1].split('-').map(Number);
  if (sizes.length < 2 || sizes.some((s) => s < 1 || s > 4096)) throw new InvalidArgumentError('arch', text, 'layer sizes must be in 1..4096, input and output included');
  if (sizes[sizes.length - 1] !== 10) throw new InvalidArgumentError('arch', text, 'the output layer must have 10 units (MNIST / Fashion-MNIST classes)');
  const crop = o.crop ?? Math.round(Math.sqrt(sizes[0]));
  if (!Number.isInteger(crop) || crop < 4 || crop > 28) throw new InvalidArgumentError('crop', crop, 'must be an integer in 4..28');
  if (crop * crop !== sizes[0]) throw new InvalidArgumentError('arch', text, `the input size ${sizes[0]} must be crop^2 = ${crop * crop} (--crop ${crop})`);
  const weightBits = o.weightBits ?? 1;
  const actBits = o.actBits ?? 1;
  if (!WEIGHT_BITS.includes(weightBits)) throw new InvalidArgumentError('weight-bits', weightBits, `must be one of ${WEIGHT_BITS.join(', ')}`);
  if (!ACT_BITS.includes(actBits)) throw new InvalidArgumentError('act-bits', actBits, `must be one of ${ACT_BITS.join(', ')}`);
  return { kind: 'bnn', sizes, crop, weightBits, actBits, bn: o.bn ?? true, text };
}

/** Synapse bits as the paper counts them: weights x bits, no biases (400x128+128x128+128x10 = 68,864 for 1 bit). */
export function synapseBits(s: BnnSpec): number {
  let n = 0;
  for (let l = 1; l < s.sizes.length; l++) n += s.sizes[l - 1] * s.sizes[l];
  return n * s.weightBits;
}

/** The weight grid's ends. */
export function weightGrid(bits: number): { min: number; max: number } {
  return bits === 1 ? { min: -1, max: 1 } : { min: -(2 ** (bits - 1)), max: 2 ** (bits - 1) - 1 };
}

export function quantizeWeight(w: number, bits: number): number {
  if (bits === 1) return w >= 0 ? 1 : -1;
  const g = weightGrid(bits);
  return Math.min(g.max, Math.max(g.min, Math.round(w)));
}

/** Activation on its grid: {0, 1} (z >= 0) for 1 bit; round((z + 1) / 2 (2^A - 1)) clipped above. */
export function quantizeAct(z: number, bits: number): number {
  if (bits === 1) return z >= 0 ? 1 : 0;
  const top = 2 ** bits - 1;
  return Math.min(top, Math.max(0, Math.round(((z + 1) / 2) * top)));
}

/** Centre crop of 28x28 images to crop x crop, binarized at 0.5 (the paper binarizes the input). */
export function cropBinarize(images: Float32Array, n: number, crop: number): Float32Array {
  const off = Math.floor((28 - crop) / 2);
  const out = new Float32Array(n * crop * crop);
  for (let i = 0; i < n; i++)
    for (let r = 0; r < crop; r++)
      for (let c = 0; c < crop; c++) out[(i * crop + r) * crop + c] = images[i * 784 + (r + off) * 28 + c + off] >= 0.5 ? 1 : 0;
  return out;
}
