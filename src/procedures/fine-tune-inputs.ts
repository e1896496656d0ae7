/**
 * What `--fine-tune progressive` takes from outside the request, checked alike by the direct
 * command and a station (at POST, before anything is queued, and again when the run starts): the
 * number of training images (default 10 % of the training set) and a stored baseline run.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { NetOnArraysResult } from './net-on-arrays.js';

/** The fine-tuning's training images: `given`, or 10 % of the set; more than the set holds is refused naming `field`. */
export function fineTuneImages(given: number | undefined, trainImages: number, field: string): number {
  if (given !== undefined && given > trainImages) throw new InvalidArgumentError(field, given, `the training set has only ${trainImages} images`);
  return given ?? Math.max(1, Math.round(trainImages / 10));
}

/** The net a baseline must have programmed: what makes its read-back comparable. */
export interface BaselineNet {
  model: string;
  /**
   * netDigest of the net, when it is loaded: the same net under another name (a station's
   * cli-<hash> folder, a direct run's path) is the same net when the baseline recorded this digest.
   * Without it (a station's POST, before the net is loaded) a baseline named by a path is left to
   * the check when the run starts, before any pulse.
   */
  digest?: string;
  dataset: string;
  levels: number;
  scheme: string;
}

/** The store as the check reads it (EmbeddedStore). */
export interface BaselineStore {
  getRun(id: string): { kind: string; status: string; params?: unknown };
  loadResult<T>(id: string, name: string): T;
}

/**
 * A stored baseline (--baseline RUN, a station's fineTune.baseline): a completed program-net run of
 * the same net (model, data set, levels, mapping scheme) programmed without fine-tuning. Anything
 * else is refused naming `field` and the run.
 */
export function storedBaseline(store: BaselineStore, runId: string, net: BaselineNet, field: string): NetOnArraysResult {
  const refuse = (why: string) => new InvalidArgumentError(field, runId, `${why}: a baseline is a completed program-net run of the same net, without fine-tuning`);
  let rec: { kind: string; status: string; params?: unknown };
  try {
    rec = store.getRun(runId);
  } catch {
    throw refuse('no such run in the store');
  }
  if (rec.kind !== 'program-net') throw refuse(`is a ${rec.kind} run`);
  if (rec.status !== 'completed') throw refuse(`ended ${rec.status}`);
  let r: NetOnArraysResult;
  try {
    r = store.loadResult<NetOnArraysResult>(runId, 'program-net');
  } catch (e) {
    throw refuse(`its result cannot be read (${(e as Error).message})`);
  }
  const recorded = ((rec.params as { inputs?: Record<string, string> } | undefined)?.inputs ?? {})['model contents (--model)'];
  const sameModel = r.model === net.model || (net.digest !== undefined ? recorded === net.digest : /[\\/]/.test(r.model));
  if (!sameModel || r.dataset !== net.dataset || r.levels !== net.levels || r.mapping.scheme !== net.scheme)
    throw refuse(`that run programmed ${r.model} on ${r.dataset} at ${r.levels} levels (${r.mapping.scheme}), this one ${net.model} on ${net.dataset} at ${net.levels} levels (${net.scheme}): not the same net`);
  if (r.fineTune) throw refuse('that run was fine-tuned');
  return r;
}
