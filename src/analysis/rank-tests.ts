/**
 * Rank statistics of seed 000: Spearman's rank correlation (rho and its two-sided p) and the
 * Kruskal-Wallis H test between groups, both with ties given their average rank and (H) the tie
 * correction - the values scipy.stats.spearmanr / kruskal report. The t and chi-square tails come
 * from jstat (one dependency-free package; its incomplete beta/gamma are not re-derived here).
 */
import jStat from 'jstat';
import { InvalidArgumentError } from '../../drivers/errors.js';

/** 1-based ranks, tied values sharing their average rank. */
export function ranks(xs: readonly number[]): number[] {
  const order = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(xs.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[order[k][1]] = avg;
    i = j + 1;
  }
  return r;
}

function pearson(a: number[], b: number[]): number {
  const n = a.length;
  const ma = a.reduce((s, x) => s + x, 0) / n;
  const mb = b.reduce((s, x) => s + x, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}

export interface Correlation {
  rho: number;
  /** Two-sided, from t = rho sqrt((n-2)/(1-rho^2)) on n-2 degrees of freedom. */
  p: number;
  n: number;
}

/** Spearman's rho of paired samples; NaN when either side is constant (no ranking to correlate). */
export function spearman(x: readonly number[], y: readonly number[]): Correlation {
  if (x.length !== y.length) throw new InvalidArgumentError('spearman', `${x.length} vs ${y.length}`, 'needs paired samples of equal length');
  const n = x.length;
  if (n < 3) throw new InvalidArgumentError('spearman', n, 'needs at least 3 pairs');
  if ([...x, ...y].some((v) => !Number.isFinite(v))) throw new InvalidArgumentError('spearman', 'NaN', 'samples must be finite numbers');
  const rho = pearson(ranks(x), ranks(y));
  if (!Number.isFinite(rho)) return { rho: NaN, p: NaN, n };
  if (Math.abs(rho) >= 1) return { rho, p: 0, n };
  const t = rho * Math.sqrt((n - 2) / (1 - rho * rho));
  // jstat's cdf is accurate to ~1e-8: clamp so p = 1 at rho = 0 is not 1.00000001.
  return { rho, p: Math.min(1, 2 * (1 - jStat.studentt.cdf(Math.abs(t), n - 2))), n };
}

export interface KruskalWallis {
  h: number;
  /** Upper tail of chi-square with groups - 1 degrees of freedom. */
  p: number;
  df: number;
  n: number;
}

/** Kruskal-Wallis H between groups (tie-corrected). */
export function kruskalWallis(groups: readonly (readonly number[])[]): KruskalWallis {
  const gs = groups.filter((g) => g.length > 0);
  if (gs.length < 2) throw new InvalidArgumentError('kruskal-wallis', gs.length, 'needs at least 2 non-empty groups');
  const all = gs.flat();
  if (all.some((v) => !Number.isFinite(v))) throw new InvalidArgumentError('kruskal-wallis', 'NaN', 'samples must be finite numbers');
  const n = all.length;
  const r = ranks(all);
  let h = 0;
  let at = 0;
  for (const g of gs) {
    const sum = r.slice(at, at + g.length).reduce((s, x) => s + x, 0);
    h += (sum * sum) / g.length;
    at += g.length;
  }
  h = (12 / (n * (n + 1))) * h - 3 * (n + 1);
  // Tie correction: 1 - sum(t^3 - t) / (n^3 - n) over groups of tied values.
  const counts = new Map<number, number>();
  for (const v of all) counts.set(v, (counts.get(v) ?? 0) + 1);
  let ties = 0;
  for (const t of counts.values()) ties += t ** 3 - t;
  const c = 1 - ties / (n ** 3 - n);
  if (c <= 0) return { h: NaN, p: NaN, df: gs.length - 1, n }; // every value equal: nothing to rank
  h /= c;
  const df = gs.length - 1;
  return { h, p: Math.min(1, Math.max(0, 1 - jStat.chisquare.cdf(h, df))), df, n };
}
