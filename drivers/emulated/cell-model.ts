/**
 * Stochastic 1T1R HfO2 cell-array model. Knows nothing of boards or protocols: it takes
 * amplitudes and a time, and returns conductances. All randomness comes from per-cell streams,
 * so a cell's history depends only on its own operations and the seed.
 *
 * Physics, in short (parameters in calibration/*.json, each with its source):
 *  - pristine cells conduct ~nothing until a FORM pulse exceeds the cell's forming voltage;
 *  - SET is gate-limited: the transistor's current at VG bounds the filament, giving a
 *    saturating transfer G(VG) = Gsat (1 - exp(-a (VG - V0))) softly capped at g_cap; a SET never
 *    lowers G; below the cell's switching voltage on TE nothing happens, just above it the
 *    filament only partly reaches the compliance value (ISPVA's abrupt jump near 0.9 V);
 *  - RESET lowers G gradually towards the cell's HRS value as the SL amplitude rises;
 *  - device-to-device spread (V0, gain, thresholds, HRS level) and cycle-to-cycle spread
 *    (gate jitter, multiplicative noise) on every pulse;
 *  - after programming, G relaxes as a random walk whose variance follows the measured
 *    relaxation table in log(time); every read adds read noise; the read current includes the
 *    I-V curvature at 0.2 V;
 *  - aging (optional, off by default): after n RESETs the window (SET compliance and HRS)
 *    shrinks toward a middle conductance by exp(-n / tau), and a cell fails after a log-normal
 *    number of RESETs, stuck at LRS or at HRS (endurance); G drifts as (t / 1 s)^-nu after its
 *    last pulse, nu per device (retention).
 *  - optional pieces (calibration/model-extensions.ts, off by default): a monotone spline transfer,
 *    a conductance-independent part of the SET spread, an HRS floor, fast relaxation between the
 *    verify and the read-back, random-telegraph read noise on a share of cells. They draw from
 *    their own stream (device-to-device) or only when on, so a board without them is unchanged.
 */
import type { CalValues, Calibration, RelaxationTable } from '../../calibration/calibration.js';
import { values } from '../../calibration/calibration.js';
import { StreamBank } from '../../lib/rng.js';
import { relaxationPair } from '../../calibration/relaxation.js';
import { ivRatio, transferG } from '../../calibration/transfer.js';
import type { TransferSpline } from '../../calibration/transfer-spline.js';
import { fastRelaxationFrom, fastSd, hrsLevel, rtnFactor, setSpread, slowDrift, tableGShape, tableTimeShape } from '../../calibration/model-extensions.js';

/** The smallest relative advance of a cell's relaxation clock an MVM sensing makes (advanceRelaxation). */
const LAZY_ADVANCE = 1e-3;

export const enum CellState {
  Pristine = 0,
  Formed = 1,
  Unformable = 2,
  StuckLrs = 3,
  /** Worn out: the filament no longer re-forms under SET (endurance failure). */
  StuckHrs = 4,
}

export interface CellCounters {
  form: number;
  set: number;
  reset: number;
  read: number;
}

export class CellArrayModel {
  readonly n: number;
  private readonly p: CalValues;
  private readonly relax: RelaxationTable;
  private readonly iv: Calibration['ivCurve'];
  private readonly rng: StreamBank;
  private readonly noise: StreamBank;
  // Per-cell state.
  private readonly state: Uint8Array;
  private readonly g: Float64Array; // conductance right after the last pulse (S)
  private readonly tProg: Float64Array; // virtual time of that pulse (s)
  private readonly offset: Float64Array; // accumulated relaxation (S)
  private readonly tRelax: Float64Array; // elapsed time the offset refers to (s)
  // Device-to-device parameters.
  private readonly v0: Float64Array;
  private readonly gain: Float64Array;
  private readonly vset: Float64Array;
  private readonly vreset: Float64Array;
  private readonly vform: Float64Array;
  private readonly ghrs: Float64Array;
  /** Random-telegraph amplitude per cell (0: none); absent when no cell has any. */
  private readonly rtn?: Float64Array;
  private readonly spline?: TransferSpline;
  readonly counters: { form: Uint32Array; set: Uint32Array; reset: Uint32Array; read: Uint32Array };
  /** Aging, per device (absent when its knobs are off): RESETs to failure, the failure's mode, drift exponent. */
  private readonly failAt?: Float64Array;
  private readonly failStuckLrs?: Uint8Array;
  private readonly nu?: Float64Array;

  /** Scratch for the relaxation lookups (no allocation per pulse). */
  private readonly pairA = { mean: 0, sigma: 0 };
  private readonly fastA = { mean: 0, variance: 0 };
  /**
   * The relaxation terms at each cell's tRelax, kept from its last advance (valid while
   * relValid[i]): the next advance starts where the last one ended, so only the new time is
   * looked up (half the table work of every pulse and read; the same numbers bit for bit).
   * Derived state: a commit or an imported cell invalidates it, it is never saved.
   */
  private readonly relM: Float64Array;
  private readonly relS: Float64Array;
  private readonly relFm: Float64Array;
  private readonly relFv: Float64Array;
  private readonly relD: Float64Array;
  private readonly relGs: Float64Array;
  private readonly relFsd: Float64Array;
  private readonly relValid: Uint8Array;
  private readonly cacheOn: boolean;

  /** `relaxCache: false` looks both ends up at every advance (the reference a test holds the cache to). */
  constructor(cal: Calibration, n: number, seed: number, opts: { relaxCache?: boolean } = {}) {
    this.n = n;
    this.cacheOn = opts.relaxCache !== false;
    this.p = values(cal);
    this.relax = cal.relaxation;
    this.iv = cal.ivCurve;
    this.spline = cal.transfer;
    this.rng = new StreamBank(seed, n, 1);
    this.noise = new StreamBank(seed, n, 2);
    this.state = new Uint8Array(n);
    this.g = new Float64Array(n);
    this.tProg = new Float64Array(n);
    this.offset = new Float64Array(n);
    this.tRelax = new Float64Array(n);
    this.relM = new Float64Array(n);
    this.relS = new Float64Array(n);
    this.relFm = new Float64Array(n);
    this.relFv = new Float64Array(n);
    this.relD = new Float64Array(n);
    this.relGs = new Float64Array(n);
    this.relFsd = new Float64Array(n);
    this.relValid = new Uint8Array(n);
    this.v0 = new Float64Array(n);
    this.gain = new Float64Array(n);
    this.vset = new Float64Array(n);
    this.vreset = new Float64Array(n);
    this.vform = new Float64Array(n);
    this.ghrs = new Float64Array(n);
    this.counters = { form: new Uint32Array(n), set: new Uint32Array(n), reset: new Uint32Array(n), read: new Uint32Array(n) };
    const p = this.p;
    const d2d = new StreamBank(seed, n, 3);
    for (let i = 0; i < n; i++) {
      const u = d2d.uniform(i);
      this.state[i] = u < p.fraction_unformable ? CellState.Unformable : u < p.fraction_unformable + p.fraction_stuck_lrs ? CellState.StuckLrs : CellState.Pristine;
      const z = d2d.normal(i);
      // A leaky pristine cell conducts before forming (no filament: RESET does nothing) and still forms.
      const leaky = this.state[i] === CellState.Pristine && u < p.fraction_unformable + p.fraction_stuck_lrs + p.fraction_leaky_pristine;
      this.g[i] = leaky ? p.g_leaky_pristine_S * Math.exp(p.g_leaky_sigma_log * z) : p.g_pristine_S * Math.exp(0.3 * z);
      this.v0[i] = p.transfer_v0_V + p.transfer_v0_sigma_V * d2d.normal(i);
      this.gain[i] = Math.max(0.5, 1 + p.gain_sigma_rel * d2d.normal(i));
      this.vset[i] = p.set_v_median_V + p.set_v_sigma_V * d2d.normal(i);
      this.vreset[i] = p.reset_v_median_V + p.reset_v_sigma_V * d2d.normal(i);
      this.vform[i] = p.form_v_median_V + p.form_v_sigma_V * d2d.normal(i);
      this.ghrs[i] = hrsLevel(p, d2d.normal(i));
    }
    if (p.fraction_rtn > 0) {
      // Stream 6: 4 and 5 are the aging draws'; each optional piece has its own.
      const r = new StreamBank(seed, n, 6);
      this.rtn = new Float64Array(n);
      for (let i = 0; i < n; i++) if (r.uniform(i) < p.fraction_rtn) this.rtn[i] = p.rtn_amplitude_rel;
    }
    // Aging draws come from their own streams: a board with the knobs off is the same board as before.
    if (p.endurance_fail_cycles > 0) {
      const a = new StreamBank(seed, n, 4);
      this.failAt = new Float64Array(n);
      this.failStuckLrs = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        this.failAt[i] = p.endurance_fail_cycles * Math.exp(p.endurance_fail_sigma_log * a.normal(i));
        this.failStuckLrs[i] = a.uniform(i) < p.endurance_fail_lrs_share ? 1 : 0;
      }
    }
    if (p.retention_nu !== 0 || p.retention_nu_sigma > 0) {
      const r = new StreamBank(seed, n, 5);
      this.nu = new Float64Array(n);
      for (let i = 0; i < n; i++) this.nu[i] = p.retention_nu + p.retention_nu_sigma * r.normal(i);
    }
  }

  /** The window factor after this cell's RESETs so far (1 without endurance collapse). */
  private windowFactor(i: number): number {
    const tau = this.p.endurance_tau_cycles;
    return tau > 0 ? Math.exp(-this.counters.reset[i] / tau) : 1;
  }

  /** Device-to-device values a test compares extractions with (the model's own, never sent to a host). */
  deviceParams(i: number): { vset_V: number; vreset_V: number; vform_V: number; v0_V: number; ghrs_S: number; failAt: number; failStuckLrs: boolean; nu: number } {
    return { vset_V: this.vset[i], vreset_V: this.vreset[i], vform_V: this.vform[i], v0_V: this.v0[i], ghrs_S: this.ghrs[i], failAt: this.failAt?.[i] ?? Infinity, failStuckLrs: !!this.failStuckLrs?.[i], nu: this.nu?.[i] ?? 0 };
  }

  /** Compliance-limited conductance the filament grows to at gate voltage vg (nominal VTE). */
  transfer(vg_V: number, v0_V = this.p.transfer_v0_V, gain = 1): number {
    return transferG(this.p, vg_V, v0_V, gain, this.spline);
  }

  /** Gate voltage at which the nominal cell's transfer reaches g (bisection; used for ISPVA tables). */
  gateFor(g_S: number): number {
    let lo = this.p.transfer_v0_V;
    let hi = lo + 10;
    for (let k = 0; k < 60; k++) {
      const mid = (lo + hi) / 2;
      if (this.transfer(mid) < g_S) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  }

  /**
   * After a pulse that acted on the present conductance `before`: a changed conductance is the
   * new programmed value, relaxing (and drifting) from now on; an unchanged one (a pulse below the
   * cell's threshold, a SET under the filament's present value) goes on relaxing as before.
   */
  private commit(i: number, now: number, before: number, after: number): void {
    if (after === before) return;
    this.g[i] = after;
    this.offset[i] = 0;
    this.tRelax[i] = 0;
    this.tProg[i] = now;
    this.relValid[i] = 0;
  }

  form(i: number, vte_V: number, vg_V: number, now: number): void {
    this.counters.form[i]++;
    const cur = this.conductance(i, now);
    const st = this.state[i];
    if (st === CellState.Unformable || st === CellState.StuckHrs) return;
    if (st === CellState.StuckLrs) return this.commit(i, now, cur, this.p.g_cap_S);
    if (st === CellState.Pristine) {
      const vth = this.vform[i] + 0.05 * this.rng.normal(i);
      if (vte_V < vth) return;
      this.state[i] = CellState.Formed;
    }
    // Forming ends like a strong SET limited by the gate.
    this.commit(i, now, cur, this.applySet(i, this.vset[i] + 0.5, vg_V, cur));
  }

  set(i: number, vte_V: number, vg_V: number, now: number): void {
    this.counters.set[i]++;
    const cur = this.conductance(i, now);
    if (this.state[i] !== CellState.Formed) return;
    this.commit(i, now, cur, this.applySet(i, vte_V, vg_V, cur));
  }

  /** The conductance a SET leaves from `cur`: the gate-limited filament when above it (a SET never lowers G). */
  private applySet(i: number, vte_V: number, vg_V: number, cur: number): number {
    const p = this.p;
    const vth = this.vset[i] + p.set_v_c2c_V * this.rng.normal(i);
    if (vte_V <= vth) return cur;
    // Overdrive above the switching threshold, normalised so the nominal cell at the reference
    // VTE (1.2 V, IGVVA) reaches the full transfer value.
    const ref = 1 - Math.exp(-(p.set_vte_ref_V - p.set_v_median_V) / p.set_overdrive_V);
    const x = vte_V - vth;
    const h = (1 - Math.exp(-x / p.set_overdrive_V)) / ref + p.set_vte_slope_per_V * (x - (p.set_vte_ref_V - p.set_v_median_V));
    const vgEff = vg_V + p.vg_jitter_V * this.rng.normal(i);
    let gc = setSpread(p, this.transfer(vgEff, this.v0[i], this.gain[i]) * Math.min(h, 1.3), this.rng.normal(i));
    const w = this.windowFactor(i);
    if (w < 1) gc = p.endurance_mid_S + (gc - p.endurance_mid_S) * w;
    return gc > cur ? gc : cur;
  }

  reset(i: number, vsl_V: number, vg_V: number, now: number): void {
    this.counters.reset[i]++;
    const cur = this.conductance(i, now);
    if (this.state[i] !== CellState.Formed) return;
    const p = this.p;
    // The transistor must conduct for the SL voltage to reach the cell.
    if (vg_V < this.v0[i] + 0.3) return;
    // Worn out (endurance): past its RESETs to failure the cell sticks, at LRS (this RESET fails) or at HRS (after it).
    const worn = this.failAt !== undefined && this.counters.reset[i] >= this.failAt[i];
    if (worn && this.failStuckLrs![i]) {
      this.state[i] = CellState.StuckLrs;
      return;
    }
    const vth = this.vreset[i] + p.reset_v_c2c_V * this.rng.normal(i);
    let after = cur;
    if (vsl_V > vth) {
      const frac = Math.exp(-(vsl_V - vth) / p.reset_width_V) * (1 + p.reset_sigma_rel * this.rng.normal(i));
      const w = this.windowFactor(i);
      const hrs = w < 1 ? p.endurance_mid_S + (this.ghrs[i] - p.endurance_mid_S) * w : this.ghrs[i];
      const gNew = hrs + Math.max(0, cur - hrs) * Math.min(1, Math.max(0, frac));
      if (gNew < cur) after = gNew;
    }
    this.commit(i, now, cur, after);
    if (worn) this.state[i] = CellState.StuckHrs;
  }

  /**
   * `lazy` (an analog MVM's many sensings of one cell within milliseconds): an advance by less
   * than LAZY_ADVANCE of the time since programming is left for later. The increments add up
   * (means telescope, variances add), so advancing once later draws the same distribution as
   * advancing at every sensing; only the sensings in between see the state of the last advance,
   * which relaxation (logarithmic in time) has moved by ~1e-3 of a decade's change since.
   */
  private advanceRelaxation(i: number, now: number, lazy = false): void {
    if (this.state[i] !== CellState.Formed) return;
    const el = now - this.tProg[i];
    const t1 = this.tRelax[i];
    if (el <= t1 || (lazy && el - t1 <= LAZY_ADVANCE * t1)) return;
    const g0 = this.g[i];
    // The terms at t1: from the last advance, or looked up (after a commit or an import).
    if (!this.relValid[i] || !this.cacheOn) this.relaxTerms(i, g0, t1);
    const m1 = this.relM[i];
    const s1 = this.relS[i];
    const fam = this.relFm[i];
    const fav = this.relFv[i];
    const d1 = this.relD[i];
    // The terms at el, kept for the next advance.
    this.relaxTerms(i, g0, el);
    const s2 = this.relS[i];
    const inc = Math.max(0, s2 * s2 - s1 * s1 + (this.relFv[i] - fav));
    this.offset[i] += this.relM[i] - m1 + (this.relFm[i] - fam) + (this.relD[i] - d1) + Math.sqrt(inc) * this.rng.normal(i);
    this.tRelax[i] = el;
  }

  /**
   * The relaxation terms of cell i (programmed to g0) at t seconds after its pulse, into its
   * cache: the table's mean and spread reshaped in time and G0 (1 unless the calibration says
   * otherwise), the fast component's mean and variance (0 unless it has one), the slow drift.
   */
  private relaxTerms(i: number, g0: number, t: number): void {
    const a = this.pairA;
    relaxationPair(this.relax, g0, t, a);
    // What depends on G0 only, once per pulse (two of the lookup's transcendental calls).
    if (!this.relValid[i] || !this.cacheOn) {
      this.relGs[i] = tableGShape(this.p, g0);
      this.relFsd[i] = fastSd(this.p, g0);
    }
    const f = this.p.relaxation_scale * (tableTimeShape(this.p, t) * this.relGs[i]);
    this.relM[i] = a.mean * f;
    this.relS[i] = a.sigma * f;
    const fa = this.fastA;
    fastRelaxationFrom(this.p, this.relFsd[i], g0, t, fa);
    this.relFm[i] = fa.mean;
    this.relFv[i] = fa.variance;
    this.relD[i] = slowDrift(this.p, g0, t);
    this.relValid[i] = 1;
  }

  /** Low-field conductance now (relaxed and drifted, without read noise). */
  conductance(i: number, now: number, lazy = false): number {
    this.advanceRelaxation(i, now, lazy);
    const g = Math.max(0, this.g[i] + this.offset[i]);
    if (!this.nu || this.state[i] !== CellState.Formed) return g;
    const el = now - this.tProg[i];
    return el > 1 ? g * Math.pow(el, -this.nu[i]) : g;
  }

  private ivRatio(g0: number, v: number): number {
    return ivRatio(this.iv, g0, v);
  }

  /** Read current (A) at vread: relaxation, read noise and I-V curvature included. */
  read(i: number, vread_V: number, now: number): number {
    const gn = this.noisyConductance(i, now);
    return gn * vread_V * this.ivRatio(gn, vread_V);
  }

  /**
   * The conductance (S) a cell shows at voltage v in one sensing: read noise drawn, the I-V
   * curvature at v (at v = 0 its low-field limit). Counts as a read. Callers that drive many cells
   * at once (an analog MVM) multiply these by the voltages the cells see.
   */
  readConductance(i: number, v: number, now: number): number {
    const gn = this.noisyConductance(i, now, true);
    return v > 0 ? gn * this.ivRatio(gn, v) : gn;
  }

  /** Cells from..from+n-1 sensed at 0 V in an MVM (no current: counted as read, nothing drawn). */
  countReads(from: number, n: number): void {
    for (let i = from; i < from + n; i++) this.counters.read[i]++;
  }

  private noisyConductance(i: number, now: number, lazy = false): number {
    this.counters.read[i]++;
    const g = this.conductance(i, now, lazy);
    const p = this.p;
    const sigma = p.read_noise_S + p.read_noise_rel * g;
    let gn = Math.max(0, g + sigma * this.noise.normal(i));
    if (this.rtn && this.rtn[i] > 0) gn *= rtnFactor(this.rtn[i], this.noise.uniform(i));
    return gn;
  }

  stateOf(i: number): CellState {
    return this.state[i] as CellState;
  }

  /**
   * A cell's whole mutable state (filament, relaxation, its two random streams, counters) as a
   * fixed-size record; device-to-device parameters are not in it (they follow from seed and
   * calibration, which key the saved board).
   */
  static readonly RECORD_BYTES = 1 + 4 * 8 + 8 * 4 + 4 * 4;
  exportCell(i: number, out: Buffer, at: number): void {
    out[at] = this.state[i];
    let o = at + 1;
    for (const a of [this.g, this.tProg, this.offset, this.tRelax]) {
      out.writeDoubleLE(a[i], o);
      o += 8;
    }
    const w = new Uint32Array(8);
    this.rng.getState(i, w, 0);
    this.noise.getState(i, w, 4);
    for (let k = 0; k < 8; k++, o += 4) out.writeUInt32LE(w[k], o);
    for (const c of [this.counters.form, this.counters.set, this.counters.reset, this.counters.read]) {
      out.writeUInt32LE(c[i], o);
      o += 4;
    }
  }
  importCell(i: number, b: Buffer, at: number): void {
    this.state[i] = b[at];
    this.relValid[i] = 0;
    let o = at + 1;
    for (const a of [this.g, this.tProg, this.offset, this.tRelax]) {
      a[i] = b.readDoubleLE(o);
      o += 8;
    }
    const w = new Uint32Array(8);
    for (let k = 0; k < 8; k++, o += 4) w[k] = b.readUInt32LE(o);
    this.rng.setState(i, w, 0);
    this.noise.setState(i, w, 4);
    for (const c of [this.counters.form, this.counters.set, this.counters.reset, this.counters.read]) {
      c[i] = b.readUInt32LE(o);
      o += 4;
    }
  }
}
