/**
 * One net of `rram study synapse-budget` as a job: train it (in a worker thread with its own
 * tfjs backend, so several train side by side), then quantize it to each level count and run the
 * Monte Carlo. In process the net is kept in DIR/nets/<dataset>/<arch>/ (a rerun loads it); on a
 * queue worker it is trained in a temporary folder and its files travel back with the row, and
 * the submitter writes them into DIR/nets. Training and trials take their seed from the job.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFolderFiles } from '../io/folder-files.js';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { RramError, type RramErrorCode } from '../../drivers/errors.js';
import { parseDeviceSpec } from '../inference/device-models.js';
import type { DatasetRef } from '../inference/job-resources.js';
import { loadNet } from '../inference/load-net.js';
import type { TrainReport } from '../inference/train.js';
import type { QueueTask } from '../queue/job.js';
import { runPoint } from './mc-point.js';
import type { JobRunEnv } from './mc-point-job.js';
import { describeArch, type NetRow, type SynapseBudgetParams } from './synapse-budget.js';
import type { TrainJob } from './train-worker.js';

export const SYNAPSE_NET_JOB = 'study-synapse-net';

/** DIR/nets/<dataset>/<arch>/ (replicate r > 0: <arch>@rR). */
export const netDir = (dir: string, dataset: string, arch: string, replicate = 0): string => join(dir, 'nets', dataset, arch.replace(/[:/,]/g, '_') + (replicate ? `@r${replicate}` : ''));

export interface SynapseNetContent {
  study: SynapseBudgetParams;
  key: string;
  dataset: string;
  arch: string;
  seed: number;
  inputs: { dataset: DatasetRef; device?: string };
}

export interface SynapseNetWhere {
  data?: string;
  device?: string;
  /** The study's folder for this net (used in process only). */
  net?: string;
}

export interface SynapseNetResult {
  row: NetRow;
  /** A worker's trained net, file name -> base64 (absent in process: the net is already in place). */
  files?: Record<string, string>;
}

/** Trains one net in a worker thread. */
function trainInWorker(job: TrainJob): Promise<TrainReport> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./train-worker.js', import.meta.url), { workerData: job });
    w.once('message', (m: { ok: boolean; report?: TrainReport; error?: string; code?: RramErrorCode }) => {
      if (m.ok) resolve(m.report!);
      else {
        const msg = `training ${job.arch} on ${job.dataset}: ${m.error}`;
        reject(m.code ? new RramError(m.code, msg) : new Error(msg));
      }
    });
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`training worker for ${job.arch} exited with code ${code}`)));
  });
}

export async function runSynapseNetJob(c: SynapseNetContent, w: SynapseNetWhere, env: JobRunEnv & { remote?: boolean }): Promise<SynapseNetResult> {
  const p = c.study;
  const dir = !env.remote && w.net ? w.net : mkdtempSync(join(tmpdir(), 'rram-net-'));
  try {
    const t0 = performance.now();
    const have = existsSync(join(dir, 'report.json')) && existsSync(join(dir, 'model.json'));
    const rep = have ? (JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as TrainReport) : await trainInWorker({ dataset: c.dataset, data: w.data, arch: c.arch, epochs: p.epochs, seed: c.seed, learningRate: p.learningRate, batchSize: p.batchSize, out: dir });
    const trainSeconds = (performance.now() - t0) / 1000;
    const { tf, backend } = await env.resources.tf();
    const test = env.resources.testSplit(c.inputs.dataset, w.data);
    const measured = c.inputs.device ? env.resources.measured(w.device!, c.inputs.device) : undefined;
    const { net } = await loadNet(tf, dir);
    const trials = parseDeviceSpec(p.device).kind === 'ideal' ? 1 : p.trials;
    const quantized: Record<string, number> = {};
    for (const [i, L] of p.levels.entries()) {
      const r = await runPoint({ key: `${c.key}/L${L}`, device: p.device, levels: L, scheme: p.mapping }, { tf, backend, net, test, trials, seed: c.seed, images: p.images, workers: env.threads, measured });
      quantized[String(L)] = r.summary.mean;
      env.onProgress?.(i + 1, p.levels.length);
    }
    const row: NetRow = { key: c.key, dataset: c.dataset, arch: c.arch, ...describeArch(c.arch, { side: test.rows, channels: test.channels }), trainAccuracy: rep.trainAccuracy, testAccuracy: rep.testAccuracy, quantized, epochs: rep.epochs, seed: rep.seed, trainSeconds };
    return { row, files: env.remote ? readFolderFiles(dir) : undefined };
  } finally {
    if (dir !== w.net) rmSync(dir, { recursive: true, force: true });
  }
}

export function synapseNetTask(c: SynapseNetContent, where: SynapseNetWhere): QueueTask {
  const w: SynapseNetWhere = { data: where.data && resolve(where.data), device: where.device && resolve(where.device), net: where.net && resolve(where.net) };
  return { key: c.key, job: { kind: SYNAPSE_NET_JOB, key: c.key, content: c, where: w }, weight: 1 };
}
