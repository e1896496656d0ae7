/**
 * `rram program-net --fine-tune progressive` (issue 27): the net programmed layer by layer with
 * the chip in the loop. Before layer n: the layers n..last are fine-tuned on the outputs of layer
 * n-1 as measured (computed from its read-back conductances for N training images; for the first
 * layer, the images themselves) with hardware noise in every batch, the Monte Carlo predicts the
 * final accuracy (earlier layers fixed to their read-back), and both are stored (a stage file,
 * fine-tune-stages.ts) before the layer's first pulse. Then its tiles are programmed and read back
 * K times each (stored steps `tile N`: a resume takes finished tiles from the record and never
 * pulses a done cell again). After the last crossbar the digital scale and bias are re-fitted.
 * The final table sets the read-back beside the software accuracy, the same net programmed
 * without fine-tuning (a callback: a board of the same seed, or a stored run) and the prediction.
 */
import type { Board } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { Rng } from '../../lib/rng.js';
import type { RunContext } from '../engine/run-context.js';
import { weightOps, type CrossbarNet } from '../inference/crossbar-net.js';
import { inputSize } from '../inference/forward-tf.js';
import type { Split } from '../inference/datasets.js';
import { fineTuneStage, measuredLayerOutput, refitDigital, type FineTuneLayerReport, type FineTuneReport } from '../inference/fine-tune.js';
import { mapNet, type MappedLayer } from '../inference/mapping.js';
import { monteCarlo } from '../inference/monte-carlo.js';
import { withMoreCounts } from '../inference/device-models.js';
import { runCounts } from '../inference/prediction.js';
import type { Tf } from '../inference/tf-backend.js';
import { valuesFromTiles, type Tile } from '../inference/tiling.js';
import type { LoopData } from '../inference/train-loop.js';
import { cropBinarize } from '../inference/bnn/spec.js';
import { accuracyFromValues, floatAccuracy } from '../inference/readback-eval.js';
import { groundedAfter } from './board-phases.js';
import { loadStage, saveStage } from './fine-tune-stages.js';
import { netProgrammer, netResult, placeLayer, planNet, type NetOnArraysOptions, type NetOnArraysResult } from './net-on-arrays.js';
import type { TileReadback } from './program-net.js';

export interface ProgressiveOptions {
  /** Training images whose outputs are measured per layer (a seeded sample of `train`). */
  images: number;
  epochs: number;
  lr: number;
  batchSize: number;
  /** Monte Carlo trials of each layer's prediction. */
  trials: number;
  train: Split;
  /** Where the stages are stored (the run's folder). */
  stageDir: (runId: string) => string;
  /** The same net programmed without fine-tuning (same board seed, or a stored run): its read-back accuracy, when known. */
  baseline?: () => Promise<{ readback: number; runId?: string; source: string } | undefined>;
  /** Called whenever the report changed (per-layer progress for the dashboard, the console). */
  onReport?: (r: FineTuneReport, runId: string) => void;
}

/** Refuses what cannot work before the run starts (and so before the first pulse). */
export function checkProgressive(f: ProgressiveOptions, test: Split): void {
  if (!Number.isInteger(f.images) || f.images < 1) throw new InvalidArgumentError('--fine-tune-images', f.images, 'must be a positive integer');
  if (f.images > f.train.n) throw new InvalidArgumentError('--fine-tune-images', f.images, `the training set has only ${f.train.n} images`);
  if (!Number.isInteger(f.epochs) || f.epochs < 0 || f.epochs > 100) throw new InvalidArgumentError('--fine-tune-epochs', f.epochs, 'must be an integer in 0..100');
  if (!(f.lr > 0 && f.lr < 1)) throw new InvalidArgumentError('--fine-tune-lr', f.lr, 'must be in (0, 1)');
  if (f.train.rows !== test.rows || f.train.channels !== test.channels) throw new InvalidArgumentError('dataset', `${f.train.rows}x${f.train.cols}`, 'training and test images differ in size');
}

/** The N training images (a seeded sample) as the net's first layer takes them. */
function sampleImages(net: CrossbarNet, train: Split, n: number, seed: number): LoopData {
  const order = Array.from({ length: train.n }, (_, i) => i);
  new Rng(seed ^ 0x5eed).shuffle(order);
  const px = train.rows * train.cols * train.channels;
  const raw = new Float32Array(n * px);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    raw.set(train.images.subarray(order[i] * px, (order[i] + 1) * px), i * px);
    labels[i] = train.labels[order[i]];
  }
  const x = net.input ? cropBinarize(raw, n, net.input.crop) : raw.subarray(0, n * inputSize(net));
  return { x, shape: net.inputShape, labels, n };
}

/** Per weight layer: known cell values (the programmed layers' read-back) or NaN (drawn). */
function fixedValues(mapped: MappedLayer[], known: ({ gp: Float32Array; gn?: Float32Array } | undefined)[]) {
  return mapped.map((l, li) => known[li] ?? { gp: new Float32Array(l.pos.length).fill(NaN), gn: l.neg ? new Float32Array(l.neg.length).fill(NaN) : undefined });
}

export async function netOnArraysProgressive(tf: Tf, tfBackend: string, board: Board, ctx: RunContext, o: NetOnArraysOptions & { fineTune: ProgressiveOptions }): Promise<NetOnArraysResult> {
  const f = o.fineTune;
  checkProgressive(f, o.test);
  const t0 = performance.now();
  const plan = planNet(board, o);
  const L = weightOps(o.net).length;
  const p = netProgrammer(board, ctx, o, plan, { fineTune: { mode: 'progressive', images: f.images, epochs: f.epochs, lr: f.lr, batchSize: f.batchSize, trials: f.trials } });
  p.begin();
  const dir = f.stageDir(ctx.runId);
  // The device as this run knows it: its own programmed cells' counts join the prediction's and the noise's.
  let device = o.device;
  const hw = () => ({ device, scheme: o.scheme, clip: o.clip });
  const report: FineTuneReport = {
    mode: 'progressive',
    images: f.images,
    epochs: f.epochs,
    lr: f.lr,
    batchSize: f.batchSize,
    reads: o.reads ?? 1,
    layers: weightOps(o.net).map((op, li) => ({ layer: li, name: op.name, tiles: plan.planned.layers[li].tiles, status: 'pending' })),
    timing: { programming_s: 0, fineTuning_s: 0, prediction_s: 0 },
  };
  const emit = () => f.onReport?.(report, ctx.runId);
  let net = o.net;
  let h = sampleImages(net, f.train, f.images, o.seed);
  const known: ({ gp: Float32Array; gn?: Float32Array } | undefined)[] = [];
  const done: TileReadback[] = [];
  const allTiles: Tile[] = [];
  let mapped: MappedLayer[] = [];
  let beforeRefit = NaN;
  await groundedAfter(board, async () => {
    for (let li = 0; li < L; li++) {
      const stage = loadStage(dir, li, net) ?? (await prepareStage(li));
      net = stage.net;
      report.layers[li] = { ...stage.report, status: 'predicted' };
      emit();
      // Layers before li are frozen: mapping the whole net again gives them the levels they were programmed with.
      mapped = mapNet(weightOps(net), o.device.nominal, o.scheme, { clip: o.clip });
      const tiles = placeLayer(plan, o, mapped, li, p.failedCells);
      report.layers[li].tiles = tiles.length;
      const tp = performance.now();
      const rbs: TileReadback[] = [];
      for (const t of tiles) rbs.push(await p.tile(t));
      report.layers[li].programming_s = (performance.now() - tp) / 1000;
      report.timing.programming_s += report.layers[li].programming_s!;
      report.layers[li].status = 'programmed';
      done.push(...rbs);
      allTiles.push(...tiles);
      known[li] = valuesFromTiles(mapped, tiles, rbs.map((r) => r.readback_A), () => true)[li];
      device = withMoreCounts(device, runCounts(tiles, rbs.map((r) => r.readback_A), rbs.map((r) => r.notOk), o.device.nominal.length, `run ${ctx.runId}, ${report.layers[li].name}`));
      if (li < L - 1) h = measuredLayerOutput(tf, net, li, mapped[li], known[li]!, h);
      emit();
    }
    // After the last crossbar: its digital scale and bias re-fitted to its measured outputs.
    const tr = performance.now();
    const last = L - 1;
    beforeRefit = accuracyOn(net);
    const r = refitDigital(tf, net, last, mapped[last], known[last]!, h);
    report.timing.fineTuning_s += (performance.now() - tr) / 1000;
    report.refit = { trainAccuracyBefore: r.before, trainAccuracyAfter: r.after, kept: r.kept };
    net = r.net;
  });

  function accuracyOn(n: CrossbarNet): number {
    return accuracyFromValues(tf, n, mapped, known.map((k) => k!), o.test, plan.images).accuracy;
  }

  /** Fine-tunes layers li..last on h, predicts, stores the stage: all before layer li's first pulse. */
  async function prepareStage(li: number) {
    if (ctx.ledger.steps().has(`tile ${plan.placed + 1}`)) throw new InvalidArgumentError('--resume', ctx.runId, `layer ${li + 1} has pulses in the record but no stored stage (${dir}): cannot know its weights`);
    const tf0 = performance.now();
    const ft = await fineTuneStage(tf, net, li, h, { epochs: f.epochs, lr: f.lr, batchSize: f.batchSize, seed: o.seed, hw: hw(), signal: o.signal });
    const tp = performance.now();
    report.timing.fineTuning_s += (tp - tf0) / 1000;
    const m = mapNet(weightOps(ft.net), o.device.nominal, o.scheme, { clip: o.clip });
    const mc = await monteCarlo(tf, tfBackend, ft.net, o.test, { scheme: o.scheme, clip: o.clip, device, trials: f.trials, seed: o.seed, engine: o.mcEngine ?? 'auto', images: plan.images, signal: o.signal, fixed: fixedValues(m, known) });
    report.timing.prediction_s += (performance.now() - tp) / 1000;
    const rep: FineTuneLayerReport = {
      ...report.layers[li],
      prediction: { mean: mc.summary.mean, p5: mc.summary.p5, p95: mc.summary.p95, trials: mc.trials, engine: mc.engine },
      fineTune: { layers: ft.layers, trainAccuracyBefore: ft.before, trainAccuracyAfter: ft.after, epochs: f.epochs, elapsed_s: ft.elapsed_s },
      status: 'predicted',
    };
    const stage = { layer: li, net: ft.net, report: rep };
    saveStage(dir, stage);
    return stage;
  }

  const prog = p.result(done);
  const res = await netResult(tf, tfBackend, ctx, { ...o, net }, plan, net, mapped, allTiles, prog, report.timing.programming_s);
  const tb = performance.now();
  const base = await f.baseline?.();
  if (base) report.timing.baseline_s = (performance.now() - tb) / 1000;
  const software = floatAccuracy(tf, o.net, o.test, plan.images);
  const gap = base ? software - base.readback : NaN;
  const share = (a: number) => (base && gap > 0 ? (a - base.readback) / gap : undefined);
  for (const l of report.layers) l.recovered = l.prediction ? share(l.prediction.mean) : undefined;
  report.table = { software, quantized: res.quantizedAccuracy, baseline: base, prediction: report.layers[0].prediction, readbackBeforeRefit: beforeRefit, readback: res.readbackAccuracy, recovered: share(res.readbackAccuracy) };
  report.timing.total_s = (performance.now() - t0) / 1000;
  emit();
  return { ...res, fineTune: report };
}
