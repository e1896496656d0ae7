/**
 * Whether a board command goes through a station: `--station URL` (with `--token`, env
 * RRAM_TOKEN, or the token the station wrote in the store), or the station the store names for
 * the board the flags describe (src/station/station-file.ts; a dead station's entry is passed
 * over). Only the flags the station's job request carries may be given: any other is refused by
 * name before anything is queued, never silently dropped.
 */
import type { Command } from 'commander';
import { InvalidArgumentError, RramError } from '../../drivers/errors.js';
import { findStation, readStationFiles } from '../station/station-file.js';
import { boardKey, type BoardFlags } from './board-options.js';
import type { StationTarget } from './station-client.js';
import { pickStationBoard, type ServedBoard } from './station-board.js';

export interface StationFlags {
  station?: string;
  token?: string;
}

export function addStationOptions(c: Command): Command {
  return c
    .option('--station <url>', 'queue the run on the station (rram serve) at this URL; by default the station the store names for this board, if one runs')
    .option('--token <secret>', "the station's token (env RRAM_TOKEN; default: the one the station wrote in the store)");
}

/** Flags every command keeps on its side (they pick the board and the store, or shape the output). */
const LOCAL = new Set(['board', 'port', 'baud', 'seed', 'calibration', 'arrays', 'limits', 'store', 'json', 'out', 'station', 'token', 'sample', 'wafer', 'die', 'deviceId', 'operator', 'temperature', 'note', 'tag']);

export async function stationTarget(f: BoardFlags & StationFlags): Promise<StationTarget | undefined> {
  const lockKey = process.env.RRAM_LOCK_KEY || undefined;
  if (f.station) {
    let url: string;
    try {
      url = new URL(f.station).origin;
    } catch {
      throw new InvalidArgumentError('--station', f.station, 'expected the URL rram serve printed, e.g. http://127.0.0.1:8080');
    }
    let token = f.token ?? process.env.RRAM_TOKEN ?? readStationFiles(f.store).find((s) => s.entry.url === url)?.entry.token;
    let boards: ServedBoard[];
    try {
      boards = (await (await fetch(`${url}/api/boards`, { signal: AbortSignal.timeout(5000) })).json()) as ServedBoard[];
      // On loopback the station hands its per-server token to its own page, and to us.
      token ??= ((await (await fetch(`${url}/api/config`)).json()) as { sessionToken?: string }).sessionToken;
    } catch (e) {
      throw new InvalidArgumentError('--station', f.station, `does not answer as a station (${(e as Error).message})`);
    }
    if (!token) throw new InvalidArgumentError('--token', 'missing', `the station at ${url} needs its token (printed by rram serve; --token or env RRAM_TOKEN)`);
    if (!Array.isArray(boards) || !boards[0]?.id) throw new InvalidArgumentError('--station', f.station, 'serves no board');
    return { url, token, boardId: pickStationBoard(boards, f, f.station), lockKey };
  }
  const found = await findStation(f.store, boardKey(f));
  return found ? { url: found.entry.url, token: f.token ?? found.entry.token, boardId: found.boardId, lockKey } : undefined;
}

/** Refuses every flag given on the command line that the station's request does not carry. */
export function refuseUncarried(cmd: Command, carried: readonly string[], t: StationTarget): void {
  const bad = cmd.options.filter((o) => {
    const a = o.attributeName();
    const src = cmd.getOptionValueSource(a);
    return (src === 'cli' || src === 'env') && !LOCAL.has(a) && !carried.includes(a);
  });
  if (!bad.length) return;
  const names = bad.map((o) => o.long ?? o.flags).join(', ');
  throw new InvalidArgumentError(bad[0].long ?? bad[0].flags, cmd.getOptionValue(bad[0].attributeName()), `is not carried through the station at ${t.url} (its queue takes ${carried.map((c) => `--${c.replace(/[A-Z]/g, (x) => `-${x.toLowerCase()}`)}`).join(', ')}; refused: ${names}): leave it out, or stop the station and run directly`);
}

/** What a board command cannot carry through a station, and why (every other flag goes in its request). */
export const NOT_CARRIED: Readonly<Record<string, string>> = {
  influx: "the station writes its runs to its own InfluxDB (rram serve --influx)",
  newBoard: "the station's board is open as it is (restart the station with --new-board)",
};

/** Refuses, by name and with the reason, each flag given that the station cannot carry (`extra` adds the command's own). */
export function refuseNotCarried(cmd: Command, t: StationTarget, extra: Readonly<Record<string, string>> = {}): void {
  const reasons = { ...NOT_CARRIED, ...extra };
  for (const o of cmd.options) {
    const a = o.attributeName();
    const src = cmd.getOptionValueSource(a);
    if ((src === 'cli' || src === 'env') && reasons[a]) throw new InvalidArgumentError(o.long ?? o.flags, cmd.getOptionValue(a), `is not carried through the station at ${t.url}: ${reasons[a]}; leave it out, or stop the station and run directly`);
  }
}

/** A command that does not go through a station: refused, naming the station and why, when one serves the board. */
export async function refuseOnStation(f: BoardFlags & StationFlags, what: string, reason: string): Promise<void> {
  const t = await stationTarget(f);
  if (t) throw new RramError('BUSY', `${what} does not go through the station at ${t.url}, which serves this board: ${reason}; stop the station and run it directly`);
}
