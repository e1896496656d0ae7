/**
 * A programmed net evaluated through the board's analog MVM (`rram infer --on-board`,
 * docs/array-effects.md "On-board inference"): every weight layer's products are the column
 * currents of its tiles, measured; pooling, activations and the pair / offset / reference
 * subtraction are digital, as a compute-in-memory chip's periphery does them.
 *
 * Inputs to a layer (the bias row driven at 1; at 0 when the layer has a digital scale and shift,
 * `post`, which replaces it, as forward-tf.ts computes the read-back) are scaled per input vector so that its largest
 * entry drives vIn, and put on the board's DAC grid (the input quantization a real DAC imposes);
 * the scale is undone digitally. Cell values of the mapping are read currents at vread, so a
 * column current J of a vector scaled by s stands for sum_i x_i I_ij = (vread / s) J.
 * Images go in batches: one MVM call per tile and batch carries every vector of the batch (every
 * output position of every image for a convolution), which the serial driver packs into as few
 * requests as the board and the line allow, all in flight at once.
 */
import type { MvmTile } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { CrossbarNet, WeightOp, Act } from './crossbar-net.js';
import type { Scheme } from './mapping.js';
import type { TileGeometry } from './placement.js';

/** What the forward pass needs of a mapped layer (stored by `program-net --keep`). */
export interface OnBoardLayer {
  name: string;
  scheme: Scheme;
  rows: number;
  cols: number;
  physCols: number;
  alpha: number;
  ref?: number;
}
/** Where a tile of a layer sits: its block of the layer's physical matrix and the array rows and columns it took. */
export type OnBoardTile = Pick<TileGeometry, 'layer' | 'array' | 'row0' | 'col0' | 'rows' | 'cols' | 'rowAt' | 'colAt'>;
export type MvmFn = (t: MvmTile, voltages_V: Float64Array) => Promise<Float64Array>;

/** The board's MVM with the run's abort signal on every call (Board.mvm: the requests not yet sent are dropped). */
export function signalled(mvm: (t: MvmTile, v: Float64Array, o?: { signal?: AbortSignal }) => Promise<Float64Array>, signal?: AbortSignal): MvmFn {
  return signal ? (t, v) => mvm(t, v, { signal }) : (t, v) => mvm(t, v);
}

export interface OnBoardOptions {
  /** Drive voltage of a layer input's largest entry (V); at most the board's vread_max. */
  vIn_V: number;
  dacStep_V: number;
  /** Read voltage the mapping's cell values are currents at. */
  vread_V: number;
}

/** A batch of activations: n items of shape (h, w, c) (dense: h = w = 1), channels last. */
interface Act3 {
  n: number;
  h: number;
  w: number;
  c: number;
  data: Float64Array;
}

/** Physical column currents of a layer for n input vectors (fanIn + 1 entries each, bias last): the sum over its tiles. */
async function layerCurrents(mvm: MvmFn, l: OnBoardLayer, tiles: OnBoardTile[], V: Float64Array, n: number): Promise<Float64Array> {
  const J = new Float64Array(n * l.physCols);
  for (const t of tiles) {
    const rmin = Math.min(...t.rowAt);
    const rmax = Math.max(...t.rowAt);
    const cmin = Math.min(...t.colAt);
    const cmax = Math.max(...t.colAt);
    const R = rmax - rmin + 1;
    const C = cmax - cmin + 1;
    // Rows of the bounding box the tile does not use stay at 0 V: they add nothing.
    const v = new Float64Array(n * R);
    for (let k = 0; k < n; k++) for (let r = 0; r < t.rows; r++) v[k * R + t.rowAt[r] - rmin] = V[k * l.rows + t.row0 + r];
    const out = await mvm({ array: t.array, row0: rmin, col0: cmin, rows: R, cols: C }, v);
    for (let k = 0; k < n; k++) for (let c = 0; c < t.cols; c++) J[k * l.physCols + t.col0 + c] += out[k * C + t.colAt[c] - cmin];
  }
  return J;
}

/** Input vectors of a weight op: dense = the flattened item; conv = one patch per output position (im2col, the kernel's row order); the bias row last (0 under a digital shift). */
function inputVectors(op: WeightOp, a: Act3): { X: Float64Array; n: number; oh: number; ow: number } {
  const rows = op.fanIn + 1;
  const bias = op.post ? 0 : 1;
  if (op.op === 'dense') {
    const X = new Float64Array(a.n * rows);
    const len = a.h * a.w * a.c;
    if (len !== op.fanIn) throw new InvalidArgumentError('model', op.name, `expects ${op.fanIn} inputs, gets ${len}`);
    for (let k = 0; k < a.n; k++) {
      X.set(a.data.subarray(k * len, (k + 1) * len), k * rows);
      X[k * rows + op.fanIn] = bias;
    }
    return { X, n: a.n, oh: 1, ow: 1 };
  }
  if (op.padding !== 'valid') throw new InvalidArgumentError('model', op.name, `on-board inference supports valid convolutions only (padding ${op.padding})`);
  const [kh, kw] = op.kernel!;
  const [sy, sx] = op.strides!;
  const oh = Math.floor((a.h - kh) / sy) + 1;
  const ow = Math.floor((a.w - kw) / sx) + 1;
  const n = a.n * oh * ow;
  const X = new Float64Array(n * rows);
  let k = 0;
  for (let b = 0; b < a.n; b++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++, k++) {
        let i = k * rows;
        for (let dy = 0; dy < kh; dy++)
          for (let dx = 0; dx < kw; dx++) {
            const at = ((b * a.h + y * sy + dy) * a.w + x * sx + dx) * a.c;
            for (let ci = 0; ci < a.c; ci++) X[i++] = a.data[at + ci];
          }
        X[i] = bias;
      }
  return { X, n, oh, ow };
}

function activate(act: Act, y: Float64Array, units: number, name: string): void {
  if (act === 'relu') for (let i = 0; i < y.length; i++) y[i] = Math.max(0, y[i]);
  else if (act === 'sigmoid') for (let i = 0; i < y.length; i++) y[i] = 1 / (1 + Math.exp(-y[i]));
  else if (act === 'tanh') for (let i = 0; i < y.length; i++) y[i] = Math.tanh(y[i]);
  else if (act === 'softmax') {
    for (let k = 0; k < y.length; k += units) {
      let m = -Infinity;
      for (let j = 0; j < units; j++) m = Math.max(m, y[k + j]);
      let s = 0;
      for (let j = 0; j < units; j++) s += y[k + j] = Math.exp(y[k + j] - m);
      for (let j = 0; j < units; j++) y[k + j] /= s;
    }
  } else if (act !== 'linear') throw new InvalidArgumentError('model', name, `activation ${act} is not supported on the board`);
}

/** One weight op through the board: outputs (n items x units) with the layer's activation. */
async function weightLayer(mvm: MvmFn, op: WeightOp, l: OnBoardLayer, tiles: OnBoardTile[], a: Act3, o: OnBoardOptions): Promise<Act3> {
  const { X, n, oh, ow } = inputVectors(op, a);
  const rows = op.fanIn + 1;
  if (rows !== l.rows) throw new InvalidArgumentError('model', op.name, `has ${rows} crossbar rows, the programmed layer ${l.name} ${l.rows}`);
  const V = new Float64Array(X.length);
  const e = new Float64Array(n); // vread / s per vector
  const xsum = new Float64Array(n); // the quantized inputs' sum (signed: the reference current's share)
  const step = o.dacStep_V;
  for (let k = 0; k < n; k++) {
    let m = 0;
    for (let i = 0; i < rows; i++) {
      const x = X[k * rows + i];
      if (x < 0) throw new InvalidArgumentError('model', op.name, `input ${x} < 0: the board drives rows with non-negative voltages only (use ReLU / pooling before a crossbar layer)`);
      m = Math.max(m, x);
    }
    // An all-zero vector (possible with the bias row at 0) drives nothing: any finite scale.
    const s = m > 0 ? o.vIn_V / m : o.vIn_V;
    e[k] = o.vread_V / s;
    for (let i = 0; i < rows; i++) {
      const v = Math.round((X[k * rows + i] * s) / step) * step;
      V[k * rows + i] = Math.round(v * 1e6) / 1e6;
      xsum[k] += V[k * rows + i] / s;
    }
  }
  const J = await layerCurrents(mvm, l, tiles, V, n);
  const y = new Float64Array(n * l.cols);
  for (let k = 0; k < n; k++)
    for (let c = 0; c < l.cols; c++) {
      const j = k * l.physCols;
      const v = l.scheme === 'diff' ? e[k] * (J[j + 2 * c] - J[j + 2 * c + 1]) : l.scheme === 'offset' ? e[k] * (J[j + c] - J[j + l.cols]) : e[k] * J[j + c] - l.ref! * xsum[k];
      y[k * l.cols + c] = l.alpha * v * (op.post ? op.post.scale[c] : 1) + (op.post ? op.post.shift[c] : 0);
    }
  activate(op.act, y, l.cols, op.name);
  return op.op === 'conv' ? { n: a.n, h: oh, w: ow, c: l.cols, data: y } : { n: a.n, h: 1, w: 1, c: l.cols, data: y };
}

function maxpool(a: Act3, pool: [number, number], strides: [number, number], padding: string): Act3 {
  if (padding !== 'valid') throw new InvalidArgumentError('model', padding, 'on-board inference supports valid max-pooling only');
  const oh = Math.floor((a.h - pool[0]) / strides[0]) + 1;
  const ow = Math.floor((a.w - pool[1]) / strides[1]) + 1;
  const out = new Float64Array(a.n * oh * ow * a.c).fill(-Infinity);
  for (let b = 0; b < a.n; b++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++)
        for (let dy = 0; dy < pool[0]; dy++)
          for (let dx = 0; dx < pool[1]; dx++) {
            const at = ((b * a.h + y * strides[0] + dy) * a.w + x * strides[1] + dx) * a.c;
            const to = ((b * oh + y) * ow + x) * a.c;
            for (let c = 0; c < a.c; c++) out[to + c] = Math.max(out[to + c], a.data[at + c]);
          }
  return { n: a.n, h: oh, w: ow, c: a.c, data: out };
}

/** Runs ops [from, to) of the net on a batch; weight ops through the board, `li` the first one's layer index. */
async function runOps(net: CrossbarNet, from: number, to: number, li: number, layers: OnBoardLayer[], tiles: OnBoardTile[], mvm: MvmFn, a: Act3, o: OnBoardOptions): Promise<Act3> {
  for (const op of net.ops.slice(from, to)) {
    if (op.op === 'flatten') a = { n: a.n, h: 1, w: 1, c: a.h * a.w * a.c, data: a.data };
    else if (op.op === 'maxpool') a = maxpool(a, op.pool, op.strides, op.padding);
    else if (op.op === 'act') activate(op.act, a.data, a.c, 'act');
    else {
      a = await weightLayer(mvm, op, layers[li], tiles.filter((t) => t.layer === li), a, o);
      li++;
    }
  }
  return a;
}

const isWeight = (op: CrossbarNet['ops'][number]) => op.op === 'dense' || op.op === 'conv';

/**
 * Classes predicted for `n` images (`x`: n x the net's input size, channels last) through the
 * board: the weight ops in order, each on its layer's tiles.
 */
export async function predictOnBoard(net: CrossbarNet, layers: OnBoardLayer[], tiles: OnBoardTile[], mvm: MvmFn, x: Float32Array, n: number, o: OnBoardOptions): Promise<{ classes: Int32Array; outputs: Float64Array }> {
  if (net.input) throw new InvalidArgumentError('model', 'bnn', 'binary nets (input crop and binarization, comparators) are not evaluated on the board');
  const [h, w, c] = net.inputShape.length === 3 ? net.inputShape : [1, 1, net.inputShape[0]];
  const a = await runOps(net, 0, net.ops.length, 0, layers, tiles, mvm, { n, h, w, c, data: Float64Array.from(x) }, o);
  const out = new Int32Array(n);
  const units = a.h * a.w * a.c;
  for (let k = 0; k < n; k++) {
    let best = 0;
    for (let j = 1; j < units; j++) if (a.data[k * units + j] > a.data[k * units + best]) best = j;
    out[k] = best;
  }
  return { classes: out, outputs: a.data };
}

/**
 * Weight layer `li` measured through the board for `n` inputs (`x`: the layer's inputs, shape
 * `shape` per item, as the layer before hands them on), with the ops after it up to the next
 * weight layer (activation, pooling, flattening): what the next layer receives, and its shape
 * ([units] once flat, else [h, w, c]). Program-net's progressive fine-tuning trains the layers
 * not yet programmed on these.
 */
export async function layerOnBoard(net: CrossbarNet, li: number, layers: OnBoardLayer[], tiles: OnBoardTile[], mvm: MvmFn, x: ArrayLike<number>, shape: number[], n: number, o: OnBoardOptions): Promise<{ data: Float64Array; shape: number[] }> {
  if (net.input) throw new InvalidArgumentError('model', 'bnn', 'binary nets (input crop and binarization, comparators) are not evaluated on the board');
  let k = -1;
  const from = net.ops.findIndex((op) => isWeight(op) && ++k === li);
  if (from < 0) throw new InvalidArgumentError('layer', li, `the net has ${k + 1} weight layers`);
  const next = net.ops.findIndex((op, i) => i > from && isWeight(op));
  const to = next < 0 ? net.ops.length : next;
  const [h, w, c] = shape.length === 3 ? shape : [1, 1, shape[0]];
  const a = await runOps(net, from, to, li, layers, tiles, mvm, { n, h, w, c, data: Float64Array.from(x) }, o);
  let flat = shape.length === 1;
  for (const op of net.ops.slice(from, to)) if (op.op !== 'act') flat = op.op === 'flatten' || op.op === 'dense';
  return { data: a.data, shape: flat ? [a.c] : [a.h, a.w, a.c] };
}
