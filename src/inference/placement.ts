/**
 * Where a net's tiles go on the board's arrays, leaving out the cells the board's store knows are
 * bad (yield-aware mapping, issue 27). A layer is a rows x physCols matrix of cells cut into
 * blocks; block k goes onto array arrays[k mod A] (arrays are reused in turn). A crossbar's rows
 * share one input and its columns one output, so a block may sit on any subset of an array's rows
 * and columns, in order (a permutation the periphery undoes): each block uses the first rows and
 * columns of its array that hold no bad cell. Per layer the lines given up are either rows (every
 * row with a bad cell in the columns the layer uses) or columns, whichever needs fewer tiles; the
 * block size is the smallest usable extent over the arrays, so every block of a layer has one
 * shape.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import { ARRAY_SIDE } from './mapping.js';

/** What placement needs of a mapped layer. */
export interface LayerShape {
  name: string;
  rows: number;
  physCols: number;
}

/** One block of a layer on one array: logical extent and the physical rows and columns it takes. */
export interface TileGeometry {
  index: number;
  layer: number;
  layerName: string;
  array: number;
  /** The block's first row and column within its layer's physical matrix. */
  row0: number;
  col0: number;
  rows: number;
  cols: number;
  /** The array row (column) of each of the block's rows (columns): increasing, no bad cell among their crossings. */
  rowAt: number[];
  colAt: number[];
}

export interface PlacementReport {
  /** Known-bad cells on the arrays used. */
  knownBad: number;
  /** Of them, cells the plain placement (every block from row 0, column 0) would have put a weight on. */
  avoided: number;
  /** Tiles with and without avoiding them. */
  tiles: number;
  tilesPlain: number;
  /** Per layer: which lines were given up and the block shape. */
  layers: { name: string; giveUp: 'none' | 'rows' | 'cols'; blockRows: number; blockCols: number; tiles: number }[];
}

/** Bad cells per array as row-major indices into a 64x64 window ("array:row:col" keys in). */
export function badByArray(avoid: ReadonlySet<string>, arrays: number[]): Map<number, Set<number>> {
  const out = new Map<number, Set<number>>(arrays.map((a) => [a, new Set<number>()]));
  for (const k of avoid) {
    const [a, r, c] = k.split(':').map(Number);
    if (out.has(a) && r >= 0 && r < ARRAY_SIDE && c >= 0 && c < ARRAY_SIDE) out.get(a)!.add(r * ARRAY_SIDE + c);
  }
  return out;
}

/** Lines (rows when `rows`, else columns) of one array free of bad cells within the first `span` lines of the other axis. */
function freeLines(bad: Set<number>, rows: boolean, span: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < ARRAY_SIDE; i++) {
    let ok = true;
    for (let j = 0; j < span && ok; j++) if (bad.has(rows ? i * ARRAY_SIDE + j : j * ARRAY_SIDE + i)) ok = false;
    if (ok) out.push(i);
  }
  return out;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const blocks = (rows: number, cols: number, br: number, bc: number) => Math.ceil(rows / br) * Math.ceil(cols / bc);

/** The lines each array gives its blocks for one layer, and the common block shape. */
function layerPlan(l: LayerShape, bad: Map<number, Set<number>>, arrays: number[]): { giveUp: 'none' | 'rows' | 'cols'; br: number; bc: number; rowsOf: Map<number, number[]>; colsOf: Map<number, number[]> } {
  const wantR = Math.min(ARRAY_SIDE, l.rows);
  const wantC = Math.min(ARRAY_SIDE, l.physCols);
  const none = arrays.every((a) => bad.get(a)!.size === 0);
  if (none) return { giveUp: 'none', br: wantR, bc: wantC, rowsOf: new Map(arrays.map((a) => [a, range(wantR)])), colsOf: new Map(arrays.map((a) => [a, range(wantC)])) };
  const option = (byRows: boolean) => {
    const rowsOf = new Map<number, number[]>();
    const colsOf = new Map<number, number[]>();
    for (const a of arrays) {
      // Give up the lines of one axis crossing a bad cell within the span the other axis uses.
      if (byRows) {
        rowsOf.set(a, freeLines(bad.get(a)!, true, wantC));
        colsOf.set(a, range(wantC));
      } else {
        colsOf.set(a, freeLines(bad.get(a)!, false, wantR));
        rowsOf.set(a, range(wantR));
      }
    }
    const br = Math.min(wantR, ...arrays.map((a) => rowsOf.get(a)!.length));
    const bc = Math.min(wantC, ...arrays.map((a) => colsOf.get(a)!.length));
    return { giveUp: byRows ? ('rows' as const) : ('cols' as const), br, bc, rowsOf, colsOf };
  };
  const r = option(true);
  const c = option(false);
  const ok = (o: typeof r) => o.br > 0 && o.bc > 0;
  if (!ok(r) && !ok(c)) throw new InvalidArgumentError('arrays', arrays.join(','), `the known-bad cells leave no free row or column for layer ${l.name}`);
  if (!ok(c)) return r;
  if (!ok(r)) return c;
  return blocks(l.rows, l.physCols, c.br, c.bc) < blocks(l.rows, l.physCols, r.br, r.bc) ? c : r;
}

/**
 * Every layer cut into blocks placed on the arrays in turn, no block crossing a cell of `avoid`
 * ("array:row:col"). Tile numbering runs over the whole net, layer after layer, and depends only
 * on the shapes and the bad cells (a resume finds the same tiles). `start` places a net's later
 * layers alone: their first tile's number and layer index (tile k is always on arrays[k mod A]).
 */
export function placeTiles(layers: LayerShape[], arrays: number[], avoid: ReadonlySet<string> = new Set(), start: { tile: number; layer: number } = { tile: 0, layer: 0 }): { tiles: TileGeometry[]; report: PlacementReport } {
  if (!arrays.length) throw new InvalidArgumentError('arrays', '', 'give at least one array');
  const bad = badByArray(avoid, arrays);
  const tiles: TileGeometry[] = [];
  const report: PlacementReport = { knownBad: [...bad.values()].reduce((s, b) => s + b.size, 0), avoided: 0, tiles: 0, tilesPlain: 0, layers: [] };
  layers.forEach((l, li) => {
    const p = layerPlan(l, bad, arrays);
    let n = 0;
    for (let row0 = 0; row0 < l.rows; row0 += p.br) {
      for (let col0 = 0; col0 < l.physCols; col0 += p.bc) {
        const index = start.tile + tiles.length;
        const array = arrays[index % arrays.length];
        const rows = Math.min(p.br, l.rows - row0);
        const cols = Math.min(p.bc, l.physCols - col0);
        tiles.push({ index, layer: start.layer + li, layerName: l.name, array, row0, col0, rows, cols, rowAt: p.rowsOf.get(array)!.slice(0, rows), colAt: p.colsOf.get(array)!.slice(0, cols) });
        n++;
      }
    }
    report.layers.push({ name: l.name, giveUp: p.giveUp, blockRows: p.br, blockCols: p.bc, tiles: n });
  });
  // What the plain placement would have done: blocks of up to 64x64 from the array's corner.
  let k = start.tile;
  for (const l of layers) {
    for (let row0 = 0; row0 < l.rows; row0 += ARRAY_SIDE) {
      for (let col0 = 0; col0 < l.physCols; col0 += ARRAY_SIDE) {
        const b = bad.get(arrays[k++ % arrays.length])!;
        const rows = Math.min(ARRAY_SIDE, l.rows - row0);
        const cols = Math.min(ARRAY_SIDE, l.physCols - col0);
        for (const i of b) if (Math.floor(i / ARRAY_SIDE) < rows && i % ARRAY_SIDE < cols) report.avoided++;
      }
    }
  }
  report.tiles = tiles.length;
  report.tilesPlain = k - start.tile;
  return { tiles, report };
}

/**
 * Of the cells the placement uses (each use counted), the share the store never saw programmed
 * (`formed`: cells some run ended programmed): the failure shares measured on fresh cells apply to
 * those, not to cells known good (the prediction's `unseenShare`).
 */
export function unseenShare(layers: LayerShape[], arrays: number[], avoid: ReadonlySet<string>, formed: ReadonlySet<string>): number {
  if (!formed.size) return 1;
  let uses = 0;
  let unseen = 0;
  for (const t of placeTiles(layers, arrays, avoid).tiles)
    for (const r of t.rowAt)
      for (const c of t.colAt) {
        uses++;
        if (!formed.has(`${t.array}:${r}:${c}`)) unseen++;
      }
  return uses ? unseen / uses : 1;
}
