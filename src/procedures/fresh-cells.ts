/**
 * Fresh cells for measurements that must start from pristine devices (a calibration sweep, each
 * algorithm of a write-verify benchmark). Three kinds of evidence, every one required:
 *  - the store's history of this board (board-history.ts): a cell any run pulsed is not fresh,
 *    whatever the board says now (COUNTERS count since power-up only: after a power cycle every
 *    cell reads 0, which once made a sweep measure 256 well-used cells as pristine);
 *  - the board's COUNTERS where it offers them (pulses since power-up, also other hosts');
 *  - a read under `pristineBelow_A` (a cell in HRS can pass for pristine, a leaky pristine cell
 *    fails it: it is not a clean pristine device either).
 * Cells come in the seeded shuffle's order (pickCells), so a run spreads over the arrays.
 */
import type { Board, CellAddress } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { cellKey } from '../engine/events.js';
import { pickCells } from './characterize.js';

export interface FreshCells {
  cells: CellAddress[];
  /** What was checked: the store's history always, then counters or nothing more, and the reads. */
  freshBy: 'history+counters+read' | 'history+read';
  /** Cells passed over, by the evidence that ruled them out (the first that did). */
  excluded: { history: number; counters: number; read: number };
}

export async function selectFreshCells(board: Board, arrays: number[], n: number, seed: number, pristineBelow_A: number, vread_V: number, used: ReadonlySet<string> = new Set()): Promise<FreshCells> {
  const info = board.info();
  const order = pickCells(arrays.length * info.rows * info.cols, arrays, info.rows, info.cols, seed);
  const cells: CellAddress[] = [];
  const excluded = { history: 0, counters: 0, read: 0 };
  const counters = !!board.counters && info.features?.counters !== false;
  const reads = new Map<number, Float64Array>();
  for (const a of arrays) reads.set(a, await board.readArray(a, { vread_V }));
  for (const c of order) {
    if (cells.length === n) break;
    if (used.has(cellKey(c))) {
      excluded.history++;
      continue;
    }
    if (counters) {
      const k = await board.counters!(c);
      if (k.form + k.set + k.reset !== 0) {
        excluded.counters++;
        continue;
      }
    }
    const i = reads.get(c.array)![c.row * info.cols + c.col];
    if (!(i < pristineBelow_A)) {
      excluded.read++; // NaN (unreadable) included
      continue;
    }
    cells.push(c);
  }
  return { cells, freshBy: counters ? 'history+counters+read' : 'history+read', excluded };
}

/** "1,203 pulsed by earlier runs of this board (the store's history), 12 with pulses since power-up, 40 not reading pristine". */
export function describeExcluded(x: FreshCells['excluded']): string {
  const parts = [x.history && `${x.history} pulsed by earlier runs of this board (the store's history)`, x.counters && `${x.counters} with pulses since power-up (COUNTERS)`, x.read && `${x.read} not reading pristine`].filter(Boolean);
  return parts.length ? `passed over: ${parts.join(', ')}` : 'no cell was passed over';
}

/**
 * `--fresh-cells`: cells in the seeded shuffle's order that no earlier run of this board pulsed and
 * (where the board counts) no pulse since power-up reached. No read criterion: a leaky pristine
 * cell is a fresh cell, classified by the plan (issue 24).
 */
export async function freshCellsFor(board: Board, first: number, n: number, seed: number, used: ReadonlySet<string>): Promise<CellAddress[]> {
  const info = board.info();
  const arrays = Array.from({ length: info.arrays - first }, (_, k) => first + k);
  const fresh = await selectFreshCells(board, arrays, n, seed, Infinity, 0.2, used);
  if (fresh.cells.length < n) throw new InvalidArgumentError('--fresh-cells', true, `${n} cells needed, ${fresh.cells.length} fresh ones left on arrays ${arrays.join(',')} (${describeExcluded(fresh.excluded)})`);
  return fresh.cells;
}
