/**
 * `rram program-net --fine-tune progressive` (issue 27): the net programmed layer by layer with
 * the chip in the loop. Before layer n: the layers n..last are fine-tuned on the outputs of layer
 * n-1 as measured for N training images (through the board's analog MVM when it offers it, else
 * computed from its read-back conductances; for the first layer, the images themselves) with
 * hardware noise in every batch, the Monte Carlo predicts the
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
import { bareLayer, fineTuneStage, measuredLayerOutput, refitDigital, type FineTuneLayerReport, type FineTuneReport } from '../inference/fine-tune.js';
import { mapNet, type MappedLayer } from '../inference/mapping.js';
import { monteCarlo } from '../inference/monte-carlo.js';
import { withMoreCounts, type DeviceModel } from '../inference/device-models.js';
import { runCounts } from '../inference/prediction.js';
import type { Tf } from '../inference/tf-backend.js';
import { valuesFromTiles, type Tile } from '../inference/tiling.js';
import type { LoopData } from '../inference/train-loop.js';
import { cropBinarize } from '../inference/bnn/spec.js';
import { accuracyFromValues, floatAccuracy } from '../inference/readback-eval.js';
import { groundedAfter } from './board-phases.js';
import { encodeWeights, loadStage, saveStage } from './fine-tune-stages.js';
import { keptNet, netDigest, netProgrammer, netResult, placeLayer, planNet, type NetOnArraysOptions, type NetOnArraysResult, type NetPlan } from './net-on-arrays.js';
import { layerOnBoard, predictOnBoard, signalled, type OnBoardTile } from '../inference/on-board-forward.js';
import { onGridAtMost } from '../../drivers/limits.js';
import type { NetProgrammer, TileReadback } from './program-net.js';

export interface ProgressiveOptions {
  /** Training images whose outputs are measured per layer (a seeded sample of `train`). */
  images: number;
  epochs: number;
  lr: number;
  batchSize: number;
  /** Monte Carlo trials of each layer's prediction. */
  trials: number;
  /** Where a programmed layer's outputs come from: auto (the board's MVM when offered, else the read-back; default) or read-back. */
  outputs?: 'auto' | 'read-back';
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
export function sampleImages(net: CrossbarNet, train: Split, n: number, seed: number): LoopData {
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

type Values = { gp: Float32Array; gn?: Float32Array };

/** Images per batch of MVM calls when a layer's outputs are measured on the board. */
const MVM_IMAGES = 100;

/** Two tiles of the list on the same cell (an array reused: the later tile overwrote the earlier). */
function sharesCells(tiles: OnBoardTile[]): boolean {
  const seen = new Set<number>();
  for (const t of tiles)
    for (const r of t.rowAt)
      for (const c of t.colAt) {
        const k = (t.array * 65536 + r) * 65536 + c;
        if (seen.has(k)) return true;
        seen.add(k);
      }
  return false;
}

export async function netOnArraysProgressive(tf: Tf, tfBackend: string, board: Board, ctx: RunContext, o: NetOnArraysOptions & { fineTune: ProgressiveOptions }): Promise<NetOnArraysResult> {
  checkProgressive(o.fineTune, o.test);
  const run = new ProgressiveRun(tf, tfBackend, board, ctx, o);
  await groundedAfter(board, async () => {
    for (let li = 0; li < run.layers; li++) await run.layer(li);
    await run.refit();
  });
  return run.finish();
}

/** One progressive run's state: the net as tuned so far, the measured inputs of the next layer, the layers' read-back values. */
class ProgressiveRun {
  private readonly t0 = performance.now();
  private readonly f: ProgressiveOptions;
  private readonly plan: NetPlan;
  private readonly p: NetProgrammer;
  private readonly dir: string;
  readonly layers: number;
  readonly report: FineTuneReport;
  /** The device as this run knows it: its own programmed cells' counts join the prediction's and the noise's. */
  private device: DeviceModel;
  private net: CrossbarNet;
  /** The inputs of the next layer to program, for the N training images (first: the images). */
  private h: LoopData;
  private readonly known: Values[] = [];
  private readonly done: TileReadback[] = [];
  private readonly tiles: Tile[] = [];
  private mapped: MappedLayer[] = [];
  private beforeRefit = NaN;
  /** Reasons for read-back outputs already told (once each). */
  private readonly warned = new Set<string>();

  constructor(
    private readonly tf: Tf,
    private readonly tfBackend: string,
    private readonly board: Board,
    private readonly ctx: RunContext,
    private readonly o: NetOnArraysOptions & { fineTune: ProgressiveOptions },
  ) {
    const f = (this.f = o.fineTune);
    this.plan = planNet(board, o);
    this.layers = weightOps(o.net).length;
    this.p = netProgrammer(board, ctx, o, this.plan, { fineTune: { mode: 'progressive', images: f.images, epochs: f.epochs, lr: f.lr, batchSize: f.batchSize, trials: f.trials, ...(f.outputs === 'read-back' ? { outputs: 'read-back' } : {}) } });
    this.p.begin();
    this.dir = f.stageDir(ctx.runId);
    this.device = o.device;
    this.net = o.net;
    this.h = sampleImages(o.net, f.train, f.images, o.seed);
    this.report = {
      mode: 'progressive',
      images: f.images,
      epochs: f.epochs,
      lr: f.lr,
      batchSize: f.batchSize,
      reads: o.reads ?? 1,
      layers: weightOps(o.net).map((op, li) => ({ layer: li, name: op.name, tiles: this.plan.planned.layers[li].tiles, status: 'pending' })),
      timing: { programming_s: 0, fineTuning_s: 0, prediction_s: 0 },
    };
  }

  private emit(): void {
    this.f.onReport?.(this.report, this.ctx.runId);
  }

  /** Layer li: its stage (stored, or prepared and stored), then its tiles programmed and read back, then its measured outputs. */
  async layer(li: number): Promise<void> {
    const o = this.o;
    const stage = loadStage(this.dir, li, this.net) ?? (await this.prepareStage(li));
    this.net = stage.net;
    const rep: FineTuneLayerReport = (this.report.layers[li] = { ...stage.report, status: 'predicted' });
    this.emit();
    // Layers before li are frozen: mapping the whole net again gives them the levels they were programmed with.
    this.mapped = mapNet(weightOps(this.net), o.device.nominal, o.scheme, { clip: o.clip });
    const tiles = placeLayer(this.plan, o, this.mapped, li, this.p.failedCells);
    rep.tiles = tiles.length;
    const tp = performance.now();
    const rbs: TileReadback[] = [];
    for (const t of tiles) rbs.push(await this.p.tile(t));
    rep.programming_s = (performance.now() - tp) / 1000;
    this.report.timing.programming_s += rep.programming_s;
    rep.status = 'programmed';
    this.done.push(...rbs);
    this.tiles.push(...tiles);
    const readback = rbs.map((r) => r.readback_A);
    this.known[li] = valuesFromTiles(this.mapped, tiles, readback, () => true)[li];
    this.device = withMoreCounts(this.device, runCounts(tiles, readback, rbs.map((r) => r.notOk), o.device.nominal.length, `run ${this.ctx.runId}, ${rep.name}`));
    if (li < this.layers - 1) this.h = await this.layerOutputs(li, rep);
    this.emit();
  }

  /**
   * Layer li's outputs for the N images: measured through the board's analog MVM when it offers
   * it (tile by tile, as `rram infer --on-board` does: inputs on the DAC grid, currents to outputs,
   * scale and bias digital), else computed from its read-back, saying so. MVM calls are reads: a
   * `mvm-read` mark in the record, no pulse (a resume measures again).
   */
  private async layerOutputs(li: number, rep: FineTuneLayerReport): Promise<LoopData> {
    const t0 = performance.now();
    const reason = this.mvmUnavailable(li, rep.name);
    if (reason) {
      this.warnReadBack(reason, `layer ${rep.name}'s outputs for fine-tuning are computed from its read-back conductances`);
      const h = measuredLayerOutput(this.tf, this.net, li, this.mapped[li], this.known[li], this.h);
      rep.outputs = { source: 'read-back', reason, elapsed_s: (performance.now() - t0) / 1000 };
      return h;
    }
    const { h, vIn_V, tiles } = await this.measureOnBoard(this.net, li);
    this.ctx.emit({ type: 'mark', name: 'mvm-read', value: { layer: li, name: rep.name, images: h.n, tiles, vIn_V } });
    rep.outputs = { source: 'mvm', vIn_V, elapsed_s: (performance.now() - t0) / 1000 };
    return h;
  }

  /** Why layer li's outputs cannot be measured through the board's MVM ('' when they can). */
  private mvmUnavailable(li: number, name: string): string {
    const info = this.board.info();
    const mine = keptNet(this.mapped, this.tiles).tiles.filter((t) => t.layer === li);
    return this.f.outputs === 'read-back' ? 'asked for (--fine-tune-outputs read-back)' : !info.features?.mvm || !this.board.mvm ? 'the board does not offer the analog MVM (HELLO feature bit 2)' : this.net.input ? 'binary nets are not evaluated through the MVM' : sharesCells(mine) ? `layer ${name}'s tiles share cells (more tiles than arrays): the first ones are overwritten` : '';
  }

  /** A warning that read-back values stand in for measured outputs, once per reason. */
  private warnReadBack(reason: string, what: string): void {
    if (!this.warned.has(reason)) this.ctx.emit({ type: 'warning', code: 'fine-tune-read-back', message: `${reason}: ${what}` });
    this.warned.add(reason);
  }

  /** Weight layer li of `net` measured through the board's MVM for the N images' inputs of it (this.h), in batches (reads only). */
  private async measureOnBoard(net: CrossbarNet, li: number): Promise<{ h: LoopData; vIn_V: number; tiles: number }> {
    const info = this.board.info();
    const kept = keptNet(this.mapped, this.tiles);
    const vIn_V = onGridAtMost(kept.vread_V, info.limits.vread_max_V, info.dacStep_V);
    const mvm = signalled(this.board.mvm!.bind(this.board), this.o.signal);
    const { h } = this;
    const per = h.shape.reduce((a, b) => a * b, 1);
    let x: Float32Array | undefined;
    let shape: number[] = [];
    for (let k0 = 0; k0 < h.n; k0 += MVM_IMAGES) {
      const m = Math.min(MVM_IMAGES, h.n - k0);
      const y = await layerOnBoard(net, li, kept.layers, kept.tiles, mvm, h.x.subarray(k0 * per, (k0 + m) * per), h.shape, m, { vIn_V, dacStep_V: info.dacStep_V, vread_V: kept.vread_V });
      shape = y.shape;
      const size = shape.reduce((a, b) => a * b, 1);
      x ??= new Float32Array(h.n * size);
      x.set(y.data, k0 * size);
    }
    return { h: { x: x!, shape, labels: h.labels, n: h.n }, vIn_V, tiles: kept.tiles.filter((t) => t.layer === li).length };
  }

  /** Fine-tunes layers li..last on the measured inputs, predicts, stores the stage: all before layer li's first pulse. */
  private async prepareStage(li: number) {
    const { o, f, tf } = this;
    if (this.ctx.ledger.steps().has(`tile ${this.plan.placed + 1}`)) throw new InvalidArgumentError('--resume', this.ctx.runId, `layer ${li + 1} has pulses in the record but no stored stage (${this.dir}): cannot know its weights`);
    const t0 = performance.now();
    const ft = await fineTuneStage(tf, this.net, li, this.h, { epochs: f.epochs, lr: f.lr, batchSize: f.batchSize, seed: o.seed, hw: { device: this.device, scheme: o.scheme, clip: o.clip }, signal: o.signal });
    const t1 = performance.now();
    this.report.timing.fineTuning_s += (t1 - t0) / 1000;
    const m = mapNet(weightOps(ft.net), o.device.nominal, o.scheme, { clip: o.clip });
    const fixed = m.map((l, k) => this.known[k] ?? { gp: new Float32Array(l.pos.length).fill(NaN), gn: l.neg ? new Float32Array(l.neg.length).fill(NaN) : undefined });
    const mc = await monteCarlo(tf, this.tfBackend, ft.net, o.test, { scheme: o.scheme, clip: o.clip, device: this.device, trials: f.trials, seed: o.seed, engine: o.mcEngine ?? 'auto', images: this.plan.images, signal: o.signal, fixed });
    this.report.timing.prediction_s += (performance.now() - t1) / 1000;
    const rep: FineTuneLayerReport = {
      ...this.report.layers[li],
      prediction: { mean: mc.summary.mean, p5: mc.summary.p5, p95: mc.summary.p95, trials: mc.trials, engine: mc.engine },
      fineTune: { layers: ft.layers, trainAccuracyBefore: ft.before, trainAccuracyAfter: ft.after, epochs: f.epochs, elapsed_s: ft.elapsed_s },
      status: 'predicted',
    };
    const stage = { layer: li, net: ft.net, report: rep };
    saveStage(this.dir, stage);
    return stage;
  }

  /**
   * After the last crossbar: its digital scale and bias re-fitted to its outputs for the N images,
   * measured through the board's MVM (its bias row at 0, no activation: bareLayer) when the board
   * offers it, as the stages' outputs are; else computed from its read-back, saying why.
   */
  async refit(): Promise<void> {
    const t0 = performance.now();
    const last = this.layers - 1;
    const name = this.report.layers[last].name;
    this.beforeRefit = accuracyFromValues(this.tf, this.net, this.mapped, this.known, this.o.test, this.plan.images).accuracy;
    const reason = this.mvmUnavailable(last, name);
    let measured: LoopData | undefined;
    let vIn_V: number | undefined;
    if (reason) this.warnReadBack(reason, `the re-fit of the digital scale and bias after ${name} uses its outputs computed from the read-back conductances`);
    else {
      const m = await this.measureOnBoard(bareLayer(this.net, last), last);
      measured = m.h;
      vIn_V = m.vIn_V;
      this.ctx.emit({ type: 'mark', name: 'mvm-read', value: { layer: last, name, images: m.h.n, tiles: m.tiles, vIn_V, refit: true } });
    }
    const r = refitDigital(this.tf, this.net, last, this.mapped[last], this.known[last], this.h, measured);
    this.report.timing.fineTuning_s += (performance.now() - t0) / 1000;
    this.report.refit = { trainAccuracyBefore: r.before, trainAccuracyAfter: r.after, kept: r.kept, outputs: reason ? { source: 'read-back', reason } : { source: 'mvm', vIn_V } };
    this.net = r.net;
  }

  /**
   * The final net through the board's MVM on the evaluation's test images (as `rram infer
   * --on-board` does), when the board offers it and no tile overwrote another (reads only: an
   * `mvm-read` mark).
   */
  private async onBoardAccuracy(): Promise<{ accuracy: number; images: number; elapsed_s: number } | undefined> {
    const info = this.board.info();
    const kept = keptNet(this.mapped, this.tiles);
    if (!info.features?.mvm || !this.board.mvm || this.net.input || sharesCells(kept.tiles)) return undefined;
    const t0 = performance.now();
    const mvm = signalled(this.board.mvm.bind(this.board), this.o.signal);
    const test = this.o.test;
    const n = Math.min(this.plan.images, test.n);
    const per = test.rows * test.cols * test.channels;
    const o = { vIn_V: onGridAtMost(kept.vread_V, info.limits.vread_max_V, info.dacStep_V), dacStep_V: info.dacStep_V, vread_V: kept.vread_V };
    let correct = 0;
    await groundedAfter(this.board, async () => {
      for (let k0 = 0; k0 < n; k0 += MVM_IMAGES) {
        const m = Math.min(MVM_IMAGES, n - k0);
        const { classes } = await predictOnBoard(this.net, kept.layers, kept.tiles, mvm, test.images.subarray(k0 * per, (k0 + m) * per), m, o);
        for (let k = 0; k < m; k++) if (classes[k] === test.labels[k0 + k]) correct++;
      }
    });
    this.ctx.emit({ type: 'mark', name: 'mvm-read', value: { evaluation: true, images: n, tiles: kept.tiles.length, vIn_V: o.vIn_V } });
    return { accuracy: correct / n, images: n, elapsed_s: (performance.now() - t0) / 1000 };
  }

  /** The evaluation, the baseline and the final table. */
  async finish(): Promise<NetOnArraysResult> {
    const { o, f, tf, report } = this;
    const res = await netResult(tf, this.tfBackend, this.ctx, { ...o, net: this.net }, this.plan, this.net, this.mapped, this.tiles, this.p.result(this.done), report.timing.programming_s);
    // --keep: the net as programmed (fine-tuned weights, re-fitted scale and bias), not the model file's.
    if (res.onBoard) res.onBoard = { ...res.onBoard, tuned: { weights: encodeWeights(this.net), digest: netDigest(this.net) } };
    const tb = performance.now();
    const base = await f.baseline?.();
    if (base) report.timing.baseline_s = (performance.now() - tb) / 1000;
    const software = floatAccuracy(tf, o.net, o.test, this.plan.images);
    const gap = base ? software - base.readback : NaN;
    const share = (a: number) => (base && gap > 0 ? (a - base.readback) / gap : undefined);
    for (const l of report.layers) l.recovered = l.prediction ? share(l.prediction.mean) : undefined;
    const onBoard = await this.onBoardAccuracy();
    report.table = { software, quantized: res.quantizedAccuracy, baseline: base, prediction: report.layers[0].prediction, readbackBeforeRefit: this.beforeRefit, readback: res.readbackAccuracy, ...(onBoard ? { onBoard } : {}), recovered: share(res.readbackAccuracy) };
    report.timing.total_s = (performance.now() - this.t0) / 1000;
    this.emit();
    return { ...res, fineTune: report };
  }
}
