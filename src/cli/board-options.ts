/** The options every board-using command shares, and opening the board (and its calibration) they describe. */
import type { Command } from 'commander';
import { join } from 'node:path';
import { realpathSync } from 'node:fs';
import type { Board } from '../../drivers/board.js';
import { InvalidArgumentError, RramError } from '../../drivers/errors.js';
import { pidAlive, readStationFiles } from '../station/station-file.js';
import { EmulatedBoard } from '../../drivers/emulated/emulated-board.js';
import { loadCalibration, type Calibration } from '../../calibration/calibration.js';
import { limitsArg, num, type LimitSpec } from './parse.js';

export interface BoardFlags {
  board: string;
  port?: string;
  baud: number;
  seed: number;
  calibration?: string;
  arrays: number;
  limits?: LimitSpec;
  store: string;
  newBoard?: boolean;
}

export function defaultStoreDir(): string {
  return process.env.RRAM_STORE ?? join(process.cwd(), 'rram-data');
}

/** --store once per command, whichever option group adds it first. */
export function addStoreOption(c: Command): Command {
  if (c.options.some((o) => o.long === '--store')) return c;
  return c.option('--store <dir>', 'store folder: runs, and the saved state of emulated boards (env RRAM_STORE; default ./rram-data)', defaultStoreDir());
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** `several`: `rram serve`'s spelling, --board and --port repeatable (src/cli/serve-boards.ts reads them). */
export function addBoardOptions(c: Command, o: { several?: boolean } = {}): Command {
  const boardPort = o.several
    ? c
        .option('--board <kind>', 'a board to serve, repeatable: emulated (seed --seed) or emulated:SEED (in-process model; its cells persist in <store>/boards/); default one emulated board', collect)
        .option('--port <path>', 'serial port of a board to serve, repeatable: PATH (at --baud) or PATH@BAUD; a bare --board emulated then adds none, --board emulated:SEED adds one beside', collect)
    : c
        .option('--board <kind>', 'board to use: emulated (in-process model; its cells persist in <store>/boards/)', 'emulated')
        .option('--port <path>', 'serial port of a real board or of `rram emulate --pty` (overrides --board)');
  return addStoreOption(
    boardPort
      .option('--baud <n>', 'serial baud rate (the timeout rule uses it)', num('--baud', { min: 1200, int: true }), 921600)
      .option('--seed <n>', 'seed of the emulated board', num('--seed', { min: 0, max: 4294967295, int: true }), 1)
      .option('--calibration <file>', "device-model calibration JSON: the emulated board's model, or the fitted calibration of the board on --port (default calibration/ihp-hfo2-4kbit.json for emulated boards)")
      .option('--arrays <n>', 'number of 64x64 arrays on the emulated board', num('--arrays', { min: 1, max: 16, int: true }), 2)
      .option('--limits <k=v,...>', 'hard limits of the emulated board: vte_max, vsl_max, vg_max, vread_max (V), width_min, width_max (s), dac_step (V)', limitsArg('--limits'))
      .option('--new-board', 'start the emulated board pristine, discarding its saved cells'),
  );
}

export interface OpenedBoard {
  board: Board;
  /** The board's calibration: the emulated board's own model, or the file given for a board on --port. */
  calibration?: Calibration;
}

export async function openBoardWithCalibration(f: BoardFlags): Promise<OpenedBoard> {
  if (f.port) {
    if (f.limits) throw new InvalidArgumentError('--limits', f.limits, "sets an emulated board's limits; a board on --port reports its own (use `rram emulate --pty --limits ...`)");
    if (f.newBoard) throw new InvalidArgumentError('--new-board', true, 'applies to in-process emulated boards only');
    const calibration = f.calibration ? loadCalibration(f.calibration) : undefined;
    const { SerialBoard } = await import('../../drivers/serial/serial-board.js');
    const board = await SerialBoard.open({ path: f.port, baudRate: f.baud });
    const info = board.info();
    if (calibration && info.kind === 'emulated' && info.calibration && info.calibration !== calibration.id)
      process.stderr.write(`rram: warning: the emulated board on ${f.port} runs calibration ${info.calibration}, not ${calibration.id} (--calibration)\n`);
    return { board, calibration };
  }
  if (f.newBoard && (f as { resume?: string }).resume) throw new InvalidArgumentError('--new-board', true, 'with --resume it would discard the cells the run programmed; resume on the board as it is');
  const { board, calibration } = emulatedBoard(f);
  try {
    board.attachState(join(f.store, 'boards'), { fresh: f.newBoard });
  } catch (e) {
    throw servedBy(e, f.store, `emulated:${board.stateKey()}`);
  }
  return { board, calibration };
}

/** A board held by a station on this store: say so, and what goes through it, instead of naming a bare pid. */
function servedBy(e: unknown, store: string, key: string): unknown {
  if (!(e instanceof RramError) || e.code !== 'BUSY') return e;
  const st = readStationFiles(store).find((s) => s.entry.boards.some((b) => b.key === key) && pidAlive(s.entry.pid));
  if (!st) return e;
  return new RramError('BUSY', `the board is served by the station at ${st.entry.url} (rram serve, process ${st.entry.pid}): board commands go through its queue (docs/server.md); this command opens the board itself, so stop the station first, or start it from the dashboard`);
}

/** The in-process emulated board the flags describe, its saved state not attached yet. */
function emulatedBoard(f: BoardFlags): { board: EmulatedBoard; calibration: Calibration } {
  if (f.board !== 'emulated') throw new InvalidArgumentError('--board', f.board, 'must be "emulated" (use --port PATH for a serial board)');
  const { dacStep_V, ...limits } = f.limits ?? {};
  const calibration = loadCalibration(f.calibration);
  return { board: new EmulatedBoard({ seed: f.seed, arrays: f.arrays, calibration, limits, dacStep_V }), calibration };
}

/**
 * Which board the flags name, as a station lists it (src/station/station-file.ts): the serial
 * port's real path, or the emulated board's state key (seed, geometry, calibration, limits).
 */
export function boardKey(f: BoardFlags): string {
  if (f.port) {
    try {
      return `port:${realpathSync(f.port)}`;
    } catch {
      return `port:${f.port}`;
    }
  }
  return `emulated:${emulatedBoard(f).board.stateKey()}`;
}

export async function openBoard(f: BoardFlags): Promise<Board> {
  return (await openBoardWithCalibration(f)).board;
}
