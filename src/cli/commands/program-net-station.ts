/**
 * `rram program-net` through a station (issue 29): the net and the level CDF go by the store the
 * command and the station share - the model folder copied into `<store>/models/` under a name
 * from its content, the level-CDF file named by its run (`run:<id>`: a `rram characterize --out`
 * of a run in that store) - and the run joins the station's queue like characterize's.
 */
import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { parseDeviceSpec } from '../../inference/device-models.js';
import type { NetOnArraysResult } from '../../procedures/net-on-arrays.js';
import { EmbeddedStore } from '../../store/embedded-store.js';
import { runOnStation, type StationTarget } from '../station-client.js';
import { refuseNotCarried, refuseUncarried } from '../station-route.js';
import { arrayList } from '../parse.js';
import { consoleSinks, finish, stationMetadata, type ProgFlags } from './programming.js';
import { PROGRAM_FLAGS, programOptions } from '../program-flags.js';
import { defaultDataDir, parseDatasetName } from '../../inference/datasets.js';
import { checkFineTuneFlags, type FineTuneFlags } from './program-net-fine-tune.js';
import { followFineTune } from './fine-tune-follow.js';

/** The model's name in the store: its own folder when it is one of the store's models, else a copy named by content. */
function storeModel(store: string, dir: string): string {
  const models = resolve(store, 'models');
  if (resolve(dir, '..') === models) return basename(resolve(dir));
  if (!existsSync(join(dir, 'model.json')) && !existsSync(join(dir, 'bnn.json'))) throw new InvalidArgumentError('--model', dir, 'no model.json (or bnn.json) in this folder (rram train --out)');
  const h = createHash('sha256');
  for (const n of readdirSync(dir).sort()) if (statSync(join(dir, n)).isFile()) h.update(n).update(readFileSync(join(dir, n)));
  const name = `cli-${h.digest('hex').slice(0, 12)}`;
  if (!existsSync(join(models, name))) cpSync(dir, join(models, name), { recursive: true });
  return name;
}

/** The device as the station takes it: a parametric spec, or a level-CDF file of a run in the store as run:<id>. */
function storeDevice(store: string, device: string): string {
  if (parseDeviceSpec(device).kind !== 'empirical') return device;
  let runId: unknown;
  try {
    runId = (JSON.parse(readFileSync(device, 'utf8')) as { runId?: unknown }).runId;
  } catch (e) {
    throw new InvalidArgumentError('--device', device, `cannot read it as a level CDF (${(e as Error).message})`);
  }
  const s = new EmbeddedStore(store);
  if (typeof runId !== 'string' || !/^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$/.test(runId) || !existsSync(join(s.runDir(runId), 'level-cdf.json')))
    throw new InvalidArgumentError('--device', device, `a station takes a level CDF by its run: this file is not the level CDF of a run in the store ${store} (rram characterize --out of a run there is)`);
  return `run:${runId}`;
}

/** program-net flags a station does not take, and why (docs/server.md "CLI commands through a station"). */
const NET_NOT_CARRIED: Readonly<Record<string, string>> = {
  repeat: "each repeat programs fresh devices (directly: a new emulated board per repeat); the first repeat programs the cells of the station's board, so a second repeat there would not be on fresh devices and its coverage would not mean what --repeat reports (run --repeat directly, or queue single runs with --use-arrays on arrays not used yet)",
};

/** --baseline twin programs the net again on a new in-process emulated board: the station's board has no twin there. */
const TWIN_REASON = "a twin is a new emulated board of the CLI's own (the station has only its board): give a stored program-net run id or none";

/** The flags beside the write-verify ones (PROGRAM_FLAGS) a station's program-net request carries. */
const NET_CARRIED = ['model', 'dataset', 'data', 'mapping', 'device', 'trials', 'images', 'clip', 'reads', 'relax', 'useArrays', 'stuckHrs', 'stuckLrs', 'readNoise', 'resume', 'concurrency', 'refreshAfter', 'refreshBudget', 'keep', 'bnMerge', 'yieldAware', 'fineTune', 'fineTuneImages', 'fineTuneEpochs', 'fineTuneLr', 'fineTuneBatchSize', 'fineTuneTrials', 'fineTuneOutputs', 'baseline'];

interface NetOnBoardFlags {
  reads?: number;
  relax?: number[];
  useArrays?: string;
  stuckHrs: number;
  stuckLrs: number;
  readNoise?: number;
}

/** --reads, --relax, --use-arrays and the prediction's stuck shares and read noise, as the request's fields (only those given). */
function onBoardFlags(cmd: Command, f: NetOnBoardFlags): Record<string, unknown> {
  const given = (a: string) => cmd.getOptionValueSource(a) === 'cli';
  return {
    ...(f.reads !== undefined ? { reads: f.reads } : {}),
    ...(f.relax ? { relax_s: f.relax[0] } : {}),
    ...(f.useArrays ? { arrays: arrayList('--use-arrays', f.useArrays) } : {}),
    ...(given('stuckHrs') ? { stuckHrs: f.stuckHrs } : {}),
    ...(given('stuckLrs') ? { stuckLrs: f.stuckLrs } : {}),
    ...(f.readNoise !== undefined ? { readNoise_A: f.readNoise } : {}),
  };
}

export type NetStationFlags = ProgFlags & NetOnBoardFlags & FineTuneFlags & { resume?: string; model: string; dataset: string; data?: string; mapping: string; device: string; trials: number; images?: number; clip?: number; repeat: number; refreshAfter?: number; refreshBudget?: number; keep?: boolean; bnMerge?: string };

/** --data: the station reads its data sets from its own folders; the same folder is no change, another is refused. */
export function checkDataFolder(f: { data?: string; dataset: string }, st: StationTarget): void {
  if (f.data === undefined) return;
  const own = f.dataset === 'cifar10' ? undefined : defaultDataDir(parseDatasetName(f.dataset));
  if (!own || resolve(f.data) !== resolve(own)) throw new InvalidArgumentError('--data', f.data, `is not carried through the station at ${st.url}: the station reads ${f.dataset} from its own folder${own ? ` (${own})` : ''}, never a path sent over its API; leave it out, or stop the station and run directly`);
}

/** --fine-tune progressive and its --fine-tune-* flags as the request's fineTune (checked as the direct run checks them). */
function fineTuneRequestOf(f: NetStationFlags, cmd: Command): Record<string, unknown> {
  checkFineTuneFlags(f, undefined, (a) => cmd.getOptionValueSource(a) === 'cli');
  if (!f.fineTune) return {};
  if (f.baseline === 'twin') throw new InvalidArgumentError('--baseline', f.baseline, `is not carried through the station: ${TWIN_REASON}`);
  const given = (a: string) => cmd.getOptionValueSource(a) === 'cli';
  return {
    fineTune: {
      // Left out, the station takes 10 % of its training set, as the direct run does (src/procedures/fine-tune-inputs.ts).
      ...(f.fineTuneImages !== undefined ? { images: f.fineTuneImages } : {}),
      epochs: f.fineTuneEpochs,
      lr: f.fineTuneLr,
      batchSize: f.fineTuneBatchSize,
      trials: f.fineTuneTrials,
      ...(given('fineTuneOutputs') ? { outputs: f.fineTuneOutputs } : {}),
      ...(f.baseline && f.baseline !== 'none' ? { baseline: f.baseline } : {}),
    },
  };
}

/** The station's program-net request for these flags: every flag the direct run takes, or refused by name (before anything is queued). */
export function programNetRequest(st: StationTarget, f: NetStationFlags, cmd: Command): Record<string, unknown> {
  refuseNotCarried(cmd, st, NET_NOT_CARRIED);
  refuseUncarried(cmd, [...PROGRAM_FLAGS, ...NET_CARRIED], st);
  if (f.relax && f.relax.length !== 1) throw new InvalidArgumentError('--relax', f.relax.join(','), 'takes one time');
  if (f.keep && f.fineTune) throw new InvalidArgumentError('--keep', true, 'keeps a plainly programmed net (not with --fine-tune)');
  checkDataFolder(f, st);
  const ft = fineTuneRequestOf(f, cmd);
  return {
    kind: 'program-net',
    // Every write-verify setting as programOptions makes it for the direct run (--levels is the net's).
    ...programOptions(f),
    model: storeModel(f.store, f.model),
    device: storeDevice(f.store, f.device),
    dataset: f.dataset,
    levels: f.levels,
    mapping: f.mapping,
    trials: f.trials,
    seed: f.seed,
    concurrency: f.concurrency,
    onUnknownOutcome: f.onUnknownOutcome,
    ...(f.images !== undefined ? { images: f.images } : {}),
    ...(f.clip !== undefined ? { clip: f.clip } : {}),
    ...(f.refreshAfter !== undefined ? { refreshAfter_s: f.refreshAfter } : {}),
    ...(f.refreshBudget !== undefined ? { refreshBudget: f.refreshBudget } : {}),
    ...(f.keep ? { keep: true } : {}),
    ...(f.bnMerge !== undefined ? { bnMerge: f.bnMerge } : {}),
    ...(f.yieldAware === false ? { yieldAware: false } : {}),
    ...ft,
    ...onBoardFlags(cmd, f),
    ...stationMetadata(f),
  };
}

export async function programNetOnStation(st: StationTarget, f: NetStationFlags, cmd: Command, print: (r: NetOnArraysResult) => void, writeOut: (dir: string, r: NetOnArraysResult) => void): Promise<void> {
  const request = programNetRequest(st, f, cmd);
  // Fine-tuning's per-layer lines, as a local run prints them (from the fine-tune.json the station writes beside the run).
  const onEvents = (events$: Parameters<typeof consoleSinks>[0]) => {
    consoleSinks(events$);
    if (f.fineTune) followFineTune(f.store, events$);
  };
  const out = await runOnStation<NetOnArraysResult>(st, request, 'program-net', 'rram program-net', onEvents, { resume: f.resume });
  if (out.result && f.out) {
    writeOut(f.out, out.result);
    process.stderr.write(`wrote ${f.out}: result.json, readback.csv, confusion.csv\n`);
  }
  await finish(out, f.json, print, (x) => ({ ...x, readback: undefined }), true, (x) => x.programming.summary);
}
