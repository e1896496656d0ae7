/**
 * Monte Carlo inference: map a net onto N levels, then per trial draw every cell from the device
 * model and count correct test images. Dense ReLU chains without ADC run on the fast kernel in
 * worker threads; everything else (conv nets, ADC) runs per trial through TensorFlow.js. Both
 * paths draw identical cell values for a given (seed, trial).
 */
import { availableParallelism } from 'node:os';
import { AbortedError, InvalidArgumentError } from '../../drivers/errors.js';
import { histogram, mean, quantile, sorted, std, extent } from '../analysis/stats.js';
import type { Split } from './datasets.js';
import { isDenseChain, weightOps, type CrossbarNet } from './crossbar-net.js';
import type { DeviceModel } from './device-models.js';
import type { DriftCompensation } from './drift-compensation.js';
import { applyIrDrop, checkWire, type WireOptions } from './ir-drop.js';
import { ARRAY_SIDE, MAX_TILE, MIN_TILE, mapNet, mappingReport, type MappingReport, type QuantizeScope, type Quantizer, type Scheme } from './mapping.js';
import { inputSize, predictAll, type AdcConfig, type FullScaleRecord, type LayerValues } from './forward-tf.js';
import { nativeAvailable, toCsr, TRIALS_PER_BLOCK, type KernelChoice } from './mc-kernel.js';
import { runTrials, type McLayer, type TrialJob, type TrialResult } from './mc-trials.js';
import { convChain, nativeCnnAvailable } from './cnn-kernel.js';
import { runCnnTrials, type CnnTrialJob } from './mc-cnn-trials.js';
import { newStopFlag, runInChunks, runOnWorkers } from './trial-workers.js';
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
  /** Trials finished so far, from every engine (per trial, or per kernel block of trials). */
  onProgress?: (done: number, total: number) => void;
  /** Stops every engine after its current trial (or block). */
  signal?: AbortSignal;
  /** On abort, return the trials done so far (result.aborted says so) instead of throwing (at least one trial needed). */
  keepPartial?: boolean;
  /** Per weight layer, cells whose value is known (NaN: drawn): a posterior prediction fixes the cells a run left unprogrammed to what they read. */
  fixed?: { gp: Float32Array; gn?: Float32Array }[];
  /** Reference reads at t = 0 and at the relaxation / retention time scale the column currents (drift-compensation.ts); default none. */
  driftCompensation?: DriftCompensation;
  /** Wire resistance per cell segment along rows and columns (ohm; default 0): IR drop, ir-drop.ts. */
  wireResistance_ohm?: number;
  /** The read voltage the level values are read currents at (default 0.2 V): turns them into conductances for the wires. */
  vread_V?: number;
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
  /** none | global | column (drift-compensation.ts). */
  driftCompensation: DriftCompensation;
  /** With --wire-resistance: the resistance and the largest share of its current any cell at its nominal level loses to the wires. */
  wire?: { resistance_ohm: number; worstDrop: number };
  tile: number;
  images: number;
  /** Trials run (fewer than asked only when aborted with keepPartial). */
  trials: number;
  /** Set when an abort stopped the run: the result covers the trials done. */
  aborted?: { trialsDone: number; trialsAsked: number };
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

/** Most trials one Monte Carlo may run (the per-trial results are kept: 10^6 of them are ~40 MB of JSON). */
export const MAX_TRIALS = 1_000_000;

export function summarize(acc: number[]): AccuracySummary {
  const s = sorted(acc);
  const q = (p: number) => quantile(s, p);
  return { mean: mean(s), std: std(s), min: s[0], max: s[s.length - 1], p1: q(0.01), p5: q(0.05), p25: q(0.25), p50: q(0.5), p75: q(0.75), p95: q(0.95), p99: q(0.99) };
}

/** Accuracy histogram over [min, max] of the trials, as labelled bins. */
export function accuracyHistogram(acc: number[], bins = 40): { lo: number; hi: number; count: number }[] {
  const [min, max] = extent(acc);
  const w = (max - min) / bins || 1e-4;
  return histogram(acc, min, min + bins * w, bins).map((count, k) => ({ lo: min + k * w, hi: min + (k + 1) * w, count }));
}

export const confusionOf = (pred: Int32Array | Uint8Array, labels: Uint8Array): number[][] => {
  const m = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
  for (let i = 0; i < labels.length; i++) m[labels[i]][pred[i]]++;
  return m;
};

/** Refuses options no Monte Carlo can run, naming the flag (before anything is mapped or drawn). */
function checkOptions(o: McOptions, nOps: number, drifts: boolean): void {
  if (!Number.isInteger(o.trials) || o.trials < 1 || o.trials > MAX_TRIALS) throw new InvalidArgumentError('trials', o.trials, `must be an integer in 1..${MAX_TRIALS}`);
  if (o.adcBits !== undefined && (!Number.isInteger(o.adcBits) || o.adcBits < 1 || o.adcBits > 16)) throw new InvalidArgumentError('adc-bits', o.adcBits, 'must be an integer in 1..16');
  if (o.tile !== undefined && (!Number.isInteger(o.tile) || o.tile < MIN_TILE || o.tile > MAX_TILE)) throw new InvalidArgumentError('tile', o.tile, `must be an integer in ${MIN_TILE}..${MAX_TILE}`);
  if (o.onlyLayer !== undefined && !(Number.isInteger(o.onlyLayer) && o.onlyLayer >= 0 && o.onlyLayer < nOps)) throw new InvalidArgumentError('only-layer', o.onlyLayer, `must be a weight layer index in 0..${nOps - 1}`);
  if (o.driftCompensation && o.driftCompensation !== 'none' && !drifts) throw new InvalidArgumentError('drift-compensation', o.driftCompensation, 'compensates drift after programming: give --relax T or --retention T');
  if (o.onlyLayer !== undefined && o.adcBits) throw new InvalidArgumentError('only-layer', o.onlyLayer, 'leaves the other layers digital: no ADC to model (drop --adc-bits)');
}

/** What every engine's trial job shares: the mapped layers, the device, the periphery. */
interface TrialSetup {
  tf: Tf;
  tfBackend: string;
  net: CrossbarNet;
  test: Split;
  n: number;
  labels: Uint8Array;
  layers: McLayer[];
  periphery: { driftCompensation: DriftCompensation; wire?: WireOptions };
  adcCfg?: AdcConfig;
  o: McOptions;
  onTrials: (k: number) => void;
}

interface EngineRun {
  results: { first: number; done: number; correct: Int32Array; confusion: Float64Array }[];
  engine: string;
  workers: number;
  peakRss: number;
}

/** Conv nets: one trial per kernel call over all images, trials split over worker threads. */
async function cnnTrials(x: TrialSetup, chain: NonNullable<ReturnType<typeof convChain>>): Promise<EngineRun> {
  const { o, n } = x;
  const px = inputSize(x.net);
  const images = new Float32Array(new SharedArrayBuffer(n * px * 4));
  images.set(x.test.images.subarray(0, n * px));
  const nw = Math.max(1, Math.min(o.workers ?? availableParallelism(), o.trials));
  const job = (first: number, count: number, stop?: Int32Array): CnnTrialJob => ({ kind: 'cnn', layers: x.layers, stages: chain.stages, input: chain.input, device: o.device, seed: o.seed, images, labels: x.labels, first, count, kernel: o.engine as KernelChoice, stop, ...x.periphery });
  const rs: TrialResult[] = nw === 1 ? await runInChunks(o.trials, 2, (first, count) => runCnnTrials(job(first, count)), x.onTrials, o.signal) : await runOnWorkers<TrialResult>(new URL('./mc-worker.js', import.meta.url), o.trials, nw, job, x.onTrials, o.signal);
  return { results: rs, engine: rs[0]?.kernel ?? o.engine, workers: nw, peakRss: 0 };
}

/** Dense chains: the sparse kernel, workers taking whole blocks of TRIALS_PER_BLOCK trials (its batch). */
async function denseTrials(x: TrialSetup): Promise<EngineRun> {
  const { o, n } = x;
  const kernel = o.engine as KernelChoice;
  const csr = toCsr(x.test.images, n, inputSize(x.net), true);
  const blocks = Math.ceil(o.trials / TRIALS_PER_BLOCK);
  const nw = Math.max(1, Math.min(o.workers ?? availableParallelism(), blocks));
  const job = (first: number, count: number, stop?: Int32Array): TrialJob => ({ layers: x.layers, device: o.device, seed: o.seed, csr, labels: x.labels, first, count, kernel, stop, ...x.periphery });
  const rs: TrialResult[] =
    nw === 1
      ? await runInChunks(o.trials, 8 * TRIALS_PER_BLOCK, (first, count) => runTrials(job(first, count)), x.onTrials, o.signal)
      : await runOnWorkers<TrialResult>(new URL('./mc-worker.js', import.meta.url), blocks, nw, (b0, nb, stop) => job(b0 * TRIALS_PER_BLOCK, Math.min(o.trials, (b0 + nb) * TRIALS_PER_BLOCK) - b0 * TRIALS_PER_BLOCK, stop), x.onTrials, o.signal);
  return { results: rs, engine: rs[0]?.kernel ?? kernel, workers: nw, peakRss: 0 };
}

/**
 * The general path: one batched tfjs forward per trial. On wasm (single-threaded in Node) the
 * trials are split over worker threads, each with its own backend; tfjs-node threads itself.
 */
async function tfTrials(x: TrialSetup): Promise<EngineRun> {
  const { o, n } = x;
  const images = x.test.images.slice(0, n * (x.net.input ? 784 : inputSize(x.net)));
  const job = (first: number, count: number, stop?: Int32Array): TfTrialJob => ({ net: x.net, layers: x.layers, device: o.device, seed: o.seed, images, labels: x.labels, first, count, adc: x.adcCfg, stop, ...x.periphery });
  const nw = x.tfBackend === 'wasm' ? Math.max(1, Math.min(o.workers ?? availableParallelism(), Math.floor(o.trials / 4))) : 1;
  let peakRss = 0;
  const count = (k: number) => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    x.onTrials(k);
  };
  let results: EngineRun['results'];
  if (nw === 1) {
    const stop = newStopFlag();
    const between = async () => {
      if (o.signal?.aborted) Atomics.store(stop, 0, 1);
      await new Promise((r) => setImmediate(r)); // let a hosting server breathe between trials
      count(1);
    };
    results = [await runTfTrials(x.tf, job(0, o.trials, stop), between)];
  } else results = await runOnWorkers<TfTrialResult>(new URL('./mc-tf-worker.js', import.meta.url), o.trials, nw, job, count, o.signal);
  return { results, engine: `tfjs-${x.tfBackend}`, workers: nw, peakRss };
}

/** The engine for this net and these options: the conv kernel, the dense kernel, or tfjs. */
function runEngine(x: TrialSetup): Promise<EngineRun> {
  const { o, net } = x;
  // Without the native kernel, batched tfjs-wasm beats the JavaScript kernel (docs/benchmarks.md),
  // so `auto` falls back to it; `js` stays selectable as the reference implementation.
  const wantKernel = o.engine === 'native' || o.engine === 'js' || (o.engine === 'auto' && nativeAvailable() && process.env.RRAM_KERNEL !== 'js');
  const wantCnn = o.engine === 'native' || o.engine === 'js' || (o.engine === 'auto' && nativeCnnAvailable() && process.env.RRAM_KERNEL !== 'js');
  const chain = wantCnn && !o.adcBits ? convChain(net) : undefined;
  if (chain) return cnnTrials(x, chain);
  if (wantKernel && !o.adcBits && isDenseChain(net)) return denseTrials(x);
  return tfTrials(x);
}

/** The trials run, in trial order (an aborted run: each worker's finished prefix), and their confusion. */
function gatherTrials(results: EngineRun['results']): { correct: Int32Array; confusion: Float64Array } {
  const correct = new Int32Array(results.reduce((a, r) => a + r.done, 0));
  const confusion = new Float64Array(100);
  let at = 0;
  for (const r of [...results].sort((a, b) => a.first - b.first)) {
    correct.set(r.correct.subarray(0, r.done), at);
    at += r.done;
    r.confusion.forEach((v, i) => (confusion[i] += v));
  }
  return { correct, confusion };
}

export async function monteCarlo(tf: Tf, tfBackend: string, net: CrossbarNet, test: Split, o: McOptions): Promise<McResult> {
  const ops = weightOps(net);
  const drifts = o.device.relaxSource !== undefined || (o.device.aging?.logT ?? 0) > 0;
  checkOptions(o, ops.length, drifts);
  const n = Math.min(o.images ?? test.n, test.n);
  const labels = test.labels.subarray(0, n);
  const levels = o.device.nominal;
  const wire = o.wireResistance_ohm !== undefined ? { resistance_ohm: o.wireResistance_ohm, vread_V: o.vread_V ?? 0.2, tile: o.tile ?? ARRAY_SIDE } : undefined;
  if (wire) checkWire(wire);
  const periphery = { driftCompensation: o.driftCompensation ?? 'none', wire };
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
  const rss0 = process.memoryUsage().rss;
  // What the trial runners (possibly in workers) need of each mapped layer.
  const layers: McLayer[] = mapped.map(({ scheme, rows, cols, alpha, ref, pos, neg, name }, li) => ({ scheme, rows, cols, alpha, ref, pos, neg, name, posFixed: o.fixed?.[li].gp, negFixed: o.fixed?.[li].gn, digital: digital(li) ? ops[li].W : undefined, post: ops[li].post }));
  // Progress per finished trial (or block of trials), from every engine; an abort stops them all
  // after their current trial and keeps what they did (McOptions.keepPartial).
  let done = 0;
  const onTrials = (k: number) => {
    done += k;
    o.onProgress?.(done, o.trials);
  };
  if (o.signal?.aborted) throw new AbortedError('inference aborted');
  const run = await runEngine({ tf, tfBackend, net, test, n, labels, layers, periphery, adcCfg, o, onTrials });
  const { correct, confusion } = gatherTrials(run.results);
  const trialsDone = correct.length;
  const aborted = !!o.signal?.aborted || trialsDone < o.trials;
  if (aborted && (!o.keepPartial || trialsDone === 0)) throw new AbortedError(`inference aborted after ${trialsDone} of ${o.trials} trials`);
  const elapsed = (performance.now() - t0) / 1000;
  const peakRss = Math.max(rss0, run.peakRss, process.memoryUsage().rss);
  const accuracies = Array.from(correct, (c) => c / n);
  const ascending = sorted(accuracies);
  return {
    levels: levels.length,
    levelValues_A: levels,
    mapping: mappingReport(mapped, { quantizer: o.quantizer, scope: o.scope, tile: o.tile }),
    device: { kind: o.device.kind, text: o.device.text, shared: o.device.shared, stuckHrs: o.device.stuckHrs, stuckLrs: o.device.stuckLrs, readNoise_A: o.device.readNoise_A, relax: o.device.relaxSource, levelsUsed: o.device.levelsUsed, aging: o.device.aging?.text, maxInput_V: o.device.maxInput_V },
    adcBits: o.adcBits,
    driftCompensation: periphery.driftCompensation,
    ...(wire ? { wire: { resistance_ohm: wire.resistance_ohm, worstDrop: Math.max(0, ...nominal.map((v, li) => (digital(li) ? 0 : applyIrDrop(mapped[li], v.gp.slice(), v.gn?.slice(), wire)))) } } : {}),
    tile,
    images: n,
    trials: trialsDone,
    ...(aborted ? { aborted: { trialsDone, trialsAsked: o.trials } } : {}),
    seed: o.seed,
    floatAccuracy: accuracy(floatPred),
    quantizedAccuracy: accuracy(quantPred),
    quantizedConfusion: confusionOf(quantPred, labels),
    accuracies,
    summary: summarize(accuracies),
    histogram: accuracyHistogram(accuracies),
    cdf: ascending.map((a, i) => ({ accuracy: a, p: (i + 1) / ascending.length })),
    confusion: Array.from({ length: 10 }, (_, r) => Array.from(confusion.subarray(r * 10, r * 10 + 10))),
    engine: run.engine,
    workers: run.workers,
    tfBackend,
    elapsed_s: elapsed,
    trialsPerSec: trialsDone / elapsed,
    imageTrialsPerSec: (trialsDone * n) / elapsed,
    peakRss_MB: peakRss / 2 ** 20,
  };
}

