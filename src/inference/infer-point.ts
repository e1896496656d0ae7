/**
 * One point of `rram infer` (a sweep's point, or the single run) as plain data: the device spec
 * and options, the mapping knobs, trials and seed, and the digests of the model, the test set and
 * the level-CDF file. The CLI builds it from the flags; the same function runs it in process or
 * on a queue worker.
 */
import { buildDeviceModel, parseDeviceSpec, type DeviceOptions } from './device-models.js';
import type { DatasetRef, JobResources } from './job-resources.js';
import type { QuantizeScope, Quantizer, Scheme } from './mapping.js';
import type { KernelChoice } from './mc-kernel.js';
import { monteCarlo, type McResult } from './monte-carlo.js';
import type { BnMerge } from './bnn/model.js';
import type { DriftCompensation } from './drift-compensation.js';

export const INFER_POINT_JOB = 'infer-point';

export interface InferPointContent {
  /** The sweep point's own values (key=value), for its key and the log. */
  label: string;
  inputs: { model: string; dataset: DatasetRef; device?: string };
  bnMerge?: BnMerge;
  images?: number;
  trials: number;
  seed: number;
  engine: KernelChoice | 'tfjs' | 'auto';
  /** Device spec text as --device takes it (a file path for a level-CDF). */
  spec: string;
  levels: number;
  device: DeviceOptions;
  scheme: Scheme;
  adcBits?: number;
  tile?: number;
  clip?: number;
  quantizer: Quantizer;
  scope: QuantizeScope;
  /** Issue 28: reference reads scale the column currents (docs/array-effects.md). */
  driftCompensation?: DriftCompensation;
  /** Issue 28: wire resistance per cell segment (ohm), IR drop solved per tile. */
  wireResistance_ohm?: number;
}

export interface InferPointWhere {
  model: string;
  data?: string;
  device?: string;
}

export async function runInferPoint(c: InferPointContent, w: InferPointWhere, env: { resources: JobResources; threads?: number; onProgress?: (done: number, total: number) => void }): Promise<McResult> {
  const { tf, backend } = await env.resources.tf();
  const test = env.resources.testSplit(c.inputs.dataset, w.data);
  const { net } = await env.resources.net(w.model, c.inputs.model, { bnMerge: c.bnMerge, test, images: c.images });
  const measured = c.inputs.device ? env.resources.measured(w.device!, c.inputs.device) : undefined;
  const device = buildDeviceModel(parseDeviceSpec(c.spec), c.levels, c.device, measured);
  return monteCarlo(tf, backend, net, test, { scheme: c.scheme, device, trials: c.trials, seed: c.seed, adcBits: c.adcBits, tile: c.tile, clip: c.clip, quantizer: c.quantizer, scope: c.scope, engine: c.engine as 'auto', workers: env.threads, images: c.images, driftCompensation: c.driftCompensation, wireResistance_ohm: c.wireResistance_ohm, onProgress: env.onProgress });
}
