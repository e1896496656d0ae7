/**
 * Which board of a station (`--station URL`) a command is for: the only one, or, when the station
 * serves several, the one whose key (boardKey) the command's board flags name (--port, --board,
 * --seed ...); none matching is refused naming the boards it serves.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import { boardKey, type BoardFlags } from './board-options.js';

export interface ServedBoard {
  id: string;
  /** Absent from stations older than several boards (they served one). */
  key?: string;
}

export function pickStationBoard(boards: ServedBoard[], f: BoardFlags, station: string): string {
  if (boards.length === 1) return boards[0].id;
  const key = boardKey(f);
  const b = boards.find((x) => x.key === key);
  if (b) return b.id;
  const served = boards.map((x) => `${x.id} (${x.key ?? 'key unknown'})`).join(', ');
  throw new InvalidArgumentError('--station', station, `serves ${boards.length} boards, ${served}, and none is the board this command names (${key}): give that board's flags (--port PATH, or --seed N for an emulated one)`);
}
