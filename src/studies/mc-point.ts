/**
 * One Monte Carlo point of a study: the knobs `rram infer` takes, as plain data with a stable key,
 * run against a loaded net and turned into a row (summary plus every trial's accuracy, for the
 * histograms, CDFs and boxplots).
 */
import { buildDeviceModel, parseDeviceSpec, type DeviceOptions, type MeasuredLevels } from '../inference/device-models.js';
import type { CrossbarNet } from '../inference/crossbar-net.js';
import type { Split } from '../inference/datasets.js';
import type { QuantizeScope, Quantizer, Scheme } from '../inference/mapping.js';
import { monteCarlo, type AccuracySummary } from '../inference/monte-carlo.js';
import type { Tf } from '../inference/tf-backend.js';

export interface McPoint {
  key: string;
  /** Device spec as `rram infer --device` takes it (ideal, truncnorm:10%, a level-CDF file ...). */
  device: string;
  levels: number;
  scheme: Scheme;
  dynamicRange?: number;
  /** Empirical devices: each measured level's spread scaled to this relative sigma (seed 001's variation on our distributions). */
  spreadTo?: number;
  quantizer?: Quantizer;
  scope?: QuantizeScope;
  adcBits?: number;
  tile?: number;
  stuckHrs?: number;
  stuckLrs?: number;
  readNoise_A?: number;
  maxInput_V?: number;
  endurance?: DeviceOptions['endurance'];
  retention?: DeviceOptions['retention'];
  /** Quantize only this weight layer (0-based); the others keep their trained weights (seed 001 Table 2 rows). */
  onlyLayer?: number;
}

export interface PointRow extends McPoint {
  floatAccuracy: number;
  /** Noise-free quantized accuracy. */
  quantizedAccuracy: number;
  summary: AccuracySummary;
  accuracies: number[];
  trials: number;
  images: number;
  seed: number;
  arrays: number;
  zeroShare: number[];
  engine: string;
  elapsed_s: number;
}

export interface PointContext {
  tf: Tf;
  backend: string;
  net: CrossbarNet;
  test: Split;
  trials: number;
  seed: number;
  images?: number;
  workers?: number;
  measured?: MeasuredLevels;
  onTrial?: (done: number, total: number) => void;
}

export async function runPoint(p: McPoint, c: PointContext): Promise<PointRow> {
  const spec = parseDeviceSpec(p.device);
  const device = buildDeviceModel(
    spec,
    p.levels,
    {
      shared: false,
      stuckHrs: p.stuckHrs ?? 0,
      stuckLrs: p.stuckLrs ?? 0,
      readNoise_A: p.readNoise_A ?? 0,
      vread_V: 0.2,
      dynamicRange: spec.kind === 'empirical' ? undefined : p.dynamicRange,
      spreadTo: spec.kind === 'empirical' ? p.spreadTo : undefined,
      maxInput_V: p.maxInput_V,
      endurance: p.endurance,
      retention: p.retention,
    },
    spec.kind === 'empirical' ? c.measured : undefined,
  );
  const r = await monteCarlo(c.tf, c.backend, c.net, c.test, {
    scheme: p.scheme,
    device,
    trials: c.trials,
    seed: c.seed,
    adcBits: p.adcBits,
    tile: p.tile,
    quantizer: p.quantizer,
    scope: p.scope,
    onlyLayer: p.onlyLayer,
    engine: 'auto',
    workers: c.workers,
    images: c.images,
    onProgress: c.onTrial,
  });
  return {
    ...p,
    floatAccuracy: r.floatAccuracy,
    quantizedAccuracy: r.quantizedAccuracy,
    summary: r.summary,
    accuracies: r.accuracies,
    trials: r.trials,
    images: r.images,
    seed: r.seed,
    arrays: r.mapping.arrays,
    zeroShare: r.mapping.layers.map((l) => l.zeroShare),
    engine: r.engine,
    elapsed_s: r.elapsed_s,
  };
}
