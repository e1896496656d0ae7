/**
 * Every job kind's content (what a worker runs) and result (what the submitter stores), as zod
 * schemas: a worker refuses content that makes no sense before spending a core on it, and the
 * submitter refuses a result that would put nonsense into points.ndjson or study.json (an
 * accuracy outside [0, 1], fewer accuracies than trials, a NaN that JSON turned into null). The
 * nested device knobs are checked by the code that builds the device model; here the fields the
 * job and its row depend on.
 */
import { z } from 'zod';
import { BNN_NET_JOB } from '../inference/bnn/net-job.js';
import { INFER_POINT_JOB } from '../inference/infer-point.js';
import { checked } from '../queue/envelope.js';
import { MC_POINT_JOB } from './mc-point-job.js';
import { SYNAPSE_NET_JOB } from './synapse-budget-run.js';

const int = (lo: number, hi = Number.MAX_SAFE_INTEGER) => z.number().int().min(lo).max(hi);
const share = z.number().finite().min(0).max(1);
const num = z.number().finite();
const text = z.string().min(1);
const scheme = z.enum(['diff', 'offset', 'signed']);
const quantizer = z.enum(['nearest', 'histogram-bins']);
const scope = z.enum(['layer', 'network']);
const dataset = z.object({ name: text, digest: text }).strict();
/** Digest-addressed inputs: a worker checks its copies' digests against these. */
const inputs = z.object({ model: text, dataset, device: text.optional() }).strict();
const paths = z.object({ model: text.optional(), data: text.optional(), device: text.optional(), net: text.optional() }).strict();
const studyParams = z.object({ study: text }).passthrough();

const summary = z.object({ mean: share, std: num.nonnegative(), min: share, max: share, p1: share, p5: share, p25: share, p50: share, p75: share, p95: share, p99: share }).passthrough();

const mcPoint = z
  .object({ key: text, device: text, levels: int(2, 1 << 16), scheme, dynamicRange: num.positive().optional(), spreadTo: num.nonnegative().optional(), quantizer: quantizer.optional(), scope: scope.optional(), adcBits: int(1, 32).optional(), tile: int(1).optional(), stuckHrs: share.optional(), stuckLrs: share.optional(), readNoise_A: num.nonnegative().optional(), maxInput_V: num.positive().optional(), onlyLayer: int(0).optional() })
  .passthrough();

const mcPointContent = z.object({ study: studyParams, point: mcPoint, seed: int(0), trials: int(1), images: int(1).optional(), inputs }).strict();

/** A study row: its point, the accuracies of every trial, their summary. */
const pointRow = mcPoint
  .extend({ floatAccuracy: share, quantizedAccuracy: share, summary, accuracies: z.array(share), trials: int(1), images: int(1), seed: int(0), arrays: int(0), zeroShare: z.array(share), engine: text, elapsed_s: num.nonnegative() })
  .refine((r) => r.accuracies.length === r.trials, { message: 'one accuracy per trial', path: ['accuracies'] });

const synapseContent = z.object({ study: studyParams, key: text, dataset: text, arch: text, seed: int(0), inputs: z.object({ dataset, device: text.optional() }).strict() }).strict();

const netRow = z
  .object({ key: text, dataset: text, arch: text, kind: z.enum(['fdnn', 'cnn']), synapses: int(1), group: z.enum(['<4096', '4096-8192', '>8192']), hiddenUnits: int(0), convLayers: int(0), filters: int(0), pool: int(0), trainAccuracy: share, testAccuracy: share, quantized: z.record(share), epochs: int(1), seed: int(0), trainSeconds: num.nonnegative() })
  .passthrough();

/** A trained net's files, name -> base64 (writeFolderFiles refuses names that are paths). */
const files = z.record(z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'is not base64'));

const synapseResult = z.object({ row: netRow, files: files.optional() }).strict();

const inferContent = z
  .object({ label: text, inputs, images: int(1).optional(), trials: int(1), seed: int(0), engine: z.enum(['auto', 'native', 'js', 'tfjs']), spec: text, levels: int(2, 1 << 16), device: z.object({}).passthrough(), scheme, adcBits: int(1, 32).optional(), tile: int(1).optional(), clip: num.positive().optional(), quantizer, scope, driftCompensation: z.enum(['none', 'global', 'column']).optional(), wireResistance_ohm: num.nonnegative().optional() })
  .passthrough();

const inferResult = z
  .object({ levels: int(2), trials: int(0), images: int(1), seed: int(0), floatAccuracy: share, quantizedAccuracy: share, accuracies: z.array(share), summary, engine: text, elapsed_s: num.nonnegative() })
  .passthrough()
  .refine((r) => r.accuracies.length === r.trials, { message: 'one accuracy per trial', path: ['accuracies'] });

const bnnContent = z.object({ net: z.object({ name: text, net: z.object({ sizes: z.array(int(1)).min(2), crop: int(0), weightBits: int(1, 32), actBits: int(1, 32), bn: z.boolean() }).strict(), seed: int(0) }).strict(), epochs: int(1), dataset }).strict();
const bnnResult = z.object({ files }).strict();

const KINDS: Record<string, { content: z.ZodTypeAny; result: z.ZodTypeAny }> = {
  [MC_POINT_JOB]: { content: mcPointContent, result: pointRow },
  [SYNAPSE_NET_JOB]: { content: synapseContent, result: synapseResult },
  [INFER_POINT_JOB]: { content: inferContent, result: inferResult },
  [BNN_NET_JOB]: { content: bnnContent, result: bnnResult },
};

function kindOf(kind: string) {
  const k = KINDS[kind];
  if (!k) throw new RangeError(`unknown job kind ${kind} (a worker older or newer than the submitter?)`);
  return k;
}

/** The job's content and paths, checked before it runs. */
export function checkJobInput(kind: string, key: string, content: unknown, where: unknown): void {
  checked(kindOf(kind).content, content, `job ${key} (${kind}): content`);
  if (where !== undefined) checked(paths, where, `job ${key} (${kind}): where`);
}

/** A finished job's result, checked before it is stored or used (kept as it came: the parse would reorder keys). */
export function checkJobResult(kind: string, key: string, result: unknown): void {
  checked(kindOf(kind).result, result, `the result of ${key} (${kind})`);
}
