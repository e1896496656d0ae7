/**
 * `rram infer --on-board RUN`: the net a `rram program-net --keep` run programmed, evaluated
 * through the board's analog MVM (src/jobs/infer-on-board-job.ts), beside the accuracy that run
 * computed from its read-back and its Monte Carlo prediction; stored as a run of kind infer. On a
 * board a station serves, a queue item of kind `infer-on-board` (the station reads the net from
 * its store), followed here as a local run is shown and printed alike.
 */
import type { Command } from 'commander';
import type { Observable } from 'rxjs';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import type { RunEvent } from '../../engine/events.js';
import { parseBody } from '../../io/validate.js';
import { inferOnBoardRequest, ON_BOARD_MARK, ON_BOARD_RESULT, runInferOnBoardJob, type OnBoardResult } from '../../jobs/infer-on-board-job.js';
import { keptRunId, planKeptNet } from '../../jobs/kept-net.js';
import { attachConsoleWarnings } from '../../sinks/console-warnings.js';
import { EmbeddedStore } from '../../store/embedded-store.js';
import { openBoard, type BoardFlags } from '../board-options.js';
import { abortOnSigint } from '../job-options.js';
import { metadataFromFlags, type MetadataFlags } from '../metadata-flags.js';
import { table } from '../output.js';
import { runOnStation, type StationTarget } from '../station-client.js';
import { refuseUncarried, stationTarget, type StationFlags } from '../station-route.js';
import { checkDataFolder } from './program-net-station.js';
import { finish, stationMetadata } from './programming.js';

export interface OnBoardFlags extends MetadataFlags, StationFlags {
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
  record: boolean;
  json?: boolean;
}

/** The flags `--on-board` uses beside those that pick the board and the store (station-route.ts LOCAL): all in the station's request, or checked here. */
const ON_BOARD_CARRIED = ['onBoard', 'model', 'dataset', 'data', 'images', 'batch', 'vIn', 'boardSeed', 'boardArrays'];

const pct = (x: number) => (100 * x).toFixed(2);

/** The board the flags name, as board commands name it (the infer command's own --board-seed and --board-arrays). */
const boardFlagsOf = (f: OnBoardFlags): BoardFlags & StationFlags => ({ board: 'emulated', port: f.port, baud: f.baud, seed: f.boardSeed, arrays: f.boardArrays, calibration: f.calibration, store: f.store, station: f.station, token: f.token });

/** The running accuracy, batch by batch, from the run's `on-board` marks (a local run's and a station's alike), and the run's warnings. */
function showProgress(events$: Observable<RunEvent>, json: boolean): void {
  attachConsoleWarnings(events$);
  if (json) return;
  let shown = false;
  events$.subscribe((e) => {
    if (e.type === 'mark' && e.name === ON_BOARD_MARK) {
      const v = e.value as { done: number; correct: number; images: number };
      process.stderr.write(`\ron-board: ${v.done}/${v.images} images, ${pct(v.correct / v.done)} %   `);
      shown = true;
    } else if (e.type === 'run-end' && shown) process.stderr.write('\n');
  });
}

function printResult(r: OnBoardResult): void {
  const rows: (string | number)[][] = [
    ['on the board (analog MVM)', pct(r.onBoard.accuracy), r.images],
    [`from the read-back (program-net${r.fineTuned ? ', fine-tuned' : ''})`, pct(r.readbackAccuracy), r.readbackImages],
    ['from the read-back, recomputed here from the stored read-back and the kept net', r.readbackRecomputed === undefined ? '- (the result holds no read-back)' : pct(r.readbackRecomputed), r.readbackImages],
    r.prediction ? ['Monte Carlo prediction, mean [5..95 %]', `${pct(r.prediction.mean)} [${pct(r.prediction.interval[0])}..${pct(r.prediction.interval[1])}]`, r.readbackImages] : ['Monte Carlo prediction', `none (run ${r.runId} had --device ${r.device})`, '-'],
    ['quantized, noise-free', pct(r.quantizedAccuracy), r.readbackImages],
    ['float', pct(r.floatAccuracy), r.readbackImages],
  ];
  const o = r.onBoard;
  process.stdout.write(table(['accuracy', '%', 'images'], rows));
  process.stdout.write(`run ${r.runId} on board ${r.board}: ${r.images} images in ${o.elapsed_s.toFixed(1)} s (${(r.images / o.elapsed_s).toFixed(1)} images/s), inputs up to ${o.vIn_V} V, ${o.batch} images per batch\n`);
}

export async function inferOnBoardCommand(f: OnBoardFlags, cmd: Command): Promise<void> {
  if (!f.record) throw new InvalidArgumentError('--no-record', true, 'an on-board evaluation drives the board: it is stored as a run of kind infer, as every board run is');
  const store = new EmbeddedStore(f.store);
  const runId = keptRunId(store, f.onBoard);
  const request = { kind: 'infer-on-board', run: runId, ...(f.images !== undefined ? { images: f.images } : {}), batch: f.batch, vIn_V: f.vIn, ...stationMetadata(f) };
  const st = await stationTarget(boardFlagsOf(f));
  const req = parseBody(inferOnBoardRequest, request);
  if (st) refuseOnStationFlags(f, cmd, st);
  // The direct command's checks, before anything is queued or the board opened (no MVM spent on a net that is not the run's).
  const plan = await planKeptNet(store, runId, { model: f.model, dataset: f.dataset, data: f.data });
  let out;
  if (st) out = await runOnStation<OnBoardResult>(st, request, ON_BOARD_RESULT, 'rram infer --on-board', (e$) => showProgress(e$, !!f.json));
  else {
    const board = await openBoard(boardFlagsOf(f));
    const ac = abortOnSigint();
    try {
      out = await runInferOnBoardJob({ store, board, signal: ac.signal, metadata: metadataFromFlags(f) }, board, req, plan, (ctx) => showProgress(ctx.events$, !!f.json));
    } finally {
      await board.close();
    }
  }
  if (out.status === 'completed') process.stderr.write(`rram: stored as run ${out.runId} (kind infer, result ${ON_BOARD_RESULT})\n`);
  await finish(out, f.json, printResult, (r) => r, false);
}

/** Through a station: the flags its request carries, and its own data folder only (it never reads a path sent to it). */
function refuseOnStationFlags(f: OnBoardFlags, cmd: Command, st: StationTarget): void {
  refuseUncarried(cmd, ON_BOARD_CARRIED, st);
  checkDataFolder(f, st);
}
