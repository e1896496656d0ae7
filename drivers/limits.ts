import type { BoardInfo, CellAddress, FormPulse, ResetPulse, SafetyLimits, SetPulse } from './board.js';
import { AddressError, InvalidArgumentError, LimitError } from './errors.js';

/**
 * The DAC grid (docs/protocol.md, "Amplitudes"): an amplitude is sent and applied as the nearest
 * multiple of the board's DAC step (halves round up), computed in integer microvolts so host and
 * board agree to the bit. Limits are checked on the rounded value.
 */
export function onGrid(v: number, step_V: number): number {
  const stepUV = Math.round(step_V * 1e6);
  const vUV = Math.round(v * 1e6);
  if (!(stepUV > 0)) return vUV / 1e6;
  return (Math.round(vUV / stepUV) * stepUV) / 1e6;
}
/** The grid value nearest v that is not above max: a board whose limit is off the DAC grid rounds down, never past it. */
export function onGridAtMost(v: number, max: number, step_V: number): number {
  const g = onGrid(Math.min(v, max), step_V);
  const stepUV = Math.round(step_V * 1e6);
  return g <= max + 1e-12 || !(stepUV > 0) ? g : (Math.round(g * 1e6) - stepUV) / 1e6;
}
export function setOnGrid<P extends SetPulse | FormPulse>(p: P, step_V: number): P {
  return { ...p, vte_V: onGrid(p.vte_V, step_V), vg_V: onGrid(p.vg_V, step_V) };
}
export function resetOnGrid(p: ResetPulse, step_V: number): ResetPulse {
  return { ...p, vsl_V: onGrid(p.vsl_V, step_V), vg_V: onGrid(p.vg_V, step_V) };
}

function finite(field: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidArgumentError(field, v, 'must be a finite number');
}

function within(field: string, v: number, min: number, max: number): void {
  finite(field, v);
  if (v > max) throw new LimitError(field, v, max, 'max');
  if (v < min) throw new LimitError(field, v, min, 'min');
}

export function checkIndex(field: string, v: number, n: number): void {
  if (!Number.isInteger(v)) throw new InvalidArgumentError(field, v, 'must be an integer');
  if (v < 0 || v >= n) throw new AddressError(field, v, n);
}

export function checkCell(info: Pick<BoardInfo, 'arrays' | 'rows' | 'cols'>, c: CellAddress): void {
  checkIndex('array', c.array, info.arrays);
  checkIndex('row', c.row, info.rows);
  checkIndex('col', c.col, info.cols);
}

export function checkSetPulse(l: SafetyLimits, p: SetPulse | FormPulse): void {
  within('vte_V', p.vte_V, 0, l.vte_max_V);
  within('vg_V', p.vg_V, 0, l.vg_max_V);
  within('width_s', p.width_s, l.width_min_s, l.width_max_s);
}

export function checkResetPulse(l: SafetyLimits, p: ResetPulse): void {
  within('vsl_V', p.vsl_V, 0, l.vsl_max_V);
  within('vg_V', p.vg_V, 0, l.vg_max_V);
  within('width_s', p.width_s, l.width_min_s, l.width_max_s);
}

export function checkRead(l: SafetyLimits, vread_V: number): void {
  within('vread_V', vread_V, 0, l.vread_max_V);
}

/** The stricter of two limit sets (user safety profile over hardware ranges, QCoDeS #230). */
export function tighten(a: SafetyLimits, b: Partial<SafetyLimits>): SafetyLimits {
  return {
    vte_max_V: Math.min(a.vte_max_V, b.vte_max_V ?? Infinity),
    vsl_max_V: Math.min(a.vsl_max_V, b.vsl_max_V ?? Infinity),
    vg_max_V: Math.min(a.vg_max_V, b.vg_max_V ?? Infinity),
    vread_max_V: Math.min(a.vread_max_V, b.vread_max_V ?? Infinity),
    width_min_s: Math.max(a.width_min_s, b.width_min_s ?? 0),
    width_max_s: Math.min(a.width_max_s, b.width_max_s ?? Infinity),
  };
}
