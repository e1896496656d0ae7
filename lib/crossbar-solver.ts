/**
 * The crossbar with resistive wires, solved by nodal analysis (docs/array-effects.md, "IR drop").
 * One shared solver for the emulated board's analog MVM (drivers/emulated/) and the Monte Carlo's
 * `--wire-resistance` (src/inference/ir-drop.ts), so a prediction and the board solve the same
 * network.
 *
 * The network: rows x cols cells of conductance G (row-major). Row i is driven at V[i] from its
 * left end, through one wire segment of resistance r to column 0 and one between neighbouring
 * columns; every column is held at 0 V by its sense amplifier below the last row, through one
 * segment per row pitch plus `extraBelow` more segments (a tile that uses fewer rows than its
 * array's wires are long). Each wire is a chain, so its node voltages follow from the cell
 * currents I alone: the voltage cell a loses is r (A I)_a, where (A I)_a sums the current of every
 * segment on a's path (row segments 0..j carry the cells at or beyond them, the column segments
 * below the cell the cells above them). Kirchhoff's laws are then exactly
 *     I = D (V - r A I),   D = diag(G),
 * and with I = D^1/2 z the system (1 + r D^1/2 A D^1/2) z = D^1/2 V is symmetric positive definite
 * (A is a Gram matrix of path incidences), with eigenvalues in [1, 1 + s], s <= the largest
 * first-order relative drop. Conjugate gradients solve it in O(sqrt(1 + s) log(1/tol)) steps of
 * O(cells) each; tolerance: the residual's norm below TOLERANCE times the right side's.
 */

/** Relative residual at which the solution is accepted. */
export const TOLERANCE = 1e-10;
/** Most conjugate-gradient steps (a 64x64 array of 1 mS cells at 100 ohm needs ~100). */
export const MAX_STEPS = 5000;

export interface CrossbarProblem {
  rows: number;
  cols: number;
  /** Cell conductances (S), row-major, >= 0. */
  G: ArrayLike<number>;
  /** Row drive voltages (V), one per row. */
  V: ArrayLike<number>;
  /** Resistance of one wire segment (ohm), >= 0. */
  r_ohm: number;
  /** Column wire segments below the last row besides the one from it (default 0). */
  extraBelow?: number;
}

export interface CrossbarSolution {
  /** Every cell's current (A), row-major, positive from row to column. */
  cells: Float64Array;
  /** Current into each column's sense amplifier (A). */
  columns: Float64Array;
  steps: number;
  /** Final relative residual (0 without wires). */
  residual: number;
  converged: boolean;
}

/** Solves the crossbar; with r = 0 the ideal product sum_i V_i G_ij, exactly. */
export function solveCrossbar(p: CrossbarProblem): CrossbarSolution {
  const { rows, cols, G, V, r_ohm: r } = p;
  const n = rows * cols;
  const cells = new Float64Array(n);
  if (r === 0) {
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) cells[i * cols + j] = V[i] * G[i * cols + j];
    return { cells, columns: columnSums(cells, rows, cols), steps: 0, residual: 0, converged: true };
  }
  const sq = Float64Array.from({ length: n }, (_, a) => Math.sqrt(G[a]));
  const b = new Float64Array(n);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) b[i * cols + j] = sq[i * cols + j] * V[i];
  const mul = operator(rows, cols, r, p.extraBelow ?? 0, sq);
  const { z, steps, residual } = conjugateGradient(mul, b);
  for (let a = 0; a < n; a++) cells[a] = sq[a] * z[a];
  return { cells, columns: columnSums(cells, rows, cols), steps, residual, converged: residual <= TOLERANCE };
}

function columnSums(cells: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j] += cells[i * cols + j];
  return out;
}

/** z -> (1 + r D^1/2 A D^1/2) z. */
function operator(rows: number, cols: number, r: number, extraBelow: number, sq: Float64Array): (z: Float64Array, out: Float64Array) => void {
  const y = new Float64Array(rows * cols);
  const drop = new Float64Array(rows * cols);
  return (z, out) => {
    for (let a = 0; a < y.length; a++) y[a] = sq[a] * z[a];
    wireDrops(y, rows, cols, extraBelow, r, drop);
    for (let a = 0; a < y.length; a++) out[a] = z[a] + sq[a] * drop[a];
  };
}

/**
 * The voltage each cell loses to the wires (its row wire from the driver, its column wire to the
 * sense amplifier) when the cells carry currents I: r (A I).
 */
export function wireDrops(I: ArrayLike<number>, rows: number, cols: number, extraBelow: number, r: number, out: Float64Array): void {
  // Row i: segment k (driver side of cell k) carries the currents of cells k..cols-1.
  for (let i = 0; i < rows; i++) {
    let suffix = 0;
    for (let k = 0; k < cols; k++) suffix += I[i * cols + k];
    let acc = 0;
    for (let k = 0; k < cols; k++) {
      acc += suffix;
      out[i * cols + k] = r * acc;
      suffix -= I[i * cols + k];
    }
  }
  // Column j: the segment below row s carries the currents of rows 0..s; the extra segments below the last row all of them.
  for (let j = 0; j < cols; j++) {
    let total = 0;
    for (let i = 0; i < rows; i++) total += I[i * cols + j];
    let acc = extraBelow * total;
    let prefix = total;
    for (let i = rows - 1; i >= 0; i--) {
      acc += prefix;
      out[i * cols + j] += r * acc;
      prefix -= I[i * cols + j];
    }
  }
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k] * b[k];
  return s;
}

/** Conjugate gradients on an SPD operator, from z = b (the solution without wires). */
function conjugateGradient(mul: (z: Float64Array, out: Float64Array) => void, b: Float64Array): { z: Float64Array; steps: number; residual: number } {
  const n = b.length;
  const z = Float64Array.from(b);
  const res = new Float64Array(n);
  const q = new Float64Array(n);
  mul(z, q);
  for (let k = 0; k < n; k++) res[k] = b[k] - q[k];
  const bn = Math.sqrt(dot(b, b));
  if (bn === 0) return { z, steps: 0, residual: 0 };
  const d = Float64Array.from(res);
  let rr = dot(res, res);
  let steps = 0;
  while (Math.sqrt(rr) > TOLERANCE * bn && steps < MAX_STEPS) {
    mul(d, q);
    const alpha = rr / dot(d, q);
    for (let k = 0; k < n; k++) {
      z[k] += alpha * d[k];
      res[k] -= alpha * q[k];
    }
    const next = dot(res, res);
    const beta = next / rr;
    rr = next;
    for (let k = 0; k < n; k++) d[k] = res[k] + beta * d[k];
    steps++;
  }
  return { z, steps, residual: Math.sqrt(rr) / bn };
}
