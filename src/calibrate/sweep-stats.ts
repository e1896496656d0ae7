/**
 * The statistics a fit matches, computed the same way from a measured sweep and from a sweep
 * simulated with candidate parameters: indirect inference needs nothing else to agree.
 */
import type { Calibration } from '../../calibration/calibration.js';
import { ivRatio } from '../../calibration/transfer.js';
import { covariance, groupedMedian, groupedSigma, median, robustSigma } from './numeric.js';
import type { SweepCell } from '../procedures/sweep.js';

/** Conductance (S) behind a read current, undoing the read's I-V curvature. */
export function toG(cal: Calibration, i_A: number, vread: number): number {
  let g = i_A / vread;
  for (let k = 0; k < 3; k++) g = i_A / (vread * ivRatio(cal.ivCurve, Math.max(g, 1e-9), vread));
  return g;
}

export interface SweepStats {
  /** Forming: VTE of the forming pulse, median and robust sigma (interpolated within the staircase step); share never formed. */
  formMedian_V: number;
  formSigma_V: number;
  unformed: number;
  /** ISPVA: first VTE whose read exceeds the cycle's HRS by 3 uA (the switch). */
  switchMedian_V: number;
  switchCov_V2: number;
  switchDiffVar_V2: number;
  /** Mean read just after the switch relative to the read 0.5 V above it, at +1, +3 and +8 steps. */
  partial: number[];
  /** Mean slope of the read (relative) from 0.2 to 0.6 V above the switch, per volt. */
  overdriveSlope_perV: number;
  /** HRS after a deep RESET and the settling wait: median G (S) and robust sigma of ln G. */
  hrsMedian_S: number;
  hrsSigmaLog: number;
  /** Repeated single SETs from HRS: within-cell spread (S) and mean G (S) at each repeat gate. */
  repeatSigma_S: number[];
  repeatG_S: number[];
  /** Gate staircase: RMS of the cycle-to-cycle difference (S) in the steep and in the high part. */
  c2cLow_S: number;
  c2cHigh_S: number;
  /** RESET staircase: first VSL with a read under 80 % of the cycle's maximum (median interpolated within the step). */
  resetMedian_V: number;
  resetCov_V2: number;
  resetDiffVar_V2: number;
  /** Per step after the onset: mean and spread of -ln((I_k - I_hrs) / (I_k-1 - I_hrs)). */
  resetDecay: number;
  resetDecaySpread: number;
  cells: number;
}

function switchV(trace: [number, number][], hrs: number): number {
  for (const [v, i] of trace) if (i > hrs + 3e-6) return v;
  return NaN;
}
function onsetV(reset: [number, number][]): { v: number; k: number } {
  let max = 0;
  for (let k = 0; k < reset.length; k++) {
    const i = reset[k][1];
    max = Math.max(max, i);
    if (i < 0.8 * max) return { v: reset[k][0], k };
  }
  return { v: NaN, k: -1 };
}
const finite = (xs: number[]) => xs.filter(Number.isFinite);
const rms = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / Math.max(1, xs.length));

export function sweepStats(cells: SweepCell[], cal: Calibration, vread: number, gCap_S: number): SweepStats {
  // Cells formed in this sweep (a cell formed before reads formed at once and has no forming VTE).
  const formedHere = cells.filter((c) => c.formVte_V !== null);
  const form = formedHere.map((c) => c.formVte_V as number);
  const everPristine = cells.filter((c) => c.formVte_V !== null || c.status === 'unformable');
  const ok = cells.filter((c) => c.status === 'ok');
  // ISPVA switching and partial switching.
  const sw = ok.map((c) => c.ispva.map((r) => switchV(r.trace, r.hrs_A)));
  const both = sw.filter((s) => s.length >= 2 && Number.isFinite(s[0]) && Number.isFinite(s[1]));
  const partialAt = [1, 3, 8].map(() => [] as number[]);
  const slopes: number[] = [];
  for (const c of ok)
    for (const r of c.ispva) {
      const k0 = r.trace.findIndex(([, i]) => i > r.hrs_A + 3e-6);
      if (k0 < 0) continue;
      const v0 = r.trace[k0][0];
      const ref = r.trace.find(([v]) => v >= v0 + 0.5 - 1e-9);
      if (!ref) continue;
      [1, 3, 8].forEach((d, j) => {
        const p = r.trace[k0 + d - 1];
        if (p) partialAt[j].push(p[1] / ref[1]);
      });
      const a = r.trace.find(([v]) => v >= v0 + 0.2 - 1e-9);
      const b = r.trace.find(([v]) => v >= v0 + 0.6 - 1e-9);
      if (a && b && b[0] > a[0]) slopes.push((b[1] / a[1] - 1) / (b[0] - a[0]));
    }
  // Gate staircase: cycle-to-cycle differences at the same VG, by conductance band.
  const low: number[] = [];
  const high: number[] = [];
  for (const c of ok) {
    if (c.cycles.length < 2) continue;
    const [a, b] = c.cycles;
    const n = Math.min(a.gate.length, b.gate.length);
    for (let k = 0; k < n; k++) {
      const ga = toG(cal, a.gate[k][1], vread);
      const gb = toG(cal, b.gate[k][1], vread);
      const gm = (ga + gb) / 2;
      if (gm > 0.15 * gCap_S && gm < 0.45 * gCap_S) low.push(ga - gb);
      else if (gm > 0.6 * gCap_S && gm < 0.85 * gCap_S) high.push(ga - gb);
    }
  }
  // RESET staircase.
  const on = ok.map((c) => c.cycles.map((y) => onsetV(y.reset)));
  const onBoth = on.filter((s) => s.length >= 2 && Number.isFinite(s[0].v) && Number.isFinite(s[1].v));
  const decays: number[] = [];
  for (const c of ok)
    for (const y of c.cycles) {
      const { k } = onsetV(y.reset);
      if (k < 1) continue;
      const hrs = Math.min(...y.reset.map((p) => p[1]));
      for (let j = k; j < Math.min(y.reset.length, k + 4); j++) {
        const prev = y.reset[j - 1][1] - hrs;
        const cur = y.reset[j][1] - hrs;
        if (prev > 4e-6 && cur > 1e-6) decays.push(-Math.log(cur / prev));
      }
    }
  // Repeated single SETs: the spread within a cell (device-to-device drops out).
  const nRep = Math.max(0, ...ok.map((c) => c.repeat.length));
  const repeatSigma_S: number[] = [];
  const repeatG_S: number[] = [];
  for (let j = 0; j < nRep; j++) {
    const per = ok.map((c) => (c.repeat[j] ?? []).map((i) => toG(cal, i, vread))).filter((r) => r.length >= 2);
    const v = per.map((r) => {
      const m = r.reduce((a, x) => a + x, 0) / r.length;
      return r.reduce((a, x) => a + (x - m) ** 2, 0) / (r.length - 1);
    });
    repeatSigma_S.push(Math.sqrt(median(v))); // a robust spread (the same statistic in data and simulation), insensitive to a stuck cell
    repeatG_S.push(median(per.map((r) => r.reduce((a, x) => a + x, 0) / r.length)));
  }
  const hrs = ok.map((c) => c.noise.hrs_A).filter((r) => r.length).map((r) => toG(cal, r.reduce((a, x) => a + x, 0) / r.length, vread)).filter((g) => g > 0);
  return {
    hrsMedian_S: median(hrs),
    hrsSigmaLog: robustSigma(hrs.map(Math.log)),
    repeatSigma_S,
    repeatG_S,
    formMedian_V: groupedMedian(form),
    formSigma_V: groupedSigma(form),
    unformed: everPristine.length ? everPristine.filter((c) => c.status === 'unformable').length / everPristine.length : NaN,
    switchMedian_V: groupedMedian(finite(sw.flat())),
    switchCov_V2: both.length > 2 ? covariance(both.map((s) => s[0]), both.map((s) => s[1])) : NaN,
    switchDiffVar_V2: both.length > 2 ? both.reduce((a, s) => a + (s[0] - s[1]) ** 2, 0) / both.length / 2 : NaN,
    partial: partialAt.map((xs) => (xs.length ? xs.reduce((a, x) => a + x, 0) / xs.length : NaN)),
    overdriveSlope_perV: median(slopes),
    c2cLow_S: rms(low) / Math.SQRT2,
    c2cHigh_S: rms(high) / Math.SQRT2,
    resetMedian_V: groupedMedian(finite(on.flat().map((o) => o.v))),
    resetCov_V2: onBoth.length > 2 ? covariance(onBoth.map((s) => s[0].v), onBoth.map((s) => s[1].v)) : NaN,
    resetDiffVar_V2: onBoth.length > 2 ? onBoth.reduce((a, s) => a + (s[0].v - s[1].v) ** 2, 0) / onBoth.length / 2 : NaN,
    resetDecay: decays.length ? decays.reduce((a, x) => a + x, 0) / decays.length : NaN,
    resetDecaySpread: robustSigma(decays),
    cells: cells.length,
  };
}
