/**
 * What a characterize run says about a board, as statistics computed the same way on the
 * board's cells and on a replay's (indirect inference matches them; fit-characterize.ts):
 *  - per LRS level: the final gate (transfer position; spread: device-to-device), the verify read
 *    that ended the climb (overshoot, cycle-to-cycle spread), read-back minus verify (relaxation
 *    between the two), the spread within a cell's K read-backs (read noise; its tail share and
 *    rms over median: random-telegraph noise), each re-read minus the read-back (relaxation), the
 *    pulses before the climb (forming and the reset-verify), the share of cells programmed;
 *  - at the HRS level: the final VSL, the log read-back, the forming pulses (pulses minus the
 *    reset-verify's), relaxation and read noise as above.
 * Means and spreads are trimmed (5 % each side): a few cells off the bulk (a post-verify tail, an
 * RTN cell) move a plain mean or SD far more than the KS distance the twin judges.
 */
import type { LevelSpec } from '../analysis/levels.js';
import type { ProgramConfig } from '../plans/program-cell.js';
import { Rng } from '../../lib/rng.js';
import type { ReplayCell } from './simulate.js';

/** A cell as the statistics see it: a board's CellRecord and a replay's cell both are one. */
export type StatCell = ReplayCell;

export type StatGroup = 'transfer' | 'c2c' | 'reads' | 'relaxation' | 'hrs' | 'forming' | 'yield';

export interface StatDef {
  name: string;
  /** Index of the level in the run. */
  level: number;
  group: StatGroup;
  unit: string;
  /** Needs the read-backs (a replay of the programming alone cannot give it). */
  reads: boolean;
  /** Computed from the level's cells (all of them; `ok` ones are picked inside). */
  of: (cells: StatCell[]) => number;
}

const sortedFinite = (xs: number[]) => xs.filter(Number.isFinite).sort((a, b) => a - b);
function trimmed(xs: number[]): number[] {
  const s = sortedFinite(xs);
  const k = Math.floor(s.length * 0.05);
  return s.slice(k, s.length - k);
}
export function trimmedMean(xs: number[]): number {
  const t = trimmed(xs);
  return t.length ? t.reduce((a, x) => a + x, 0) / t.length : NaN;
}
/** SD of the 5 %-winsorized sample (the tails pulled in to the 5 % and 95 % points). */
export function winsorSd(xs: number[]): number {
  const s = sortedFinite(xs);
  const n = s.length;
  if (n < 3) return NaN;
  const k = Math.floor(n * 0.05);
  const w = s.map((x) => Math.min(s[n - 1 - k], Math.max(s[k], x)));
  const m = w.reduce((a, x) => a + x, 0) / n;
  return Math.sqrt(w.reduce((a, x) => a + (x - m) ** 2, 0) / (n - 1));
}
function quantileOf(xs: number[], q: number): number {
  const s = sortedFinite(xs);
  if (!s.length) return NaN;
  const h = (s.length - 1) * q;
  const i = Math.floor(h);
  return s[i] + (h - i) * ((s[Math.min(i + 1, s.length - 1)] ?? s[i]) - s[i]);
}
const within = (c: StatCell) => {
  const r = c.reads_A.filter(Number.isFinite);
  if (r.length < 2) return NaN;
  const m = r.reduce((a, x) => a + x, 0) / r.length;
  return r.reduce((a, x) => a + (x - m) ** 2, 0) / (r.length - 1);
};
const ok = (cs: StatCell[]) => cs.filter((c) => c.status === 'ok');

/** The statistics a run supports (levels with at least minCells programmed cells), with their definitions. */
export function characterizeStatDefs(levels: { spec: LevelSpec; cells: StatCell[] }[], cfg: ProgramConfig, reads: number, relaxTimes: number[], minCells: number): StatDef[] {
  const defs: StatDef[] = [];
  const igvvaPulses = (c: StatCell) => Math.round((c.finalStepped_V - cfg.igvva.vgStart_V) / cfg.igvva.vgStep_V) + 1;
  const resetPulses = (c: StatCell) => Math.round((c.finalStepped_V - cfg.reset.vslStart_V) / cfg.reset.vslStep_V) + 1;
  let needsReads = false;
  const add = (level: number, group: StatGroup, name: string, unit: string, f: (cs: StatCell[]) => number) => defs.push({ level, group, name, unit, reads: needsReads, of: (cs) => f(ok(cs)) });
  const spreadPair = (k: number, group: StatGroup, what: string, unit: string, v: (c: StatCell) => number) => {
    add(k, group, `${what} mean`, unit, (cs) => trimmedMean(cs.map(v)));
    add(k, group, `${what} spread`, unit, (cs) => winsorSd(cs.map(v)));
  };
  const logOf = (v: (c: StatCell) => number) => (c: StatCell) => Math.log(Math.max(1e-10, v(c)));
  const logPair = (k: number, group: StatGroup, what: string, v: (c: StatCell) => number) => {
    add(k, group, `${what} log median`, '1', (cs) => quantileOf(cs.map(logOf(v)), 0.5));
    add(k, group, `${what} log spread`, '1', (cs) => (quantileOf(cs.map(logOf(v)), 0.84) - quantileOf(cs.map(logOf(v)), 0.16)) / 2);
  };
  levels.forEach((l, k) => {
    if (ok(l.cells).length < minCells) return;
    needsReads = false;
    const hrs = l.spec.kind === 'hrs';
    const L = `L${l.spec.level}`;
    if (!hrs) {
      spreadPair(k, 'transfer', `${L} final gate`, 'V', (c) => c.finalStepped_V);
      spreadPair(k, 'c2c', `${L} verify read`, 'A', (c) => c.verify_A);
      spreadPair(k, 'forming', `${L} pulses before the climb`, '1', (c) => c.preClimbPulses ?? c.pulses - igvvaPulses(c));
    } else {
      spreadPair(k, 'hrs', `${L} final VSL`, 'V', (c) => c.finalStepped_V);
      logPair(k, 'hrs', `${L} verify read`, (c) => c.verify_A);
      spreadPair(k, 'forming', `${L} forming pulses`, '1', (c) => c.pulses - resetPulses(c));
    }
    defs.push({ level: k, group: 'yield', name: `${L} share programmed`, unit: '1', reads: false, of: (cs) => (cs.length ? ok(cs).length / cs.length : NaN) });
    needsReads = true;
    if (hrs) logPair(k, 'hrs', `${L} read-back`, (c) => c.current_A);
    spreadPair(k, 'relaxation', `${L} read-back - verify`, 'A', (c) => c.current_A - c.verify_A);
    if (reads >= 2) {
      add(k, 'reads', `${L} read spread within cells (median)`, 'A', (cs) => Math.sqrt(quantileOf(cs.map(within), 0.5)));
      add(k, 'reads', `${L} read spread within cells (rms)`, 'A', (cs) => Math.sqrt(trimmedMeanAll(cs.map(within))));
    }
    relaxTimes.forEach((t, j) => spreadPair(k, 'relaxation', `${L} re-read after ${t} s - read-back`, 'A', (c) => c.relax[j]?.current_A - c.current_A));
  });
  return defs;
}

/** Mean over the finite values (no trimming: the tail is what this statistic is for), capped at the 99th percentile. */
function trimmedMeanAll(xs: number[]): number {
  const s = sortedFinite(xs);
  if (!s.length) return NaN;
  const cap = s[Math.floor(0.99 * (s.length - 1))];
  return s.reduce((a, x) => a + Math.min(x, cap), 0) / s.length;
}

export function evalStats(defs: StatDef[], levels: StatCell[][]): number[] {
  return defs.map((d) => d.of(levels[d.level] ?? []));
}

/** Bootstrap standard errors over each level's cells (resampled within the level). */
export function statErrors(defs: StatDef[], levels: StatCell[][], reps = 64, seed = 11): number[] {
  const rng = new Rng(seed);
  const draws: number[][] = defs.map(() => []);
  for (let r = 0; r < reps; r++) {
    const res = levels.map((cs) => Array.from({ length: cs.length }, () => cs[rng.int(cs.length)]));
    defs.forEach((d, i) => draws[i].push(d.of(res[d.level] ?? [])));
  }
  return draws.map((v) => {
    const f = v.filter(Number.isFinite);
    const m = f.reduce((a, x) => a + x, 0) / Math.max(1, f.length);
    return Math.sqrt(f.reduce((a, x) => a + (x - m) ** 2, 0) / Math.max(1, f.length - 1));
  });
}
