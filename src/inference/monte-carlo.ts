/**
 * Monte Carlo inference: map a net onto N levels, then per trial draw every cell from the device
 * model and count correct test images. Dense ReLU chains without ADC run on the fast kernel in
 * worker threads; everything else (conv nets, ADC) runs per trial through TensorFlow.js. Both
 * paths draw identical cell values for a given (seed, trial).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AbortedError, InvalidArgumentError } from '../../drivers/errors.js';
import { histogram, mean, quantile, sorted, std } from '../analysis/stats.js';
import type { Split } from './datasets.js';
import { isDenseChain, weightOps, type CrossbarNet } from './crossbar-net.js';
import type { DeviceModel } from './device-models.js';
import { ARRAY_SIDE, MAX_TILE, MIN_TILE, mapNet, mappingReport, type MappingReport, type QuantizeScope, type Quantizer, type Scheme } from './mapping.js';
import { inputSize, predictAll, type AdcConfig, type FullScaleRecord, type LayerValues } from './forward-tf.js';
import { nativeAvailable, toCsr, type KernelChoice } from './mc-kernel.js';
import { runTrials, type McLayer, type TrialJob, type TrialResult } from './mc-trials.js';
import { convChain, nativeCnnAvailable } from './cnn-kernel.js';
import { runCnnTrials, type CnnTrialJob } from './mc-cnn-trials.js';
import { runOnWorkers } from './trial-workers.js';
import type { Tf } from './tf-backend.js';
import { runTfTrials, type TfTrialJob, type TfTrialResult } from './mc-tf-trials.js';

export interface McOptions {
  scheme: Scheme;
  device: DeviceModel;
  trials: number;
  seed: number;
  adcBits?: number;
  /** Crossbar side in the simulation (rows = columns per tile; default 64, the board's arrays): tiles counted in the report, each tile's columns through their own ADC. */
  tile?: number;
  /** Quantile of each layer's weights the levels span (default 1: the largest |w|). */
  clip?: number;
  /** nearest (default) or seed 001's histogram bins; layer-by-layer (default) or whole-network ranges. */
  quantizer?: Quantizer;
  scope?: QuantizeScope;
  /** Quantize only this weight layer (0-based); the others keep their trained weights, no devices (seed 001's Table 2 rows). */
  onlyLayer?: number;
  /** Fast-path kernel, or 'tfjs' to force the general path. */
  engine: KernelChoice | 'tfjs';
  workers?: number;
  /** Use only the first N test images. */
  images?: number;
  onProgress?: (done: number, total: number) => void;
  /** Checked between trials (general path) and before the kernel run. */
  signal?: AbortSignal;
  /** Per weight layer, cells whose value is known (NaN: drawn): a posterior prediction fixes the cells a run left unprogrammed to what they read. */
  fixed?: { gp: Float32Array; gn?: Float32Array }[];
}

export interface AccuracySummary {
  mean: number;
  std: number;
  min: number;
  max: number;
  p1: number;
  p5: number;
  p25: number;
  p50: number;
  p75: number;
  p95: number;
  p99: number;
}

export interface McResult {
  levels: number;
  levelValues_A: number[];
  mapping: MappingReport;
  device: { kind: string; text: string; shared: boolean; stuckHrs: number; stuckLrs: number; readNoise_A: number; relax?: string; levelsUsed?: number[]; aging?: string; maxInput_V?: number };
  adcBits?: number;
  tile: number;
  images: number;
  trials: number;
  seed: number;
  floatAccuracy: number;
  quantizedAccuracy: number;
  quantizedConfusion: number[][];
  accuracies: number[];
  summary: AccuracySummary;
  histogram: { lo: number; hi: number; count: number }[];
  cdf: { accuracy: number; p: number }[];
  /** Summed over all trials; row = true class, column = predicted. */
  confusion: number[][];
  engine: string;
  /** Threads the trials ran on. */
  workers: number;
  tfBackend: string;
  elapsed_s: number;
  trialsPerSec: number;
  imageTrialsPerSec: number;
  peakRss_MB: number;
}

export function summarize(acc: number[]): AccuracySummary {
  const s = sorted(acc);
  const q = (p: number) => quantile(s, p);
  return { mean: mean(s), std: std(s), min: s[0], max: s[s.length - 1], p1: q(0.01), p5: q(0.05), p25: q(0.25), p50: q(0.5), p75: q(0.75), p95: q(0.95), p99: q(0.99) };
}

/** Accuracy histogram over [min, max] of the trials, as labelled bins. */
export function accuracyHistogram(acc: number[], bins = 40): { lo: number; hi: number; count: number }[] {
  const min = Math.min(...acc);
  const w = (Math.max(...acc) - min) / bins || 1e-4;
  return histogram(acc, min, min + bins * w, bins).map((count, k) => ({ lo: min + k * w, hi: min + (k + 1) * w, count }));
}

export const confusionOf = (pred: Int32Array | Uint8Array, labels: Uint8Array): number[][] => {
  const m = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
  for (let i = 0; i < labels.length; i++) m[labels[i]][pred[i]]++;
  return m;
};

export async function monteCarlo(tf: Tf, tfBackend: string, net: CrossbarNet, test: Split, o: McOptions): Promise<McResult> {
  if (!Number.isInteger(o.trials) || o.trials < 1) throw new InvalidArgumentError('trials', o.trials, 'must be a positive integer');
  if (o.adcBits !== undefined && (!Number.isInteger(o.adcBits) || o.adcBits < 1 || o.adcBits > 16)) throw new InvalidArgumentError('adc-bits', o.adcBits, 'must be an integer in 1..16');
  if (o.tile !== undefined && (!Number.isInteger(o.tile) || o.tile < MIN_TILE || o.tile > MAX_TILE)) throw new InvalidArgumentError('tile', o.tile, `must be an integer in ${MIN_TILE}..${MAX_TILE}`);
  const n = Math.min(o.images ?? test.n, test.n);
  const labels = test.labels.subarray(0, n);
  const ops = weightOps(net);
  const levels = o.device.nominal;
  if (o.onlyLayer !== undefined && !(Number.isInteger(o.onlyLayer) && o.onlyLayer >= 0 && o.onlyLayer < ops.length)) throw new InvalidArgumentError('only-layer', o.onlyLayer, `must be a weight layer index in 0..${ops.length - 1}`);
  if (o.onlyLayer !== undefined && o.adcBits) throw new InvalidArgumentError('only-layer', o.onlyLayer, 'leaves the other layers digital: no ADC to model (drop --adc-bits)');
  const mapped = mapNet(ops, levels, o.scheme, { clip: o.clip, quantizer: o.quantizer, scope: o.scope, tile: o.tile });
  // Layers outside `onlyLayer` stay at their trained weights: no cells drawn for them.
  const digital = (li: number) => o.onlyLayer !== undefined && li !== o.onlyLayer;
  mapped.forEach((l, li) => digital(li) && l.quantized.set(ops[li].W));
  const tile = o.tile ?? ARRAY_SIDE;
  const predictTf = (values: LayerValues[], adcCfg?: AdcConfig, record?: FullScaleRecord): Int32Array => predictAll(tf, net, mapped, values, test.images, n, adcCfg, record, tile);
  const accuracy = (pred: Int32Array): number => pred.reduce((c, p, i) => c + (p === labels[i] ? 1 : 0), 0) / n;

  const floatPred = predictTf(ops.map((op) => ({ eff: op.W })));
  // Noise-free: nominal level values (with the ADC when one is modelled, which also sets its full scale).
  const nominal = mapped.map((l) => ({ gp: Float32Array.from(l.pos, (k) => levels[k]), gn: l.neg ? Float32Array.from(l.neg, (k) => levels[k]) : undefined }));
  let adcCfg: AdcConfig | undefined;
  let quantPred: Int32Array;
  if (o.adcBits) {
    const fs: FullScaleRecord = [];
    predictTf(nominal, undefined, fs);
    adcCfg = { bits: o.adcBits, fullScale: fs, tile };
    quantPred = predictTf(nominal, adcCfg);
  } else quantPred = predictTf(mapped.map((l) => ({ eff: l.quantized })));

  const t0 = performance.now();
  let peakRss = process.memoryUsage().rss;
  // What the trial runners (possibly in workers) need of each mapped layer.
  const layers: McLayer[] = mapped.map(({ scheme, rows, cols, alpha, ref, pos, neg, name }, li) => ({ scheme, rows, cols, alpha, ref, pos, neg, name, posFixed: o.fixed?.[li].gp, negFixed: o.fixed?.[li].gn, digital: digital(li) ? ops[li].W : undefined, post: ops[li].post }));
  const correct = new Int32Array(o.trials);
  const confusion = new Float64Array(100);
  let engine: string;
  let workersUsed = 1;
  // Without the native kernel, batched tfjs-wasm beats the JavaScript kernel (docs/benchmarks.md),
  // so `auto` falls back to it; `js` stays selectable as the reference implementation.
  const wantKernel = o.engine === 'native' || o.engine === 'js' || (o.engine === 'auto' && nativeAvailable() && process.env.RRAM_KERNEL !== 'js');
  const fast = wantKernel && !o.adcBits && isDenseChain(net);
  const wantCnn = o.engine === 'native' || o.engine === 'js' || (o.engine === 'auto' && nativeCnnAvailable() && process.env.RRAM_KERNEL !== 'js');
  const chain = wantCnn && !o.adcBits ? convChain(net) : undefined;
  if (chain) {
    // Conv nets: one trial per kernel call over all images, trials split over worker threads.
    if (o.signal?.aborted) throw new AbortedError('inference aborted');
    const px = inputSize(net);
    const images = new Float32Array(new SharedArrayBuffer(n * px * 4));
    images.set(test.images.subarray(0, n * px));
    const nw = Math.max(1, Math.min(o.workers ?? availableParallelism(), o.trials));
    const job = (first: number, count: number): CnnTrialJob => ({ kind: 'cnn', layers, stages: chain.stages, input: chain.input, device: o.device, seed: o.seed, images, labels, first, count, kernel: o.engine as KernelChoice });
    let done = 0;
    const tick = () => o.onProgress?.(++done, o.trials);
    const results: TrialResult[] = nw === 1 ? [runCnnTrials(job(0, o.trials), tick)] : await runOnWorkers<TrialResult>(new URL('./mc-worker.js', import.meta.url), o.trials, nw, job, tick, o.signal);
    for (const r of results) {
      correct.set(r.correct, r.first);
      r.confusion.forEach((v, i) => (confusion[i] += v));
    }
    engine = results[0].kernel;
    workersUsed = nw;
  } else if (fast) {
    if (o.signal?.aborted) throw new AbortedError('inference aborted');
    const kernel = o.engine as KernelChoice;
    const csr = toCsr(test.images, n, inputSize(net), true);
    const blocks = Math.ceil(o.trials / 8);
    const nw = Math.max(1, Math.min(o.workers ?? availableParallelism(), blocks));
    const chunks: [number, number][] = [];
    for (let w = 0; w < nw; w++) {
      const b0 = Math.floor((blocks * w) / nw);
      const b1 = Math.floor((blocks * (w + 1)) / nw);
      chunks.push([b0 * 8, Math.min(o.trials, b1 * 8) - b0 * 8]);
    }
    const job = (first: number, count: number): TrialJob => ({ layers, device: o.device, seed: o.seed, csr, labels, first, count, kernel });
    const results: TrialResult[] =
      nw === 1
        ? [runTrials(job(0, o.trials))]
        : await Promise.all(
            chunks.map(
              ([first, count]) =>
                new Promise<TrialResult>((resolve, reject) => {
                  const w = new Worker(new URL('./mc-worker.js', import.meta.url), { workerData: job(first, count) });
                  w.once('message', (m: { ok: boolean; result: TrialResult; error: string }) => (m.ok ? resolve(m.result) : reject(new Error(m.error))));
                  w.once('error', reject);
                }),
            ),
          );
    for (const r of results) {
      correct.set(r.correct, r.first);
      r.confusion.forEach((v, i) => (confusion[i] += v));
    }
    engine = results[0].kernel;
    workersUsed = nw;
    o.onProgress?.(o.trials, o.trials);
  } else {
    // General path: one batched tfjs forward per trial. On wasm (single-threaded in Node) the
    // trials are split over worker threads, each with its own backend; tfjs-node threads itself.
    const images = test.images.slice(0, n * (net.input ? 784 : inputSize(net)));
    const job = (first: number, count: number): TfTrialJob => ({ net, layers, device: o.device, seed: o.seed, images, labels, first, count, adc: adcCfg });
    const nw = tfBackend === 'wasm' ? Math.max(1, Math.min(o.workers ?? availableParallelism(), Math.floor(o.trials / 4))) : 1;
    let done = 0;
    const tick = () => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      o.onProgress?.(++done, o.trials);
    };
    let results: TfTrialResult[];
    if (nw === 1) {
      const between = async () => {
        if (o.signal?.aborted) throw new AbortedError('inference aborted');
        await new Promise((r) => setImmediate(r)); // let a hosting server breathe between trials
        tick();
      };
      results = [await runTfTrials(tf, job(0, o.trials), between)];
    } else results = await runOnWorkers<TfTrialResult>(new URL('./mc-tf-worker.js', import.meta.url), o.trials, nw, job, tick, o.signal);
    for (const r of results) {
      correct.set(r.correct, r.first);
      r.confusion.forEach((v, i) => (confusion[i] += v));
    }
    engine = `tfjs-${tfBackend}`;
    workersUsed = nw;
  }
  const elapsed = (performance.now() - t0) / 1000;
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const accuracies = Array.from(correct, (c) => c / n);
  const ascending = sorted(accuracies);
  return {
    levels: levels.length,
    levelValues_A: levels,
    mapping: mappingReport(mapped, { quantizer: o.quantizer, scope: o.scope, tile: o.tile }),
    device: { kind: o.device.kind, text: o.device.text, shared: o.device.shared, stuckHrs: o.device.stuckHrs, stuckLrs: o.device.stuckLrs, readNoise_A: o.device.readNoise_A, relax: o.device.relaxSource, levelsUsed: o.device.levelsUsed, aging: o.device.aging?.text, maxInput_V: o.device.maxInput_V },
    adcBits: o.adcBits,
    tile,
    images: n,
    trials: o.trials,
    seed: o.seed,
    floatAccuracy: accuracy(floatPred),
    quantizedAccuracy: accuracy(quantPred),
    quantizedConfusion: confusionOf(quantPred, labels),
    accuracies,
    summary: summarize(accuracies),
    histogram: accuracyHistogram(accuracies),
    cdf: ascending.map((a, i) => ({ accuracy: a, p: (i + 1) / ascending.length })),
    confusion: Array.from({ length: 10 }, (_, r) => Array.from(confusion.subarray(r * 10, r * 10 + 10))),
    engine,
    workers: workersUsed,
    tfBackend,
    elapsed_s: elapsed,
    trialsPerSec: o.trials / elapsed,
    imageTrialsPerSec: (o.trials * n) / elapsed,
    peakRss_MB: peakRss / 2 ** 20,
  };
}

