/**
 * A model folder as a crossbar net: a tfjs layers model (`rram train --arch dense|cnn`), or a
 * binary net (`bnn.json`) with its batch norm merged the chosen way (seed 003); for a binary net
 * the accuracy with batch norm in software and after the merge are reported beside.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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

/**
 * What the model was trained on (its report.json) against the data set it is about to meet: a
 * net trained on MNIST scores ~7 % on Fashion-MNIST without any error, so the mismatch is said.
 * A different image size is refused (the net cannot take it at all).
 */
export function checkModelData(dir: string, dataset: string, test: Split, net: CrossbarNet, label = dir): string[] {
  const warnings: string[] = [];
  const rep = ['report.json'].map((f) => join(dir, f)).find((f) => existsSync(f));
  if (rep) {
    try {
      const trained = (JSON.parse(readFileSync(rep, 'utf8')) as { dataset?: string }).dataset;
      if (trained && trained !== dataset) warnings.push(`the model in ${label} was trained on ${trained}; it is evaluated on ${dataset}: expect chance-level accuracy`);
    } catch {
      warnings.push(`${label}/report.json is not readable JSON: the data set the model was trained on is unknown`);
    }
  } else warnings.push(`${label} has no report.json: the data set the model was trained on is unknown`);
  const fits = net.input ? net.input.crop <= Math.min(test.rows, test.cols) && test.channels === 1 : net.inputShape.reduce((a, b) => a * b, 1) === test.rows * test.cols * test.channels;
  if (!fits) throw new InvalidArgumentError('--model', label, `takes ${net.input ? `${net.input.crop}x${net.input.crop} crops` : net.inputShape.join('x')} inputs; ${dataset} images are ${test.rows}x${test.cols}${test.channels > 1 ? `x${test.channels}` : ''}`);
  return warnings;
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
