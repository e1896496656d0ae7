/**
 * The closing experiment of the inference pipeline: program a quantized net onto (emulated or
 * real) arrays, read every tile back, and evaluate the net from the read-back currents; beside
 * it, the Monte Carlo prediction from a device model (e.g. the level-CDF measured on the same
 * board), so one sees where the hardware result falls in the predicted distribution.
 */
import type { Board, SafetyLimits } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { Calibration } from '../../calibration/calibration.js';
import { defaultLevels, type LevelSpec } from '../analysis/levels.js';
import type { RunContext } from '../engine/run-context.js';
import type { EngineOptions } from '../engine/run-engine.js';
import { programNet, type ProgramNetResult } from '../procedures/program-net.js';
import type { ProgramOptions } from '../procedures/program-config.js';
import { type CrossbarNet, weightOps } from './crossbar-net.js';
import type { Split } from './datasets.js';
import { predictAll } from './forward-tf.js';
import { ARRAY_SIDE, effective, mapLayer, mappingReport, type MappingReport, type Scheme } from './mapping.js';
import { confusionOf, monteCarlo, type AccuracySummary } from './monte-carlo.js';
import type { Tf } from './tf-backend.js';
import { tileNet, UNUSED, valuesFromTiles } from './tiling.js';
import type { DeviceModel, OutcomeCounts } from './device-models.js';
import type { BnMergeReport } from './load-net.js';
import { fixedFromRun, report, runCounts, sourceModels, widthShares, type PredictionReport, type WidthShares } from './prediction.js';

export interface NetOnArraysOptions extends ProgramOptions {
  /** Where the model came from (recorded with the run). */
  model: string;
  dataset: string;
  net: CrossbarNet;
  test: Split;
  images?: number;
  scheme: Scheme;
  /** Quantile of each layer's weights the levels span (default 1). */
  clip?: number;
  /** Level values for quantization and the Monte Carlo prediction. */
  device: DeviceModel;
  /** Levels of the programming level set the device's levels were picked from (the CDF's count). */
  programLevels: number;
  /** Their programming targets (a level-CDF's own); default the published level set. */
  programSpecs?: LevelSpec[];
  /** The board's calibration and the user's limits, for the preflight. */
  calibration?: Calibration;
  userLimits?: Partial<SafetyLimits>;
  minSuccess?: number;
  trials: number;
  seed: number;
  arrays?: number[];
  engine?: EngineOptions;
  mcEngine?: 'auto' | 'native' | 'js' | 'tfjs';
  /** Relaxation wait before each tile's read-back (the device model should be aged alike). */
  relax_s?: number;
  /** Refresh each tile this long after programming it: only the cells out of their decision band are programmed again (program-net.ts). */
  refreshAfter_s?: number;
  /** More to record in the run's parameters. */
  describe?: Record<string, unknown>;
  /** A binary net's batch-norm merge and its digital accuracy before and after (recorded in the result). */
  bnMerge?: BnMergeReport;
  signal?: AbortSignal;
}

/** What a refresh did over all tiles: programmed cells checked, of them outside their decision band and programmed again (`rewritten`, its share of `checked`), ok again, pulses. */
export interface RefreshSummary {
  after_s: number;
  checked: number;
  rewritten: number;
  share: number;
  ok: number;
  pulses: number;
}

export function refreshSummary(after_s: number, perTile: NonNullable<ProgramNetResult['refresh']>): RefreshSummary {
  const p = perTile.flatMap((t) => t.passes);
  const sum = (k: 'checked' | 'outside' | 'ok' | 'pulses') => p.reduce((a, x) => a + x[k], 0);
  return { after_s, checked: sum('checked'), rewritten: sum('outside'), share: sum('outside') / Math.max(1, sum('checked')), ok: sum('ok'), pulses: sum('pulses') };
}

export interface NetOnArraysResult {
  format: 'rram-hil/program-net-result';
  version: 1;
  runId: string;
  model: string;
  dataset: string;
  images: number;
  /** Seed of the Monte Carlo (prediction and posterior) and the weight-range quantile of the mapping. */
  seed: number;
  clip: number;
  bnMerge?: BnMergeReport;
  levels: number;
  levelValues_A: number[];
  levelTargets_A: number[];
  mapping: MappingReport;
  device: string;
  tfBackend: string;
  floatAccuracy: number;
  quantizedAccuracy: number;
  readbackAccuracy: number;
  readbackConfusion: number[][];
  monteCarlo?: { trials: number; engine: string; summary: AccuracySummary; readbackPercentile: number; histogram: { lo: number; hi: number; count: number }[]; cdf: { accuracy: number; p: number }[] };
  /**
   * The prediction made before the read-back was known: its model (which inputs, which counts),
   * its 5-95 % interval, whether the read-back fell inside, and which share of the interval's
   * variance each source adds.
   */
  prediction?: PredictionReport & { model: PredictionModel; sources?: WidthShares };
  /** The same with the run's own outcomes: cells it left unprogrammed fixed to what they read. */
  posterior?: PredictionReport & { fixedCells: number };
  /** This run's cells per level of the device model and how many did not end programmed (the next prediction's counts). */
  counts: OutcomeCounts;
  programming: { algo: string; step_V?: number; relax_s?: number; arrays: number[]; tiles: number; cells: number; pulses: number; misplaced: number; failed: number; elapsed_s: number; summary: ProgramNetResult['summary']; stats: ProgramNetResult['stats']; setup: ProgramNetResult['setup']; refresh?: RefreshSummary };
  /** Per weight layer: RMS of (read-back effective - quantized) weights over max |quantized|. */
  layers: { name: string; tiles: number; cells: number; weightErrorRel: number }[];
  tiles: { tile: number; layer: string; array: number; pulses: number; misplaced: number; failed: number }[];
  /** Used cells: [tile, row, col, level, current_A, notOk (1: the cell did not end programmed)]. */
  readback: [number, number, number, number, number, number][];
}

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

export async function netOnArrays(tf: Tf, tfBackend: string, board: Board, ctx: RunContext, o: NetOnArraysOptions): Promise<NetOnArraysResult> {
  const nLevels = o.device.nominal.length;
  if (o.programLevels > 8) throw new InvalidArgumentError('device', o.device.text, `has ${o.programLevels} levels; programming supports 2..8`);
  const programSpecs = o.programSpecs ?? defaultLevels(o.programLevels);
  if (programSpecs.length !== o.programLevels) throw new InvalidArgumentError('device', o.device.text, `gives ${programSpecs.length} programming targets for ${o.programLevels} levels`);
  const levelSpecs = (o.device.levelsUsed ?? programSpecs.map((_, k) => k)).map((k) => programSpecs[k]);
  if (levelSpecs.length !== nLevels) throw new InvalidArgumentError('levels', nLevels, `the device model has ${nLevels} levels but ${levelSpecs.length} programming targets`);
  const n = Math.min(o.images ?? o.test.n, o.test.n);
  const labels = o.test.labels.subarray(0, n);
  const mapped = weightOps(o.net).map((op) => mapLayer(op, o.device.nominal, o.scheme, o.clip));
  const tiles = tileNet(mapped);
  const arrays = o.arrays ?? Array.from({ length: board.info().arrays }, (_, k) => k); // checked by programNet

  const t0 = performance.now();
  const prog = await programNet(board, ctx, {
    ...o,
    levels: nLevels,
    levelSpecs,
    tiles,
    arrays,
    engine: { ...o.engine, signal: o.signal },
    describe: { ...o.describe, model: o.model, dataset: o.dataset, mapping: o.scheme, clip: o.clip ?? 1, device: o.device.text, levelValues_A: o.device.nominal },
  });
  const elapsed_s = (performance.now() - t0) / 1000;

  const readback = prog.tiles.map((t) => t.readback_A);
  const notOk = prog.tiles.map((t) => t.notOk);
  const values = valuesFromTiles(mapped, tiles, readback);
  const pred = predictAll(tf, o.net, mapped, values, o.test.images, n);
  let correct = 0;
  for (let i = 0; i < n; i++) if (pred[i] === labels[i]) correct++;
  const readbackAccuracy = correct / n;

  // The prediction, after the board work so the run (and its record) starts at once; ideal: one trial.
  const d = o.device;
  const predicts = d.kind !== 'ideal' || d.stuckHrs > 0 || d.stuckLrs > 0 || d.readNoise_A > 0 || !!d.failure;
  const mcOpts = { scheme: o.scheme, clip: o.clip, trials: predicts ? o.trials : 1, seed: o.seed, engine: o.mcEngine ?? 'auto', images: n, signal: o.signal } as const;
  const mc = await monteCarlo(tf, tfBackend, o.net, o.test, { ...mcOpts, device: d });
  let prediction: NetOnArraysResult['prediction'];
  let posterior: NetOnArraysResult['posterior'];
  const counts = runCounts(tiles, readback, notOk, nLevels, `run ${ctx.runId}`);
  if (predicts) {
    // Which source widens the interval: devices alone, plus the measured distributions' own
    // uncertainty, plus the failure rates' (same seed: the differences are the sources').
    let sources: WidthShares | undefined;
    if (d.bootstrap || d.failure) {
      const [a, b] = sourceModels(d);
      sources = widthShares([await monteCarlo(tf, tfBackend, o.net, o.test, { ...mcOpts, device: a }), await monteCarlo(tf, tfBackend, o.net, o.test, { ...mcOpts, device: b }), mc]);
    }
    prediction = { ...report(mc, readbackAccuracy), model: predictionModel(d), sources };
    const fixed = fixedFromRun(mapped, tiles, readback, notOk);
    const post = await monteCarlo(tf, tfBackend, o.net, o.test, { ...mcOpts, device: { ...d, failure: undefined }, fixed });
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
  const cells: [number, number, number, number, number, number][] = [];
  tiles.forEach((t, k) => t.levels.forEach((lv, i) => lv !== UNUSED && cells.push([k, Math.floor(i / ARRAY_SIDE), i % ARRAY_SIDE, lv, readback[k][i], notOk[k][i]])));
  const below = mc.accuracies.filter((a) => a < readbackAccuracy).length + 0.5 * mc.accuracies.filter((a) => a === readbackAccuracy).length;
  return {
    format: 'rram-hil/program-net-result',
    version: 1,
    runId: ctx.runId,
    model: o.model,
    dataset: o.dataset,
    images: n,
    seed: o.seed,
    clip: o.clip ?? 1,
    ...(o.bnMerge ? { bnMerge: o.bnMerge } : {}),
    levels: nLevels,
    levelValues_A: o.device.nominal,
    levelTargets_A: levelSpecs.map((s) => s.target_A),
    mapping: mappingReport(mapped),
    device: o.device.text,
    tfBackend,
    floatAccuracy: mc.floatAccuracy,
    quantizedAccuracy: mc.quantizedAccuracy,
    readbackAccuracy,
    readbackConfusion: confusionOf(pred, labels),
    monteCarlo: !predicts ? undefined : { trials: mc.trials, engine: mc.engine, summary: mc.summary, readbackPercentile: below / mc.accuracies.length, histogram: mc.histogram, cdf: mc.cdf },
    prediction,
    posterior,
    counts,
    programming: { algo: o.algo, step_V: o.step_V, relax_s: o.relax_s, arrays, tiles: tiles.length, cells: prog.cells, pulses: prog.totalPulses, misplaced: prog.misplaced, failed: prog.failed, elapsed_s, summary: prog.summary, stats: prog.stats, setup: prog.setup, ...(prog.refresh ? { refresh: refreshSummary(o.refreshAfter_s!, prog.refresh) } : {}) },
    layers,
    tiles: prog.tiles.map(({ tile, layer, array, pulses, misplaced, failed }) => ({ tile, layer, array, pulses, misplaced, failed })),
    readback: cells,
  };
}

function predictionModel(d: DeviceModel): PredictionModel {
  const f = d.failure;
  return {
    device: d.text,
    bootstrap: !!d.bootstrap,
    failures: f ? { counts: f.counts.map((c, k) => ({ ...c, meanShare: f.alpha[k] / (f.alpha[k] + f.beta[k]) })), sources: f.sources, pooledValues: f.pool.length } : undefined,
    stuckHrs: d.stuckHrs,
    stuckLrs: d.stuckLrs,
    readNoise_A: d.readNoise_A,
    relax: d.relaxSource,
  };
}
