/**
 * A gate transfer not tied to one functional form (issue 26): a monotone cubic spline through
 * knots (VG - v0, G) with the origin (0, 0), shape-preserving (Fritsch-Carlson), so it never
 * bends back however the knots lie, and a saturating tail past the last knot that continues its
 * slope and flattens over `tail_V`. A cell's own curve is gain x S(VG - v0_cell), as for the
 * saturating exponential (device-to-device shift and scale unchanged). The knots' G are the
 * conductances a characterize run's levels program; their positions are what the fit finds.
 */
import { z } from 'zod';

export interface TransferSpline {
  model: 'spline';
  /** Knot positions above the cell's v0 (V), increasing. */
  x_V: number[];
  /** Conductance at each knot (S), increasing. */
  g_S: number[];
  /** Past the last knot the curve flattens over this many volts. */
  tail_V: number;
  source: string;
  /** One standard error of each knot position (V), from the fit. */
  uncertainty_V?: number[];
}

const finite = z.number({ invalid_type_error: 'not a finite number' }).finite('not a finite number');

export const TransferSplineSchema = z
  .object({
    model: z.literal('spline', { errorMap: () => ({ message: 'expected "spline"' }) }),
    x_V: z.array(finite.positive('must be above 0 (the origin is implicit)')).min(2, 'needs at least 2 knots').max(32, 'at most 32 knots'),
    g_S: z.array(finite.positive('must be above 0')),
    tail_V: finite.positive('must be above 0'),
    source: z.string().min(3, 'every spline needs its source'),
    uncertainty_V: z.array(finite).optional(),
  })
  .passthrough()
  .superRefine((s, ctx) => {
    if (s.g_S.length !== s.x_V.length) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['g_S'], message: `must have one value per knot (${s.x_V.length})` });
    for (const key of ['x_V', 'g_S'] as const)
      for (let i = 1; i < s[key].length; i++) if (!(s[key][i] > s[key][i - 1])) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key, i], message: 'must be increasing' });
  });

interface Prepared {
  x: number[];
  y: number[];
  d: number[];
}
const cache = new WeakMap<TransferSpline, Prepared>();

/** Knots with the origin, and Fritsch-Carlson derivatives (monotone between every pair). */
function prepare(s: TransferSpline): Prepared {
  let p = cache.get(s);
  if (p) return p;
  const x = [0, ...s.x_V];
  const y = [0, ...s.g_S];
  const n = x.length;
  const m = Array.from({ length: n - 1 }, (_, k) => (y[k + 1] - y[k]) / (x[k + 1] - x[k]));
  const d = new Array<number>(n);
  d[0] = m[0];
  d[n - 1] = m[n - 2];
  for (let k = 1; k < n - 1; k++) {
    if (m[k - 1] * m[k] <= 0) d[k] = 0;
    else {
      // Weighted harmonic mean (Fritsch-Butland): monotone and stays within 3x the secants.
      const w1 = 2 * (x[k + 1] - x[k]) + (x[k] - x[k - 1]);
      const w2 = (x[k + 1] - x[k]) + 2 * (x[k] - x[k - 1]);
      d[k] = (w1 + w2) / (w1 / m[k - 1] + w2 / m[k]);
    }
  }
  p = { x, y, d };
  cache.set(s, p);
  return p;
}

/** S(x): the nominal cell's conductance x volts above its v0. */
export function splineG(s: TransferSpline, x: number): number {
  if (x <= 0) return 0;
  const { x: xs, y, d } = prepare(s);
  const n = xs.length;
  if (x >= xs[n - 1]) {
    const over = x - xs[n - 1];
    return y[n - 1] + d[n - 1] * s.tail_V * (1 - Math.exp(-over / s.tail_V));
  }
  let k = 0;
  while (xs[k + 1] < x) k++;
  const h = xs[k + 1] - xs[k];
  const t = (x - xs[k]) / h;
  const t2 = t * t;
  const t3 = t2 * t;
  return (2 * t3 - 3 * t2 + 1) * y[k] + (t3 - 2 * t2 + t) * h * d[k] + (-2 * t3 + 3 * t2) * y[k + 1] + (t3 - t2) * h * d[k + 1];
}

/** Largest G the spline reaches (its tail's asymptote). */
export function splineCeiling(s: TransferSpline): number {
  const { y, d } = prepare(s);
  return y[y.length - 1] + d[d.length - 1] * s.tail_V;
}
