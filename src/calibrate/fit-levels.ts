/**
 * The transfer where the levels are. A characterize run's final stepped voltages per level (the
 * gate at which each cell's IGVVA verify passed, the VSL of a reset-verify) pin the transfer at
 * exactly the conductances programming uses; a sweep's staircases see the top of the curve only
 * through their design, and the top level is the one most sensitive to the cap. Indirect
 * inference: the run is replayed on the emulator (same targets, config, order, common random
 * numbers) with candidate values, and the values moved by damped Gauss-Newton until each level's
 * mean final voltage, and the spread at the top levels and at HRS, match the board's, weighted by
 * their bootstrap errors over cells. The sensitivities are measured once, at the start (the sweep's
 * fit is already close); the covariance (J^T W J)^-1 gives the uncertainties.
 */
import type { CalValues, Calibration, ScalarName } from '../../calibration/calibration.js';
import type { LevelCdfDataset } from '../procedures/characterize.js';
import { mean, std } from '../analysis/stats.js';
import { bootstrapSE, invSym, seedOf } from './numeric.js';
import type { ReplayCell } from './simulate.js';
import type { SimPool } from './sim-pool.js';
import { characterizeDesign } from './sim-tasks.js';

export interface LevelsFit {
  values: Partial<CalValues>;
  se: Partial<Record<ScalarName, number>>;
  quality: { statistic: string; measured: number; model: number; unit: string }[];
  method: string;
}

interface Stat {
  name: string;
  of: (levels: ReplayCell[][]) => number;
  obs: number;
  se: number;
}

/** Parameters the levels move; `log` ones are moved multiplicatively. */
const SHAPE: { k: ScalarName; log: boolean; h: number }[] = [
  { k: 'transfer_v0_V', log: false, h: 0.02 },
  { k: 'transfer_gsat_S', log: true, h: 0.05 },
  { k: 'transfer_slope_per_V', log: true, h: 0.05 },
  { k: 'g_cap_S', log: true, h: 0.05 },
  { k: 'g_cap_sharpness', log: true, h: 0.1 },
];
/** The HRS level's spread mixes the RESET onset's cycle-to-cycle spread and the decay's: both move, so neither is credited with the other's share. */
const RESET: { k: ScalarName; log: boolean; h: number }[] = [
  { k: 'reset_v_c2c_V', log: true, h: 0.3 },
  { k: 'reset_sigma_rel', log: true, h: 0.3 },
];

/** Levels with fewer programmed cells than this do not enter the fit. */
export const MIN_LEVEL_CELLS = 10;

/** Whether a characterize run has enough programmed LRS levels to constrain the transfer. */
export function levelsUsable(d: LevelCdfDataset, keep: (i: number) => boolean): boolean {
  return d.levels.filter((l) => l.spec.kind !== 'hrs' && l.cells.filter((c, i) => c.status === 'ok' && keep(i)).length >= MIN_LEVEL_CELLS).length >= 3;
}

export async function fitLevels(o: { p: CalValues; calibrate: (q: CalValues) => Calibration; data: LevelCdfDataset; keep: (i: number) => boolean; pool: SimPool; prior?: Partial<Record<ScalarName, { value: number; se: number }>> }): Promise<LevelsFit> {
  const d = o.data;
  const okOf = (cs: ReplayCell[], keep: (i: number) => boolean) => cs.filter((c, i) => c.status === 'ok' && keep(i)).map((c) => c.finalStepped_V).filter(Number.isFinite);
  const stats: Stat[] = [];
  const lrs = d.levels.map((l, k) => ({ l, k })).filter((x) => x.l.spec.kind !== 'hrs');
  const top = new Set(lrs.slice(-2).map((x) => x.k));
  let hasHrs = false;
  d.levels.forEach((l, k) => {
    const xs = okOf(l.cells, o.keep);
    if (xs.length < MIN_LEVEL_CELLS) return;
    const sim = (f: (v: number[]) => number) => (levels: ReplayCell[][]) => f(okOf(levels[k], () => true));
    stats.push({ name: `L${l.spec.level} mean final stepped voltage`, of: sim(mean), obs: mean(xs), se: bootstrapSE(xs, mean, 64) });
    if (l.spec.kind === 'hrs' || top.has(k)) stats.push({ name: `L${l.spec.level} spread of the final stepped voltage`, of: sim(std), obs: std(xs), se: bootstrapSE(xs, std, 64) });
    hasHrs ||= l.spec.kind === 'hrs';
  });
  const params = hasHrs ? [...SHAPE, ...RESET] : SHAPE;
  const nObs = Math.min(...d.levels.map((l) => l.cells.filter((c, i) => c.status === 'ok' && o.keep(i)).length).filter((n) => n >= MIN_LEVEL_CELLS));
  const perLevel = (d.params as Record<string, number>).cellsPerLevel;
  // The replay has its own sampling noise (as many cells as the run had): it counts in the weights.
  const w = stats.map((s) => 1 / (s.se ** 2 * (1 + nObs / Math.max(1, perLevel)) + 1e-18));
  const toX = (q: CalValues) => params.map((m) => (m.log ? Math.log(Math.max(q[m.k], 1e-9)) : q[m.k]));
  const fromX = (x: number[]) => {
    const q = { ...o.p };
    params.forEach((m, j) => (q[m.k] = m.log ? Math.exp(x[j]) : x[j]));
    q.g_cap_sharpness = Math.min(40, Math.max(1, q.g_cap_sharpness));
    return q;
  };
  const design = characterizeDesign(d);
  const seed = seedOf(d.levels.map((l) => l.cells), 8);
  const run = async (x: number[]) => {
    const r = await o.pool.run({ kind: 'replay', cal: o.calibrate(fromX(x)), design, factor: 1, seed, programmingOnly: true });
    return stats.map((s) => s.of(r));
  };
  // Priors in x space (log parameters: relative uncertainty), from what the sweep measured.
  const px = params.map((m) => {
    const pr = o.prior?.[m.k];
    if (!pr || !(pr.se > 0) || !(pr.value > 0 || !m.log)) return { x: 0, w: 0 };
    return m.log ? { x: Math.log(pr.value), w: 1 / (pr.se / pr.value) ** 2 } : { x: pr.value, w: 1 / pr.se ** 2 };
  });
  const priorCost = (x: number[]) => px.reduce((a, q, j) => a + q.w * (x[j] - q.x) ** 2, 0);
  const cost = (y: number[], x: number[]) => y.reduce((a, v, i) => a + w[i] * (v - stats[i].obs) ** 2, 0) + priorCost(x);
  let x = toX(o.p);
  let y = await run(x);
  let c = cost(y, x);
  // A start whose replay programs no cell at some level cannot be linearised: leave the values as they are.
  if (!Number.isFinite(c)) return { values: {}, se: {}, quality: stats.map((s, i) => ({ statistic: s.name, measured: s.obs, model: y[i], unit: 'V' })), method: 'not refined: the replay with the starting values programmed no cell at some level' };
  let J: number[][] = [];
  let JtWJ: number[][] = [];
  let runs = 1;
  const jacobian = async () => {
    J = stats.map(() => new Array<number>(params.length).fill(0));
    await Promise.all(
      params.map(async (m, j) => {
        const xp = x.slice();
        xp[j] += m.h;
        const yp = await run(xp);
        stats.forEach((_, i) => (J[i][j] = Number.isFinite(yp[i] - y[i]) ? (yp[i] - y[i]) / m.h : 0));
      }),
    );
    runs += params.length;
    JtWJ = params.map((_, a) => params.map((_, b) => J.reduce((acc, row, i) => acc + w[i] * row[a] * row[b], 0) + (a === b ? px[a].w : 0)));
  };
  await jacobian();
  // Damped Gauss-Newton; the sensitivities are measured again after two accepted steps or two
  // rejected ones while the match is still poor (a start far off, e.g. a sweep fit on few cells).
  let lambda = 1e-2;
  let accepted = 0;
  let rejected = 0;
  while (runs < 3 * (params.length + 1)) {
    const g = params.map((_, a) => J.reduce((acc, row, i) => acc + w[i] * row[a] * (y[i] - stats[i].obs), 0) + px[a].w * (x[a] - px[a].x));
    const A = JtWJ.map((row, a) => row.map((v, b) => (a === b ? v * (1 + lambda) + 1e-12 : v)));
    const inv = invSym(A);
    // Each coordinate moves at most 30 % (50 mV) per step: the linearisation holds no further.
    const step = inv.map((row, j) => {
      const lim = params[j].log ? 0.3 : 0.05;
      return Math.max(-lim, Math.min(lim, -row.reduce((acc, v, b) => acc + v * g[b], 0)));
    });
    const xn = x.map((v, j) => v + step[j]);
    if (xn.some((v) => !Number.isFinite(v))) break;
    const yn = await run(xn);
    runs++;
    const cn = cost(yn, xn);
    if (cn < c) {
      const small = c - cn < 1e-2 * c;
      [x, y, c] = [xn, yn, cn];
      lambda = Math.max(1e-4, lambda / 4);
      accepted++;
      rejected = 0;
      // A good match (cost near its expectation, one per statistic) that no longer improves: done.
      if (small && c < 2 * (stats.length + params.length)) break;
    } else {
      lambda *= 8;
      rejected++;
    }
    if ((accepted >= 2 || rejected >= 2) && c > 2 * (stats.length + params.length)) {
      await jacobian();
      accepted = 0;
      rejected = 0;
    } else if (rejected >= 3) break;
  }
  const cov = invSym(JtWJ);
  const q = fromX(x);
  const values: Partial<CalValues> = {};
  const se: Partial<Record<ScalarName, number>> = {};
  params.forEach((m, j) => {
    values[m.k] = q[m.k];
    const sx = Math.sqrt(Math.max(0, cov[j][j]));
    se[m.k] = m.log ? q[m.k] * sx : sx;
  });
  return {
    values,
    se,
    quality: stats.map((s, i) => ({ statistic: s.name, measured: s.obs, model: y[i], unit: 'V' })),
    method: `the characterize run replayed on the emulator until each level's mean final stepped voltage${hasHrs ? ', the spread at the top levels and at HRS' : ' and the spread at the top levels'} matched (${stats.length} statistics, weighted by their bootstrap errors)`,
  };
}
