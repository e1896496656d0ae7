/**
 * Which cells a device experiment measures: `--cells FILE` (row,col[,level] lines or JSON),
 * `--region R0:R1,C0:C1`, `--map FILE` (a level map: for `rram iv` / `rram endurance` the cells
 * whose entry is not 0, for `rram retention` every cell of the map at its level; with --region
 * only the map's cells inside it), all on `--array N`; none of them: fresh cells.
 */
import type { Command } from 'commander';
import type { BoardInfo, CellAddress } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { readMapFile } from '../procedures/level-map.js';
import { cellsFile, regionCells } from './commands/programming.js';
import { num } from './parse.js';

export interface SelectionFlags {
  cells?: string;
  region?: string;
  map?: string;
  array: number;
}

export function addSelectionFlags(c: Command, mapMeaning: string): Command {
  return c
    .option('--cells <file>', 'the cells to measure: row,col[,level] per line (CSV) or JSON [[row,col,level],...]')
    .option('--region <R0:R1,C0:C1>', 'the cells of this rectangle (inclusive)')
    .option('--map <file>', mapMeaning)
    .option('--array <N>', 'the array of --cells/--region/--map (fresh cells: the first array to use)', num('--array', { min: 0, int: true }), 0);
}

export interface Selection {
  cells: CellAddress[];
  /** Per cell, when the selection gives levels (a map, a cell list with levels). */
  levels?: number[];
  name: string;
}

/**
 * The selected cells, or undefined (fresh cells). `levels`: how many levels a map or list may
 * name (retention); `maskOnly`: a map selects its non-zero cells (iv, endurance).
 */
export function selectCells(f: SelectionFlags, info: BoardInfo, o: { levels: number; maskOnly: boolean }): Selection | undefined {
  if (f.cells && (f.region || f.map)) throw new InvalidArgumentError('--cells', f.cells, 'give --cells, or --region and/or --map, not both');
  if (!f.cells && !f.region && !f.map) return undefined;
  if (!Number.isInteger(f.array) || f.array < 0 || f.array >= info.arrays) throw new InvalidArgumentError('--array', f.array, `board has arrays 0..${info.arrays - 1}`);
  const at = (i: number): CellAddress => ({ array: f.array, row: Math.floor(i / info.cols), col: i % info.cols });
  if (f.cells) {
    const l = cellsFile(f.cells, info.rows, info.cols, o.levels);
    return { cells: l.cells.map(at), levels: l.levels ? l.cells.map((i) => l.levels!.get(i)!) : undefined, name: `cells ${f.cells}` };
  }
  const region = f.region ? new Set(regionCells(f.region, info.rows, info.cols)) : undefined;
  if (!f.map) {
    const idx = [...region!];
    return { cells: idx.map(at), name: `region ${f.region}` };
  }
  const map = readMapFile(f.map, o.maskOnly ? 256 : o.levels, info.rows, info.cols);
  const idx: number[] = [];
  for (let i = 0; i < map.length; i++) if ((!region || region.has(i)) && (!o.maskOnly || map[i] !== 0)) idx.push(i);
  if (!idx.length) throw new InvalidArgumentError('--map', f.map, o.maskOnly ? 'selects no cell (every entry 0)' : 'selects no cell');
  return { cells: idx.map(at), levels: o.maskOnly ? undefined : idx.map((i) => map[i]), name: `map ${f.map}${f.region ? ` in region ${f.region}` : ''}` };
}
