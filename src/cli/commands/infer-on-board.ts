/**
 * `rram infer --on-board RUN`: the net a `rram program-net --keep` run programmed, evaluated
 * through the board's analog MVM (src/procedures/infer-on-board.ts), beside the accuracy that run
 * computed from its read-back and its Monte Carlo prediction.
 */
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { DataError, InvalidArgumentError } from '../../../drivers/errors.js';
import { loadNet } from '../../inference/load-net.js';
import { loadDataset, parseDatasetName } from '../../inference/datasets.js';
import { initTf, tf } from '../../inference/tf-backend.js';
import { parseFile } from '../../io/validate.js';
import { EmbeddedStore, NotFoundError } from '../../store/embedded-store.js';
import { netDigest } from '../../procedures/net-on-arrays.js';
import { inferOnBoard, requireMvm, type KeptNet } from '../../procedures/infer-on-board.js';
import { applyWeights, EncodedWeights } from '../../procedures/fine-tune-stages.js';
import { valuesFromTiles } from '../../inference/tiling.js';
import { accuracyFromValues } from '../../inference/readback-eval.js';
import { ARRAY_SIDE } from '../../inference/mapping.js';
import type { CrossbarNet } from '../../inference/crossbar-net.js';
import type { Split } from '../../inference/datasets.js';
import { openBoard } from '../board-options.js';
import { printJson, table } from '../output.js';
import { boardProblems } from '../../engine/run-context.js';
import type { BoardInfo } from '../../../drivers/board.js';

export interface OnBoardFlags {
  onBoard: string;
  model: string;
  dataset: string;
  data?: string;
  images?: number;
  store: string;
  port?: string;
  baud: number;
  boardSeed: number;
  boardArrays: number;
  calibration?: string;
  batch: number;
  vIn: number;
  json?: boolean;
}

const num = z.number().finite();
const KeptSchema = z.object({
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

/** The program-net run a reference names: run:<id>, an id, or run:latest (the newest completed program-net run stored with --keep). */
function keptRun(store: EmbeddedStore, ref: string): string {
  const id = ref.replace(/^run:/, '');
  if (id !== 'latest') return id;
  const found = store.listRuns().find((r) => r.kind === 'program-net' && r.status === 'completed' && r.results.includes('program-net'));
  if (!found) throw new NotFoundError('completed program-net run', 'latest');
  return found.id;
}

const pct = (x: number) => (100 * x).toFixed(2);

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
function readbackOfKept(net: CrossbarNet, kept: z.infer<typeof KeptSchema>, test: Split, runId: string): number | undefined {
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

export async function inferOnBoardCommand(f: OnBoardFlags): Promise<void> {
  const store = new EmbeddedStore(f.store);
  const runId = keptRun(store, f.onBoard);
  const rec = store.getRun(runId);
  const kept = parseFile(KeptSchema, store.loadResult(runId, 'program-net'), `run ${runId} program-net result`);
  // A run through a station names the net by its folder in the store's models/ (cli-<content hash>): the original folder is the same net when its contents are (checked below).
  const want = ((rec.params as { inputs?: Record<string, string> }).inputs ?? {})['model contents (--model)'];
  const storeName = !/[\\/]/.test(kept.model) && existsSync(join(store.root, 'models', kept.model));
  if (resolve(kept.model) !== resolve(f.model) && !(storeName && (want || resolve(store.root, 'models', kept.model) === resolve(f.model)))) throw new InvalidArgumentError('--model', f.model, `run ${runId} programmed ${kept.model}`);
  if (parseDatasetName(f.dataset) !== kept.dataset) throw new InvalidArgumentError('--dataset', f.dataset, `run ${runId} evaluated ${kept.dataset}`);
  const ds = loadDataset(parseDatasetName(f.dataset), f.data, false);
  await initTf();
  const { net: fromFile } = await loadNet(tf, f.model, { test: ds.test, images: f.images });
  if (want && want !== netDigest(fromFile)) throw new InvalidArgumentError('--model', f.model, `its contents changed since run ${runId} programmed it`);
  const net = keptWeights(fromFile, kept.onBoard.tuned, runId);
  const recomputed = readbackOfKept(net, kept, ds.test, runId);
  // The kept record must be the net the run evaluated, else every number here is about another
  // net: refused before the board is opened (no MVM spent on it).
  if (recomputed !== undefined && recomputed !== kept.readbackAccuracy)
    throw new DataError(`run ${runId} program-net result`, `the read-back accuracy recomputed from the kept net (${pct(recomputed)} %) differs from the ${pct(kept.readbackAccuracy)} % program-net computed: the kept net is not the net the run evaluated`);
  const board = await openBoard({ board: 'emulated', port: f.port, baud: f.baud, seed: f.boardSeed, arrays: f.boardArrays, calibration: f.calibration, store: f.store });
  try {
    requireMvm(board); // a board without the feature is refused on that first, whichever board it is
    // The board the run programmed, as a resume checks it: its id, an emulated board's saved state, its limits.
    const problems = boardProblems(rec.board as BoardInfo | undefined, board.info());
    if (problems.length) throw new InvalidArgumentError('board', board.info().id, `run ${runId} programmed another board (${problems.join('; ')})`);
    const images = Math.min(f.images ?? kept.images, ds.test.n);
    const r = await inferOnBoard(board, net, kept.onBoard as KeptNet, ds.test, {
      images,
      batch: f.batch,
      vIn_V: f.vIn,
      onBatch: (done, correct) => !f.json && process.stderr.write(`\ron-board: ${done}/${images} images, ${pct(correct / done)} %   `),
    });
    if (!f.json) process.stderr.write('\n');
    const out = { runId, board: board.info().id, images, onBoard: r, fineTuned: !!kept.onBoard.tuned, readbackAccuracy: kept.readbackAccuracy, readbackRecomputed: recomputed, readbackImages: kept.images, prediction: kept.prediction ? { mean: kept.prediction.summary.mean, interval: kept.prediction.interval } : undefined, quantizedAccuracy: kept.quantizedAccuracy, floatAccuracy: kept.floatAccuracy };
    if (f.json) printJson(out);
    else {
      const rows: (string | number)[][] = [
        ['on the board (analog MVM)', pct(r.accuracy), images],
        [`from the read-back (program-net${kept.onBoard.tuned ? ', fine-tuned' : ''})`, pct(kept.readbackAccuracy), kept.images],
        ['from the read-back, recomputed here from the stored read-back and the kept net', recomputed === undefined ? '- (the result holds no read-back)' : pct(recomputed), kept.images],
        kept.prediction ? ['Monte Carlo prediction, mean [5..95 %]', `${pct(kept.prediction.summary.mean)} [${pct(kept.prediction.interval[0])}..${pct(kept.prediction.interval[1])}]`, kept.images] : ['Monte Carlo prediction', `none (run ${runId} had --device ${String(kept.device)})`, '-'],
        ['quantized, noise-free', pct(kept.quantizedAccuracy), kept.images],
        ['float', pct(kept.floatAccuracy), kept.images],
      ];
      process.stdout.write(table(['accuracy', '%', 'images'], rows));
      process.stdout.write(`run ${runId} on board ${board.info().id}: ${images} images in ${r.elapsed_s.toFixed(1)} s (${(images / r.elapsed_s).toFixed(1)} images/s), inputs up to ${r.vIn_V} V, ${r.batch} images per batch\n`);
    }
  } finally {
    await board.close();
  }
}
