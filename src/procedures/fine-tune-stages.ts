/**
 * The stored stages of a progressive fine-tuning run (`runs/<id>/fine-tune/layer-N.json`): before a
 * layer's first pulse, the weights the fine-tuning gave every layer not yet programmed and the
 * prediction made then are written (temporary file, fsync, rename). A resumed run takes the
 * layer's weights from there: the cells already programmed and those still to go get the targets
 * of the same weights, whatever a retraining would give. The board's part (cells done, read-backs)
 * is the run's event record, as for every run.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { DataError } from '../../drivers/errors.js';
import type { CrossbarNet, WeightOp } from '../inference/crossbar-net.js';
import type { FineTuneLayerReport, FineTuneReport } from '../inference/fine-tune.js';
import { parseFile, parseJsonText } from '../io/validate.js';

const f32 = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
const fromF32 = (s: string) => {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

/**
 * Float32 values as base64 (Buffer.from skips characters it does not know and a length that is no
 * multiple of 4 bytes cannot be float32: both refused here, never decoded into other weights).
 */
const F32Base64 = z.string().superRefine((s, ctx) => {
  // One check after the other: zod would run every refinement, decoding what is not base64.
  const problem = !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)
    ? 'must be base64'
    : Buffer.from(s, 'base64').byteLength % 4 !== 0
      ? 'must be float32 values (a multiple of 4 bytes)'
      : !fromF32(s).every(Number.isFinite)
        ? 'must hold finite values only'
        : undefined;
  if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

/** Weight layers by their bytes: W (base64 float32, bias row last) and the digital scale and shift (both or neither). */
export const EncodedWeights = z.array(
  z
    .object({ name: z.string(), W: F32Base64, scale: F32Base64.optional(), shift: F32Base64.optional() })
    .strict()
    .refine((w) => (w.scale === undefined) === (w.shift === undefined), { message: 'a digital scale needs its shift and a shift its scale', path: ['scale'] }),
);
export type EncodedWeights = z.infer<typeof EncodedWeights>;

/** SHA-256 of a stage's weights as stored: a stage file whose weights changed after it was written is refused. */
export const weightsDigest = (w: EncodedWeights): string => createHash('sha256').update(JSON.stringify(w)).digest('hex');

const StageFile = z
  .object({
    format: z.literal('rram-hil/fine-tune-stage'),
    layer: z.number().int().nonnegative(),
    /** Every weight layer from `layer` on. */
    weights: EncodedWeights,
    /** weightsDigest of `weights`: required (a file without it could be edited and its digest dropped; stages written before it was kept are refused, the run's record stays). */
    digest: z.string({ required_error: 'a stage without its weights\' digest is not trusted (written by an rram-hil before 2026-12-02, or altered): restart the fine-tuning as a new run' }).regex(/^[0-9a-f]{64}$/, 'must be a SHA-256'),
    report: z.record(z.unknown()),
  })
  .strict();

/** The weight layers of `net` from `from` on, by their bytes (a stage; the kept net of a fine-tuned run). */
export function encodeWeights(net: CrossbarNet, from = 0): EncodedWeights {
  const ops = net.ops.filter((o): o is WeightOp => o.op === 'dense' || o.op === 'conv');
  return ops.slice(from).map((o) => ({ name: o.name, W: f32(o.W), ...(o.post ? { scale: f32(o.post.scale), shift: f32(o.post.shift) } : {}) }));
}

/** `net` with its weight layers from `from` on replaced by `weights` (checked against the net's names and sizes; `where` names the source in errors). */
export function applyWeights(net: CrossbarNet, weights: EncodedWeights, from: number, where: string): CrossbarNet {
  let li = -1;
  const ops = net.ops.map((o) => {
    if (o.op !== 'dense' && o.op !== 'conv') return o;
    li++;
    if (li < from) return o;
    const w = weights[li - from];
    if (!w || w.name !== o.name) throw new DataError(where, `weights of layer ${li + 1} (${o.name}) missing`);
    const W = fromF32(w.W);
    if (W.length !== o.W.length) throw new DataError(where, `layer ${o.name}: ${W.length} weights, the net has ${o.W.length}`);
    const post = w.scale && w.shift ? { scale: fromF32(w.scale), shift: fromF32(w.shift) } : undefined;
    if (post && (post.scale.length !== o.units || post.shift.length !== o.units)) throw new DataError(where, `layer ${o.name}: a digital scale and shift of ${post.scale.length} and ${post.shift.length} outputs, the layer has ${o.units}`);
    const { post: _old, ...rest } = o;
    return { ...rest, W, ...(post ? { post } : {}) };
  });
  if (weights.length !== li + 1 - from) throw new DataError(where, `${weights.length} weight layers from layer ${from + 1}, the net has ${li + 1 - from}`);
  return { ...net, ops };
}

export interface Stage {
  layer: number;
  net: CrossbarNet;
  report: FineTuneLayerReport;
}

/** The run's fine-tune.json (the per-layer report so far), written atomically: the dashboard reads it while the run goes on. */
export function writeReportFile(runDir: string, r: FineTuneReport): void {
  mkdirSync(runDir, { recursive: true });
  const f = join(runDir, 'fine-tune.json');
  const fd = openSync(f + '.tmp', 'w');
  writeSync(fd, JSON.stringify(r));
  fsyncSync(fd);
  closeSync(fd);
  renameSync(f + '.tmp', f);
}

export const stageFile = (dir: string, layer: number): string => join(dir, `layer-${layer + 1}.json`);

/** Writes the stage durably before the layer's first pulse. */
export function saveStage(dir: string, s: Stage): void {
  mkdirSync(dir, { recursive: true });
  const weights = encodeWeights(s.net, s.layer);
  const body = { format: 'rram-hil/fine-tune-stage', layer: s.layer, weights, digest: weightsDigest(weights), report: s.report };
  const f = stageFile(dir, s.layer);
  const fd = openSync(f + '.tmp', 'w');
  writeSync(fd, JSON.stringify(body));
  fsyncSync(fd);
  closeSync(fd);
  renameSync(f + '.tmp', f);
}

/** The stored stage of `layer` applied to `net` (its later layers' weights replaced), or undefined when none was stored. */
export function loadStage(dir: string, layer: number, net: CrossbarNet): Stage | undefined {
  const f = stageFile(dir, layer);
  if (!existsSync(f)) return undefined;
  const d = parseFile(StageFile, parseJsonText(readFileSync(f, 'utf8'), f), f);
  if (d.layer !== layer) throw new DataError(f, `holds layer ${d.layer + 1}, not ${layer + 1}`);
  if (d.digest !== weightsDigest(d.weights)) throw new DataError(f, 'its weights do not match their digest: the stage was altered after it was written');
  return { layer, net: applyWeights(net, d.weights, layer, f), report: d.report as unknown as FineTuneLayerReport };
}
