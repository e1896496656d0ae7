/**
 * Fresh cells for measurements that must start from pristine devices (a calibration sweep, each
 * algorithm of a write-verify benchmark). A board that counts pulses per cell tells exactly which
 * never had one; otherwise the arrays are read and cells under `pristineBelow_A` taken as pristine
 * (an HRS cell can pass for one: use arrays that were never programmed). Cells come in the seeded
 * shuffle's order (pickCells), so a run spreads over the arrays.
 */
import type { Board, CellAddress } from '../../drivers/board.js';
import { pickCells } from './characterize.js';

export async function selectFreshCells(board: Board, arrays: number[], n: number, seed: number, pristineBelow_A: number, vread_V: number): Promise<{ cells: CellAddress[]; freshBy: 'counters' | 'read' }> {
  const info = board.info();
  const order = pickCells(arrays.length * info.rows * info.cols, arrays, info.rows, info.cols, seed);
  const cells: CellAddress[] = [];
  if (board.counters && info.features?.counters !== false) {
    for (const c of order) {
      const k = await board.counters(c);
      if (k.form + k.set + k.reset === 0) cells.push(c);
      if (cells.length === n) break;
    }
    return { cells, freshBy: 'counters' };
  }
  const reads = new Map<number, Float64Array>();
  for (const a of arrays) reads.set(a, await board.readArray(a, { vread_V }));
  for (const c of order) {
    if (reads.get(c.array)![c.row * info.cols + c.col] < pristineBelow_A) cells.push(c);
    if (cells.length === n) break;
  }
  return { cells, freshBy: 'read' };
}
