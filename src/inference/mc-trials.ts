/**
 * Runs a range of Monte Carlo trials for a dense chain: per trial, draw every cell, turn the
 * cells into effective weights, and hand 8 trials at a time to the kernel. Trial k is seeded by
 * (seed, k) alone, so results do not depend on how trials are split over workers.
 */
import { CellSampler, type DeviceModel } from './device-models.js';
import { effective, type MappedLayer } from './mapping.js';
import { loadKernel, padCols, TRIALS_PER_BLOCK, type Csr, type KernelChoice, type KernelLayer } from './mc-kernel.js';

export type McLayer = Pick<MappedLayer, 'scheme' | 'rows' | 'cols' | 'alpha' | 'ref' | 'pos' | 'neg' | 'name'> & {
  /** Known cell values (NaN where the cell is drawn). */
  posFixed?: Float32Array;
  negFixed?: Float32Array;
  /** A layer left digital: these effective weights in every trial, no cells drawn. */
  digital?: Float32Array;
};

/** A trial's effective weights of a layer: drawn cells, or the digital weights. */
export function layerWeights(sampler: CellSampler, l: McLayer, gp: Float32Array, gn: Float32Array | undefined, eff: Float32Array): Float32Array {
  if (l.digital) return l.digital;
  sampleLayer(sampler, l, gp, gn);
  return effective(l, gp, gn, eff);
}

/** Draws a layer's cells for the current trial, then puts the known ones in. */
export function sampleLayer(sampler: CellSampler, l: McLayer, gp: Float32Array, gn: Float32Array | undefined): void {
  sampler.sample(l.pos, gp);
  if (l.neg) sampler.sample(l.neg, gn!);
  const put = (fixed: Float32Array | undefined, out: Float32Array | undefined) => {
    if (!fixed || !out) return;
    for (let i = 0; i < fixed.length; i++) if (fixed[i] === fixed[i]) out[i] = fixed[i];
  };
  put(l.posFixed, gp);
  put(l.negFixed, gn);
}

/** What every trial runner gets: the cells' device model and trials [first, first + count) of `seed`, scored against `labels`. */
export interface TrialSlice {
  device: DeviceModel;
  seed: number;
  labels: Uint8Array;
  first: number;
  count: number;
  /** A shared flag (SharedArrayBuffer): once set, the runner stops before its next trial (block) and returns what it did. */
  stop?: Int32Array;
}

/** Whether the job was asked to stop (an abort). */
export const stopped = (job: TrialSlice): boolean => !!job.stop && Atomics.load(job.stop, 0) !== 0;

export interface TrialJob extends TrialSlice {
  layers: McLayer[];
  csr: Csr;
  kernel: KernelChoice;
}

export interface TrialResult {
  first: number;
  /** Trials run, from `first` (fewer than asked when stopped): correct[0..done) hold them. */
  done: number;
  correct: Int32Array;
  /** 10 x 10 counts summed over the trials (row = true class). */
  confusion: Float64Array;
  kernel: string;
}

/** Runs the job's trials, TRIALS_PER_BLOCK at a time; `onBlock` hears how many each block finished. */
export function runTrials(job: TrialJob, onBlock?: (trials: number) => void): TrialResult {
  const kernel = loadKernel(job.kernel);
  const n = job.labels.length;
  const sampler = new CellSampler(job.device, job.seed);
  const kl: KernelLayer[] = job.layers.map((l, i) => ({ rows: l.rows, cols: l.cols, cp: padCols(l.cols, i === 0), w: new Float32Array(TRIALS_PER_BLOCK * l.rows * padCols(l.cols, i === 0)) }));
  const gp = job.layers.map((l) => new Float32Array(l.pos.length));
  const gn = job.layers.map((l) => (l.neg ? new Float32Array(l.neg.length) : undefined));
  const eff = job.layers.map((l) => new Float32Array(l.rows * l.cols));
  const out = new Uint8Array(TRIALS_PER_BLOCK * n);
  const correct = new Int32Array(job.count);
  const confusion = new Float64Array(100);
  let done = 0;
  for (let b = 0; b < job.count; b += TRIALS_PER_BLOCK) {
    if (stopped(job)) break;
    const inBlock = Math.min(TRIALS_PER_BLOCK, job.count - b);
    for (let t = 0; t < TRIALS_PER_BLOCK; t++) {
      // A short last block repeats its first trial; those predictions are ignored.
      sampler.beginTrial(job.first + b + (t < inBlock ? t : 0));
      job.layers.forEach((l, li) => {
        const e = layerWeights(sampler, l, gp[li], gn[li], eff[li]);
        const { cp, w } = kl[li];
        const base = t * l.rows * cp;
        for (let r = 0; r < l.rows; r++) w.set(e.subarray(r * l.cols, (r + 1) * l.cols), base + r * cp);
      });
    }
    kernel.forward(job.csr.idx, job.csr.ptr, job.csr.val, kl, out);
    for (let t = 0; t < inBlock; t++) {
      let c = 0;
      const o = t * n;
      for (let i = 0; i < n; i++) {
        const y = job.labels[i];
        const p = out[o + i];
        if (p === y) c++;
        confusion[y * 10 + p]++;
      }
      correct[b + t] = c;
    }
    done += inBlock;
    onBlock?.(inBlock);
  }
  return { first: job.first, done, correct, confusion, kernel: kernel.name };
}
