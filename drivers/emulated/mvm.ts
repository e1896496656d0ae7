/**
 * The emulated board's analog MVM (docs/protocol.md, "MVM"; docs/array-effects.md): the tile's
 * rows driven at the input voltages, every other row of the array at 0 V, every column of the
 * array at virtual ground; each cell conducts the conductance the device model gives at its row's
 * voltage (one sensing: read noise drawn, I-V curvature at that voltage); the wires of the whole
 * array (resistance per segment, lib/crossbar-solver.ts) between the drivers, the cells and the
 * sense amplifiers; then the optional column ADC. Knows the cell model, not the protocol.
 */
import type { MvmTile } from '../board.js';
import { solveCrossbar } from '../../lib/crossbar-solver.js';
import { RramError } from '../errors.js';
import type { CellArrayModel } from './cell-model.js';

export interface MvmPeriphery {
  /** Resistance of one wire segment (ohm); 0 = ideal wires. */
  wire_ohm: number;
  /** Column ADC: bits (0 = none: the solved currents) and full scale (A). */
  adcBits: number;
  adcFullScale_A: number;
}

/**
 * The ADC: unsigned, 2^bits codes from 0 to full scale (LSB = full scale / (2^bits - 1)), round
 * to nearest; below 0 reads 0, above full scale reads full scale.
 */
export function adc(i_A: number, p: MvmPeriphery): number {
  if (p.adcBits === 0) return i_A;
  const lsb = p.adcFullScale_A / (2 ** p.adcBits - 1);
  return Math.min(p.adcFullScale_A, Math.max(0, Math.round(i_A / lsb) * lsb));
}

/** One input vector (tile.rows voltages) on an array of rows x cols cells: the tile's column currents. */
export function mvmVector(model: CellArrayModel, geom: { rows: number; cols: number }, t: MvmTile, v: ArrayLike<number>, p: MvmPeriphery, now: number): Float64Array {
  const out = new Float64Array(t.cols);
  if (p.wire_ohm === 0) {
    // Ideal wires: only the tile's cells carry current, each at its own row's voltage.
    for (let i = 0; i < t.rows; i++) {
      const base = (t.row0 + i) * geom.cols + t.col0;
      // A row at 0 V carries no current (ReLU outputs and image backgrounds: most rows of a net's inputs).
      if (v[i] === 0) model.countReads(base, t.cols);
      else for (let j = 0; j < t.cols; j++) out[j] += v[i] * model.readConductance(base + j, v[i], now);
    }
  } else {
    const { rows, cols } = geom;
    const V = new Float64Array(rows);
    for (let i = 0; i < t.rows; i++) V[t.row0 + i] = v[i];
    const G = new Float64Array(rows * cols);
    for (let a = 0; a < G.length; a++) G[a] = model.readConductance(a, V[Math.floor(a / cols)], now);
    const sol = solveCrossbar({ rows, cols, G, V, r_ohm: p.wire_ohm });
    if (!sol.converged) throw new RramError('DATA', `MVM: the crossbar solver did not converge (relative residual ${sol.residual.toExponential(2)} after ${sol.steps} steps)`);
    for (let j = 0; j < t.cols; j++) out[j] = sol.columns[t.col0 + j];
  }
  for (let j = 0; j < t.cols; j++) out[j] = adc(out[j], p);
  return out;
}
