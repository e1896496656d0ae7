/**
 * IR drop: the resistance of the row and column wires between the cells (docs/array-effects.md).
 * Each tile is a tile x tile crossbar whose rows are driven from the left edge (column 0 side) and
 * whose columns are held at virtual ground by their sense amplifiers below the last row; every wire
 * segment between neighbouring cells (and from the driver to the first cell, from the last row to
 * the sense amplifier) has resistance r. The network is solved node by node (Kirchhoff) for the
 * reference input - every row driven at the read voltage - and each cell's weight is then its
 * current in that solution over the read voltage: an input-independent effective conductance (the
 * row drops scale exactly with a row's own input; the column drops of a sparser input are smaller,
 * so this is the worst case).
 *
 * Solver: lib/crossbar-solver.ts, the same nodal solution the emulated board's MVM uses.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { CompensatedLayer } from './drift-compensation.js';
import { solveCrossbar, wireDrops } from '../../lib/crossbar-solver.js';

export interface WireOptions {
  /** Per segment between neighbouring cells (ohm). */
  resistance_ohm: number;
  /** The read voltage the cell values (read currents, A) were measured at. */
  vread_V: number;
  /** Crossbar side: the wires' length (the layer is cut into tile x tile blocks from its first row and column). */
  tile: number;
}

/** Largest wire resistance per segment accepted (a 1T1R line is a few ohm per cell). */
export const MAX_WIRE_OHM = 1000;

export function checkWire(w: WireOptions): void {
  if (!(w.resistance_ohm >= 0 && w.resistance_ohm <= MAX_WIRE_OHM)) throw new InvalidArgumentError('wire-resistance', w.resistance_ohm, `must be an ohm value in 0..${MAX_WIRE_OHM}`);
}

/**
 * Cell currents of one tile block (rows x cols used, row-major, A at vread) with the wires:
 * returns them in place, and the first-order worst relative drop. `firstOrder` stops at the
 * first-order approximation (tests compare it with the hand calculation); otherwise the network
 * is solved by the shared nodal solver (lib/crossbar-solver.ts), every row at vread.
 */
export function solveTile(I: Float64Array, rows: number, cols: number, tile: number, r_ohm: number, vread_V: number, firstOrder = false): number {
  if (r_ohm === 0) return 0;
  const G = Float64Array.from(I, (v) => v / vread_V);
  const drop = new Float64Array(I.length);
  wireDrops(I, rows, cols, tile - rows, r_ohm, drop);
  let s = 0;
  for (let i = 0; i < I.length; i++) s = Math.max(s, drop[i] / vread_V);
  if (firstOrder) {
    for (let i = 0; i < I.length; i++) I[i] = G[i] * (vread_V - drop[i]);
    return s;
  }
  const sol = solveCrossbar({ rows, cols, G, V: new Float64Array(rows).fill(vread_V), r_ohm, extraBelow: tile - rows });
  if (!sol.converged) throw new InvalidArgumentError('wire-resistance', r_ohm, `the crossbar solver did not converge (relative residual ${sol.residual.toExponential(2)} after ${sol.steps} steps)`);
  I.set(sol.cells);
  return s;
}

/** Where physical cell (row, physical column) of a layer lives: gp or gn, and its index (tiling.ts's layout). */
function cellAt(l: CompensatedLayer, r: number, pc: number): [0 | 1, number] {
  if (l.scheme === 'diff') return [(pc & 1) as 0 | 1, r * l.cols + (pc >> 1)];
  if (l.scheme === 'offset' && pc === l.cols) return [1, r];
  return [0, r * l.cols + pc];
}

/** Physical columns of a layer. */
const physCols = (l: CompensatedLayer): number => (l.scheme === 'diff' ? 2 * l.cols : l.scheme === 'offset' ? l.cols + 1 : l.cols);

/**
 * A layer's cell currents (gp, gn as the mapping holds them) replaced in place by what each cell
 * delivers through the wires; returns the largest share of its current any cell loses.
 */
export function applyIrDrop(l: CompensatedLayer, gp: Float32Array, gn: Float32Array | undefined, w: WireOptions): number {
  if (w.resistance_ohm === 0) return 0;
  const arrays = [gp, gn ?? gp];
  const pcs = physCols(l);
  let worst = 0;
  for (let row0 = 0; row0 < l.rows; row0 += w.tile) {
    for (let col0 = 0; col0 < pcs; col0 += w.tile) {
      const rows = Math.min(w.tile, l.rows - row0);
      const cols = Math.min(w.tile, pcs - col0);
      const I = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) {
          const [a, i] = cellAt(l, row0 + r, col0 + c);
          I[r * cols + c] = arrays[a][i];
        }
      solveTile(I, rows, cols, w.tile, w.resistance_ohm, w.vread_V);
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) {
          const [a, i] = cellAt(l, row0 + r, col0 + c);
          if (arrays[a][i] > 0) worst = Math.max(worst, 1 - I[r * cols + c] / arrays[a][i]);
          arrays[a][i] = I[r * cols + c];
        }
    }
  }
  return worst;
}
