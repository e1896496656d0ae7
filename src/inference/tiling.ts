/**
 * Physical placement of mapped layers on 64x64 arrays, and its inverse (read-back currents ->
 * per-layer cell values). Each layer is laid out as a rows x physCols matrix of cells, cut into
 * 64x64 tiles, one tile per array, as an analog crossbar would need them (rows share inputs):
 *  - diff:   columns 2c (weight c, positive cell) and 2c+1 (its partner), adjacent as a pair;
 *  - offset: columns 0..cols-1 the weights, column `cols` the layer's offset column;
 *  - signed: one column per weight.
 * Cells of a tile that the layer does not reach are UNUSED: never pulsed, never read into a weight.
 * Which rows and columns of its array a tile takes is placement.ts's decision (known-bad cells left
 * out); a tile's cell (r, c) sits at array row rowAt[r], column colAt[c].
 */
import { ARRAY_SIDE, type MappedLayer } from './mapping.js';
import { placeTiles, type TileGeometry } from './placement.js';

export const UNUSED = 255;

export interface Tile extends TileGeometry {
  /** Target level of each of the array's 64x64 cells (row-major), UNUSED where the tile has no cell. */
  levels: Uint8Array;
  /** Cells that get programmed. */
  used: number;
}

/** The layer's physical level matrix (rows x physCols, row-major). */
export function physicalLevels(l: MappedLayer): Uint8Array {
  const m = new Uint8Array(l.rows * l.physCols);
  for (let r = 0; r < l.rows; r++) {
    for (let c = 0; c < l.cols; c++) {
      const i = r * l.cols + c;
      if (l.scheme === 'diff') {
        m[r * l.physCols + 2 * c] = l.pos[i];
        m[r * l.physCols + 2 * c + 1] = l.neg![i];
      } else m[r * l.physCols + c] = l.pos[i];
    }
    if (l.scheme === 'offset') m[r * l.physCols + l.cols] = l.neg![r];
  }
  return m;
}

/**
 * The tiles with their target levels. `placed` is where each block goes (placement.ts, e.g. with
 * the board's known-bad cells left out); by default plain 64x64 blocks from each array's corner.
 */
export function tileNet(layers: MappedLayer[], placed: TileGeometry[] = placeTiles(layers, [0]).tiles): Tile[] {
  const phys = layers.map(physicalLevels);
  return placed.map((g) => {
    const l = layers[g.layer];
    if (!l || l.rows < g.row0 + g.rows || l.physCols < g.col0 + g.cols) throw new Error(`internal: tile ${g.index} does not fit layer ${g.layerName}`);
    const levels = new Uint8Array(ARRAY_SIDE * ARRAY_SIDE).fill(UNUSED);
    for (let r = 0; r < g.rows; r++) for (let c = 0; c < g.cols; c++) levels[g.rowAt[r] * ARRAY_SIDE + g.colAt[c]] = phys[g.layer][(g.row0 + r) * l.physCols + g.col0 + c];
    return { ...g, levels, used: g.rows * g.cols };
  });
}

/**
 * Per-layer cell values from each tile's read-back (64x64 currents, row-major): gp for the
 * weights' cells and gn for the partner (diff, rows x cols) or offset (rows) cells, the values
 * forwardTf and effective() take.
 */
export function valuesFromTiles(layers: Pick<MappedLayer, 'name' | 'scheme' | 'rows' | 'cols' | 'physCols'>[], tiles: Pick<Tile, 'layer' | 'row0' | 'col0' | 'rows' | 'cols' | 'rowAt' | 'colAt'>[], readback: Float32Array[], only?: (tile: number, cell: number) => boolean): { gp: Float32Array; gn?: Float32Array }[] {
  const phys = layers.map((l) => new Float32Array(l.rows * l.physCols).fill(NaN));
  tiles.forEach((t, k) => {
    const l = layers[t.layer];
    for (let r = 0; r < t.rows; r++)
      for (let c = 0; c < t.cols; c++) {
        const i = t.rowAt[r] * ARRAY_SIDE + t.colAt[c];
        if (!only || only(k, i)) phys[t.layer][(t.row0 + r) * l.physCols + t.col0 + c] = readback[k][i];
      }
  });
  return layers.map((l, li) => {
    const p = phys[li];
    // With `only`, the cells left out stay NaN (e.g. the known values of a posterior prediction).
    if (!only && p.some(Number.isNaN)) throw new Error(`internal: layer ${l.name} has cells no tile covers`);
    const gp = new Float32Array(l.rows * l.cols);
    const gn = l.scheme === 'diff' ? new Float32Array(l.rows * l.cols) : l.scheme === 'offset' ? new Float32Array(l.rows) : undefined;
    for (let r = 0; r < l.rows; r++) {
      for (let c = 0; c < l.cols; c++) {
        const i = r * l.cols + c;
        if (l.scheme === 'diff') {
          gp[i] = p[r * l.physCols + 2 * c];
          gn![i] = p[r * l.physCols + 2 * c + 1];
        } else gp[i] = p[r * l.physCols + c];
      }
      if (l.scheme === 'offset') gn![r] = p[r * l.physCols + l.cols];
    }
    return { gp, gn };
  });
}
