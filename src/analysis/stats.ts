/** Small descriptive statistics on plain arrays (sorted copies; inputs untouched). */

export function sorted(xs: ArrayLike<number>): number[] {
  return Array.from(xs).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
}

/** Linear-interpolated quantile of an ascending array, q in [0, 1]. */
export function quantile(s: number[], q: number): number {
  if (!s.length) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return xs.length ? s / xs.length : NaN;
}

export function std(xs: ArrayLike<number>): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i] - m) ** 2;
  return Math.sqrt(s / (xs.length - 1));
}

/** Upper tail of the standard normal, for Gaussian bit-error estimates. */
export function qfunc(x: number): number {
  return 0.5 * erfc(x / Math.SQRT2);
}

function erfc(x: number): number {
  // Numerical Recipes erfc (Chebyshev), relative error < 1.2e-7.
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851973 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}

/** Histogram with fixed edges (counts per bin, values outside clamp into the end bins). */
export function histogram(xs: ArrayLike<number>, lo: number, hi: number, bins: number): number[] {
  const h = new Array<number>(bins).fill(0);
  for (let i = 0; i < xs.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(((xs[i] - lo) / (hi - lo)) * bins)));
    h[b]++;
  }
  return h;
}

/** IQR / 1.349: a sigma insensitive to the few outliers a device always has. */
export function robustSigma(xs: ArrayLike<number>): number {
  const s = sorted(xs);
  return (quantile(s, 0.75) - quantile(s, 0.25)) / 1.349;
}

/** [min, max] of any number of values (Math.min(...xs) overflows the stack past ~100k values). */
export function extent(xs: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}
