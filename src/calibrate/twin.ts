/**
 * `rram twin`: the digital twin, falsifiable. The board's characterize run is repeated on the
 * emulator with a (fitted) calibration, exactly as it was programmed (config, level targets,
 * ISPVA gates, reads, relaxation times), with more cells than the board had so the comparison's
 * noise is the board's; then per level the two distributions of read current, final stepped
 * voltage, pulses per cell and every relaxation re-read are compared: two-sample KS distance and
 * the twin's median and robust sigma over the board's.
 */
import type { Calibration } from '../../calibration/calibration.js';
import type { LevelCdfDataset } from '../procedures/characterize.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { ks, median, robustSigma } from './numeric.js';
import { replayCharacterize, type ReplayCell } from './simulate.js';

export interface TwinRow {
  level: number;
  quantity: string;
  nBoard: number;
  nTwin: number;
  ks: number;
  medianRatio: number;
  sigmaRatio: number;
  pass: boolean;
}

export interface TwinResult {
  format: 'rram-hil/twin';
  version: 1;
  against: string;
  calibration: string;
  factor: number;
  maxKs: number;
  rows: TwinRow[];
  worstKs: number;
  /** KS distance two samples of these sizes exceed by chance 5 % of the time (the noise floor of the test). */
  ksNoise: number;
  pass: boolean;
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
  /** Levels with fewer programmed board cells than this are reported, not judged. Default 10. */
  minCells?: number;
}

export async function twin(o: TwinOptions): Promise<TwinResult> {
  await Promise.resolve();
  const d = o.against;
  if (d.format !== 'rram-hil/level-cdf') throw new InvalidArgumentError('--against', d.runId, 'is not a characterize run (rram-hil/level-cdf)');
  const factor = o.factor ?? 4;
  const maxKs = o.maxKs ?? 0.2;
  const t = replayCharacterize(o.calibration, d, factor, o.seed ?? 7);
  const keep = o.keep ?? (() => true);
  const rows: TwinRow[] = [];
  const samples: TwinResult['samples'] = [];
  const okCells = <C extends ReplayCell>(cs: C[], k: (i: number) => boolean) => cs.filter((c, i) => c.status === 'ok' && k(i));
  for (const [li, l] of d.levels.entries()) {
    const bc = okCells(l.cells, keep);
    const tc = okCells(t[li], () => true);
    const cmp = (quantity: string, f: (c: ReplayCell) => number) => {
      const a = bc.map(f).filter(Number.isFinite);
      const x = tc.map(f).filter(Number.isFinite);
      const k = ks(a, x);
      const judged = a.length >= (o.minCells ?? 10);
      rows.push({ level: l.spec.level, quantity, nBoard: a.length, nTwin: x.length, ks: k, medianRatio: median(x) / median(a), sigmaRatio: robustSigma(x) / robustSigma(a), pass: !judged || k <= maxKs });
    };
    cmp('read current', (c) => c.current_A);
    cmp('final stepped voltage', (c) => c.finalStepped_V);
    cmp('pulses per cell', (c) => c.pulses);
    l.relax.forEach((r, j) => cmp(`re-read after ${r.t_s} s`, (c) => c.relax[j]?.current_A));
    samples.push({ level: l.spec.level, board_A: bc.map((c) => c.current_A), twin_A: tc.map((c) => c.current_A) });
  }
  const judged = rows.filter((r) => r.nBoard >= (o.minCells ?? 10));
  const worstKs = Math.max(0, ...judged.map((r) => r.ks).filter(Number.isFinite));
  const nb = Math.min(...judged.map((r) => r.nBoard));
  const ksNoise = 1.36 * Math.sqrt(1 / nb + 1 / (nb * factor));
  return { format: 'rram-hil/twin', version: 1, against: d.runId, calibration: o.calibration.id, factor, maxKs, rows, worstKs, ksNoise, pass: rows.every((r) => r.pass), samples };
}
