/**
 * What a station's program-net request carries beyond the net and the prediction (issue 29): every
 * write-verify setting `rram program` carries (programSettings), the engine knobs, the refresh
 * pass, --keep, --bn-merge, --no-yield-aware and the --fine-tune-* settings - so `rram
 * program-net` through a station runs what the direct command runs. Fields are the procedure's
 * option names; strict objects (an unknown key is refused by name, job-requests.ts).
 */
import { z } from 'zod';
import { BN_MERGES, type BnMerge } from '../inference/bnn/model.js';
import type { NetOnArraysOptions } from '../procedures/net-on-arrays.js';
import type { ProgressiveOptions } from '../procedures/program-net-progressive.js';
import { programSettings } from './experiment-requests.js';
import { fineTuneImages } from '../procedures/fine-tune-inputs.js';

const int = (min: number, max: number) => z.number({ invalid_type_error: `must be an integer in ${min}..${max}` }).int(`must be an integer in ${min}..${max}`).gte(min, `must be an integer in ${min}..${max}`).lte(max, `must be an integer in ${min}..${max}`);
const share = z.number({ invalid_type_error: 'must be a share in 0..1' }).gte(0, 'must be a share in 0..1').lte(1, 'must be a share in 0..1');
const RUN_ID = /^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$/;

/**
 * --fine-tune progressive and its --fine-tune-* flags; `baseline` a stored program-net run id (a twin
 * board is the CLI's alone). `images` and `baseline` are checked against the data set and the store
 * when the request arrives (job-preflight.ts, src/procedures/fine-tune-inputs.ts), `images` filled in
 * there when left out: 10 % of the training set, as the direct run takes.
 */
export const fineTuneRequest = z
  .object({
    images: int(1, 10000000).optional(),
    epochs: int(0, 100).default(2),
    lr: z.number({ invalid_type_error: 'must be a learning rate in 1e-7..0.5' }).gte(1e-7, 'must be a learning rate in 1e-7..0.5').lte(0.5, 'must be a learning rate in 1e-7..0.5').default(1e-3),
    batchSize: int(1, 4096).default(64),
    /** Monte Carlo trials before each layer (default: the run's trials, at most 50). */
    trials: int(1, 100000).optional(),
    outputs: z.enum(['auto', 'read-back'], { errorMap: () => ({ message: 'must be auto or read-back' }) }).optional(),
    baseline: z.string().regex(RUN_ID, 'must be a run id').optional(),
  })
  .strict();

/** The program-net request's fields for the programming itself (spread into its schema). */
export const netProgrammingRequest = {
  ...programSettings,
  concurrency: int(1, 4096).optional(),
  onUnknownOutcome: z.enum(['re-verify', 'stop'], { errorMap: () => ({ message: 'must be re-verify or stop' }) }).optional(),
  refreshAfter_s: z.number({ invalid_type_error: 'must be a time (s)' }).finite().gt(0, 'must be a time (s) above 0').optional(),
  refreshBudget: share.optional(),
  keep: z.boolean().optional(),
  bnMerge: z.enum(BN_MERGES as unknown as [BnMerge, ...BnMerge[]], { errorMap: () => ({ message: `must be one of ${BN_MERGES.join(', ')}` }) }).optional(),
  /** false: place weights on cells the store knows are bad too (--no-yield-aware). */
  yieldAware: z.boolean().optional(),
  fineTune: fineTuneRequest.optional(),
};

type Carried = { [K in keyof typeof netProgrammingRequest]?: z.infer<(typeof netProgrammingRequest)[K]> };

/** Refused before the request is queued, as the direct command refuses them. */
export function netRequestProblems(r: Carried & { kind: string }): { path: string; message: string } | undefined {
  if (r.refreshBudget !== undefined && r.refreshAfter_s === undefined) return { path: 'refreshBudget', message: 'applies with refreshAfter_s only (--refresh-budget needs --refresh-after)' };
  if (r.keep && r.fineTune) return { path: 'keep', message: 'keeps a plainly programmed net (not with fineTune)' };
  return undefined;
}

/**
 * The request's programming fields as NetOnArraysOptions: write-verify settings as programOptions
 * makes them for the direct run, the engine's knobs, the refresh pass, --keep.
 */
export function netProgrammingOptions(req: Carried & Record<string, unknown>): Partial<NetOnArraysOptions> {
  const po: Record<string, unknown> = {};
  for (const k of Object.keys(programSettings)) if (req[k] !== undefined) po[k] = req[k];
  return {
    ...(po as Partial<NetOnArraysOptions>),
    engine: { concurrency: req.concurrency, onUnknownOutcome: req.onUnknownOutcome },
    refreshAfter_s: req.refreshAfter_s,
    refreshBudget: req.refreshBudget,
    keep: req.keep,
  };
}

/** The fine-tuning settings as the direct command makes them from its flags (the rest is the station's); `trainImages`: the training set's size. */
export function fineTuneSettings(ft: z.infer<typeof fineTuneRequest>, trials: number, trainImages: number): Pick<ProgressiveOptions, 'images' | 'epochs' | 'lr' | 'batchSize' | 'trials' | 'outputs'> {
  return { images: fineTuneImages(ft.images, trainImages, 'fineTune.images'), epochs: ft.epochs, lr: ft.lr, batchSize: ft.batchSize, trials: ft.trials ?? Math.min(50, trials), ...(ft.outputs ? { outputs: ft.outputs } : {}) };
}

/** How a program-net run is summarized in its run.json and judged (below --min-success: exit 3), directly and on a station alike. */
export const programNetJob = {
  resultName: 'program-net',
  summarize: (x: import('../procedures/net-on-arrays.js').NetOnArraysResult) => ({ readbackAccuracy: x.readbackAccuracy, quantizedAccuracy: x.quantizedAccuracy, pulses: x.programming.pulses, cells: x.programming.summary, inside: x.prediction?.inside }),
  verdict: (x: import('../procedures/net-on-arrays.js').NetOnArraysResult) => (x.programming.summary.belowThreshold ? { belowMinSuccess: true as const, ...x.programming.summary } : undefined),
};
