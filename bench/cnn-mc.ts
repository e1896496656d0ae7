/**
 * Conv-net Monte Carlo speed (issue 17): cnn:2x8/p2/h16 on 10,000 MNIST test images, 8 levels,
 * gaussian:5% per-device draws - the conv kernel (native, then its JavaScript fallback) against
 * the general tfjs path, in one run on the same net and trials; the trials all paths share must
 * give the same accuracies.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function cnnMcBench(): Promise<Record<string, unknown>> {
  const tfb = await import('../src/inference/tf-backend.js');
  const { loadDataset } = await import('../src/inference/datasets.js');
  const { parseArch } = await import('../src/inference/arch-spec.js');
  const { train } = await import('../src/inference/train.js');
  const { loadNet } = await import('../src/inference/load-net.js');
  const { buildDeviceModel, parseDeviceSpec } = await import('../src/inference/device-models.js');
  const { monteCarlo } = await import('../src/inference/monte-carlo.js');
  const backend = await tfb.initTf();
  const tf = tfb.tf; // a live binding: set by initTf
  const ds = loadDataset('mnist');
  const dir = mkdtempSync(join(tmpdir(), 'bench-cnn-'));
  const rep = await train(tf, backend, ds, { arch: parseArch('cnn:2x8/p2/h16'), epochs: 1, seed: 1, learningRate: 0.01, momentum: 0.9, batchSize: 32, out: dir });
  const { net } = await loadNet(tf, dir);
  const device = buildDeviceModel(parseDeviceSpec('gaussian:5%'), 8, { shared: false, stuckHrs: 0, stuckLrs: 0, readNoise_A: 0, vread_V: 0.2 });
  const out: Record<string, unknown> = { net: 'cnn:2x8/p2/h16', trained_test_accuracy: rep.testAccuracy, images: ds.test.n, tfBackend: backend };
  const acc: Record<string, number[]> = {};
  const rate: Record<string, number> = {};
  for (const [label, engine, trials] of [
    ['tfjs general path, 2 workers', 'tfjs', 24],
    ['conv kernel, native, 2 workers', 'auto', 240],
    ['conv kernel, JavaScript fallback, 2 workers', 'js', 24],
  ] as [string, 'tfjs' | 'auto' | 'js', number][]) {
    const r = await monteCarlo(tf, backend, net, ds.test, { scheme: 'diff', device, trials, seed: 1, engine, workers: 2 });
    acc[label] = r.accuracies;
    rate[label] = r.trialsPerSec;
    out[label] = { engine: r.engine, trials, elapsed_s: +r.elapsed_s.toFixed(2), trials_per_s: +r.trialsPerSec.toFixed(2), mean_accuracy: +r.summary.mean.toFixed(4) };
  }
  const [t, n, j] = Object.keys(acc);
  out.speedup_native_vs_tfjs = +(rate[n] / rate[t]).toFixed(1);
  out.speedup_js_vs_tfjs = +(rate[j] / rate[t]).toFixed(1);
  out.same_accuracies_on_shared_trials = acc[t].every((a, i) => Math.abs(a - acc[n][i]) <= 1e-4 && Math.abs(a - acc[j][i]) <= 1e-4);
  return out;
}
