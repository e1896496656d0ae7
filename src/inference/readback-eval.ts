/**
 * A net evaluated from its tiles' read-back currents, beside the Monte Carlo prediction from the
 * device model (made with what was known before the read-back: the level distributions and the
 * failure counts) and the posterior (the run's unprogrammed cells fixed to what they read). Pure
 * computation on what a programming run measured: procedures/net-on-arrays.ts does the board part.
 */
import { weightOps, type CrossbarNet } from './crossbar-net.js';
import type { Split } from './datasets.js';
import type { DeviceModel, OutcomeCounts } from './device-models.js';
import { predictAll, type ForwardLayer } from './forward-tf.js';
import { ARRAY_SIDE, effective, type MappedLayer, type Scheme } from './mapping.js';
import { confusionOf, monteCarlo, type AccuracySummary } from './monte-carlo.js';
import { fixedFromRun, report, runCounts, sourceModels, widthShares, type PredictionReport, type WidthShares } from './prediction.js';
import type { Tf } from './tf-backend.js';
import { UNUSED, valuesFromTiles, type Tile } from './tiling.js';

export interface PredictionModel {
  device: string;
  /** Each trial resamples the level distributions from the measured cells. */
  bootstrap: boolean;
  /** Per level: cells seen and not programmed, the Beta posterior's mean share, and where the counts came from. */
  failures?: { counts: { n: number; failed: number; meanShare: number }[]; sources: string[]; pooledValues: number };
  stuckHrs: number;
  stuckLrs: number;
  readNoise_A: number;
  relax?: string;
}

export interface ReadbackEvaluation {
  floatAccuracy: number;
  quantizedAccuracy: number;
  readbackAccuracy: number;
  readbackConfusion: number[][];
  monteCarlo?: { trials: number; engine: string; summary: AccuracySummary; readbackPercentile: number; histogram: { lo: number; hi: number; count: number }[]; cdf: { accuracy: number; p: number }[] };
  prediction?: PredictionReport & { model: PredictionModel; sources?: WidthShares };
  posterior?: PredictionReport & { fixedCells: number };
  counts: OutcomeCounts;
  /** Per weight layer: RMS of (read-back effective - quantized) weights over max |quantized|. */
  layers: { name: string; tiles: number; cells: number; weightErrorRel: number }[];
  /** Used cells: [tile, row, col, level, current_A, notOk]. */
  readback: [number, number, number, number, number, number][];
}

export interface EvalOptions {
  scheme: Scheme;
  clip?: number;
  trials: number;
  seed: number;
  images: number;
  mcEngine?: 'auto' | 'native' | 'js' | 'tfjs';
  signal?: AbortSignal;
  /** Where this run's counts come from (e.g. `run ID`). */
  source: string;
}

/** Accuracy of the net on the first n test images with these per-layer cell values. */
export function accuracyFromValues(tf: Tf, net: CrossbarNet, mapped: ForwardLayer[], values: { gp: Float32Array; gn?: Float32Array }[], test: Split, n: number): { accuracy: number; pred: Int32Array } {
  const pred = predictAll(tf, net, mapped, values, test.images, n);
  let correct = 0;
  for (let i = 0; i < n; i++) if (pred[i] === test.labels[i]) correct++;
  return { accuracy: correct / n, pred };
}

/** Accuracy of the net's own (float) weights on the first n test images. */
export function floatAccuracy(tf: Tf, net: CrossbarNet, test: Split, n: number): number {
  const ops = weightOps(net);
  const pred = predictAll(tf, net, ops.map((op) => ({ scheme: 'signed' as const, cols: op.units, alpha: 1, ref: 0 })), ops.map((op) => ({ eff: op.W })), test.images, n);
  let correct = 0;
  for (let i = 0; i < n; i++) if (pred[i] === test.labels[i]) correct++;
  return correct / n;
}

export async function evaluateReadback(tf: Tf, tfBackend: string, net: CrossbarNet, test: Split, mapped: MappedLayer[], tiles: Tile[], readback: Float32Array[], notOk: Uint8Array[], d: DeviceModel, o: EvalOptions): Promise<ReadbackEvaluation> {
  const n = o.images;
  const values = valuesFromTiles(mapped, tiles, readback);
  const { accuracy: readbackAccuracy, pred } = accuracyFromValues(tf, net, mapped, values, test, n);
  // The prediction; ideal: one trial.
  const predicts = d.kind !== 'ideal' || d.stuckHrs > 0 || d.stuckLrs > 0 || d.readNoise_A > 0 || !!d.failure;
  const mcOpts = { scheme: o.scheme, clip: o.clip, trials: predicts ? o.trials : 1, seed: o.seed, engine: o.mcEngine ?? 'auto', images: n, signal: o.signal } as const;
  const mc = await monteCarlo(tf, tfBackend, net, test, { ...mcOpts, device: d });
  const nLevels = d.nominal.length;
  const counts = runCounts(tiles, readback, notOk, nLevels, o.source);
  let prediction: ReadbackEvaluation['prediction'];
  let posterior: ReadbackEvaluation['posterior'];
  if (predicts) {
    // Which source widens the interval: devices alone, plus the measured distributions' own
    // uncertainty, plus the failure rates' (same seed: the differences are the sources').
    let sources: WidthShares | undefined;
    if (d.bootstrap || d.failure) {
      const [a, b] = sourceModels(d);
      sources = widthShares([await monteCarlo(tf, tfBackend, net, test, { ...mcOpts, device: a }), await monteCarlo(tf, tfBackend, net, test, { ...mcOpts, device: b }), mc]);
    }
    prediction = { ...report(mc, readbackAccuracy), model: predictionModel(d), sources };
    const fixed = fixedFromRun(mapped, tiles, readback, notOk);
    const post = await monteCarlo(tf, tfBackend, net, test, { ...mcOpts, device: { ...d, failure: undefined }, fixed });
    posterior = { ...report(post, readbackAccuracy), fixedCells: counts.perLevel.reduce((a, c) => a + c.failed, 0) };
  }
  const layers = mapped.map((l, li) => {
    const eff = effective(l, values[li].gp, values[li].gn, new Float32Array(l.rows * l.cols));
    let se = 0;
    let amax = 0;
    for (let i = 0; i < eff.length; i++) {
      se += (eff[i] - l.quantized[i]) ** 2;
      amax = Math.max(amax, Math.abs(l.quantized[i]));
    }
    const own = tiles.filter((t) => t.layer === li);
    return { name: l.name, tiles: own.length, cells: own.reduce((s, t) => s + t.used, 0), weightErrorRel: Math.sqrt(se / eff.length) / (amax || 1) };
  });
  const cells: ReadbackEvaluation['readback'] = [];
  tiles.forEach((t, k) => t.levels.forEach((lv, i) => lv !== UNUSED && cells.push([k, Math.floor(i / ARRAY_SIDE), i % ARRAY_SIDE, lv, readback[k][i], notOk[k][i]])));
  const below = mc.accuracies.filter((a) => a < readbackAccuracy).length + 0.5 * mc.accuracies.filter((a) => a === readbackAccuracy).length;
  return {
    floatAccuracy: mc.floatAccuracy,
    quantizedAccuracy: mc.quantizedAccuracy,
    readbackAccuracy,
    readbackConfusion: confusionOf(pred, test.labels.subarray(0, n)),
    monteCarlo: !predicts ? undefined : { trials: mc.trials, engine: mc.engine, summary: mc.summary, readbackPercentile: below / mc.accuracies.length, histogram: mc.histogram, cdf: mc.cdf },
    prediction,
    posterior,
    counts,
    layers,
    readback: cells,
  };
}

export function predictionModel(d: DeviceModel): PredictionModel {
  const f = d.failure;
  return {
    device: d.text,
    bootstrap: !!d.bootstrap,
    failures: f ? { counts: f.counts.map((c, k) => ({ ...c, meanShare: f.alpha[k] / (f.alpha[k] + f.beta[k]) })), sources: f.sources, pooledValues: f.seen.values_A.length + f.seen.fallback.length } : undefined,
    stuckHrs: d.stuckHrs,
    stuckLrs: d.stuckLrs,
    readNoise_A: d.readNoise_A,
    relax: d.relaxSource,
  };
}
