/**
 * `rram twin`: the digital twin, falsifiable. The board's characterize run is repeated on the
 * emulator with a (fitted) calibration, exactly as it was programmed (config, level targets,
 * ISPVA gates, reads, relaxation times), with more cells than the board had; then per level the
 * two distributions of read current, final stepped voltage, pulses per cell and every relaxation
 * re-read are compared by the two-sample KS distance, each beside its critical value for the two
 * sample sizes (the distance sampling alone exceeds 5 % of the time), and the shares of cells
 * programmed by a two-proportion test. It cannot pass vacuously: a level with too few programmed
 * board cells, a twin that programs no cell or fewer than the board (beyond chance), fails. A
 * failing comparison names what would fix it (twin-guidance.ts).
 */
import type { Calibration } from '../../calibration/calibration.js';
import type { LevelCdfDataset } from '../procedures/characterize.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { ks, median, robustSigma } from './numeric.js';
import { replayCharacterize, type ReplayCell } from './simulate.js';
import { guidanceFor } from './twin-guidance.js';

export interface TwinRow {
  level: number;
  kind: 'hrs' | 'lrs';
  quantity: string;
  nBoard: number;
  nTwin: number;
  ks: number;
  /** KS distance two samples of these sizes exceed by chance 5 % of the time. */
  ksCritical: number;
  medianRatio: number;
  sigmaRatio: number;
  pass: boolean;
  /** Why it fails, when it does. */
  reason?: string;
}

export interface TwinShare {
  level: number;
  board: number;
  twin: number;
  nBoard: number;
  nTwin: number;
  /** Two-proportion z (positive: the twin programs fewer). */
  z: number;
  pass: boolean;
}

export interface TwinResult {
  format: 'rram-hil/twin';
  version: 2;
  against: string;
  calibration: string;
  factor: number;
  maxKs: number;
  minCells: number;
  rows: TwinRow[];
  /** Shares of cells programmed per level, board and twin. */
  programmed: TwinShare[];
  worstKs: number;
  /** Largest KS over its own critical value (1 = at the 5 % noise floor). */
  worstOverCritical: number;
  /** The critical value for the smallest judged sample (the noise floor of the test). */
  ksNoise: number;
  pass: boolean;
  /** For each failure: the level, the quantity, and the measurement or parameter that would fix it. */
  guidance: string[];
  /** Per level, read currents of the board and of the twin (for CDF overlays). */
  samples: { level: number; board_A: number[]; twin_A: number[] }[];
}

export interface TwinOptions {
  calibration: Calibration;
  against: LevelCdfDataset;
  /** Twin cells per board cell (default 4: the comparison's noise is then mostly the board's). */
  factor?: number;
  maxKs?: number;
  seed?: number;
  /** Compare with these board cells only (index within their level), e.g. a hold-out half. */
  keep?: (index: number) => boolean;
  /** A level with fewer programmed board cells than this cannot be judged: the twin fails. Default 10. */
  minCells?: number;
}

/** KS distance exceeded with probability 5 % by two samples of sizes n and m (asymptotic). */
export function ksCritical(n: number, m: number): number {
  return n > 0 && m > 0 ? 1.358 * Math.sqrt((n + m) / (n * m)) : NaN;
}

export async function twin(o: TwinOptions): Promise<TwinResult> {
  await Promise.resolve();
  const d = o.against;
  if (d.format !== 'rram-hil/level-cdf') throw new InvalidArgumentError('--against', d.runId, 'is not a characterize run (rram-hil/level-cdf)');
  const factor = o.factor ?? 4;
  const maxKs = o.maxKs ?? 0.2;
  const minCells = o.minCells ?? 10;
  const t = replayCharacterize(o.calibration, d, factor, o.seed ?? 7);
  const keep = o.keep ?? (() => true);
  const rows: TwinRow[] = [];
  const programmed: TwinShare[] = [];
  const samples: TwinResult['samples'] = [];
  const okCells = (cs: ReplayCell[]) => cs.filter((c) => c.status === 'ok');
  for (const [li, l] of d.levels.entries()) {
    const all = l.cells.filter((_, i) => keep(i));
    const bc = okCells(all);
    const tc = okCells(t[li]);
    programmed.push(share(l.spec.level, bc.length, all.length, tc.length, t[li].length));
    const cmp = (quantity: string, f: (c: ReplayCell) => number) => rows.push(compare(l.spec.level, l.spec.kind, quantity, bc.map(f).filter(Number.isFinite), tc.map(f).filter(Number.isFinite), maxKs, minCells));
    cmp('read current', (c) => c.current_A);
    cmp('final stepped voltage', (c) => c.finalStepped_V);
    cmp('pulses per cell', (c) => c.pulses);
    l.relax.forEach((r, j) => cmp(`re-read after ${r.t_s} s`, (c) => c.relax[j]?.current_A));
    samples.push({ level: l.spec.level, board_A: bc.map((c) => c.current_A), twin_A: tc.map((c) => c.current_A) });
  }
  const judged = rows.filter((r) => r.nBoard >= minCells && r.nTwin > 0);
  const worstKs = Math.max(0, ...rows.map((r) => (Number.isFinite(r.ks) ? r.ks : 1)));
  const worstOverCritical = Math.max(0, ...judged.map((r) => r.ks / r.ksCritical));
  const nb = Math.min(...judged.map((r) => r.nBoard));
  const pass = rows.length > 0 && rows.every((r) => r.pass) && programmed.every((p) => p.pass);
  return {
    format: 'rram-hil/twin',
    version: 2,
    against: d.runId,
    calibration: o.calibration.id,
    factor,
    maxKs,
    minCells,
    rows,
    programmed,
    worstKs,
    worstOverCritical,
    ksNoise: Number.isFinite(nb) ? ksCritical(nb, nb * factor) : NaN,
    pass,
    guidance: guidanceFor(rows, programmed, d),
    samples,
  };
}

function compare(level: number, kind: 'hrs' | 'lrs', quantity: string, a: number[], x: number[], maxKs: number, minCells: number): TwinRow {
  const k = ks(a, x);
  const base = { level, kind, quantity, nBoard: a.length, nTwin: x.length, ks: k, ksCritical: ksCritical(a.length, x.length), medianRatio: median(x) / median(a), sigmaRatio: robustSigma(x) / robustSigma(a) };
  if (a.length < minCells) return { ...base, pass: false, reason: `only ${a.length} programmed board cells (fewer than ${minCells}): cannot be judged` };
  if (!x.length) return { ...base, pass: false, reason: 'the twin programmed no cell at this level' };
  if (!(k <= maxKs)) return { ...base, pass: false, reason: `KS ${k.toFixed(3)} above --max-ks ${maxKs}` };
  return { ...base, pass: true };
}

/** Board vs twin share of cells programmed; fails when they differ beyond chance (|z| > 3), or the twin programs none. */
function share(level: number, okB: number, nB: number, okT: number, nT: number): TwinShare {
  const pb = nB ? okB / nB : NaN;
  const pt = nT ? okT / nT : NaN;
  const pool = (okB + okT) / Math.max(1, nB + nT);
  // A floor of half a cell's worth: identical shares of 100 % still carry sampling uncertainty.
  const v = Math.max(pool * (1 - pool), 0.5 / Math.max(1, nB + nT)) * (1 / Math.max(1, nB) + 1 / Math.max(1, nT));
  const z = (pb - pt) / Math.sqrt(v);
  return { level, board: pb, twin: pt, nBoard: nB, nTwin: nT, z, pass: okT > 0 && Number.isFinite(z) && Math.abs(z) <= 3 };
}
