/**
 * Two cell physics unlike the project's model, for the recovery tests (fixture-board.ts):
 *  - `sigmoidPhysics`: a gate transfer sigmoid in VG, an HRS with a log-normal floor the RESET
 *    cannot go below (G = floor + A exp(-(VSL - Vr) / w), set by the overdrive, not compounded),
 *    a fast relaxation (tau 0.15 s: the read-back spreads wider than the verify read) and a slow
 *    one in log time, white read noise;
 *  - `filamentPhysics`: a filament that grows by a fraction of its way to the transistor's
 *    power-law compliance per SET pulse (so IGVVA's climb lags the curve), with a log-normal spread
 *    on each growth step, forming as a voltage-accelerated hazard, RESET as a dissolution per pulse,
 *    power-law relaxation ln(1 + t / 1 ms) with a per-pulse rate, random-telegraph noise on 5 % of
 *    the cells, leaky pristine, stuck and unformable cells.
 * Neither shares code or formulas with drivers/emulated/cell-model.ts.
 */
import { sigmoid, Streams, type Physics } from './fixture-board.js';

const PRISTINE = 0;
const FORMED = 1;
const UNFORMABLE = 2;
const STUCK = 3;

interface Common {
  st: Uint8Array;
  g: Float64Array;
  tp: Float64Array;
}
function common(n: number): Common {
  return { st: new Uint8Array(n), g: new Float64Array(n), tp: new Float64Array(n) };
}

export function sigmoidPhysics(seed: number, n: number): Physics {
  const r = new Streams(seed, n);
  const c = common(n);
  const vf = new Float64Array(n), vset = new Float64Array(n), v50 = new Float64Array(n), gmax = new Float64Array(n), vr = new Float64Array(n), floor = new Float64Array(n);
  const fast = new Float64Array(n), slow = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = r.d2d.uniform(i);
    c.st[i] = u < 0.005 ? UNFORMABLE : u < 0.008 ? STUCK : PRISTINE;
    c.g[i] = 30e-9 * Math.exp(0.2 * r.d2d.normal(i));
    vf[i] = 2.95 + 0.15 * r.d2d.normal(i);
    vset[i] = 0.85 + 0.05 * r.d2d.normal(i);
    v50[i] = 1.45 + 0.06 * r.d2d.normal(i);
    gmax[i] = 240e-6 * Math.exp(0.06 * r.d2d.normal(i));
    vr[i] = 1.0 + 0.08 * r.d2d.normal(i);
    floor[i] = 2.5e-6 * Math.exp(0.3 * r.d2d.normal(i));
  }
  const TAU = 0.15;
  const now = (i: number, t: number) => {
    const dt = Math.max(0, t - c.tp[i]);
    return Math.max(0, c.g[i] + fast[i] * (1 - Math.exp(-dt / TAU)) + slow[i] * Math.log10(1 + dt));
  };
  const changed = (i: number, g: number, t: number) => {
    c.g[i] = g;
    c.tp[i] = t;
    fast[i] = -0.01 * g + (0.05 * g + 0.5e-6) * r.pulse.normal(i);
    slow[i] = 0.015 * g * r.pulse.normal(i);
  };
  const setTo = (i: number, vte: number, vg: number, t: number, overdrive: boolean) => {
    if (!overdrive && vte < vset[i] + 0.02 * r.pulse.normal(i)) return;
    const gt = 1e-6 + (gmax[i] - 1e-6) * sigmoid((vg - v50[i]) / 0.11);
    const gc = gt * (1 + 0.025 * r.pulse.normal(i)) + 0.3e-6 * r.pulse.normal(i);
    const g0 = now(i, t);
    if (gc > g0) changed(i, gc, t);
    else changed(i, g0, t);
  };
  return {
    form(i, vte, vg, _w, t) {
      if (c.st[i] === STUCK) return changed(i, 200e-6, t);
      if (c.st[i] === UNFORMABLE) return;
      if (c.st[i] === PRISTINE) {
        if (vte < vf[i] + 0.03 * r.pulse.normal(i)) return;
        c.st[i] = FORMED;
      }
      setTo(i, vte, vg, t, true);
    },
    set(i, vte, vg, _w, t) {
      if (c.st[i] === FORMED) setTo(i, vte, vg, t, false);
    },
    reset(i, vsl, vg, _w, t) {
      if (c.st[i] !== FORMED || vg < 1.0) return;
      const vth = vr[i] + 0.03 * r.pulse.normal(i);
      if (vsl <= vth) return;
      const gr = floor[i] + 200e-6 * Math.exp(-(vsl - vth) / 0.12);
      const g0 = now(i, t);
      changed(i, Math.min(g0, gr), t);
    },
    read(i, v, t) {
      const g = c.st[i] === FORMED || c.st[i] === STUCK ? now(i, t) : c.g[i];
      return Math.max(0, g + (0.03e-6 + 0.004 * g) * r.read.normal(i)) * v;
    },
  };
}

export function filamentPhysics(seed: number, n: number): Physics {
  const r = new Streams(seed, n);
  const c = common(n);
  const vf = new Float64Array(n), vt = new Float64Array(n), k = new Float64Array(n), vs = new Float64Array(n), vr = new Float64Array(n), ghrs = new Float64Array(n);
  const nu = new Float64Array(n), rtn = new Uint8Array(n), leaky = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const u = r.d2d.uniform(i);
    c.st[i] = u < 0.01 ? UNFORMABLE : u < 0.015 ? STUCK : PRISTINE;
    leaky[i] = c.st[i] === PRISTINE && u < 0.045 ? 1 : 0;
    c.g[i] = leaky[i] ? 40e-6 * Math.exp(0.3 * r.d2d.normal(i)) : 20e-9;
    vf[i] = 3.0 + 0.18 * r.d2d.normal(i);
    vt[i] = 0.75 + 0.04 * r.d2d.normal(i);
    k[i] = 95e-6 * Math.exp(0.05 * r.d2d.normal(i));
    vs[i] = 0.8 + 0.05 * r.d2d.normal(i);
    vr[i] = 0.95 + 0.07 * r.d2d.normal(i);
    ghrs[i] = 4e-6 * Math.exp(0.4 * r.d2d.normal(i));
    rtn[i] = r.d2d.uniform(i) < 0.05 ? 1 : 0;
  }
  const compliance = (i: number, vg: number) => {
    const x = vg - vt[i];
    if (x <= 0) return 0;
    const gc = k[i] * Math.pow(x, 1.6);
    return gc / Math.pow(1 + Math.pow(gc / 300e-6, 4), 0.25);
  };
  const now = (i: number, t: number) => Math.max(0, c.g[i] * (1 - nu[i] * Math.log(1 + Math.max(0, t - c.tp[i]) / 1e-3)));
  const changed = (i: number, g: number, t: number) => {
    c.g[i] = g;
    c.tp[i] = t;
    nu[i] = 0.004 + 0.003 * r.pulse.normal(i);
  };
  const grow = (i: number, vte: number, vg: number, t: number) => {
    const g0 = now(i, t);
    if (vte <= vs[i]) return;
    const kappa = 1 - Math.exp(-(vte - vs[i]) / 0.12);
    const gc = compliance(i, vg);
    if (gc > g0) changed(i, g0 + kappa * (gc - g0) * Math.exp(0.12 * r.pulse.normal(i) - 0.0072), t);
  };
  return {
    form(i, vte, vg, w, t) {
      if (c.st[i] === STUCK) return changed(i, 280e-6, t);
      if (c.st[i] === UNFORMABLE) return;
      if (c.st[i] === PRISTINE) {
        const p = 1 - Math.exp(-(w / 1e-6) * Math.exp((vte - vf[i]) / 0.06));
        if (r.pulse.uniform(i) >= p) return;
        c.st[i] = FORMED;
        changed(i, 0.7 * compliance(i, vg), t);
        return;
      }
      grow(i, vte, vg, t);
    },
    set(i, vte, vg, _w, t) {
      if (c.st[i] === FORMED) grow(i, vte, vg, t);
    },
    reset(i, vsl, vg, _w, t) {
      if (c.st[i] !== FORMED || vg < vt[i] + 0.4 || vsl <= vr[i]) return;
      const g0 = now(i, t);
      const keep = Math.exp(-Math.pow((vsl - vr[i]) / 0.2, 1.5) * Math.max(0.2, 1 + 0.1 * r.pulse.normal(i)));
      changed(i, ghrs[i] + Math.max(0, g0 - ghrs[i]) * keep, t);
    },
    read(i, v, t) {
      const g = c.st[i] === FORMED || c.st[i] === STUCK ? now(i, t) : c.g[i];
      let gn = g + (0.05e-6 + 0.006 * g) * r.read.normal(i);
      if (rtn[i]) gn *= r.read.uniform(i) < 0.5 ? 0.96 : 1.04;
      return Math.max(0, gn) * v;
    },
  };
}
