/**
 * The calibration's device curves as plain functions: the gate transfer G(VG) of a SET at the
 * reference top-electrode voltage, its inverse, and the read current at a read voltage (with the
 * published I-V curvature). The emulator's cell model computes with them; plans and the preflight
 * use them to predict what a board with this calibration needs (which gate for which level, how
 * far a gate limit reaches), without an emulator.
 */
import type { CalValues, Calibration } from './calibration.js';
import { values } from './calibration.js';
import { splineCeiling, splineG, type TransferSpline } from './transfer-spline.js';

/**
 * Compliance-limited conductance (S) after a SET at gate vg_V (reference VTE): the saturating
 * exponential softly capped at g_cap, or, when the calibration has one, its monotone spline.
 */
export function transferG(p: CalValues, vg_V: number, v0_V = p.transfer_v0_V, gain = 1, spline?: TransferSpline): number {
  const x = vg_V - v0_V;
  if (x <= 0) return 0;
  if (spline) return gain * splineG(spline, x);
  const raw = gain * p.transfer_gsat_S * (1 - Math.exp(-p.transfer_slope_per_V * x));
  const n = p.g_cap_sharpness;
  return raw / Math.pow(1 + Math.pow(raw / p.g_cap_S, n), 1 / n);
}

/** Read current / (G V) at read voltage v from the published NL2/NL3 fit, clamped to its valid range. */
export function ivRatio(iv: Calibration['ivCurve'], g_S: number, v: number): number {
  const gc = Math.min(iv.validTo_S, Math.max(iv.validFrom_S, g_S));
  const x = Math.log10(gc);
  const nl2 = ((iv.nl2[0] * x + iv.nl2[1]) * x + iv.nl2[2]) * x + iv.nl2[3];
  const nl3 = (iv.nl3[0] * x + iv.nl3[1]) * x + iv.nl3[2];
  return (gc * v + nl2 * v * v + nl3 * v * v * v) / (gc * v);
}

export function readCurrent(cal: Calibration, g_S: number, vread_V: number): number {
  return g_S * vread_V * ivRatio(cal.ivCurve, g_S, vread_V);
}

export interface TransferCurve {
  /** Read current (A) a SET at gate vg reaches on a cell `sigmas` device-to-device sigmas weaker than nominal (0 = nominal). */
  readAt(vg_V: number, sigmas?: number): number;
  /** Gate voltage at which that cell's read current reaches i_A (Infinity when it never does). */
  gateFor(i_A: number, sigmas?: number): number;
  /** Largest read current the transfer reaches at all (saturation). */
  ceiling_A: number;
}

export function transferCurve(cal: Calibration, vread_V = 0.2): TransferCurve {
  const p = values(cal);
  const weak = (s: number) => ({ v0: p.transfer_v0_V + s * p.transfer_v0_sigma_V, gain: Math.max(0.5, 1 - s * p.gain_sigma_rel) });
  const readAt = (vg: number, s = 0) => {
    const w = weak(s);
    return readCurrent(cal, transferG(p, vg, w.v0, w.gain, cal.transfer), vread_V);
  };
  const ceiling_A = cal.transfer ? readCurrent(cal, splineCeiling(cal.transfer) * 0.999, vread_V) : readAt(50);
  const gateFor = (i_A: number, s = 0) => {
    if (i_A >= readAt(50, s) || (cal.transfer && i_A >= ceiling_A * weak(s).gain)) return Infinity;
    let lo = weak(s).v0;
    let hi = lo + 50;
    for (let k = 0; k < 60; k++) {
      const mid = (lo + hi) / 2;
      if (readAt(mid, s) < i_A) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };
  return { readAt, gateFor, ceiling_A };
}
