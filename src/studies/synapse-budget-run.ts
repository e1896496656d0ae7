/**
 * Runs `rram study synapse-budget`: per data set and architecture, train the net once (kept in
 * DIR/nets/<dataset>/<arch>/, a rerun loads it), then quantize it to each level count and run the
 * Monte Carlo; each net's row is stored as it finishes (resume).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArch } from '../inference/arch-spec.js';
import { loadDataset, parseDatasetName } from '../inference/datasets.js';
import { loadMeasuredLevels, parseDeviceSpec } from '../inference/device-models.js';
import { loadNet } from '../inference/load-net.js';
import type { Tf } from '../inference/tf-backend.js';
import { train, type TrainReport } from '../inference/train.js';
import { stepProgress } from '../sinks/step-progress.js';
import { runPoint } from './mc-point.js';
import type { PointStore } from './point-store.js';
import { describeArch, type NetRow, type SynapseBudgetParams } from './synapse-budget.js';

export const netDir = (dir: string, dataset: string, arch: string): string => join(dir, 'nets', dataset, arch.replace(/[:/,]/g, '_'));

export async function runSynapseBudget(tf: Tf, backend: string, store: PointStore<NetRow>, p: SynapseBudgetParams, o: { data?: Record<string, string>; workers?: number; log?: (l: string) => void }): Promise<NetRow[]> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const spec = parseDeviceSpec(p.device);
  const measured = spec.kind === 'empirical' ? loadMeasuredLevels(spec.file!) : undefined;
  const all = p.datasets.flatMap((d) => p.archs.map((a) => ({ d, a, key: `${d}/${a}` })));
  const todo = all.filter((x) => !store.done.has(x.key));
  if (todo.length < all.length) log(`study synapse-budget: ${all.length - todo.length} of ${all.length} nets already in ${store.dir}, ${todo.length} to run`);
  const bar = stepProgress('study synapse-budget', 'nets');
  try {
    for (const [i, { d, a, key }] of todo.entries()) {
      bar.update(i, todo.length);
      const ds = loadDataset(parseDatasetName(d), o.data?.[d]);
      const dir = netDir(store.dir, d, a);
      const t0 = performance.now();
      let rep: TrainReport;
      if (existsSync(join(dir, 'report.json')) && existsSync(join(dir, 'model.json'))) rep = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as TrainReport;
      else rep = await train(tf, backend, ds, { arch: parseArch(a), epochs: p.epochs, seed: p.seed, learningRate: p.learningRate, momentum: 0.9, batchSize: p.batchSize, out: dir });
      const trainSeconds = (performance.now() - t0) / 1000;
      const { net } = await loadNet(tf, dir);
      const quantized: Record<string, number> = {};
      for (const L of p.levels) {
        const r = await runPoint({ key: `${key}/L${L}`, device: p.device, levels: L, scheme: p.mapping }, { tf, backend, net, test: ds.test, trials: spec.kind === 'ideal' ? 1 : p.trials, seed: p.seed, images: p.images, workers: o.workers, measured });
        quantized[String(L)] = r.summary.mean;
      }
      const row: NetRow = { key, dataset: d, arch: a, ...describeArch(a, { side: ds.test.rows, channels: ds.test.channels }), trainAccuracy: rep.trainAccuracy, testAccuracy: rep.testAccuracy, quantized, epochs: rep.epochs, seed: rep.seed, trainSeconds };
      store.add(row);
      log(`study synapse-budget ${i + 1}/${todo.length} ${key}: ${row.synapses} synapses, test ${(100 * row.testAccuracy).toFixed(2)} %, ${p.levels.map((L) => `${L} lv ${(100 * quantized[String(L)]).toFixed(1)}`).join(', ')} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
    bar.update(todo.length, todo.length);
  } finally {
    bar.stop();
  }
  return all.filter((x) => store.done.has(x.key)).map((x) => store.done.get(x.key)!);
}
