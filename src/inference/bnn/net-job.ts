/**
 * A net of `rram study bnn` as a job: trained (with the study's epochs and the replicate's seed)
 * in a temporary folder, its files returned for the submitter to keep in OUT/nets/NAME/, as an
 * in-process run leaves them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFolderFiles } from '../../io/folder-files.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset, parseDatasetName } from '../datasets.js';
import type { DatasetRef, JobResources } from '../job-resources.js';
import { trainStudyNet, type StudyNet } from './study.js';

export const BNN_NET_JOB = 'study-bnn-net';

export interface BnnNetContent {
  net: StudyNet;
  epochs: number;
  dataset: DatasetRef;
}

export async function runBnnNetJob(c: BnnNetContent, w: { data?: string }, env: { resources: JobResources; onProgress?: (done: number, total: number) => void }): Promise<{ files: Record<string, string> }> {
  const { tf, backend } = await env.resources.tf();
  env.resources.testSplit(c.dataset, w.data); // the digest check
  const ds = loadDataset(parseDatasetName(c.dataset.name), w.data);
  const dir = mkdtempSync(join(tmpdir(), 'rram-bnn-'));
  try {
    await trainStudyNet(tf, backend, ds, c.net, c.epochs, dir, (e) => env.onProgress?.(e, c.epochs));
    return { files: readFolderFiles(dir) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
