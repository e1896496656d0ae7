/**
 * A Monte Carlo point of a study as a queue job: its content is the study's parameters, the
 * point (its key included), the seed and trials it runs with, and the digests of the model, the
 * test set and the level-CDF file; `where` says where the submitter's copies are. The same
 * function runs it in process and on a worker, so the row cannot depend on where it ran.
 */
import { resolve } from 'node:path';
import type { DatasetRef, JobResources } from '../inference/job-resources.js';
import type { QueueTask } from '../queue/job.js';
import { runPoint, type McPoint, type PointRow } from './mc-point.js';
import type { StudyParams } from './point-store.js';

export const MC_POINT_JOB = 'study-mc-point';

export interface McPointContent {
  study: StudyParams;
  point: McPoint;
  seed: number;
  trials: number;
  images?: number;
  inputs: { model: string; dataset: DatasetRef; device?: string };
}

export interface McPointWhere {
  model: string;
  data?: string;
  device?: string;
}

export interface JobRunEnv {
  resources: JobResources;
  /** Trial threads per point (default: the Monte Carlo's, the machine's cores). */
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

export async function runMcPointJob(c: McPointContent, w: McPointWhere, env: JobRunEnv): Promise<PointRow> {
  const { tf, backend } = await env.resources.tf();
  const test = env.resources.testSplit(c.inputs.dataset, w.data);
  const { net } = await env.resources.net(w.model, c.inputs.model, { test, images: c.images });
  const measured = c.inputs.device ? env.resources.measured(w.device!, c.inputs.device) : undefined;
  return runPoint(c.point, { tf, backend, net, test, trials: c.trials, seed: c.seed, images: c.images, workers: env.threads, measured, onTrial: env.onProgress });
}

/** The job of one point (absolute paths in `where`, so a worker started elsewhere finds the same files). */
export function mcPointTask(c: McPointContent, where: McPointWhere): QueueTask {
  const w: McPointWhere = { model: resolve(where.model), data: where.data && resolve(where.data), device: where.device && resolve(where.device) };
  return { key: c.point.key, job: { kind: MC_POINT_JOB, key: c.point.key, content: c, where: w }, weight: c.trials };
}
