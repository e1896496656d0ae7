/**
 * The parts of `rram program-net` issue 27 added: the --fine-tune flags, the known-bad cells
 * left out of the placement (yield-aware mapping), the baseline (the same net without fine-tuning
 * on a board of the same seed, or a stored run), the progress lines and the final table.
 */
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { writeReportFile } from '../../procedures/fine-tune-stages.js';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { EmulatedBoard } from '../../../drivers/emulated/emulated-board.js';
import type { Calibration } from '../../../calibration/calibration.js';
import type { Board } from '../../../drivers/board.js';
import type { FineTuneReport } from '../../inference/fine-tune.js';
import { z } from 'zod';
import { parseFile, parseJsonText } from '../../io/validate.js';
import { runJob } from '../../jobs/run-job.js';
import type { EmbeddedStore } from '../../store/embedded-store.js';
import { boardHistory } from '../../store/board-history.js';
import { netDigest, netOnArrays, type NetOnArraysOptions, type NetOnArraysResult } from '../../procedures/net-on-arrays.js';
import { fineTuneImages, storedBaseline } from '../../procedures/fine-tune-inputs.js';
import type { ProgressiveOptions } from '../../procedures/program-net-progressive.js';
import type { Split } from '../../inference/datasets.js';
import type { Tf } from '../../inference/tf-backend.js';
import { table } from '../output.js';
import { num } from '../parse.js';
import type { LimitSpec } from '../parse.js';

export interface FineTuneFlags {
  fineTune?: string;
  fineTuneImages?: number;
  fineTuneEpochs: number;
  fineTuneLr: number;
  fineTuneBatchSize: number;
  fineTuneTrials: number;
  fineTuneOutputs: string;
  baseline?: string;
  reads?: number;
  yieldAware: boolean;
}

export function addFineTuneFlags(c: Command): Command {
  return c
    .option('--fine-tune <mode>', 'progressive: program layer by layer; before each layer fine-tune the layers not yet programmed on the measured outputs of the one before (chip in the loop), and re-fit the digital scale and bias after the last crossbar')
    .option('--fine-tune-images <n>', 'training images whose outputs are measured per layer (default 10 % of the training set)', num('--fine-tune-images', { int: true, min: 1 }))
    .option('--fine-tune-epochs <n>', 'epochs of each layer\'s fine-tuning', num('--fine-tune-epochs', { int: true, min: 0, max: 100 }), 2)
    .option('--fine-tune-lr <x>', 'Adam learning rate of the fine-tuning', num('--fine-tune-lr', { min: 1e-7, max: 0.5 }), 1e-3)
    .option('--fine-tune-batch-size <n>', 'mini-batch of the fine-tuning', num('--fine-tune-batch-size', { int: true, min: 1, max: 4096 }), 64)
    .option('--fine-tune-trials <n>', 'Monte Carlo trials of the prediction made before each layer', num('--fine-tune-trials', { int: true, min: 1 }), 50)
    .option('--fine-tune-outputs <from>', "where a programmed layer's outputs for the fine-tuning come from: auto (measured through the board's analog MVM when it offers it, else the read-back) or read-back (always computed from the read-back conductances, e.g. to compare)", 'auto')
    .option('--baseline <how>', 'with --fine-tune: the same net without fine-tuning to compare with: twin (programmed on a new emulated board of the same seed; in-process boards), a stored program-net run id, or none (default twin on an emulated board, else none)')
    .option('--reads <K>', 'read-back reads per cell, averaged (default 1; 4 with --fine-tune)', num('--reads', { int: true, min: 1, max: 100 }))
    .option('--no-yield-aware', 'place weights on cells the store knows are bad too (default: they are left out)');
}

/** The flags checked before anything else happens (the first pulse is far away). */
/** The fine-tuning flags with defaults: given on the command line without --fine-tune they would do nothing. */
const WITH_DEFAULTS = { fineTuneEpochs: '--fine-tune-epochs', fineTuneLr: '--fine-tune-lr', fineTuneBatchSize: '--fine-tune-batch-size', fineTuneTrials: '--fine-tune-trials', fineTuneOutputs: '--fine-tune-outputs' } as const;

export function checkFineTuneFlags(f: FineTuneFlags & { repeat: number; resume?: string }, train: Split | undefined, given?: (attr: string) => boolean): void {
  if (f.fineTune === undefined) {
    for (const [k, v] of [['--fine-tune-images', f.fineTuneImages], ['--baseline', f.baseline]] as const) if (v !== undefined) throw new InvalidArgumentError(k, v, 'applies with --fine-tune progressive only');
    for (const [attr, flag] of Object.entries(WITH_DEFAULTS)) if (given?.(attr)) throw new InvalidArgumentError(flag, f[attr as keyof typeof WITH_DEFAULTS], 'applies with --fine-tune progressive only');
    return;
  }
  if (f.fineTune !== 'progressive') throw new InvalidArgumentError('--fine-tune', f.fineTune, 'must be progressive');
  if (f.fineTuneOutputs !== 'auto' && f.fineTuneOutputs !== 'read-back') throw new InvalidArgumentError('--fine-tune-outputs', f.fineTuneOutputs, 'must be auto or read-back');
  if (f.repeat > 1) throw new InvalidArgumentError('--repeat', f.repeat, 'with --fine-tune each run programs its own net: give --repeat 1');
  if (train) fineTuneImages(f.fineTuneImages, train.n, '--fine-tune-images');
}

/** The part of a model's report.json (docs/formats.md) program-net reads: what a hardware-aware net was trained for. */
const TrainReport = z.object({ hwAware: z.object({ device: z.string(), levels: z.number().int().min(2) }).passthrough().optional() }).passthrough();

/** A hardware-aware net was trained for some level count: a level CDF with fewer levels cannot hold it. */
export function checkTrainedLevels(model: string, available: number, levels: number): string | undefined {
  const rep = join(model, 'report.json');
  if (!existsSync(rep)) return undefined;
  const hw = parseFile(TrainReport, parseJsonText(readFileSync(rep, 'utf8'), rep), rep).hwAware;
  if (!hw) return undefined;
  if (available < hw.levels) throw new InvalidArgumentError('--device', `${available} levels`, `the net in ${model} was trained hardware-aware for ${hw.levels} levels (${hw.device}): the device has too few levels for it`);
  return levels !== hw.levels ? `the net in ${model} was trained hardware-aware for ${hw.levels} levels; it is programmed with ${levels}` : undefined;
}

/** Cells the store knows are bad on this board (a resumed run keeps the set it started with). */
export async function knownBad(store: EmbeddedStore, board: Board, f: FineTuneFlags & { resume?: string }): Promise<{ avoid: Set<string>; formed: ReadonlySet<string>; why: Map<string, string> }> {
  const history = await boardHistory(store, board.info(), { except: f.resume });
  if (f.resume) {
    const p = store.getRun(f.resume).params as { placement?: { avoid?: string[] } };
    return { avoid: new Set(p.placement?.avoid ?? []), formed: history.formed, why: history.bad };
  }
  return { avoid: f.yieldAware ? new Set(history.bad.keys()) : new Set(), formed: history.formed, why: history.bad };
}

/** Writes the run's fine-tune.json (per-layer progress, the dashboard reads it while the run goes on). */
export function writeFineTuneFile(store: EmbeddedStore, runId: string, r: FineTuneReport): void {
  writeReportFile(store.runDir(runId), r);
}

const pct = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : (100 * x).toFixed(2));

/** One line per layer as it is predicted and programmed. */
export function progressPrinter(): (r: FineTuneReport) => void {
  const said = new Map<number, string>();
  return (r) => {
    for (const l of r.layers) {
      if (said.get(l.layer) === l.status || l.status === 'pending') continue;
      said.set(l.layer, l.status);
      const n = `layer ${l.layer + 1}/${r.layers.length} (${l.name}, ${l.tiles} tiles)`;
      if (l.status === 'predicted' && l.prediction)
        process.stderr.write(`${n}: fine-tuned ${l.fineTune?.layers.join(',')} on ${r.images} ${l.layer ? 'measured outputs' : 'images'} (train ${pct(l.fineTune?.trainAccuracyBefore)} -> ${pct(l.fineTune?.trainAccuracyAfter)} %); prediction of the final accuracy ${pct(l.prediction.mean)} % (${pct(l.prediction.p5)}..${pct(l.prediction.p95)}), ${l.prediction.trials} trials\n`);
      if (l.status === 'programmed') {
        const o = l.outputs;
        const out = !o ? '' : o.source === 'mvm' ? `; its outputs for the ${r.images} images measured through the board's MVM in ${o.elapsed_s.toFixed(1)} s` : `; its outputs for the ${r.images} images computed from the read-back (${o.reason})`;
        process.stderr.write(`${n}: programmed and read back (${r.reads} reads per cell) in ${(l.programming_s ?? 0).toFixed(1)} s${out}\n`);
      }
    }
  };
}

export interface BaselineEnv {
  tf: Tf;
  backend: string;
  store: EmbeddedStore;
  board: Board;
  calibration?: Calibration;
  seed: number;
  arrays: number;
  limits?: LimitSpec;
  opts: NetOnArraysOptions;
  signal: AbortSignal;
}

/** The baseline the final table compares with: the plain net on a twin board, a stored run, or none. */
export function baselineOf(how: string | undefined, e: BaselineEnv): ProgressiveOptions['baseline'] {
  const info = e.board.info();
  const mode = how ?? (info.kind === 'emulated' && !e.board.linkEvents ? 'twin' : 'none');
  if (mode === 'none') return undefined;
  if (mode === 'twin') {
    if (info.kind !== 'emulated' || e.board.linkEvents) throw new InvalidArgumentError('--baseline', 'twin', 'needs an in-process emulated board (a board on --port has no twin): give a stored program-net run id or none');
    return async () => {
      const { dacStep_V, ...limits } = e.limits ?? {};
      const twin = new EmulatedBoard({ seed: e.seed, arrays: e.arrays, calibration: e.calibration, limits, dacStep_V });
      try {
        const out = await runJob<NetOnArraysResult>({ store: e.store, board: twin, signal: e.signal }, (ctx, signal) => netOnArrays(e.tf, e.backend, twin, ctx, { ...e.opts, signal, describe: { ...e.opts.describe, baselineFor: 'fine-tune' } }), { resultName: 'program-net' });
        if (out.status !== 'completed') throw out.error;
        return { readback: out.result!.readbackAccuracy, runId: out.runId, source: `the same net without fine-tuning on a new emulated board of seed ${e.seed} (run ${out.runId})` };
      } finally {
        await twin.close();
      }
    };
  }
  if (!/^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$/.test(mode)) throw new InvalidArgumentError('--baseline', mode, 'must be twin, none or a stored program-net run id');
  const r = storedBaseline(e.store, mode, { model: e.opts.model, digest: netDigest(e.opts.net), dataset: e.opts.dataset, levels: e.opts.device.nominal.length, scheme: e.opts.scheme }, '--baseline');
  return async () => ({ readback: r.readbackAccuracy, runId: mode, source: `run ${mode}` });
}

/** Where the final re-fit's outputs came from, in words. */
const refitSource = (ft: FineTuneReport) => (ft.refit?.outputs?.source === 'mvm' ? "the last layer's outputs measured through the board's MVM" : `its outputs computed from the read-back${ft.refit?.outputs?.reason ? ` (${ft.refit.outputs.reason})` : ''}`);

export function printFineTune(r: NetOnArraysResult): void {
  const ft = r.fineTune;
  if (!ft?.table) return;
  const t = ft.table;
  const rows: (string | number)[][] = [
    ['software (float weights)', pct(t.software)],
    ['quantized, noise-free (fine-tuned weights)', pct(t.quantized)],
    [`without fine-tuning${t.baseline ? ` (${t.baseline.source})` : ': unknown (--baseline none)'}`, pct(t.baseline?.readback)],
    [`prediction before layer 1: mean (p5..p95)`, t.prediction ? `${pct(t.prediction.mean)} (${pct(t.prediction.p5)}..${pct(t.prediction.p95)})` : '-'],
    ['read-back with fine-tuning, before the re-fit', pct(t.readbackBeforeRefit)],
    [`read-back with fine-tuning${ft.refit?.kept ? ` and the digital scale and bias re-fitted on ${refitSource(ft)}` : ' (re-fit not kept)'}`, pct(t.readback)],
    ['the same, on the board (analog MVM, the mapping of infer --on-board)', t.onBoard ? pct(t.onBoard.accuracy) : '- (no MVM, or a tile overwritten)'],
    ['share of the gap (software - without fine-tuning) recovered', t.recovered === undefined ? '-' : `${(100 * t.recovered).toFixed(1)} %`],
  ];
  process.stdout.write(table(['fine-tuning (progressive)', '%'], rows));
  process.stdout.write(table(['layer', 'tiles', 'fine-tuned before it', 'train % before -> after', 'prediction before it (p5..p95) %', 'gap recovered by then', 'programming s'], ft.layers.map((l) => [l.name, l.tiles, l.fineTune?.layers.join(',') ?? '-', l.fineTune ? `${pct(l.fineTune.trainAccuracyBefore)} -> ${pct(l.fineTune.trainAccuracyAfter)}` : '-', l.prediction ? `${pct(l.prediction.mean)} (${pct(l.prediction.p5)}..${pct(l.prediction.p95)})` : '-', l.recovered === undefined ? '-' : `${(100 * l.recovered).toFixed(1)} %`, (l.programming_s ?? 0).toFixed(1)])));
  const tm = ft.timing;
  process.stdout.write(`time: programming ${tm.programming_s.toFixed(1)} s, fine-tuning ${tm.fineTuning_s.toFixed(1)} s, predictions ${tm.prediction_s.toFixed(1)} s${tm.baseline_s !== undefined ? `, baseline ${tm.baseline_s.toFixed(1)} s` : ''}\n`);
}
