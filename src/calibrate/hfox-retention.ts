/**
 * The issue-31 check of `rram retention` on the emulator against the public HfOx data it was built
 * from (../shared/data/hfox-relaxation, tech A): per programmed level, the drift fitted from the
 * run (median and spread of G(t) - G(verify), each a line in log10 t after 1 s, with its bootstrap
 * error over cells) beside the same statistics of the data's cells programmed near that level
 * (their standard errors by bootstrap over the data's cells: its tails make Gaussian errors too
 * small), at every time both have. The emulator's relaxation table was fitted
 * on the data's even addresses; the comparison uses the odd ones.
 */
import type { Calibration } from '../../calibration/calibration.js';
import { readRelaxData, type RelaxSample } from '../../calibration/fit-hfox.js';
import { mean, quantile, sorted, std } from '../analysis/stats.js';
import type { RetentionDataset } from '../procedures/retention.js';
import { levelDrifts, logLinear, resampleLevels, type LevelDrift } from './aging.js';

export interface HfoxRow {
  g0_S: number;
  t_s: number;
  /** The run's fitted drift (spread, mean) at t and its standard error (S). */
  fitSigma_S: number;
  fitSigmaSE_S: number;
  fitMean_S: number;
  fitMeanSE_S: number;
  /** The data's cells with G(0) within the window around g0: spread and mean of G(t) - G(0), their errors, how many. */
  dataSigma_S: number;
  dataSigmaSE_S: number;
  dataMean_S: number;
  dataMeanSE_S: number;
  n: number;
  /** |fit - data| / the combined error, for the spread and the mean. */
  zSigma: number;
  zMean: number;
}

export interface HfoxComparison {
  rows: HfoxRow[];
  worstZ: number;
  /** Every row within `maxZ` combined standard errors. */
  pass: boolean;
  maxZ: number;
}

/** The fitted lines of one level (spread and mean in log10 t), evaluated at t. */
function lineAt(l: LevelDrift, t: number): { sigma: number; mean: number } {
  const pts = l.t_s.map((tt, j) => ({ tt, xs: l.cells.map((c) => c[j]).filter(Number.isFinite) })).filter((p) => p.xs.length >= 5 && p.tt >= 1);
  const f = logLinear(pts.map((p) => p.tt), pts.map((p) => mean(p.xs)), pts.map((p) => std(p.xs)));
  const x = Math.log10(t);
  return { sigma: f.sigma[0] + f.sigma[1] * x, mean: f.mu[0] + f.mu[1] * x };
}

/** The data's cells (those `keep` takes) programmed within `halfWidth_S` of g0: G(t) - G(0) at t. */
function dataAt(samples: RelaxSample[], g0: number, halfWidth_S: number, t: number, keep: (addr: number) => boolean): number[] {
  return samples.filter((s) => s.t === t && keep(s.addr) && Math.abs(s.gi - g0) <= halfWidth_S).map((s) => s.g - s.gi);
}

export function compareWithHfox(d: RetentionDataset, base: Calibration, dataFile: string, o: { halfWidth_S?: number; maxZ?: number; times?: number[]; keep?: (addr: number) => boolean } = {}): HfoxComparison {
  const samples = readRelaxData(dataFile);
  const levels = levelDrifts(d, base).filter((l) => l.g0_S > 20e-6);
  const dataTimes = [...new Set(samples.map((s) => s.t))];
  const times = (o.times ?? d.times_s).filter((t) => t >= 1 && t <= Math.max(...d.times_s) && dataTimes.includes(t));
  const hw = o.halfWidth_S ?? 5e-6;
  const maxZ = o.maxZ ?? 2;
  const rows: HfoxRow[] = [];
  levels.forEach((l, k) => {
    const boot = Array.from({ length: 60 }, (_, r) => resampleLevels([l], 31 + 977 * k + r)[0]);
    for (const t of times) {
      const fit = lineAt(l, t);
      const bs = boot.map((b) => lineAt(b, t));
      const xs = dataAt(samples, l.g0_S, hw, t, o.keep ?? (() => true));
      if (xs.length < 20) continue;
      const ds = std(xs);
      // The data's tails (telegraph noise, jumps) make a Gaussian error formula too small: bootstrap over its cells.
      const dataBoot = Array.from({ length: 60 }, (_, r) => {
        let seed = (7919 * (r + 1) + 104729 * k) >>> 0;
        const pick = () => xs[Math.floor(((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296) * xs.length)];
        const b = xs.map(pick);
        return { sigma: std(b), mean: mean(b) };
      });
      const row = {
        g0_S: l.g0_S,
        t_s: t,
        fitSigma_S: fit.sigma,
        fitSigmaSE_S: std(bs.map((b) => b.sigma)),
        fitMean_S: fit.mean,
        fitMeanSE_S: std(bs.map((b) => b.mean)),
        dataSigma_S: ds,
        dataSigmaSE_S: std(dataBoot.map((b) => b.sigma)),
        dataMean_S: mean(xs),
        dataMeanSE_S: std(dataBoot.map((b) => b.mean)),
        n: xs.length,
        zSigma: 0,
        zMean: 0,
      };
      row.zSigma = Math.abs(row.fitSigma_S - row.dataSigma_S) / Math.hypot(row.fitSigmaSE_S, row.dataSigmaSE_S);
      row.zMean = Math.abs(row.fitMean_S - row.dataMean_S) / Math.hypot(row.fitMeanSE_S, row.dataMeanSE_S);
      rows.push(row);
    }
  });
  const worstZ = Math.max(0, ...rows.map((r) => Math.max(r.zSigma, r.zMean)));
  return { rows, worstZ, pass: rows.length > 0 && worstZ <= maxZ, maxZ };
}

export const meanZ = (c: HfoxComparison) => mean(c.rows.map((r) => r.zSigma));
