/** Level maps: which level each cell of an array gets (a file, or a named pattern). */
import { parseFile, parseJsonText } from '../io/validate.js';
import { LevelMapJson } from '../io/schemas/level-map.js';
import { readFileSync } from 'node:fs';
import { DataError, InvalidArgumentError } from '../../drivers/errors.js';
import { Rng } from '../../lib/rng.js';
import { parseNumberTable } from '../io/number-table.js';

export type LevelMap = Uint8Array; // row-major rows*cols

export function patternMap(name: string, levels: number, rows: number, cols: number, seed = 1): LevelMap {
  const m = new Uint8Array(rows * cols);
  const rng = new Rng(seed);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      if (name === 'random') m[i] = rng.int(levels);
      else if (name === 'checkerboard') m[i] = (r + c) % 2 === 0 ? 0 : levels - 1;
      else if (name === 'stripes') m[i] = c % levels;
      else throw new InvalidArgumentError('--map', name, 'must be a file or one of random, checkerboard, stripes');
    }
  return m;
}

/** CSV (rows of comma-separated level numbers, csv-parse, every field strict) or JSON ({"levels": number[][]} or number[][]). */
export function readMapFile(file: string, levels: number, rows: number, cols: number): LevelMap {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DataError(file, `cannot read level map: ${(e as Error).message}`);
  }
  let grid: unknown;
  if (file.endsWith('.json')) {
    const j = parseFile(LevelMapJson, parseJsonText(text, file), file);
    grid = Array.isArray(j) ? j : j.levels;
  } else grid = parseNumberTable(text, file, { fields: cols }).map((r) => r.values);
  if (!Array.isArray(grid) || grid.length !== rows) throw new DataError(file, `expected ${rows} rows, got ${Array.isArray(grid) ? grid.length : typeof grid}`);
  const m = new Uint8Array(rows * cols);
  grid.forEach((row: unknown, r: number) => {
    if (!Array.isArray(row) || row.length !== cols) throw new DataError(file, `row ${r}: expected ${cols} values`);
    row.forEach((v: unknown, c: number) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= levels) throw new DataError(file, `row ${r} col ${c}: level ${JSON.stringify(v)} is not an integer in 0..${levels - 1}`);
      m[r * cols + c] = v;
    });
  });
  return m;
}
