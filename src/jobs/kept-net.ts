/**
 * The net a `rram program-net --keep` run left on the board, as `rram infer --on-board` takes it
 * back (issue 28), directly and through a station alike (issue 29): the run's kept record (zod),
 * the net it programmed (the model folder, the fine-tuned weights stored with the run), and the
 * checks made before any MVM - the record's read-back accuracy recomputed from its stored
 * read-back and the kept net, the board the run programmed, the MVM feature, the input voltage.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { Board } from '../../drivers/board.js';
import { DataError, InvalidArgumentError } from '../../drivers/errors.js';
import { boardProblems } from '../engine/run-context.js';
import type { CrossbarNet } from '../inference/crossbar-net.js';
import { loadDataset, parseDatasetName, type Split } from '../inference/datasets.js';
import { loadNet } from '../inference/load-net.js';
import { ARRAY_SIDE } from '../inference/mapping.js';
import { accuracyFromValues } from '../inference/readback-eval.js';
import { initTf, tf } from '../inference/tf-backend.js';
import { valuesFromTiles } from '../inference/tiling.js';
import { parseFile } from '../io/validate.js';
import { applyWeights, EncodedWeights } from '../procedures/fine-tune-stages.js';
import { checkVin, requireMvm, type KeptNet } from '../procedures/infer-on-board.js';
import { netDigest } from '../procedures/net-on-arrays.js';
import { EmbeddedStore, NotFoundError, type RunRecord } from '../store/embedded-store.js';

const num = z.number().finite();
export const KeptSchema = z.object({
  model: z.string(),
  dataset: z.string(),
  images: z.number().int().positive(),
  device: z.string(),
  readbackAccuracy: num,
  quantizedAccuracy: num,
  floatAccuracy: num,
  /** Per programmed cell: tile, row, column, level, read-back current (A), not programmed (1). */
  readback: z.array(z.tuple([z.number().int().min(0), z.number().int().min(0).max(ARRAY_SIDE - 1), z.number().int().min(0).max(ARRAY_SIDE - 1), z.number().int().min(0), z.number(), z.number()])).optional(),
  prediction: z.object({ summary: z.object({ mean: num }).passthrough(), interval: z.tuple([num, num]) }).passthrough().optional(),
  onBoard: z.object({
    layers: z.array(z.object({ name: z.string(), scheme: z.enum(['diff', 'offset', 'signed']), rows: z.number().int().positive(), cols: z.number().int().positive(), physCols: z.number().int().positive(), alpha: num, ref: num.optional() })).min(1),
    tiles: z.array(z.object({ layer: z.number().int().min(0), array: z.number().int().min(0), row0: z.number().int().min(0), col0: z.number().int().min(0), rows: z.number().int().positive(), cols: z.number().int().positive(), rowAt: z.array(z.number().int().min(0)), colAt: z.array(z.number().int().min(0)) })).min(1),
    vread_V: num.positive(),
    tuned: z.object({ weights: EncodedWeights, digest: z.string() }).strict().optional(),
  }, { required_error: 'missing: the run was programmed without --keep (rram program-net --keep stores what --on-board needs)' }),
}).passthrough();
export type KeptRecord = z.infer<typeof KeptSchema>;

/** The program-net run a reference names: run:<id>, an id, or run:latest (the newest completed program-net run stored with --keep). */
export function keptRunId(store: EmbeddedStore, ref: string): string {
  const id = ref.replace(/^run:/, '');
  if (id !== 'latest') return id;
  const kept = (id: string) => {
    try {
      return !!store.loadResult<{ onBoard?: unknown }>(id, 'program-net').onBoard;
    } catch {
      return false;
    }
  };
  const found = store.listRuns().find((r) => r.kind === 'program-net' && r.status === 'completed' && r.results.includes('program-net') && kept(r.id));
  if (!found) throw new NotFoundError('completed program-net run', 'latest');
  return found.id;
}

/** The run's record and its kept net's record; a run that is not a program-net run with its result is refused naming `run`. */
export function loadKept(store: EmbeddedStore, runId: string): { rec: RunRecord; kept: KeptRecord } {
  let rec: RunRecord;
  try {
    rec = store.getRun(runId);
  } catch (e) {
    if (e instanceof NotFoundError) throw new InvalidArgumentError('run', runId, `no run with this id in the store ${store.root} (see \`rram runs\`)`);
    throw e;
  }
  if (rec.kind !== 'program-net' || !rec.results.includes('program-net')) throw new InvalidArgumentError('run', runId, `is a ${rec.kind} run that ended ${rec.status}${rec.kind === 'program-net' ? ' without its result' : ''}: --on-board takes a program-net run stored with --keep`);
  return { rec, kept: parseFile(KeptSchema, store.loadResult(runId, 'program-net'), `run ${runId} program-net result`) };
}

/** The digest of the net the run programmed, as its record names it (absent in runs recorded before it was). */
const recordedDigest = (rec: RunRecord): string | undefined => ((rec.params as { inputs?: Record<string, string> }).inputs ?? {})['model contents (--model)'];

/** The run's model folder as the store holds it (a run through a station names it by its folder in `<store>/models/`), or undefined when it named a path. */
function storeModelDir(store: EmbeddedStore, kept: KeptRecord): string | undefined {
  const dir = join(store.root, 'models', kept.model);
  return !/[\\/]/.test(kept.model) && !kept.model.includes('..') && existsSync(dir) ? dir : undefined;
}

/**
 * The folder the net is loaded from: the direct command's --model, which must be the run's (its
 * path, or - the run naming a store folder - the same contents, checked by digest once loaded);
 * a station's (`given` undefined) its store's folder the run names, never a path from elsewhere.
 */
function modelDirFor(store: EmbeddedStore, rec: RunRecord, kept: KeptRecord, given: string | undefined): { dir: string; field: string } {
  const inStore = storeModelDir(store, kept);
  if (given === undefined) {
    if (!inStore) throw new InvalidArgumentError('run', rec.id, `programmed the model folder ${kept.model} given on its command line: a station reads a net from its store's models/ only (program it through the station, or run rram infer --on-board directly with the station stopped)`);
    return { dir: inStore, field: 'run' };
  }
  if (resolve(kept.model) !== resolve(given) && !(inStore && (recordedDigest(rec) || resolve(inStore) === resolve(given)))) throw new InvalidArgumentError('--model', given, `run ${rec.id} programmed ${kept.model}`);
  return { dir: given, field: '--model' };
}

/** The net the run programmed: a fine-tuned run's stored weights (checked by their digest) on the model file's net, else the model file's. */
function keptWeights(net: CrossbarNet, tuned: { weights: EncodedWeights; digest: string } | undefined, runId: string): CrossbarNet {
  if (!tuned) return net;
  const where = `run ${runId} program-net result (onBoard.tuned)`;
  const t = applyWeights(net, tuned.weights, 0, where);
  if (netDigest(t) !== tuned.digest) throw new DataError(where, 'the fine-tuned weights stored with the run do not match their digest: the result was altered');
  return t;
}

/**
 * The run's read-back accuracy computed again from its stored per-cell read-back and the kept net
 * (layers' scaling, tiles' places, the fine-tuned weights): what program-net printed, or the kept
 * record is not the net that was evaluated. Undefined when the result holds no read-back.
 */
function readbackOfKept(net: CrossbarNet, kept: KeptRecord, test: Split, runId: string): number | undefined {
  if (!kept.readback) return undefined;
  const tiles = kept.onBoard.tiles;
  const readback = tiles.map(() => new Float32Array(ARRAY_SIDE * ARRAY_SIDE).fill(NaN));
  for (const [t, row, col, , current] of kept.readback) {
    if (t >= tiles.length) throw new DataError(`run ${runId} program-net result`, `read-back of tile ${t}, the run kept ${tiles.length} tiles`);
    readback[t][row * ARRAY_SIDE + col] = current;
  }
  const layers = kept.onBoard.layers;
  return accuracyFromValues(tf, net, layers, valuesFromTiles(layers, tiles, readback), test, Math.min(kept.images, test.n)).accuracy;
}

const pct = (x: number) => (100 * x).toFixed(2);

/** Everything an on-board evaluation of a kept run needs, checked. */
export interface KeptPlan {
  runId: string;
  rec: RunRecord;
  kept: KeptRecord;
  net: CrossbarNet;
  test: Split;
  /** The read-back accuracy recomputed here (undefined: the result holds no read-back). */
  recomputed?: number;
}

/**
 * What a station checks when an on-board evaluation is queued, without loading a net or a data set
 * (it answers a request: the net's digest and the recomputed read-back wait for the item's turn,
 * planKeptNet, still before any MVM): the run was kept, and its net is a folder of this store.
 */
export function checkKeptRun(store: EmbeddedStore, runId: string): Pick<KeptPlan, 'runId' | 'rec'> {
  const { rec, kept } = loadKept(store, runId);
  modelDirFor(store, rec, kept, undefined);
  return { runId, rec };
}

/**
 * The kept run's net, checked before any board is touched: `from` is the direct command's
 * --model, --dataset and --data; a station gives none (its store's model, the run's data set from
 * its own folder).
 */
export async function planKeptNet(store: EmbeddedStore, runId: string, from: { model?: string; dataset?: string; data?: string } = {}): Promise<KeptPlan> {
  const { rec, kept } = loadKept(store, runId);
  const { dir, field } = modelDirFor(store, rec, kept, from.model);
  if (from.dataset !== undefined && parseDatasetName(from.dataset) !== kept.dataset) throw new InvalidArgumentError('--dataset', from.dataset, `run ${runId} evaluated ${kept.dataset}`);
  const test = loadDataset(parseDatasetName(kept.dataset), from.data, true).test;
  await initTf();
  const { net: fromFile } = await loadNet(tf, dir, { test, images: kept.images });
  const want = recordedDigest(rec);
  if (want && want !== netDigest(fromFile)) throw new InvalidArgumentError(field, field === 'run' ? runId : dir, `the contents of ${field === 'run' ? `its model folder ${kept.model}` : 'this model folder'} changed since run ${runId} programmed it`);
  const net = keptWeights(fromFile, kept.onBoard.tuned, runId);
  const recomputed = readbackOfKept(net, kept, test, runId);
  // The kept record must be the net the run evaluated, else every number is about another net:
  // refused before the board is opened (no MVM spent on it).
  if (recomputed !== undefined && recomputed !== kept.readbackAccuracy)
    throw new DataError(`run ${runId} program-net result`, `the read-back accuracy recomputed from the kept net (${pct(recomputed)} %) differs from the ${pct(kept.readbackAccuracy)} % program-net computed: the kept net is not the net the run evaluated`);
  return { runId, rec, kept, net, test, recomputed };
}

/**
 * The board must offer the MVM (checked first, whichever board it is), be the board the run
 * programmed (as a resume checks it: its id, an emulated board's saved state, its limits), and
 * take the input voltage.
 */
export function checkKeptBoard(plan: Pick<KeptPlan, 'runId' | 'rec'>, board: Board, vIn_V: number, vInField: string): void {
  requireMvm(board);
  const problems = boardProblems(plan.rec.board as never, board.info());
  if (problems.length) throw new InvalidArgumentError('board', board.info().id, `run ${plan.runId} programmed another board (${problems.join('; ')})`);
  checkVin(board.info(), vIn_V, vInField);
}
