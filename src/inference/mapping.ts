/**
 * Weight -> conductance mapping schemes and their inverse. Per layer, weights (and the bias row)
 * are scaled by one factor alpha and quantized to the nearest weight the scheme can represent
 * with the nominal level values; each physical cell gets a target level index.
 *
 *  - diff   (differential pair): w = alpha (G+ - G-); the unused cell of a pair sits at level 0.
 *  - offset (seed 001): one extra column per layer; w = alpha (G_ij - G_offset,i), the offset
 *    column's cells programmed to the level that represents weight 0.
 *  - signed (seed 003): one cell per weight against a fixed reference current produced by the
 *    periphery (noise-free): w = alpha (G_ij - G_ref). With 2 levels (binary weights) the
 *    reference is their midpoint; with more it is the middle level's value, so that weight 0 has a
 *    level (a midpoint between levels would leave no zero and push every small weight to +-1 step).
 *
 * Values are read currents at the verify voltage (A): the verify voltage cancels in alpha.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { WeightOp } from './crossbar-net.js';

export type Scheme = 'diff' | 'offset' | 'signed';
export const SCHEMES: Scheme[] = ['diff', 'offset', 'signed'];
export const ARRAY_SIDE = 64;
/** The most levels a layer maps to: level indices are stored as bytes, and 128 is seed 001's top. */
export const MAX_LEVELS = 128;
/** Simulated crossbar sides (`--tile`): seed 002 compares 64, 128 and 256. */
export const MIN_TILE = 8;
export const MAX_TILE = 1024;

/** Tiles of side `tile` a rows x physCols block takes. */
export const tilesFor = (rows: number, physCols: number, tile = ARRAY_SIDE): number => Math.ceil(rows / tile) * Math.ceil(physCols / tile);

export function parseScheme(s: string): Scheme {
  if ((SCHEMES as string[]).includes(s)) return s as Scheme;
  throw new InvalidArgumentError('mapping', s, `must be one of ${SCHEMES.join(', ')}`);
}

export interface MappedLayer {
  name: string;
  scheme: Scheme;
  rows: number;
  cols: number;
  alpha: number;
  /** Level index of the main cell of each weight (rows x cols). */
  pos: Uint8Array;
  /** diff: level of the partner cell (rows x cols); offset: level of each row's offset cell (rows). */
  neg?: Uint8Array;
  /** signed: the reference value (A). */
  ref?: number;
  /** Quantile of the weights the levels span (1 = the extremes). */
  clip: number;
  /** Noise-free effective weights: effective() of the nominal level values. */
  quantized: Float32Array;
  /** Physical cells and 64x64 arrays (tiles) this layer takes. */
  physCols: number;
  cells: number;
  arrays: number;
}

/** Level index whose value is nearest to `x` among the sorted candidates (value, level). */
function nearest(cands: { v: number; pos: number; neg: number }[], x: number): { pos: number; neg: number } {
  let lo = 0;
  let hi = cands.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (cands[mid].v <= x) lo = mid;
    else hi = mid;
  }
  return Math.abs(cands[lo].v - x) <= Math.abs(cands[hi].v - x) ? cands[lo] : cands[hi];
}

export function validateLevels(levels: number[]): void {
  if (levels.length < 2 || levels.length > MAX_LEVELS) throw new InvalidArgumentError('levels', levels.length, `must be in 2..${MAX_LEVELS}`);
  for (let k = 1; k < levels.length; k++) {
    if (!(levels[k] > levels[k - 1])) throw new InvalidArgumentError('levels', levels.map((v) => v.toExponential(3)).join(','), `level values must increase (level ${k} <= level ${k - 1})`);
  }
}

/**
 * The weight range a layer's levels span. With `clip` < 1 the range ends at that quantile of the
 * weights (|w| for the symmetric schemes) instead of the extremes: the few outliers training
 * leaves are clipped to the top level, and the levels resolve the bulk of the weights.
 */
function weightRange(W: Float32Array, clip: number): WeightRange {
  if (clip >= 1) {
    let wmin = Infinity;
    let wmax = -Infinity;
    for (const w of W) {
      if (w < wmin) wmin = w;
      if (w > wmax) wmax = w;
    }
    return { wmin, wmax, amax: Math.max(Math.abs(wmin), Math.abs(wmax)) };
  }
  const s = Float32Array.from(W).sort();
  const a = Float32Array.from(W, Math.abs).sort();
  const at = (xs: Float32Array, p: number) => xs[Math.min(xs.length - 1, Math.max(0, Math.round(p * (xs.length - 1))))];
  return { wmin: at(s, 1 - clip), wmax: at(s, clip), amax: at(a, clip) };
}

/**
 * How weights become levels: `nearest` (each weight to the nearest value the scheme represents) or
 * `histogram-bins` (seed 001's MATLAB: N equal-width bins over [wmin, wmax], each weight replaced by
 * its bin's centre; one cell per weight against an ideal reference, so `signed` only).
 */
export type Quantizer = 'nearest' | 'histogram-bins';
export const QUANTIZERS: Quantizer[] = ['nearest', 'histogram-bins'];
/** Whose weights set the range: each layer its own (layer-by-layer), or the whole network's (seed 001's Table 2). */
export type QuantizeScope = 'layer' | 'network';

export interface MapOptions {
  clip?: number;
  quantizer?: Quantizer;
  scope?: QuantizeScope;
  /** Crossbar side the layers are cut into (default ARRAY_SIDE): sets each layer's `arrays`. */
  tile?: number;
}

export function parseQuantizer(s: string): Quantizer {
  if ((QUANTIZERS as string[]).includes(s)) return s as Quantizer;
  throw new InvalidArgumentError('quantizer', s, `must be one of ${QUANTIZERS.join(', ')}`);
}

export function parseScope(s: string): QuantizeScope {
  if (s === 'layer' || s === 'network') return s;
  throw new InvalidArgumentError('quantize-scope', s, 'must be layer or network');
}

/** Every weight layer mapped; with scope `network` the range comes from all layers' weights together. */
export function mapNet(ops: WeightOp[], levels: number[], scheme: Scheme, o: MapOptions = {}): MappedLayer[] {
  const clip = o.clip ?? 1;
  let range: WeightRange | undefined;
  if (o.scope === 'network') {
    const all = new Float32Array(ops.reduce((n, op) => n + op.W.length, 0));
    let at = 0;
    for (const op of ops) {
      all.set(op.W, at);
      at += op.W.length;
    }
    range = weightRange(all, clip);
  }
  const tile = o.tile ?? ARRAY_SIDE;
  return ops.map((op) => {
    const l = mapLayer(op, levels, scheme, clip, { quantizer: o.quantizer, range });
    l.arrays = tilesFor(l.rows, l.physCols, tile);
    return l;
  });
}

type WeightRange = { wmin: number; wmax: number; amax: number };

export function mapLayer(op: WeightOp, levels: number[], scheme: Scheme, clip = 1, o: { quantizer?: Quantizer; range?: WeightRange } = {}): MappedLayer {
  validateLevels(levels);
  if (!(clip > 0.5 && clip <= 1)) throw new InvalidArgumentError('clip', clip, 'must be a quantile in (0.5, 1], e.g. 0.999');
  const rows = op.fanIn + 1;
  const cols = op.units;
  const n = levels.length;
  const m0 = levels[0];
  const top = levels[n - 1];
  const { wmin, wmax, amax: a } = o.range ?? weightRange(op.W, clip);
  if (o.quantizer === 'histogram-bins') return binLayer(op, levels, scheme, clip, wmin, wmax);
  const amax = a || 1;
  let alpha: number;
  let ref: number | undefined;
  let offsetLevel = 0;
  const cands: { v: number; pos: number; neg: number }[] = [];
  if (scheme === 'diff') {
    alpha = amax / (top - m0);
    for (let k = n - 1; k >= 1; k--) cands.push({ v: -alpha * (levels[k] - m0), pos: 0, neg: k });
    cands.push({ v: 0, pos: 0, neg: 0 });
    for (let k = 1; k < n; k++) cands.push({ v: alpha * (levels[k] - m0), pos: k, neg: 0 });
  } else if (scheme === 'offset') {
    const lo = Math.min(wmin, 0);
    const hi = Math.max(wmax, 0);
    alpha = (hi - lo || 1) / (top - m0);
    // The offset level is the one that best represents weight 0 after the shift by the minimum.
    let best = Infinity;
    for (let k = 0; k < n; k++) {
      const e = Math.abs(alpha * (levels[k] - m0) + lo);
      if (e < best) {
        best = e;
        offsetLevel = k;
      }
    }
    for (let k = 0; k < n; k++) cands.push({ v: alpha * (levels[k] - levels[offsetLevel]), pos: k, neg: offsetLevel });
  } else {
    const mid = (m0 + top) / 2;
    ref = n === 2 ? mid : Math.fround(levels.reduce((b, v) => (Math.abs(v - mid) < Math.abs(b - mid) ? v : b), levels[0]));
    // The scale of the symmetric span (as with the midpoint): levels beyond +-amax on the longer side clip.
    alpha = amax / ((top - m0) / 2);
    for (let k = 0; k < n; k++) cands.push({ v: alpha * (levels[k] - ref), pos: k, neg: 0 });
  }
  const pos = new Uint8Array(rows * cols);
  const neg = scheme === 'diff' ? new Uint8Array(rows * cols) : scheme === 'offset' ? new Uint8Array(rows).fill(offsetLevel) : undefined;
  for (let i = 0; i < op.W.length; i++) {
    const c = nearest(cands, op.W[i]);
    pos[i] = c.pos;
    if (scheme === 'diff') neg![i] = c.neg;
  }
  const physCols = scheme === 'diff' ? 2 * cols : scheme === 'offset' ? cols + 1 : cols;
  const layer: MappedLayer = {
    name: op.name,
    scheme,
    rows,
    cols,
    alpha,
    pos,
    neg,
    ref,
    clip,
    quantized: new Float32Array(rows * cols),
    physCols,
    cells: rows * physCols,
    arrays: tilesFor(rows, physCols),
  };
  const gp = levelValues(pos, levels);
  const gn = neg ? levelValues(neg, levels) : undefined;
  effective(layer, gp, gn, layer.quantized);
  return layer;
}

/**
 * Seed 001's quantizer: n equal-width bins over [wmin, wmax]; bin k holds level k and stands for
 * its centre c_k = wmin + (k + 1/2) delta. w = alpha (G - ref) with alpha and ref the least-squares
 * line through (G_k, c_k): exact for levels evenly spaced in conductance (seed 001's assumption,
 * `--dynamic-range`), the best straight line otherwise. Weight 0 is generally no bin's centre:
 * small weights move by up to half a bin (the paper's loss at few levels).
 */
function binLayer(op: WeightOp, levels: number[], scheme: Scheme, clip: number, wmin: number, wmax: number): MappedLayer {
  if (scheme !== 'signed') throw new InvalidArgumentError('quantizer', 'histogram-bins', 'puts one cell per weight against a reference: use --mapping signed');
  const rows = op.fanIn + 1;
  const cols = op.units;
  const n = levels.length;
  const span = wmax - wmin || 1;
  const delta = span / n;
  const c = levels.map((_, k) => wmin + (k + 0.5) * delta);
  const mG = levels.reduce((a, g) => a + g, 0) / n;
  const mC = c.reduce((a, x) => a + x, 0) / n;
  let sGC = 0;
  let sGG = 0;
  levels.forEach((g, k) => {
    sGC += (g - mG) * (c[k] - mC);
    sGG += (g - mG) ** 2;
  });
  const alpha = sGC / sGG;
  const ref = mG - mC / alpha;
  const pos = new Uint8Array(rows * cols);
  for (let i = 0; i < op.W.length; i++) pos[i] = Math.min(n - 1, Math.max(0, Math.floor((op.W[i] - wmin) / delta)));
  const layer: MappedLayer = { name: op.name, scheme, rows, cols, alpha, pos, ref, clip, quantized: new Float32Array(rows * cols), physCols: cols, cells: rows * cols, arrays: tilesFor(rows, cols) };
  effective(layer, levelValues(pos, levels), undefined, layer.quantized);
  return layer;
}

/** The nominal value of each cell's level (a plain loop: hardware-aware training maps every batch). */
function levelValues(idx: Uint8Array, levels: number[]): Float32Array {
  const out = new Float32Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = levels[idx[i]];
  return out;
}

/**
 * Effective weights from (sampled or nominal) cell values: the crossbar's column currents
 * combined as the periphery does, divided back by alpha.
 */
/** What effective() needs of a mapped layer (workers get only this much). */
export type LayerScaling = Pick<MappedLayer, 'scheme' | 'rows' | 'cols' | 'alpha' | 'ref'>;

export function effective(l: LayerScaling, gPos: Float32Array, gNeg: Float32Array | undefined, out: Float32Array): Float32Array {
  const a = l.alpha;
  if (l.scheme === 'diff') {
    for (let i = 0; i < out.length; i++) out[i] = a * (gPos[i] - gNeg![i]);
  } else if (l.scheme === 'offset') {
    for (let r = 0, i = 0; r < l.rows; r++) {
      const g0 = gNeg![r];
      for (let c = 0; c < l.cols; c++, i++) out[i] = a * (gPos[i] - g0);
    }
  } else {
    const ref = l.ref!;
    for (let i = 0; i < out.length; i++) out[i] = a * (gPos[i] - ref);
  }
  return out;
}

export interface MappingReport {
  scheme: Scheme;
  clip: number;
  quantizer: Quantizer;
  scope: QuantizeScope;
  /** Crossbar side the arrays are counted in. */
  tile: number;
  /** Per layer: its size, and how the quantizer used the levels: the share of weights that became 0 and the levels any cell takes. */
  layers: { name: string; rows: number; cols: number; physCols: number; cells: number; arrays: number; zeroShare: number; levelsUsed: number[] }[];
  cells: number;
  /** tile x tile arrays when every layer gets its own tiles. */
  arrays: number;
}

export function mappingReport(layers: MappedLayer[], o: MapOptions = {}): MappingReport {
  return {
    scheme: layers[0].scheme,
    clip: layers[0].clip,
    quantizer: o.quantizer ?? 'nearest',
    scope: o.scope ?? 'layer',
    tile: o.tile ?? ARRAY_SIDE,
    layers: layers.map((l) => ({ name: l.name, rows: l.rows, cols: l.cols, physCols: l.physCols, cells: l.cells, arrays: l.arrays, ...levelUse(l) })),
    cells: layers.reduce((s, l) => s + l.cells, 0),
    arrays: layers.reduce((s, l) => s + l.arrays, 0),
  };
}

/** The share of a layer's weights quantized to exactly 0, and the level indices its cells take. */
export function levelUse(l: MappedLayer): { zeroShare: number; levelsUsed: number[] } {
  let zeros = 0;
  for (const q of l.quantized) if (q === 0) zeros++;
  const used = new Set<number>(l.pos);
  if (l.neg) for (const k of l.neg) used.add(k);
  return { zeroShare: zeros / Math.max(1, l.quantized.length), levelsUsed: [...used].sort((a, b) => a - b) };
}
