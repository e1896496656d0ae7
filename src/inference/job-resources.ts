/**
 * What a point job needs from its machine (tfjs, a data set's test split, a model folder, a
 * level-CDF file), loaded once per process or job thread and checked against the digests the
 * submitter put in the job: a worker whose copy of a file differs refuses the job, naming the
 * file, instead of computing a different answer under the same job id.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../../drivers/errors.js';
import { digest } from '../../lib/digest.js';
import type { CrossbarNet } from './crossbar-net.js';
import { loadDataset, parseDatasetName, type Split } from './datasets.js';
import { loadMeasuredLevels, type MeasuredLevels } from './device-models.js';
import { loadNet, type BnMergeReport } from './load-net.js';
import type { BnMerge } from './bnn/model.js';
import { initTf, tf, type Tf } from './tf-backend.js';

/** A data set as a job names it: the name, its test split's digest, and (where) the folder the submitter read it from. */
export interface DatasetRef {
  name: string;
  digest: string;
}

export const splitDigest = (s: Split): string => digest(Buffer.concat([Buffer.from(s.images.buffer, s.images.byteOffset, s.images.byteLength), Buffer.from(s.labels), Buffer.from(`${s.n}x${s.rows}x${s.cols}x${s.channels}`)]));

/** The files that make a model (not report.json: its timings change nothing the model computes). */
export function modelDigest(dir: string): string {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DataError(dir, 'model folder not found');
  const files = readdirSync(dir).filter((f) => f !== 'report.json' && statSync(join(dir, f)).isFile()).sort();
  return digest(Buffer.concat(files.flatMap((f) => [Buffer.from(`${f}\0`), readFileSync(join(dir, f))])));
}

export const fileDigest = (file: string): string => {
  if (!existsSync(file)) throw new DataError(file, 'file not found');
  if (statSync(file).isDirectory()) throw new DataError(file, 'is a folder, not a file');
  return digest(readFileSync(file));
};

const mismatch = (what: string, path: string, here: string, want: string) =>
  new DataError(path, `this ${what} differs from the submitter's (digest ${here} here, ${want} in the job): give every worker the same files (docs/queue.md)`);

export class JobResources {
  private splits = new Map<string, { split: Split; digest: string }>();
  private nets = new Map<string, Promise<{ net: CrossbarNet; bnMerge?: BnMergeReport }>>();
  private levels = new Map<string, MeasuredLevels>();

  async tf(): Promise<{ tf: Tf; backend: string }> {
    const backend = await initTf();
    return { tf, backend };
  }

  /** The test split of `ref.name` from `dir` (default location when absent); checked against `ref.digest` when given. */
  testSplit(ref: { name: string; digest?: string }, dir?: string): Split {
    const k = `${ref.name}\0${dir ?? ''}`;
    let hit = this.splits.get(k);
    if (!hit) {
      const ds = loadDataset(parseDatasetName(ref.name), dir, true);
      hit = { split: ds.test, digest: splitDigest(ds.test) };
      this.splits.set(k, hit);
    }
    if (ref.digest && hit.digest !== ref.digest) throw mismatch(`${ref.name} test set`, dir ?? `the default ${ref.name} folder`, hit.digest, ref.digest);
    return hit.split;
  }

  /** A model folder as a crossbar net (loaded once per folder, digest and options). */
  async net(dir: string, want: string | undefined, o: { bnMerge?: BnMerge; test?: Split; images?: number } = {}): Promise<{ net: CrossbarNet; bnMerge?: BnMergeReport }> {
    const here = modelDigest(dir);
    if (want && here !== want) throw mismatch('model', dir, here, want);
    const k = `${dir}\0${here}\0${o.bnMerge ?? ''}\0${o.images ?? ''}\0${o.test ? 'test' : ''}`;
    let hit = this.nets.get(k);
    if (!hit) {
      hit = this.tf().then(({ tf }) => loadNet(tf, dir, o));
      hit.catch(() => this.nets.delete(k));
      this.nets.set(k, hit);
    }
    return hit;
  }

  measured(file: string, want?: string): MeasuredLevels {
    const here = fileDigest(file);
    if (want && here !== want) throw mismatch('level-CDF file', file, here, want);
    const k = `${file}\0${here}`;
    let hit = this.levels.get(k);
    if (!hit) {
      hit = loadMeasuredLevels(file);
      this.levels.set(k, hit);
    }
    return hit;
  }
}
