/**
 * Drift compensation (aihwkit's GlobalDriftCompensation, Joshi et al. 2020): right after
 * programming and again at inference time the periphery makes a reference read - every row
 * driven at the read voltage (input 1) - and scales what the array delivers by the ratio of the
 * two reads. The reference reads here are the physical column currents (each a sum of positive
 * cell currents, so the ratio is defined for every column, unlike the signed net output of a
 * differential pair), and the factor is a gain on those currents before the periphery combines
 * them: for diff and offset mappings with an ideal periphery that is aihwkit's output scaling;
 * for signed the fixed reference current is not scaled (it does not drift), and with an ADC the
 * gain sits ahead of it.
 *
 *  - global: one factor per layer, sum of all its cells at t = 0 over the sum at t;
 *  - column: one factor per physical column of the layer (its tiles' column currents summed).
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { Scheme } from './mapping.js';

export type DriftCompensation = 'none' | 'global' | 'column';
export const DRIFT_COMPENSATIONS: DriftCompensation[] = ['none', 'global', 'column'];

export function parseDriftCompensation(s: string): DriftCompensation {
  if ((DRIFT_COMPENSATIONS as string[]).includes(s)) return s as DriftCompensation;
  throw new InvalidArgumentError('drift-compensation', s, `must be one of ${DRIFT_COMPENSATIONS.join(', ')}`);
}

/** A layer's cells as physical columns: gp is rows x cols; gn is rows x cols (diff) or one offset column of `rows` cells (offset). */
export interface CompensatedLayer {
  scheme: Scheme;
  rows: number;
  cols: number;
}

const sum = (a: Float32Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
};

/** Ratio of the reference reads; 1 when the read at t carries no current (nothing to scale by). */
const ratio = (at0: number, atT: number): number => (atT > 0 && at0 > 0 ? at0 / atT : 1);

/**
 * Scales the cells read at t (`g`, `gn`) in place by the reference reads' ratio, the cells
 * read right after programming being `g0`, `gn0`.
 */
export function compensateDrift(mode: DriftCompensation, l: CompensatedLayer, g: Float32Array, gn: Float32Array | undefined, g0: Float32Array, gn0: Float32Array | undefined): void {
  if (mode === 'none') return;
  if (mode === 'global') {
    const a = ratio(sum(g0) + (gn0 ? sum(gn0) : 0), sum(g) + (gn ? sum(gn) : 0));
    scale(g, a);
    if (gn) scale(gn, a);
    return;
  }
  compensateColumns(l.rows, l.cols, g, g0);
  if (gn && gn0) {
    if (l.scheme === 'diff') compensateColumns(l.rows, l.cols, gn, gn0);
    else scale(gn, ratio(sum(gn0), sum(gn))); // the offset column
  }
}

function scale(a: Float32Array, f: number): void {
  if (f !== 1) for (let i = 0; i < a.length; i++) a[i] *= f;
}

/** Per column of a rows x cols block: its cells scaled by the column's reference read at t = 0 over at t. */
function compensateColumns(rows: number, cols: number, g: Float32Array, g0: Float32Array): void {
  const s0 = new Float64Array(cols);
  const s = new Float64Array(cols);
  for (let r = 0, i = 0; r < rows; r++)
    for (let c = 0; c < cols; c++, i++) {
      s0[c] += g0[i];
      s[c] += g[i];
    }
  const f = Float64Array.from(s, (v, c) => ratio(s0[c], v));
  for (let r = 0, i = 0; r < rows; r++) for (let c = 0; c < cols; c++, i++) g[i] *= f[c];
}
