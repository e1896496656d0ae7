/**
 * What a calibration sweep (`rram sweep`) identifies. Direct estimates: read noise (back-to-back
 * reads at two conductances), pristine conductance, stuck share, the gate transfer and its
 * device-to-device spreads (fit-transfer.ts). Indirect inference for what a staircase shows only
 * through its design (forming, SET and RESET switching, partial switching, cycle-to-cycle
 * spreads): the recorded sweep is simulated with candidate values and the values moved until the
 * simulated statistics (sweep-stats.ts) match; the same design makes staircase quantisation,
 * first passage and running maxima cancel. Then the staircase fit's own bias is removed the same
 * way (the values whose simulated sweep, fitted alike, gives the board's fit).
 */
import { values, type CalValues, type Calibration, type RelaxationTable, type ScalarName } from '../../calibration/calibration.js';
import { transferG } from '../../calibration/transfer.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { Rng } from '../../lib/rng.js';
import { mean, std } from '../analysis/stats.js';
import type { SweepCell, SweepDataset } from '../procedures/sweep.js';
import { fitTransfer, staircaseCurves, type TransferFit } from './fit-transfer.js';
import { bootstrapSE, invSym, median, nnls, seedOf } from './numeric.js';
import type { SimPool } from './sim-pool.js';
import { sweepDesign, type SimTransfer, type SweepDesign } from './sim-tasks.js';
import { sweepStats, toG, type SweepStats } from './sweep-stats.js';
import { withValues } from './with-values.js';

export type Setter = (k: ScalarName, v: number, method: string, runs: string[], unc?: number) => void;
export interface QualityRow {
  statistic: string;
  measured: number;
  model: number;
  unit: string;
  se?: number;
}
export interface TransferOut {
  fit: Omit<TransferFit, 'perCurve'>;
  points: { vg: number; g: number }[];
  curve: { vg: number; g: number }[];
}

interface Block {
  params: ScalarName[];
  /** Per parameter: solved for its square (a variance) rather than itself. Default all squared. */
  squared?: boolean[];
  stats: ((s: SweepStats) => number)[];
  what: string;
  J?: number[][];
  /** The linearised targets of the last step (J x = y). */
  y?: number[];
  se?: number[];
}
interface Match {
  param: ScalarName;
  stat: (s: SweepStats) => number;
  kind: 'shift' | 'scale';
  elasticity?: number;
  what: string;
}

const MATCHES: Match[] = [
  { param: 'form_v_median_V', stat: (s) => s.formMedian_V, kind: 'shift', what: 'median forming VTE' },
  { param: 'form_v_sigma_V', stat: (s) => s.formSigma_V, kind: 'scale', elasticity: 1, what: 'spread of the forming VTE' },
  { param: 'set_v_median_V', stat: (s) => s.switchMedian_V, kind: 'shift', what: 'median ISPVA switching VTE' },
  { param: 'set_v_sigma_V', stat: (s) => s.switchCov_V2, kind: 'scale', elasticity: 2, what: "covariance of a cell's switching VTE over two cycles" },
  // The HRS as the reads see it a settling time after a deep RESET (its relaxation included).
  { param: 'g_hrs_S', stat: (s) => s.hrsMedian_S, kind: 'scale', elasticity: 1, what: 'median HRS read after a deep RESET and the settling wait' },
  { param: 'g_hrs_sigma_log', stat: (s) => s.hrsSigmaLog, kind: 'scale', elasticity: 1, what: 'robust spread of ln G of those reads' },
  { param: 'reset_v_median_V', stat: (s) => s.resetMedian_V, kind: 'shift', what: 'median RESET onset VSL' },
  { param: 'reset_v_sigma_V', stat: (s) => s.resetCov_V2, kind: 'scale', elasticity: 2, what: "covariance of a cell's RESET onset over two cycles" },
  { param: 'reset_width_V', stat: (s) => s.resetDecay, kind: 'scale', elasticity: -1, what: 'mean decay per RESET step after the onset' },
];

/** Cycle-to-cycle blocks, solved jointly (each statistic mixes several parameters). */
const blocks = (): Block[] => [
  {
    // Partial switching past the SET threshold (ISPVA staircases): how abruptly, how it grows.
    params: ['set_overdrive_V', 'set_vte_slope_per_V'],
    squared: [false, false],
    stats: [(s) => s.partial[0], (s) => s.partial[1], (s) => s.partial[2], (s) => s.overdriveSlope_perV],
    what: 'the partial switching just above the ISPVA switching VTE and the growth of the read past it, solved together',
  },
  {
    params: ['set_v_c2c_V', 'vg_jitter_V', 'set_sigma_rel'],
    stats: [(s) => s.switchDiffVar_V2, (s) => s.repeatSigma_S[0] ** 2, (s) => s.repeatSigma_S[1] ** 2],
    what: "the ISPVA switching VTE's cycle-to-cycle variance and the spread of single SETs from HRS at the two repeat gates, solved together",
  },
  { params: ['reset_v_c2c_V', 'reset_sigma_rel'], stats: [(s) => s.resetDiffVar_V2, (s) => s.resetDecaySpread ** 2], what: "the RESET onset's cycle-to-cycle variance and the spread of the decay per step, solved together" },
];

const how = (what: string) => `indirect inference: the recorded sweep simulated with candidate values until the simulated ${what} matched the measured one`;

export interface SweepFitInput {
  base: Calibration;
  p: CalValues;
  set: Setter;
  quality: QualityRow[];
  pool: SimPool;
  relaxation: RelaxationTable;
  runId: string;
  data: SweepDataset;
  keep: (i: number) => boolean;
  simCells?: number;
  iterations?: number;
}

export class SweepFit {
  private readonly runs: string[];
  private readonly ds: SweepDataset;
  private readonly cells: SweepCell[];
  private readonly ok: SweepCell[];
  private readonly p: CalValues;
  private readonly design: SweepDesign;
  private readonly nSim: number;
  private readonly simInflation: number;
  private readonly simSeed: number;
  private tf!: TransferFit;
  private obs!: SweepStats;
  private matches: Match[] = [];
  private blocks: Block[] = [];
  private boot: SweepStats[] = [];
  private readonly history = new Map<ScalarName, { x: number; y: number }[]>();

  constructor(private readonly o: SweepFitInput) {
    this.runs = [o.runId];
    this.ds = o.data;
    this.p = o.p;
    this.cells = o.data.cells.filter((_, k) => o.keep(k));
    this.ok = this.cells.filter((c) => c.status === 'ok');
    const twoCycles = this.ok.filter((c) => c.cycles.length >= 2);
    if (twoCycles.length < 20) throw new InvalidArgumentError('--from', o.runId, `the transfer fit needs at least 20 formed cells with two gate staircases; this sweep has ${twoCycles.length} (run \`rram sweep --cells 128\`)`);
    // Simulated populations larger than the measured one keep the simulation's own noise small;
    // its variance adds to the data's (1 + nData / nSim).
    this.nSim = o.simCells ?? Math.max(192, Math.min(256, this.cells.length));
    this.simInflation = Math.sqrt(1 + this.cells.length / this.nSim);
    this.design = sweepDesign(o.data);
    this.simSeed = seedOf(o.data.cells);
  }

  async run(): Promise<TransferOut> {
    this.direct();
    const out = this.transferDirect();
    this.setupIndirect();
    await this.iterate();
    await this.transferBias();
    this.p.gain_sigma_rel = this.gainFromEff(this.p);
    const final = await this.simulate(this.p);
    this.uncertainties();
    this.reportQuality(final);
    out.curve = Array.from({ length: 80 }, (_, k) => {
      const g = this.ds.config.gate;
      const vg = g.vgStart_V + ((g.vgStop_V - g.vgStart_V) * k) / 79;
      return { vg, g: transferG(this.p, vg) };
    });
    return out;
  }

  private simulate(q: CalValues): Promise<SweepStats> {
    return this.o.pool.run({ kind: 'sweep-stats', cal: withValues(this.o.base, q, this.o.relaxation), design: this.design, n: this.nSim, seed: this.simSeed, gCap_S: q.g_cap_S });
  }
  private simTransfer(q: CalValues, n: number, seed: number): Promise<SimTransfer> {
    return this.o.pool.run({ kind: 'sweep-transfer', cal: withValues(this.o.base, q, this.o.relaxation), design: this.design, n, seed });
  }
  private seOf(f: (s: SweepStats) => number): number {
    const v = this.boot.map(f).filter(Number.isFinite);
    const m = mean(v);
    return Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / Math.max(1, v.length - 1));
  }
  /** gain_sigma_rel: the curve-scale spread minus what the SET threshold's spread adds through h(VTE - vth). */
  private gainFromEff(q: CalValues): number {
    return Math.sqrt(Math.max(0, this.tf.gainSigmaEff ** 2 - hVariance(q)));
  }

  /** Read noise, pristine conductance, stuck share. */
  private direct(): void {
    const { ds, ok, cells, p, runs } = this;
    const set = this.o.set;
    const G = (i: number) => toG(this.o.base, i, ds.vread_V);
    // Read noise: back-to-back reads (after a settling wait) at a mid-LRS state and at HRS.
    const K = ds.noiseReads;
    if (K >= 3) {
      const cluster = (pick: (c: SweepCell) => number[]) => {
        const per = ok.map((c) => pick(c).map(G)).filter((r) => r.length >= 3);
        return { g: mean(per.map((r) => mean(r))), sd: Math.sqrt(mean(per.map((r) => std(r) ** 2))), per };
      };
      const hi = cluster((c) => c.noise.high_A);
      const lo = cluster((c) => c.noise.hrs_A);
      let b = (hi.sd - lo.sd) / (hi.g - lo.g);
      let a = lo.sd - b * lo.g;
      if (!(b > 0)) {
        b = 0;
        a = Math.sqrt((lo.sd ** 2 + hi.sd ** 2) / 2);
      }
      const se = bootstrapSE(hi.per.concat(lo.per), (xs) => Math.sqrt(mean(xs.map((r) => std(r) ** 2))));
      set('read_noise_S', Math.max(0, a), `${K} back-to-back reads per cell ${ds.settle_s} s after programming, at HRS and mid-LRS: sigma = a + b G through the two clusters`, runs, se);
      set('read_noise_rel', b, 'same fit (slope)', runs, hi.g > lo.g ? (se * Math.SQRT2) / (hi.g - lo.g) : undefined);
    }
    // Pristine cells, when they read above the noise floor.
    const pristine = cells.map((c) => G(c.pristine_A)).filter((g) => g > 3 * p.read_noise_S);
    if (pristine.length > cells.length / 2) set('g_pristine_S', median(pristine), 'median read of the pristine cells', runs, bootstrapSE(pristine, median));
    // Stuck at LRS: formed cells that a deep RESET does not bring down.
    const stuck = ok.filter((c) => c.cycles[0] && c.cycles[0].hrs_A > 10e-6).length;
    // Poisson error on a count, at least one event's worth: a count of 0 or 1 says little.
    const nStuck = Math.max(1, ok.length + cells.filter((c) => c.status === 'unformable').length);
    set('fraction_stuck_lrs', stuck / nStuck, 'share of formed cells that read > 10 uA after a deep RESET', runs, Math.sqrt(stuck + 1) / nStuck);
  }

  /** The gate transfer: direct curve fit of the staircases. */
  private transferDirect(): TransferOut {
    const { p, runs } = this;
    const set = this.o.set;
    const curves = staircaseCurves(this.ok, this.o.base, this.ds.vread_V);
    const tf = (this.tf = fitTransfer(curves, p, { standardErrors: false }));
    const m = 'gate staircase at the reference VTE, G = cap(gain Gsat (1 - exp(-slope (VG - v0)))), a shift and a gain per curve, one shape for all';
    set('transfer_gsat_S', tf.gsat_S, m, runs, tf.se.gsat_S);
    set('transfer_slope_per_V', tf.slope_perV, m, runs, tf.se.slope_perV);
    set('transfer_v0_V', tf.v0_V, 'median of the per-cell shifts', runs, bootstrapSE(tf.perCurve.map((c) => c.v0_V), median));
    set('transfer_v0_sigma_V', tf.v0Sigma_V, "sqrt of the covariance of a cell's shifts in its two cycles (cycle-to-cycle noise drops out)", runs, tf.se.v0Sigma_V);
    if (tf.capIdentified) {
      set('g_cap_S', tf.gCap_S, 'saturation of the gate staircases (same fit)', runs, tf.se.gCap_S);
      set('g_cap_sharpness', tf.sharpness, 'same fit', runs, tf.se.sharpness);
    }
    const pts = curves.slice(0, 24).flatMap((c) => Array.from(c.vg, (v, k) => ({ vg: v, g: c.g[k] })));
    const { perCurve: _drop, ...fit } = tf;
    return { fit, points: pts, curve: [] };
  }

  /** Starting points from the statistics themselves (half a step below the first passage), the statistics' bootstrap errors. */
  private setupIndirect(): void {
    const { p, ds, cells } = this;
    const obs = (this.obs = sweepStats(cells, this.o.base, ds.vread_V, p.g_cap_S));
    const fStep = ds.config.form.vteStep_V;
    if (Number.isFinite(obs.formMedian_V)) {
      p.form_v_median_V = obs.formMedian_V - fStep / 2;
      p.form_v_sigma_V = Math.sqrt(Math.max(1e-4, obs.formSigma_V ** 2 - fStep ** 2 / 12));
    }
    if (Number.isFinite(obs.switchMedian_V)) p.set_v_median_V = obs.switchMedian_V - ds.config.ispva.vteStep_V / 2;
    this.matches = MATCHES.filter((m) => Number.isFinite(m.stat(obs)));
    const rng = new Rng(99);
    for (let r = 0; r < 64; r++) this.boot.push(sweepStats(Array.from({ length: cells.length }, () => cells[rng.int(cells.length)]), this.o.base, ds.vread_V, p.g_cap_S));
    this.blocks = blocks().filter((b) => b.stats.every((f) => Number.isFinite(f(obs))));
    for (const bl of this.blocks) bl.se = bl.stats.map((f) => this.seOf(f) || Math.abs(f(obs)) * 0.1);
  }

  /** Sensitivities d(statistic)/d(x), x = the parameter or its square, for every block at once (independent simulations, in parallel). */
  private async sensitivities(at: CalValues, base: Promise<SweepStats>): Promise<void> {
    const baseV = values(this.o.base);
    await Promise.all(
      this.blocks.flatMap((bl) => {
        const sq = (j: number) => bl.squared?.[j] ?? true;
        const xOf = (j: number, v: number) => (sq(j) ? v * v : v);
        const J = bl.stats.map(() => [] as number[]);
        bl.J = J;
        return bl.params.map(async (k, j) => {
          // A spread near zero doubled is still near zero: the step is at least half the base value.
          const v = sq(j) ? Math.max(at[k] * 2, 0.5 * baseV[k]) : at[k] * 1.15 + (k.endsWith('_V') && !sq(j) ? 0.02 : 0);
          const d = await this.simulate({ ...at, [k]: v });
          const b0 = await base;
          bl.stats.forEach((f, i) => (J[i][j] = (f(d) - f(b0)) / (xOf(j, v) - xOf(j, at[k]))));
        });
      }),
    );
  }

  /** Each matched parameter moves by the difference (medians) or the ratio (spreads); each block by a bounded linear solve. */
  private async iterate(): Promise<void> {
    const { p, obs } = this;
    const iters = this.o.iterations ?? 5;
    for (let it = 0; it < iters; it++) {
      p.gain_sigma_rel = this.gainFromEff(p);
      const simP = this.simulate(p);
      // The sensitivities are measured at the start and at the third step.
      if (it === 0 || it === 2) await this.sensitivities({ ...p }, simP);
      const sim = await simP;
      for (const m of this.matches) {
        const o = m.stat(obs);
        const v = m.stat(sim);
        if (!Number.isFinite(v)) continue;
        this.history.set(m.param, [...(this.history.get(m.param) ?? []), { x: p[m.param], y: v }]);
        if (m.kind === 'shift') p[m.param] += o - v;
        else if (o > 0 && v > 0) p[m.param] *= Math.min(2, Math.max(0.5, (o / v) ** (1 / m.elasticity!)));
      }
      for (const bl of this.blocks) {
        const sq = (j: number) => bl.squared?.[j] ?? true;
        const x0 = bl.params.map((k, j) => (sq(j) ? p[k] * p[k] : p[k]));
        const J = bl.J!;
        const y = bl.stats.map((f, i) => f(obs) - f(sim) + J[i].reduce((a, jv, j) => a + jv * x0[j], 0));
        const x = nnls(J.map((row, i) => row.map((v) => v / bl.se![i])), y.map((v, i) => v / bl.se![i]));
        bl.y = y;
        // At most a factor 2 per step: a linearisation far from the solution must not throw it away.
        bl.params.forEach((k, j) => {
          const v = sq(j) ? Math.sqrt(Math.max(x[j], 1e-12)) : x[j];
          p[k] = Math.min(2 * p[k], Math.max(0.5 * p[k], v));
        });
      }
    }
  }

  /**
   * The staircase fit's own bias (running maxima near saturation, noise in the shifts, the SET
   * threshold's share in the curves): the values whose simulated sweep, fitted the same way,
   * gives what the board's gave (three fixed-point steps); uncertainties in transferErrors.
   */
  private async transferBias(): Promise<void> {
    const { p, tf } = this;
    const keys = transferKeys(tf);
    const target = keys.map((m) => tr(m, m.of(tf)));
    let theta = target.slice();
    const hist: { theta: number[]; fit: number[] }[] = [];
    let effSim = NaN;
    // A spread (sigma, c2c, jitter) fitted additively stays >= 0: a calibration refuses a negative one.
    const value = (m: TransferKey, t: number) => (m.log ? Math.exp(t) : /sigma|c2c|jitter/.test(m.k) ? Math.max(0, t) : t);
    for (let it = 0; it < 3; it++) {
      keys.forEach((m, j) => (p[m.k] = value(m, theta[j])));
      const tfSim = await this.simTransfer(p, this.nSim, seedOf(this.ds.cells, 1));
      const fit = keys.map((m) => tr(m, m.of(tfSim)));
      if (fit.some((v) => !Number.isFinite(v))) break;
      hist.push({ theta: theta.slice(), fit });
      effSim = tfSim.gainSigmaEff;
      // At most 30 % (50 mV) per step: far from the fixed point the simulated fit may go astray.
      theta = theta.map((t, j) => t + Math.max(-(keys[j].log ? 0.3 : 0.05), Math.min(keys[j].log ? 0.3 : 0.05, target[j] - fit[j])));
    }
    keys.forEach((m, j) => (p[m.k] = value(m, theta[j])));
    if (Number.isFinite(effSim)) tf.gainSigmaEff = Math.max(0, tf.gainSigmaEff - (effSim - Math.sqrt(p.gain_sigma_rel ** 2 + hVariance(p))));
    await this.transferErrors(keys, target, hist);
  }

  /**
   * The transfer's uncertainties: the direct fit's sampling error by parametric bootstrap (sweeps
   * simulated at the result with other seeds, fitted the same way), divided by how strongly the
   * simulated fit follows each value, plus what the last step left and what the SET switching's
   * uncertainty carries over (the staircases also scale with how far VTE is above the threshold).
   */
  private async transferErrors(keys: TransferKey[], target: number[], hist: { theta: number[]; fit: number[] }[]): Promise<void> {
    const { p } = this;
    const base = hist.length ? hist[hist.length - 1] : undefined;
    if (!base) return;
    const partial = this.blocks.find((b) => b.params.includes('set_overdrive_V'));
    const nuisance: { k: ScalarName; se: number }[] = [{ k: 'set_v_median_V', se: this.seOf((q) => q.switchMedian_V) }];
    if (partial?.J) {
      const cov = invSym(partial.params.map((_, a) => partial.params.map((_, b) => partial.J!.reduce((acc, row, i) => acc + (row[a] * row[b]) / partial.se![i] ** 2, 0))));
      partial.params.forEach((k, j) => nuisance.push({ k, se: Math.sqrt(Math.max(0, cov[j][j])) }));
    }
    const bootsP = Promise.all(
      [2, 3, 4, 5, 6].map(async (k) => {
        const f = await this.simTransfer(p, this.cells.length, seedOf(this.ds.cells, k));
        return keys.map((m) => tr(m, m.of(f)));
      }),
    );
    const propP = Promise.all(
      nuisance
        .filter((n) => Number.isFinite(n.se) && n.se > 0)
        .map(async (n) => {
          const q = { ...p, [n.k]: p[n.k] + n.se };
          keys.forEach((m, j) => (q[m.k] = m.log ? Math.exp(base.theta[j]) : base.theta[j]));
          const f = await this.simTransfer(q, this.nSim, seedOf(this.ds.cells, 1));
          return keys.map((m, j) => tr(m, m.of(f)) - base.fit[j]);
        }),
    );
    const [boots, prop] = await Promise.all([bootsP, propP]);
    const a = hist[0];
    keys.forEach((m, j) => {
      const xs = [...boots.map((b) => b[j]), base.fit[j]].filter(Number.isFinite);
      const sampleSe = xs.length >= 3 ? std(xs) : NaN;
      const dTheta = base.theta[j] - a.theta[j];
      // How strongly the simulated fit follows the value, from two noisy points: it may widen the
      // uncertainty (a value the staircases barely see), never narrow it below the direct fit's
      // own sampling spread (a steep-looking slope between two noisy fits once claimed 1.3 % for a
      // value 15 % off).
      const follow = Math.abs(dTheta) > 1e-6 ? Math.min(1, Math.max(0.3, Math.abs((base.fit[j] - a.fit[j]) / dTheta))) : 1;
      const left = Math.abs(target[j] - base.fit[j]) / follow;
      const carried = Math.sqrt(prop.reduce((acc, d) => acc + (Number.isFinite(d[j]) ? (d[j] / follow) ** 2 : 0), 0));
      const direct = Number.isFinite(sampleSe) ? sampleSe : Number.isFinite(m.se) ? m.se : 0;
      const seX = Math.hypot(direct / follow, left, carried);
      this.o.set(m.k, p[m.k], `${m.what}; the fit's own bias removed: the values whose simulated sweep, fitted the same way, gives the board's fit`, this.runs, m.log ? p[m.k] * seX : seX);
    });
  }

  /**
   * The bootstrap spread of each matched statistic over the measured cells, carried to the
   * parameter through its sensitivity (over the iterations when the parameter moved, else its
   * elasticity), and through the joint solve for the blocks; all times the simulation's share.
   */
  private uncertainties(): void {
    const { p, obs, runs, simInflation } = this;
    const set = this.o.set;
    for (const m of this.matches) {
      const se = this.seOf(m.stat);
      const h = this.history.get(m.param) ?? [];
      const span = h.length > 1 ? Math.max(...h.map((q) => q.x)) - Math.min(...h.map((q) => q.x)) : 0;
      let slope = NaN;
      if (span > 1e-3 * Math.abs(p[m.param])) {
        const mx = mean(h.map((q) => q.x));
        const my = mean(h.map((q) => q.y));
        slope = h.reduce((a, q) => a + (q.x - mx) * (q.y - my), 0) / h.reduce((a, q) => a + (q.x - mx) ** 2, 0);
      }
      const o = m.stat(obs);
      const fromElasticity = m.kind === 'shift' ? se : Math.abs((p[m.param] * (se / Math.abs(o))) / m.elasticity!);
      const unc = Number.isFinite(slope) && Math.abs(slope) > 0 ? Math.max(se / Math.abs(slope), 0.5 * fromElasticity) : fromElasticity;
      set(m.param, p[m.param], how(m.what), runs, unc * simInflation);
    }
    for (const bl of this.blocks) this.blockErrors(bl);
    set('gain_sigma_rel', p.gain_sigma_rel, "covariance of a cell's curve scale over two cycles, minus the part the SET threshold's spread adds", runs, bootstrapSE(this.tf.perCurve.filter((c) => c.cycle === 0).map((c) => c.gain), (x) => std(x)));
    // Unformable: cells not formed beyond what the forming-voltage tail explains.
    const tail = 1 - phi((this.ds.config.form.vteStop_V - p.form_v_median_V) / Math.hypot(p.form_v_sigma_V, 0.05));
    const nPristine = this.cells.filter((c) => c.formVte_V !== null || c.status === 'unformable').length;
    set('fraction_unformable', Math.max(0, obs.unformed - tail), 'share of cells never formed in the forming staircase, minus the forming-voltage tail beyond its top', runs, Math.sqrt(obs.unformed * nPristine + 1) / Math.max(1, nPristine));
  }

  /**
   * A block's covariance (J^T W J)^-1 in x (a variance for a squared parameter: se = se_x / 2 sqrt x,
   * and [0, sqrt(se_x)] at the bound). A spread the solve put at zero hands its share to its
   * partners: each partner's uncertainty includes how far it moves when the bounded one is held at
   * the base calibration's value instead (one linear solve, no simulation).
   */
  private blockErrors(bl: Block): void {
    const { p } = this;
    const W = (a: number, b: number, J: number[][]) => J.reduce((acc, row, i) => acc + (row[a] * row[b]) / bl.se![i] ** 2, 0);
    const cov = invSym(bl.params.map((_, a) => bl.params.map((_, b) => W(a, b, bl.J!))));
    const sqOf = (j: number) => bl.squared?.[j] ?? true;
    const shift = bl.params.map(() => 0);
    const baseV = values(this.o.base);
    bl.params.forEach((k, j) => {
      const b0 = baseV[k];
      if (!sqOf(j) || !bl.y || p[k] > 0.2 * b0) return;
      const fixed = b0 * b0;
      const free = bl.params.map((_, i) => i).filter((i) => i !== j);
      const A = free.map((a) => free.map((b) => W(a, b, bl.J!)));
      const r = free.map((a) => bl.J!.reduce((acc, row, i) => acc + (row[a] * (bl.y![i] - row[j] * fixed)) / bl.se![i] ** 2, 0));
      const sol = invSym(A).map((row) => row.reduce((acc, v, c) => acc + v * r[c], 0));
      free.forEach((i, c) => {
        const alt = sqOf(i) ? Math.sqrt(Math.max(0, sol[c])) : sol[c];
        if (Number.isFinite(alt)) shift[i] = Math.max(shift[i], Math.abs(alt - p[bl.params[i]]));
      });
    });
    bl.params.forEach((k, j) => {
      const seX = Math.sqrt(Math.max(0, cov[j][j]));
      const se = !sqOf(j) ? seX : p[k] ** 2 > seX ? seX / (2 * p[k]) : Math.sqrt(seX);
      this.o.set(k, p[k], how(bl.what), this.runs, Math.hypot(se * this.simInflation, shift[j]));
    });
  }

  private reportQuality(final: SweepStats): void {
    const { obs, ds } = this;
    const q = (statistic: string, o: number, s: number, unit: string) => this.o.quality.push({ statistic, measured: o, model: s, unit });
    q('forming VTE median', obs.formMedian_V, final.formMedian_V, 'V');
    q('forming VTE sigma', obs.formSigma_V, final.formSigma_V, 'V');
    q('ISPVA switching VTE median', obs.switchMedian_V, final.switchMedian_V, 'V');
    q('switching VTE cross-cycle covariance', obs.switchCov_V2, final.switchCov_V2, 'V^2');
    q('switching VTE cycle-to-cycle variance', obs.switchDiffVar_V2, final.switchDiffVar_V2, 'V^2');
    q('read after the switch / 0.5 V above (1st step)', obs.partial[0], final.partial[0], '1');
    q('read growth past the switch', obs.overdriveSlope_perV, final.overdriveSlope_perV, '1/V');
    obs.repeatSigma_S.forEach((v, k) => q(`single-SET spread at ${ds.config.repeat.vgs_V[k]} V (G ${(obs.repeatG_S[k] * 1e6).toFixed(0)} uS)`, v, final.repeatSigma_S[k], 'S'));
    q('gate staircase c2c difference (steep part)', obs.c2cLow_S, final.c2cLow_S, 'S');
    q('gate staircase c2c difference (high part)', obs.c2cHigh_S, final.c2cHigh_S, 'S');
    q('RESET onset VSL median', obs.resetMedian_V, final.resetMedian_V, 'V');
    q('RESET onset cross-cycle covariance', obs.resetCov_V2, final.resetCov_V2, 'V^2');
    q('RESET decay per step', obs.resetDecay, final.resetDecay, '1');
    q('unformed share', obs.unformed, final.unformed, '1');
  }
}

interface TransferKey {
  k: ScalarName;
  of: (t: SimTransfer) => number;
  log: boolean;
  se: number;
  what: string;
}
const tr = (m: TransferKey, v: number) => (m.log ? Math.log(v) : v);
const SHAPE = 'gate staircase at the reference VTE, G = cap(gain Gsat (1 - exp(-slope (VG - v0)))), a shift and a gain per curve, one shape for all';
function transferKeys(tf: TransferFit): TransferKey[] {
  return [
    { k: 'transfer_gsat_S', of: (t) => t.gsat_S, log: true, se: tf.se.gsat_S / tf.gsat_S, what: SHAPE },
    { k: 'transfer_slope_per_V', of: (t) => t.slope_perV, log: true, se: tf.se.slope_perV / tf.slope_perV, what: SHAPE },
    { k: 'transfer_v0_V', of: (t) => t.v0_V, log: false, se: bootstrapSE(tf.perCurve.map((c) => c.v0_V), median), what: 'median of the per-cell shifts' },
    { k: 'transfer_v0_sigma_V', of: (t) => t.v0Sigma_V, log: false, se: tf.se.v0Sigma_V, what: "sqrt of the covariance of a cell's shifts in its two cycles (cycle-to-cycle noise drops out)" },
    ...(tf.capIdentified
      ? [
          { k: 'g_cap_S' as ScalarName, of: (t: SimTransfer) => t.gCap_S, log: true, se: tf.se.gCap_S / tf.gCap_S, what: 'saturation of the gate staircases (same fit)' },
          { k: 'g_cap_sharpness' as ScalarName, of: (t: SimTransfer) => t.sharpness, log: true, se: tf.se.sharpness / tf.sharpness, what: 'sharpness of that saturation (same fit)' },
        ]
      : []),
  ];
}

function phi(z: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(z / Math.SQRT2));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(z * z) / 2);
  return 0.5 * (1 + (z >= 0 ? y : -y));
}

/** Variance over cells of the SET overdrive factor h at the reference VTE, from the SET threshold's device-to-device spread. */
function hVariance(p: CalValues): number {
  const ref = 1 - Math.exp(-(p.set_vte_ref_V - p.set_v_median_V) / p.set_overdrive_V);
  const h = (vth: number) => {
    const x = p.set_vte_ref_V - vth;
    if (x <= 0) return 0;
    return Math.min(1.3, (1 - Math.exp(-x / p.set_overdrive_V)) / ref + p.set_vte_slope_per_V * (x - (p.set_vte_ref_V - p.set_v_median_V)));
  };
  // Gauss-Hermite-like quadrature over the threshold's spread (the c2c part averages out over a staircase).
  const zs = [-2, -1, 0, 1, 2];
  const ws = [0.0545, 0.2442, 0.4026, 0.2442, 0.0545];
  const vals = zs.map((z) => h(p.set_v_median_V + z * p.set_v_sigma_V));
  const m = vals.reduce((a, v, i) => a + ws[i] * v, 0);
  return vals.reduce((a, v, i) => a + ws[i] * (v - m) ** 2, 0);
}
