/**
 * A model folder as a crossbar net: a tfjs layers model (`rram train --arch dense|cnn`), or a
 * binary net (`bnn.json`) with its batch norm merged the chosen way (seed 003); for a binary net
 * the accuracy with batch norm in software and after the merge are reported beside.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import { toCrossbarNet, type CrossbarNet } from './crossbar-net.js';
import type { Split } from './datasets.js';
import { loadModel } from './model-io.js';
import type { Tf } from './tf-backend.js';
import { BN_MERGES, bnnCrossbarNet, isBnnDir, loadBnn, mergeBn, mergedAccuracy, type BnMerge } from './bnn/model.js';

export interface BnMergeReport {
  method: BnMerge;
  /** Digital accuracy with batch norm as trained (software) and after the merge (the hardware's net). */
  accuracyBefore: number;
  accuracyAfter: number;
  images: number;
}

export function parseBnMerge(raw: string): BnMerge {
  if (!(BN_MERGES as readonly string[]).includes(raw)) throw new InvalidArgumentError('--bn-merge', raw, `must be one of ${BN_MERGES.join(', ')}`);
  return raw as BnMerge;
}

export async function loadNet(tf: Tf, dir: string, o: { bnMerge?: BnMerge; test?: Split; images?: number } = {}): Promise<{ net: CrossbarNet; bnMerge?: BnMergeReport }> {
  if (!isBnnDir(dir)) {
    if (o.bnMerge !== undefined && o.bnMerge !== 'none') {
      // A tfjs model's batch norm is folded arithmetically (exactly, its weights are real): say so rather than pretend.
      throw new InvalidArgumentError('--bn-merge', o.bnMerge, 'applies to binary nets (bnn.json); a tfjs model\'s batch norm is folded into its real weights');
    }
    return { net: toCrossbarNet(await loadModel(tf, dir)) };
  }
  const m = loadBnn(dir);
  const method = o.bnMerge ?? 'signed';
  const merged = mergeBn(m, method);
  const report = o.test ? { method, accuracyBefore: mergedAccuracy(mergeBn(m, 'none'), o.test, Math.min(o.images ?? o.test.n, o.test.n)), accuracyAfter: mergedAccuracy(merged, o.test, Math.min(o.images ?? o.test.n, o.test.n)), images: Math.min(o.images ?? o.test.n, o.test.n) } : undefined;
  return { net: bnnCrossbarNet(merged), bnMerge: report };
}
