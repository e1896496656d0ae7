/**
 * Runs `rram study synapse-budget`: per data set and architecture, train the net once (kept in
 * DIR/nets/<dataset>/<arch>/, a rerun loads it), then quantize it to each level count and run the
 * Monte Carlo; each net's row is stored as it finishes (resume). With `trainers` > 1 that many
 * nets train at once, each in a worker thread with its own tfjs backend; rows are stored in the
 * study's order whatever order the trainings end in.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset, parseDatasetName } from '../inference/datasets.js';
import { loadMeasuredLevels, parseDeviceSpec } from '../inference/device-models.js';
import { loadNet } from '../inference/load-net.js';
import type { Tf } from '../inference/tf-backend.js';
import { type TrainReport } from '../inference/train.js';
import { Worker } from 'node:worker_threads';
import { RramError, type RramErrorCode } from '../../drivers/errors.js';
import type { TrainJob } from './train-worker.js';
import { stepProgress } from '../sinks/step-progress.js';
import { runPoint } from './mc-point.js';
import type { PointStore } from './point-store.js';
import { describeArch, type NetRow, type SynapseBudgetParams } from './synapse-budget.js';

export const netDir = (dir: string, dataset: string, arch: string): string => join(dir, 'nets', dataset, arch.replace(/[:/,]/g, '_'));

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

export async function runSynapseBudget(tf: Tf, backend: string, store: PointStore<NetRow>, p: SynapseBudgetParams, o: { data?: Record<string, string>; workers?: number; trainers?: number; log?: (l: string) => void }): Promise<NetRow[]> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const spec = parseDeviceSpec(p.device);
  const measured = spec.kind === 'empirical' ? loadMeasuredLevels(spec.file!) : undefined;
  const all = p.datasets.flatMap((d) => p.archs.map((a) => ({ d, a, key: `${d}/${a}` })));
  const todo = all.filter((x) => !store.done.has(x.key));
  if (todo.length < all.length) log(`study synapse-budget: ${all.length - todo.length} of ${all.length} nets already in ${store.dir}, ${todo.length} to run`);
  const bar = stepProgress('study synapse-budget', 'nets');
  // Trainings run ahead in up to `trainers` workers; evaluation and storing follow the study's order.
  const trainers = Math.max(1, o.trainers ?? 1);
  const trained = new Map<string, Promise<{ rep: TrainReport; seconds: number }>>();
  let next = 0;
  let inflight = 0;
  const startTraining = (): void => {
    while (next < todo.length && inflight < trainers) {
      const { d, a, key } = todo[next++];
      const dir = netDir(store.dir, d, a);
      const t0 = performance.now();
      const have = existsSync(join(dir, 'report.json')) && existsSync(join(dir, 'model.json'));
      inflight++;
      const job = (have ? Promise.resolve(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as TrainReport) : trainInWorker({ dataset: d, data: o.data?.[d], arch: a, epochs: p.epochs, seed: p.seed, learningRate: p.learningRate, batchSize: p.batchSize, out: dir })).then((rep) => ({ rep, seconds: (performance.now() - t0) / 1000 }));
      const settled = job.finally(() => {
        inflight--;
        startTraining();
      });
      settled.catch(() => undefined); // awaited (and thrown) in order below; never an unhandled rejection meanwhile
      trained.set(key, settled);
    }
  };
  try {
    for (const [i, { d, a, key }] of todo.entries()) {
      bar.update(i, todo.length);
      startTraining();
      const { rep, seconds: trainSeconds } = await trained.get(key)!;
      trained.delete(key);
      const t0 = performance.now();
      const ds = loadDataset(parseDatasetName(d), o.data?.[d], true);
      const { net } = await loadNet(tf, netDir(store.dir, d, a));
      const quantized: Record<string, number> = {};
      for (const L of p.levels) {
        const r = await runPoint({ key: `${key}/L${L}`, device: p.device, levels: L, scheme: p.mapping }, { tf, backend, net, test: ds.test, trials: spec.kind === 'ideal' ? 1 : p.trials, seed: p.seed, images: p.images, workers: o.workers, measured });
        quantized[String(L)] = r.summary.mean;
      }
      const row: NetRow = { key, dataset: d, arch: a, ...describeArch(a, { side: ds.test.rows, channels: ds.test.channels }), trainAccuracy: rep.trainAccuracy, testAccuracy: rep.testAccuracy, quantized, epochs: rep.epochs, seed: rep.seed, trainSeconds };
      store.add(row);
      log(`study synapse-budget ${i + 1}/${todo.length} ${key}: ${row.synapses} synapses, test ${(100 * row.testAccuracy).toFixed(2)} %, ${p.levels.map((L) => `${L} lv ${(100 * quantized[String(L)]).toFixed(1)}`).join(', ')} (trained ${trainSeconds.toFixed(1)} s, evaluated ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
    bar.update(todo.length, todo.length);
  } finally {
    bar.stop();
  }
  return all.filter((x) => store.done.has(x.key)).map((x) => store.done.get(x.key)!);
}
