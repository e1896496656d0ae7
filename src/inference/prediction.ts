/**
 * Predictions that can contain the measurement (issue 19). Before programming, the Monte Carlo
 * draws not only each device from the measured level distributions but, per trial, the
 * distributions themselves (a bootstrap of the level-CDF's cells) and the share of cells that end
 * not programmed (a Beta posterior from every count seen so far); the interval's width is split
 * into what each source adds. After programming, the read-back's percentile in that prediction is
 * reported beside a posterior prediction: the cells the run left unprogrammed fixed to what they
 * read, the others drawn as before.
 */
import type { FailureModel, DeviceModel, OutcomeCounts } from './device-models.js';
import { ARRAY_SIDE, type MappedLayer } from './mapping.js';
import { UNUSED, valuesFromTiles, type Tile } from './tiling.js';
import { std } from '../analysis/stats.js';
import type { AccuracySummary, McResult } from './monte-carlo.js';

export interface PredictionReport {
  trials: number;
  summary: AccuracySummary;
  /** 5-95 % interval of the predicted accuracy and its width. */
  interval: [number, number];
  width: number;
  /** Share of the predicted accuracies below the read-back (ties count half). */
  readbackPercentile: number;
  inside: boolean;
}

export interface WidthShares {
  /** Variance of the predicted accuracy with each source added in turn: devices drawn from fixed distributions and failure rates ... */
  devices: number;
  /** ... plus the uncertainty of the measured distributions (bootstrap) ... */
  measuredDistributions: number;
  /** ... plus the uncertainty of the failure rates (Beta posterior). */
  failureRates: number;
  /** The intervals of the three steps. */
  widths: [number, number, number];
}

export function report(mc: Pick<McResult, 'accuracies' | 'summary' | 'trials'>, readback: number): PredictionReport {
  const a = mc.accuracies;
  const below = a.filter((x) => x < readback).length + 0.5 * a.filter((x) => x === readback).length;
  const interval: [number, number] = [mc.summary.p5, mc.summary.p95];
  return { trials: mc.trials, summary: mc.summary, interval, width: interval[1] - interval[0], readbackPercentile: below / a.length, inside: readback >= interval[0] && readback <= interval[1] };
}

/** The failure model with its rates fixed at their posterior means (no rate uncertainty). */
export function meanRates(f: FailureModel): FailureModel {
  const big = 1e7;
  return { ...f, alpha: f.alpha.map((a, k) => (big * a) / (a + f.beta[k])), beta: f.beta.map((b, k) => (big * b) / (f.alpha[k] + b)) };
}

/** The three nested device models whose Monte Carlo variances split the interval by source. */
export function sourceModels(d: DeviceModel): [DeviceModel, DeviceModel, DeviceModel] {
  const fixedRates = d.failure ? meanRates(d.failure) : undefined;
  return [
    { ...d, bootstrap: false, failure: fixedRates },
    { ...d, failure: fixedRates },
    d,
  ];
}

export function widthShares(runs: [McResult, McResult, McResult]): WidthShares {
  const v = runs.map((r) => std(r.accuracies) ** 2);
  const total = Math.max(v[2], v[1], v[0], 1e-18);
  const devices = v[0] / total;
  const measured = Math.max(0, v[1] - v[0]) / total;
  const failures = Math.max(0, v[2] - Math.max(v[1], v[0])) / total;
  const s = devices + measured + failures;
  return { devices: devices / s, measuredDistributions: measured / s, failureRates: failures / s, widths: runs.map((r) => r.summary.p95 - r.summary.p5) as [number, number, number] };
}

/** Per level of the device model: the run's cells and how many did not end programmed, what those read, and which they were. */
export function runCounts(tiles: Tile[], readback: Float32Array[], notOk: Uint8Array[], levels: number, source: string): OutcomeCounts {
  const perLevel = Array.from({ length: levels }, () => ({ n: 0, failed: 0 }));
  const failedValues_A: number[] = [];
  const failedLevels: number[] = [];
  const failedCells: string[][] = Array.from({ length: levels }, () => []);
  tiles.forEach((t, k) =>
    t.levels.forEach((lv, i) => {
      if (lv === UNUSED) return;
      perLevel[lv].n++;
      if (notOk[k][i]) {
        perLevel[lv].failed++;
        failedValues_A.push(readback[k][i]);
        failedLevels.push(lv);
        failedCells[lv].push(`${t.array}:${Math.floor(i / ARRAY_SIDE)}:${i % ARRAY_SIDE}`);
      }
    }),
  );
  return { perLevel, failedValues_A, failedLevels, failedCells, source };
}

/** Per weight layer, the values of the cells the run left unprogrammed (NaN elsewhere), laid out like the Monte Carlo's draws. */
export function fixedFromRun(layers: MappedLayer[], tiles: Tile[], readback: Float32Array[], notOk: Uint8Array[]): { gp: Float32Array; gn?: Float32Array }[] {
  return valuesFromTiles(layers, tiles, readback, (k, i) => notOk[k][i] === 1);
}
