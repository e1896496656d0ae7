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
import { numberList } from '../../io/number-table.js';
import { consoleSinks, finish, stationMetadata, type ProgFlags } from './programming.js';

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

/** program-net flags a station does not take, and why. */
const NET_NOT_CARRIED: Readonly<Record<string, string>> = {
  repeat: 'each repeat programs fresh devices (a new emulated board per repeat), and the station owns one board',
  fineTune: "the station's fine-tuning takes the dashboard's settings, not the --fine-tune-* flags",
  keep: 'a kept net is placed for `rram infer --on-board`, which opens the board itself',
  refreshAfter: 'the station programs the net without refresh passes',
  refreshBudget: 'the station programs the net without refresh passes',
  bnMerge: 'the station loads layers models as they are',
  data: "the station reads its data sets from its own folders",
};

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
    ...(f.useArrays ? { arrays: numberList('--use-arrays', f.useArrays) } : {}),
    ...(given('stuckHrs') ? { stuckHrs: f.stuckHrs } : {}),
    ...(given('stuckLrs') ? { stuckLrs: f.stuckLrs } : {}),
    ...(f.readNoise !== undefined ? { readNoise_A: f.readNoise } : {}),
  };
}

export async function programNetOnStation(st: StationTarget, f: ProgFlags & NetOnBoardFlags & { resume?: string; model: string; dataset: string; mapping: string; device: string; trials: number; images?: number; clip?: number }, cmd: Command, print: (r: NetOnArraysResult) => void, writeOut: (dir: string, r: NetOnArraysResult) => void): Promise<void> {
  refuseNotCarried(cmd, st, NET_NOT_CARRIED);
  refuseUncarried(cmd, ['model', 'dataset', 'levels', 'mapping', 'device', 'trials', 'images', 'algo', 'step', 'clip', 'reads', 'relax', 'useArrays', 'stuckHrs', 'stuckLrs', 'readNoise', 'resume'], st);
  if (f.relax && f.relax.length !== 1) throw new InvalidArgumentError('--relax', f.relax.join(','), 'takes one time');
  const request = {
    kind: 'program-net',
    model: storeModel(f.store, f.model),
    device: storeDevice(f.store, f.device),
    dataset: f.dataset,
    levels: f.levels,
    mapping: f.mapping,
    trials: f.trials,
    seed: f.seed,
    algo: f.algo,
    ...(f.images !== undefined ? { images: f.images } : {}),
    ...(f.clip !== undefined ? { clip: f.clip } : {}),
    ...(f.step !== undefined ? { step_V: f.step } : {}),
    ...onBoardFlags(cmd, f),
    ...stationMetadata(f),
  };
  const out = await runOnStation<NetOnArraysResult>(st, request, 'program-net', 'rram program-net', consoleSinks, { resume: f.resume });
  if (out.result && f.out) {
    writeOut(f.out, out.result);
    process.stderr.write(`wrote ${f.out}: result.json, readback.csv, confusion.csv\n`);
  }
  await finish(out, f.json, print, (x) => ({ ...x, readback: undefined }), true, (x) => x.programming.summary);
}
