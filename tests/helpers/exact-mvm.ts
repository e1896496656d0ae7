/** An ideal MVM (no wires, no noise) over the cells the tiles program at their levels' nominal read currents: tests of the on-board forward pass. */
import type { MvmTile } from '../../drivers/board.js';
import { ARRAY_SIDE } from '../../src/inference/mapping.js';
import { UNUSED, type Tile } from '../../src/inference/tiling.js';

export function exactMvm(tiles: Tile[], levels: number[], arrays: number): (t: MvmTile, v: Float64Array) => Promise<Float64Array> {
  // Each array's conductances as the tiles programmed them (level read currents at 0.2 V / 0.2 V).
  const G = Array.from({ length: arrays }, () => new Float64Array(ARRAY_SIDE * ARRAY_SIDE));
  for (const t of tiles) t.levels.forEach((lv, i) => lv !== UNUSED && (G[t.array][i] = levels[lv] / 0.2));
  return async (t, v) => {
    const k = v.length / t.rows;
    const out = new Float64Array(k * t.cols);
    for (let q = 0; q < k; q++) for (let i = 0; i < t.rows; i++) for (let j = 0; j < t.cols; j++) out[q * t.cols + j] += v[q * t.rows + i] * G[t.array][(t.row0 + i) * ARRAY_SIDE + t.col0 + j];
    return out;
  };
}
