/**
 * `rram program-net` run directly (no station serving the board): its inputs checked and loaded
 * before the board is opened, then one job per repeat (plain, or progressive fine-tuning), each on
 * fresh devices. Printing and writing the result stay with the command (program-net.ts).
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { EmulatedBoard } from '../../../drivers/emulated/emulated-board.js';
import type { Board } from '../../../drivers/board.js';
import { loadCalibration } from '../../../calibration/calibration.js';
import { runJob, type JobOutcome } from '../../jobs/run-job.js';
import { checkModelData, loadNet, parseBnMerge } from '../../inference/load-net.js';
import { loadDataset, parseDatasetName } from '../../inference/datasets.js';
import { buildDeviceModel, loadMeasuredLevels, parseDeviceSpec, withoutCells, type DeviceModel } from '../../inference/device-models.js';
import { cdfFailureCounts, predictionDeviceOptions } from '../../inference/prediction-device.js';
import { mapNet, parseScheme } from '../../inference/mapping.js';
import { weightOps } from '../../inference/crossbar-net.js';
import { unseenShare } from '../../inference/placement.js';
import { initTf, tf } from '../../inference/tf-backend.js';
import type { NetOnArraysOptions, NetOnArraysResult } from '../../procedures/net-on-arrays.js';
import { fineTuneImages } from '../../procedures/fine-tune-inputs.js';
import type { RunContext } from '../../engine/run-context.js';
import { attachProgressBar } from '../../sinks/progress-bar.js';
import { boardKey } from '../../store/board-history.js';
import { programNetJob } from '../../server/program-net-request.js';
import { openBoardWithCalibration } from '../board-options.js';
import { abortOnSigint, openSinks } from '../job-options.js';
import { arrayList } from '../parse.js';
import { programOptions } from '../program-flags.js';
import { printSetupNotes, type ProgFlags } from './programming.js';
import { baselineOf, checkFineTuneFlags, checkTrainedLevels, knownBad, progressPrinter, writeFineTuneFile, type FineTuneFlags } from './program-net-fine-tune.js';

export interface NetFlags extends ProgFlags, FineTuneFlags {
  model: string;
  dataset: string;
  data?: string;
  mapping: string;
  device: string;
  trials: number;
  images?: number;
  useArrays?: string;
  stuckHrs: number;
  stuckLrs: number;
  readNoise?: number;
  relax?: number[];
  refreshAfter?: number;
  refreshBudget?: number;
  clip?: number;
  repeat: number;
  bnMerge?: string;
  keep?: boolean;
}

type Prepared = Awaited<ReturnType<typeof prepare>>;

export const pct = (x: number) => (100 * x).toFixed(2);

/** Every repeat of the run, in order, and the last job's outcome (completed or not). */
export async function programNetDirect(f: NetFlags, cmd: Command): Promise<{ repeats: NetOnArraysResult[]; last: JobOutcome<NetOnArraysResult> }> {
  const p = await prepare(f, cmd);
  const ac = abortOnSigint();
  const repeats: NetOnArraysResult[] = [];
  let last: JobOutcome<NetOnArraysResult> | undefined;
  const say = progressPrinter();
  try {
    for (let r = 0; r < f.repeat; r++) {
      // Each repeat on fresh devices: a new emulated board (its own seed); a board on --port is reprogrammed.
      const board = r === 0 || f.port ? p.first : new EmulatedBoard({ seed: f.seed + 7919 * r, arrays: f.arrays, calibration: p.calibration });
      const device = buildDeviceModel(p.spec, f.levels, { ...p.devOpts, failureCounts: p.counts.length ? p.counts : undefined, unseenShare: r === 0 ? p.unseen : 1 }, p.measured);
      last = await runJob(
        { store: p.store, sinks: p.sinks, signal: ac.signal, board, runId: f.resume, resume: !!f.resume, metadata: p.metadata },
        (ctx, signal) => runRepeat(f, p, { r, board, device, ctx, signal, abort: ac.signal, say }),
        programNetJob,
        (ctx) => {
          attachProgressBar(ctx.events$);
          if (r === 0) printSetupNotes(ctx);
        },
      );
      if (last.status !== 'completed') break;
      repeats.push(last.result!);
      p.counts.push(last.result!.counts);
      if (f.repeat > 1) process.stderr.write(`rram: repeat ${r + 1}/${f.repeat}: read-back ${pct(last.result!.readbackAccuracy)} %, prediction ${last.result!.prediction ? `${pct(last.result!.prediction.interval[0])}..${pct(last.result!.prediction.interval[1])} %` : '-'}\n`);
      if (board !== p.first) await board.close();
    }
  } finally {
    await p.first.close();
  }
  return { repeats, last: last! };
}

/** The flags checked, the device, data set and net loaded, then the board opened and its known-bad cells looked up: all before any pulse. */
async function prepare(f: NetFlags, cmd: Command) {
  const po = programOptions(f);
  if (f.resume && f.repeat > 1) throw new InvalidArgumentError('--resume', f.resume, 'continues one run: give --repeat 1');
  if (f.keep && f.repeat > 1) throw new InvalidArgumentError('--keep', true, 'keeps one programmed net: give --repeat 1');
  checkFineTuneFlags(f, undefined, (a) => cmd.getOptionValueSource(a) === 'cli');
  const scheme = parseScheme(f.mapping);
  const spec = parseDeviceSpec(f.device);
  const measured = spec.kind === 'empirical' ? loadMeasuredLevels(spec.file!) : undefined;
  const programLevels = measured ? measured.pools.length : f.levels;
  if (programLevels > 8) throw new InvalidArgumentError('--device', f.device, `has ${programLevels} levels; programming supports 2..8`);
  if (f.relax && f.relax.length !== 1) throw new InvalidArgumentError('--relax', f.relax.join(','), 'takes one time');
  const relax_s = f.relax?.[0];
  // Until a failed cell has been read, failed cells read as the board calibration's defects do.
  const devOpts = predictionDeviceOptions(loadCalibration(f.calibration), { stuckHrs: f.stuckHrs, stuckLrs: f.stuckLrs, readNoise_A: f.readNoise, relax_s });
  // Counts of cells not programmed: the level-CDF's, then every earlier repeat's (all cells programmed so far).
  const { probe, counts } = cdfFailureCounts(spec, f.levels, devOpts, measured);
  const arrays = f.useArrays ? arrayList('--use-arrays', f.useArrays) : undefined;
  const ds = loadDataset(parseDatasetName(f.dataset), f.data, !f.fineTune);
  checkFineTuneFlags(f, f.fineTune ? ds.train : undefined);
  const hwNote = checkTrainedLevels(f.model, programLevels, f.levels);
  if (hwNote) process.stderr.write(`rram: warning: ${hwNote}\n`);
  const backend = await initTf();
  const { net, bnMerge } = await loadNet(tf, f.model, { bnMerge: f.bnMerge ? parseBnMerge(f.bnMerge) : undefined, test: ds.test, images: f.images });
  for (const w of checkModelData(f.model, ds.name, ds.test, net)) process.stderr.write(`rram: warning: ${w}\n`);
  const { store, sinks, metadata } = await openSinks(f);
  const { board: first, calibration } = await openBoardWithCalibration(f);
  // Yield-aware mapping: the cells this board's store knows are bad take no weight.
  const bad = await knownBad(store, first, f);
  const sameBoard = measured?.board && boardKey(measured.board as Parameters<typeof boardKey>[0]) === boardKey(first.info());
  if (sameBoard) counts.splice(0, counts.length, ...counts.map((c) => withoutCells(c, bad.avoid)));
  const shapes = mapNet(weightOps(net), probe.nominal, scheme, { clip: f.clip });
  const unseen = unseenShare(shapes, arrays ?? Array.from({ length: first.info().arrays }, (_, k) => k), bad.avoid, bad.formed);
  if (bad.avoid.size) process.stderr.write(`rram: yield-aware mapping: ${bad.avoid.size} cells this board's store knows are bad are left out (${[...new Set(bad.why.values())].join(', ')})\n`);
  return { po, scheme, spec, measured, programLevels, relax_s, devOpts, counts, arrays, ds, backend, net, bnMerge, store, sinks, metadata, first, calibration, bad, unseen, reads: f.reads ?? (f.fineTune ? 4 : 1) };
}

interface Repeat {
  r: number;
  board: Board;
  device: DeviceModel;
  ctx: RunContext;
  signal?: AbortSignal;
  /** Ctrl-C's signal (the baseline's twin run). */
  abort: AbortSignal;
  say: ReturnType<typeof progressPrinter>;
}

/** One repeat's job: the net on the arrays, plain or fine-tuned progressively. */
async function runRepeat(f: NetFlags, p: Prepared, x: Repeat): Promise<NetOnArraysResult> {
  const { r, board, ctx } = x;
  const opts: NetOnArraysOptions = {
    ...p.po,
    knownFormed: r === 0 ? p.bad.formed : undefined,
    avoid: r === 0 ? p.bad.avoid : undefined,
    reads: p.reads,
    // ISPVA gates are per level of the programming level set, which the CDF decides.
    ispvaGates_V: p.po.ispvaGates_V,
    calibration: p.calibration,
    programSpecs: p.measured?.specs,
    model: f.model,
    dataset: p.ds.name,
    net: p.net,
    test: p.ds.test,
    images: f.images,
    scheme: p.scheme,
    clip: f.clip,
    device: x.device,
    programLevels: p.programLevels,
    trials: f.trials,
    seed: f.seed + r,
    arrays: p.arrays,
    relax_s: p.relax_s,
    refreshAfter_s: f.refreshAfter,
    refreshBudget: f.refreshBudget,
    engine: { concurrency: f.concurrency, onUnknownOutcome: f.onUnknownOutcome as 're-verify' },
    describe: { ...(f.repeat > 1 ? { repeat: r + 1, of: f.repeat } : {}), ...(p.bnMerge ? { bnMerge: p.bnMerge.method } : {}) },
    bnMerge: p.bnMerge,
    keep: f.keep,
    signal: x.signal,
  };
  if (!f.fineTune) return (await import('../../procedures/net-on-arrays.js')).netOnArrays(tf, p.backend, board, ctx, opts);
  const { store } = p;
  const m = await import('../../procedures/program-net-progressive.js');
  return m.netOnArraysProgressive(tf, p.backend, board, ctx, {
    ...opts,
    fineTune: {
      images: fineTuneImages(f.fineTuneImages, p.ds.train.n, '--fine-tune-images'),
      epochs: f.fineTuneEpochs,
      lr: f.fineTuneLr,
      batchSize: f.fineTuneBatchSize,
      trials: f.fineTuneTrials,
      outputs: f.fineTuneOutputs as 'auto' | 'read-back',
      train: p.ds.train,
      stageDir: (id) => join(store.runDir(id), 'fine-tune'),
      baseline: baselineOf(f.baseline, { tf, backend: p.backend, store, board, calibration: p.calibration, seed: f.seed, arrays: f.arrays, limits: f.limits, opts: { ...opts, avoid: p.bad.avoid, knownFormed: undefined }, signal: x.abort }),
      onReport: (rep, id) => {
        writeFineTuneFile(store, id, rep);
        x.say(rep);
      },
    },
  });
}
