/**
 * The boards `rram serve` opens (issue 29: a station owns its boards): every `--port PATH` or
 * `--port PATH@BAUD`, and every `--board emulated` (seed --seed) or `--board emulated:SEED`; with
 * neither, the one emulated board of the store, as before. A bare `--board emulated` beside
 * `--port` adds nothing (--port overrides it, as for every command); `emulated:SEED` always adds
 * its board. Ids board0, board1, ...: the emulated boards first, then the ports, each in the order
 * given. Every board is named by its key (boardKey), the one a CLI command's flags name.
 */
import type { Board } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { boardKey, openBoardWithCalibration, type BoardFlags, type OpenedBoard } from './board-options.js';
import { num } from './parse.js';
import { boardKey as historyKey } from '../store/board-history.js';

export interface ServeBoardFlags extends Omit<BoardFlags, 'board' | 'port'> {
  board?: string[];
  port?: string[];
}

export interface ServeBoard {
  id: string;
  key: string;
  /** The flags that open this board alone (as a one-board command's). */
  flags: BoardFlags;
}

const seedOf = num('--board', { min: 0, max: 4294967295, int: true });

function emulatedSpec(raw: string, f: ServeBoardFlags): BoardFlags {
  const m = /^emulated(?::(.*))?$/.exec(raw);
  if (!m) throw new InvalidArgumentError('--board', raw, 'must be "emulated" or "emulated:SEED" (use --port PATH for a serial board)');
  return { ...f, board: 'emulated', port: undefined, seed: m[1] === undefined ? f.seed : seedOf(m[1]) };
}

function portSpec(raw: string, f: ServeBoardFlags, alone: boolean): BoardFlags {
  const m = /^(.*)@(\d+)$/.exec(raw);
  const path = m ? m[1] : raw;
  // A bare number is almost always meant as the dashboard's TCP port.
  if (/^\d+$/.test(path)) throw new InvalidArgumentError('--port', raw, `is the board's serial port (e.g. /dev/ttyUSB0); to serve the dashboard on TCP port ${path} use --listen 127.0.0.1:${path}`);
  if (!path) throw new InvalidArgumentError('--port', raw, 'expected PATH or PATH@BAUD');
  const baud = m ? num('--port', { min: 1200, int: true })(m[2]) : f.baud;
  // --limits and --new-board set emulated boards: beside one they are its; on ports alone they are refused as before.
  return { ...f, board: 'emulated', port: path, baud, ...(alone ? {} : { limits: undefined, newBoard: undefined }) };
}

export function serveBoards(f: ServeBoardFlags): ServeBoard[] {
  const ports = f.port ?? [];
  const given = f.board ?? (ports.length ? [] : ['emulated']);
  // --port overrides a bare --board emulated, as it does for every command.
  const emulated = ports.length ? given.filter((b) => b !== 'emulated') : given;
  const specs = [...emulated.map((raw) => ({ raw, flag: '--board', flags: emulatedSpec(raw, f) })), ...ports.map((raw) => ({ raw, flag: '--port', flags: portSpec(raw, f, emulated.length === 0) }))];
  const out = specs.map((s, k) => ({ id: `board${k}`, key: boardKey(s.flags), flags: s.flags }));
  for (let k = 0; k < out.length; k++) {
    const twin = out.findIndex((b) => b.key === out[k].key);
    if (twin !== k) throw new InvalidArgumentError(specs[k].flag, specs[k].raw, `names the same board as ${out[twin].id} (${out[k].key}): each board is served once`);
  }
  return out;
}

/** Refuses the last board opened when it answers as one opened before it (see openServeBoards). */
export function refuseTwins(opened: { id: string; flags: BoardFlags; board: Pick<Board, 'info'> }[]): void {
  const o = opened[opened.length - 1];
  const key = historyKey(o.board.info());
  const twin = opened.find((x) => x !== o && historyKey(x.board.info()) === key);
  // Named by both ports: a board seen twice (two names of one tty, or two boards flashed with one id) is the user's to sort out.
  const where = (x: { flags: BoardFlags }) => (x.flags.port ? `--port ${x.flags.port}` : `--board emulated:${x.flags.seed}`);
  if (twin) throw new InvalidArgumentError(o.flags.port ? '--port' : '--board', o.flags.port ?? `emulated:${o.flags.seed}`, `answers as the same board as ${twin.id} (${where(twin)}), ${key}: the store keys a board's runs, cell history and queue by that and could not tell them apart; serve them from two stores`);
}

/**
 * Opens every board, in order; when one fails, those opened are closed again (no board left held).
 * Two boards that answer as the same board (HELLO id, or an emulated board's state) are refused:
 * the store keys each board's history by that, and could not tell their runs apart.
 */
export async function openServeBoards(boards: ServeBoard[]): Promise<(ServeBoard & OpenedBoard)[]> {
  const opened: (ServeBoard & OpenedBoard)[] = [];
  try {
    for (const b of boards) {
      opened.push({ ...b, ...(await openBoardWithCalibration(b.flags)) });
      refuseTwins(opened);
    }
  } catch (e) {
    await Promise.allSettled(opened.map((o) => o.board.close()));
    throw e;
  }
  return opened;
}
