/**
 * What every part of the preflight (program-setup.ts) shares: the limits in force, the board's DAC
 * step, the calibration's values, and the three lists the parts fill: problems (refused together),
 * notes (what was adapted to the board) and sources (where each value came from).
 */
import type { SafetyLimits } from '../../drivers/board.js';
import { onGrid } from '../../drivers/limits.js';
import type { CalValues, Calibration } from '../../calibration/calibration.js';
import { values } from '../../calibration/calibration.js';

export const Phi = (z: number) => 0.5 * (1 + erf(z / Math.SQRT2));
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}
export const uA = (a: number) => `${+(a * 1e6).toFixed(2)} uA`;
export const V = (v: number) => `${+v.toFixed(4)} V`;

export class SetupContext {
  readonly problems: string[] = [];
  readonly notes: string[] = [];
  readonly sources: Record<string, string> = {};
  /** The calibration's values, when the board's calibration is known. */
  readonly p?: CalValues;

  constructor(
    readonly L: SafetyLimits,
    readonly dac: number,
    readonly minSuccess: number,
    readonly cal?: Calibration,
  ) {
    this.p = cal ? values(cal) : undefined;
  }

  /** The user's value, else a default capped by a limit (noted when the cap bites). */
  pick(name: string, user: number | undefined, def: number, cap?: { value: number; what: string }): number {
    if (user !== undefined) {
      this.sources[name] = 'user';
      return user;
    }
    if (cap && cap.value < def) {
      this.sources[name] = 'board';
      this.notes.push(`${name} ${V(cap.value)} (the ${cap.what}; default ${V(def)})`);
      return cap.value;
    }
    this.sources[name] = 'default';
    return def;
  }

  /** A problem when v, on the DAC grid, is above the limit. */
  within(name: string, v: number, max: number, what: string): void {
    if (onGrid(v, this.dac) > max + 1e-12) this.problems.push(`${name}=${V(v)} is above the ${what} ${V(max)}`);
  }

  /** A problem when a step is not a whole (non-zero) number of DAC steps. */
  onStep(name: string, v: number): void {
    const k = v / this.dac;
    if (Math.abs(k - Math.round(k)) > 1e-6 || Math.round(k) < 1) this.problems.push(`${name}=${V(v)} is not a whole multiple of the board's DAC step ${V(this.dac)}: the steps would be uneven or zero`);
  }
}
