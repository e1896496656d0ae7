/**
 * `rram calibrate --from RUNS`: every parameter of the device model fitted from a board's own
 * measurements, each with its method, runs and uncertainty; what the data cannot identify is kept
 * from the base calibration and marked so.
 *  - Direct estimates: read noise (back-to-back reads at two conductances), HRS distribution (reads
 *    after a deep RESET), pristine conductance, stuck and unformable shares, the gate transfer and
 *    its device-to-device spreads (fit-transfer.ts), relaxation (re-reads of a characterize run).
 *  - Indirect inference for what a staircase only shows through its design (forming, SET and RESET
 *    switching, partial switching, cycle-to-cycle spreads): the recorded sweep is simulated on the
 *    emulator with candidate values and the values moved until the simulated statistics
 *    (sweep-stats.ts) match the measured ones. The simulation repeats the exact design, so
 *    staircase quantisation, first-passage effects and running maxima cancel.
 */
import { validateCalibration, values, type CalValues, type Calibration, type ScalarName, ALL_UNITS } from '../../calibration/calibration.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { mean, std } from '../analysis/stats.js';
import type { LevelCdfDataset } from '../procedures/characterize.js';
import type { SweepCell, SweepDataset } from '../procedures/sweep.js';
import { SimPool } from './sim-pool.js';
import { characterizeDesign, sweepDesign } from './sim-tasks.js';
import { fitLevels, levelsUsable, MIN_LEVEL_CELLS } from './fit-levels.js';
import { fitTransfer, staircaseCurves, type TransferFit } from './fit-transfer.js';
import { bootstrapSE, invSym, median, nnls, seedOf } from './numeric.js';
import { Rng } from '../../lib/rng.js';

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

import { sweepStats, toG, type SweepStats } from './sweep-stats.js';

export interface FitInput {
  base: Calibration;
  sweeps: { runId: string; data: SweepDataset }[];
  cdfs: { runId: string; data: LevelCdfDataset }[];
  /** Only cells whose index in their dataset passes (hold-out validation). */
  keep?: (index: number) => boolean;
  /** Cells per simulated sweep (default: the measured count, within 192..256). */
  simCells?: number;
  iterations?: number;
  id?: string;
}

export interface ParamFit {
  value: number;
  unit: string;
  status: 'fitted' | 'kept' | 'convention';
  method: string;
  runs: string[];
  uncertainty?: number;
}

export interface FitResult {
  calibration: Calibration;
  params: Record<ScalarName, ParamFit>;
  /** Measured statistic beside the fitted model's simulation of the same sweep. */
  quality: { statistic: string; measured: number; model: number; unit: string }[];
  transfer?: { fit: Omit<TransferFit, 'perCurve'>; points: { vg: number; g: number }[]; curve: { vg: number; g: number }[] };
  relaxation?: { levels: { g_S: number; t_s: number; measured_S: number; model_S: number; n: number }[] };
  elapsed_s: number;
}

const CONVENTIONS: Partial<Record<ScalarName, string>> = {
  set_vte_ref_V: 'the VTE at which the transfer is defined (IGVVA keeps VTE there)',
  op_overhead_s: 'emulator timing, not a device property',
  read_time_s: 'emulator timing, not a device property',
};

export async function fitCalibration(input: FitInput): Promise<FitResult> {
  const pool = new SimPool();
  try {
    return await fitWith(input, pool);
  } finally {
    await pool.close();
  }
}

async function fitWith(input: FitInput, pool: SimPool): Promise<FitResult> {
  const t0 = performance.now();
  const p: CalValues = { ...values(input.base) };
  const fits = new Map<ScalarName, Omit<ParamFit, 'value' | 'unit' | 'status'>>();
  const set = (k: ScalarName, v: number, method: string, runs: string[], unc?: number) => {
    if (!Number.isFinite(v)) return;
    p[k] = v;
    fits.set(k, { method, runs, uncertainty: unc !== undefined && Number.isFinite(unc) ? unc : undefined });
  };
  const keep = input.keep ?? (() => true);
  const quality: FitResult['quality'] = [];
  let transferOut: FitResult['transfer'];
  let relaxOut: FitResult['relaxation'];
  let relaxation = input.base.relaxation;
  const levelRun = input.cdfs.find((c) => levelsUsable(c.data, keep));
  if (!input.sweeps.length && !levelRun && !input.cdfs.some((c) => c.data.levels[0]?.relax.length)) {
    const ids = input.cdfs.map((c) => c.runId).join(', ') || 'none';
    throw new InvalidArgumentError('--from', ids, 'nothing to fit: give a sweep run (`rram sweep`) for the transfer, switching, forming, noise and HRS parameters, and/or a characterize run with --relax re-reads for relaxation or at least ${MIN_LEVEL_CELLS} programmed cells in 3 levels for the transfer where the levels are');
  }

  // ---- a calibration sweep ---------------------------------------------------------------
  if (input.sweeps.length) {
    const sw = input.sweeps[0];
    const runs = [sw.runId];
    const ds = sw.data;
    const vread = ds.vread_V;
    const cells = ds.cells.filter((_, k) => keep(k));
    const ok = cells.filter((c) => c.status === 'ok');
    const twoCycles = ok.filter((c) => c.cycles.length >= 2);
    if (twoCycles.length < 20) throw new InvalidArgumentError('--from', sw.runId, `the transfer fit needs at least 20 formed cells with two gate staircases; this sweep has ${twoCycles.length} (run \`rram sweep --cells 128\`)`);
    const G = (i: number) => toG(input.base, i, vread);

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

    // The gate transfer: direct curve fit.
    const curves = staircaseCurves(ok, input.base, vread);
    const tf = fitTransfer(curves, p, { standardErrors: false });
    const m = 'gate staircase at the reference VTE, G = cap(gain Gsat (1 - exp(-slope (VG - v0)))), a shift and a gain per curve, one shape for all';
    set('transfer_gsat_S', tf.gsat_S, m, runs, tf.se.gsat_S);
    set('transfer_slope_per_V', tf.slope_perV, m, runs, tf.se.slope_perV);
    set('transfer_v0_V', tf.v0_V, 'median of the per-cell shifts', runs, bootstrapSE(tf.perCurve.map((c) => c.v0_V), median));
    set('transfer_v0_sigma_V', tf.v0Sigma_V, 'sqrt of the covariance of a cell\'s shifts in its two cycles (cycle-to-cycle noise drops out)', runs, tf.se.v0Sigma_V);
    if (tf.capIdentified) {
      set('g_cap_S', tf.gCap_S, 'saturation of the gate staircases (same fit)', runs, tf.se.gCap_S);
      set('g_cap_sharpness', tf.sharpness, 'same fit', runs, tf.se.sharpness);
    }
    const pts = curves.slice(0, 24).flatMap((c) => Array.from(c.vg, (v, k) => ({ vg: v, g: c.g[k] })));
    transferOut = { fit: { ...tf, perCurve: undefined } as unknown as Omit<TransferFit, 'perCurve'>, points: pts, curve: [] };

    // Indirect inference: simulate the recorded sweep, move the values until the statistics match.
    // Starting points from the statistics themselves (half a step below the first passage).
    const obs = sweepStats(cells, input.base, vread, p.g_cap_S);
    const fStep = ds.config.form.vteStep_V;
    const iStep = ds.config.ispva.vteStep_V;
    if (Number.isFinite(obs.formMedian_V)) {
      p.form_v_median_V = obs.formMedian_V - fStep / 2;
      p.form_v_sigma_V = Math.sqrt(Math.max(1e-4, obs.formSigma_V ** 2 - fStep ** 2 / 12));
    }
    if (Number.isFinite(obs.switchMedian_V)) p.set_v_median_V = obs.switchMedian_V - iStep / 2;
    // Simulated populations larger than the measured one keep the simulation's own noise small.
    const nSim = input.simCells ?? Math.max(192, Math.min(256, cells.length));
    const simInflation = Math.sqrt(1 + cells.length / nSim);
    const design = sweepDesign(ds);
    const simSeed = seedOf(ds.cells);
    const simulate = (q: CalValues): Promise<SweepStats> => pool.run({ kind: 'sweep-stats', cal: withValues(input.base, q, relaxation), design, n: nSim, seed: simSeed, gCap_S: q.g_cap_S });
    // gain_sigma_rel: the curve-scale spread minus what the SET threshold's spread adds through h(VTE - vth).
    const gainFromEff = (q: CalValues) => Math.sqrt(Math.max(0, tf.gainSigmaEff ** 2 - hVariance(q)));
    // Each parameter answers mainly to one statistic: medians move by the difference, spreads by
    // the ratio (elasticity = how the statistic scales with the parameter).
    const all: Match[] = [
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
    const matches = all.filter((m) => Number.isFinite(m.stat(obs)));
    let sim: SweepStats | undefined;
    // Cycle-to-cycle blocks, solved jointly in variance space (each statistic mixes several
    // parameters): the SET block (threshold c2c, gate jitter, multiplicative spread) against the
    // ISPVA switching variance and the single-SET spreads at two gates; the RESET block (onset c2c,
    // decay spread) against the onset variance and the decay spread.
    const boot: SweepStats[] = [];
    const rng = new Rng(99);
    for (let r = 0; r < 64; r++) boot.push(sweepStats(Array.from({ length: cells.length }, () => cells[rng.int(cells.length)]), input.base, vread, p.g_cap_S));
    const seOf = (f: (s: SweepStats) => number) => {
      const v = boot.map(f).filter(Number.isFinite);
      const m = mean(v);
      return Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / Math.max(1, v.length - 1));
    };
    const blocks: Block[] = ([
      {
        // Partial switching past the SET threshold (ISPVA staircases): how abruptly, how it grows.
        params: ['set_overdrive_V', 'set_vte_slope_per_V'],
        squared: [false, false],
        stats: [(s: SweepStats) => s.partial[0], (s: SweepStats) => s.partial[1], (s: SweepStats) => s.partial[2], (s: SweepStats) => s.overdriveSlope_perV],
        what: 'the partial switching just above the ISPVA switching VTE and the growth of the read past it, solved together',
      },
      {
        params: ['set_v_c2c_V', 'vg_jitter_V', 'set_sigma_rel'],
        stats: [(s: SweepStats) => s.switchDiffVar_V2, (s: SweepStats) => s.repeatSigma_S[0] ** 2, (s: SweepStats) => s.repeatSigma_S[1] ** 2],
        what: 'the ISPVA switching VTE\'s cycle-to-cycle variance and the spread of single SETs from HRS at the two repeat gates, solved together',
      },
      { params: ['reset_v_c2c_V', 'reset_sigma_rel'], stats: [(s: SweepStats) => s.resetDiffVar_V2, (s: SweepStats) => s.resetDecaySpread ** 2], what: 'the RESET onset\'s cycle-to-cycle variance and the spread of the decay per step, solved together' },
    ] as Block[]).filter((b) => b.stats.every((f) => Number.isFinite(f(obs))));
    for (const bl of blocks) bl.se = bl.stats.map((f) => seOf(f) || Math.abs(f(obs)) * 0.1);
    const history = new Map<ScalarName, { x: number; y: number }[]>();
    const baseV = values(input.base);
    const iters = input.iterations ?? 5;
    for (let it = 0; it < iters; it++) {
      p.gain_sigma_rel = gainFromEff(p);
      const simP = simulate(p);
      // Sensitivities d(statistic)/d(x), x = the parameter or its square, measured at the start and
      // at the third step, for every block at once (independent simulations, run in parallel).
      if (it === 0 || it === 2) {
        const at = { ...p };
        const base = simP;
        await Promise.all(
          blocks.flatMap((bl) => {
            const sq = (j: number) => bl.squared?.[j] ?? true;
            const xOf = (j: number, v: number) => (sq(j) ? v * v : v);
            const J = bl.stats.map(() => [] as number[]);
            bl.J = J;
            return bl.params.map(async (k, j) => {
              // A spread near zero doubled is still near zero: the step is at least half the base value.
              const v = sq(j) ? Math.max(at[k] * 2, 0.5 * baseV[k]) : at[k] * 1.15 + (k.endsWith('_V') && !sq(j) ? 0.02 : 0);
              const d = await simulate({ ...at, [k]: v });
              const b0 = await base;
              bl.stats.forEach((f, i) => (J[i][j] = (f(d) - f(b0)) / (xOf(j, v) - xOf(j, at[k]))));
            });
          }),
        );
      }
      sim = await simP;
      for (const m of matches) {
        const o = m.stat(obs);
        const v = m.stat(sim);
        if (!Number.isFinite(v)) continue;
        history.set(m.param, [...(history.get(m.param) ?? []), { x: p[m.param], y: v }]);
        if (m.kind === 'shift') p[m.param] += o - v;
        else if (o > 0 && v > 0) p[m.param] *= Math.min(2, Math.max(0.5, (o / v) ** (1 / m.elasticity!)));
      }
      for (const bl of blocks) {
        const sq = (j: number) => bl.squared?.[j] ?? true;
        const xOf = (j: number, v: number) => (sq(j) ? v * v : v);
        const x0 = bl.params.map((k, j) => xOf(j, p[k]));
        const J = bl.J!;
        const y = bl.stats.map((f, i) => f(obs) - f(sim!) + J[i].reduce((a, jv, j) => a + jv * x0[j], 0));
        const x = nnls(J.map((row, i) => row.map((v) => v / bl.se![i])), y.map((v, i) => v / bl.se![i]));
        bl.y = y;
        // At most a factor 2 per step: a linearisation far from the solution must not throw it away.
        bl.params.forEach((k, j) => {
          const v = sq(j) ? Math.sqrt(Math.max(x[j], 1e-12)) : x[j];
          p[k] = Math.min(2 * p[k], Math.max(0.5 * p[k], v));
        });
      }
    }
    // The staircase fit's own bias (running maxima near saturation, noise in the shifts, the SET
    // threshold's share in the curves): find the values whose simulated sweep, fitted the same way,
    // gives what the board's gave (indirect inference on the direct fit, three fixed-point steps).
    // The uncertainty is the direct fit's, divided by how strongly the simulated fit follows each
    // value (a parameter the staircases barely see gets a large one), plus what the last step left.
    {
      const keys: { k: ScalarName; of: (t: Omit<TransferFit, 'perCurve'>) => number; log: boolean; se: number }[] = [
        { k: 'transfer_gsat_S', of: (t) => t.gsat_S, log: true, se: tf.se.gsat_S / tf.gsat_S },
        { k: 'transfer_slope_per_V', of: (t) => t.slope_perV, log: true, se: tf.se.slope_perV / tf.slope_perV },
        { k: 'transfer_v0_V', of: (t) => t.v0_V, log: false, se: bootstrapSE(tf.perCurve.map((c) => c.v0_V), median) },
        { k: 'transfer_v0_sigma_V', of: (t) => t.v0Sigma_V, log: false, se: tf.se.v0Sigma_V },
        ...(tf.capIdentified
          ? [
              { k: 'g_cap_S' as ScalarName, of: (t: Omit<TransferFit, 'perCurve'>) => t.gCap_S, log: true, se: tf.se.gCap_S / tf.gCap_S },
              { k: 'g_cap_sharpness' as ScalarName, of: (t: Omit<TransferFit, 'perCurve'>) => t.sharpness, log: true, se: tf.se.sharpness / tf.sharpness },
            ]
          : []),
      ];
      const tr = (m: (typeof keys)[number], v: number) => (m.log ? Math.log(v) : v);
      const target = keys.map((m) => tr(m, m.of(tf)));
      let theta = target.slice();
      const hist: { theta: number[]; fit: number[] }[] = [];
      let effSim = NaN;
      for (let it = 0; it < 3; it++) {
        keys.forEach((m, j) => (p[m.k] = m.log ? Math.exp(theta[j]) : theta[j]));
        const tfSim = await pool.run({ kind: 'sweep-transfer', cal: withValues(input.base, p, relaxation), design, n: nSim, seed: seedOf(ds.cells, 1) });
        const fit = keys.map((m) => tr(m, m.of(tfSim)));
        if (fit.some((v) => !Number.isFinite(v))) break;
        hist.push({ theta: theta.slice(), fit });
        effSim = tfSim.gainSigmaEff;
        // At most 30 % (50 mV) per step: far from the fixed point the simulated fit may go astray.
        theta = theta.map((t, j) => t + Math.max(-(keys[j].log ? 0.3 : 0.05), Math.min(keys[j].log ? 0.3 : 0.05, target[j] - fit[j])));
      }
      keys.forEach((m, j) => (p[m.k] = Math.max(m.log ? 0 : -Infinity, m.log ? Math.exp(theta[j]) : theta[j])));
      if (Number.isFinite(effSim)) tf.gainSigmaEff = Math.max(0, tf.gainSigmaEff - (effSim - Math.sqrt(p.gain_sigma_rel ** 2 + hVariance(p))));
      // The staircases also carry the SET switching (how far the pulse's VTE is above the cell's
      // threshold scales every curve): what is uncertain there is uncertain here. Each switching
      // parameter moved by its own uncertainty, the simulated fit's answer carried over.
      const partial = blocks.find((b) => b.params.includes('set_overdrive_V'));
      const nuisance: { k: ScalarName; se: number }[] = [{ k: 'set_v_median_V', se: seOf((q) => q.switchMedian_V) }];
      if (partial?.J) {
        const cov = invSym(partial.params.map((_, a) => partial.params.map((_, b) => partial.J!.reduce((acc, row, i) => acc + (row[a] * row[b]) / partial.se![i] ** 2, 0))));
        partial.params.forEach((k, j) => nuisance.push({ k, se: Math.sqrt(Math.max(0, cov[j][j])) }));
      }
      const base = hist.length ? hist[hist.length - 1] : undefined;
      // The direct fit's sampling error by parametric bootstrap: sweeps simulated at the result with
      // other seeds, fitted the same way (the spread between independent samples of the board's
      // size; refits of subsets from a common start understate it several times).
      const bootsP = base
        ? Promise.all(
            [2, 3, 4, 5, 6].map((k) => seedOf(ds.cells, k)).map(async (seed) => {
              const f = await pool.run({ kind: 'sweep-transfer', cal: withValues(input.base, p, relaxation), design, n: cells.length, seed });
              return keys.map((m) => tr(m, m.of(f)));
            }),
          )
        : Promise.resolve([] as number[][]);
      const propP = base
        ? Promise.all(
            nuisance
              .filter((n) => Number.isFinite(n.se) && n.se > 0)
              .map(async (n) => {
                const q = { ...p, [n.k]: p[n.k] + n.se };
                keys.forEach((m, j) => (q[m.k] = m.log ? Math.exp(base.theta[j]) : base.theta[j]));
                const f = await pool.run({ kind: 'sweep-transfer', cal: withValues(input.base, q, relaxation), design, n: nSim, seed: seedOf(ds.cells, 1) });
                return keys.map((m, j) => tr(m, m.of(f)) - base.fit[j]);
              }),
          )
        : Promise.resolve([]);
      const [boots, prop] = await Promise.all([bootsP, propP]);
      const sampleSe = keys.map((_, j) => {
        const xs = [...boots.map((b) => b[j]), ...(base ? [base.fit[j]] : [])].filter(Number.isFinite);
        return xs.length >= 3 ? std(xs) : NaN;
      });
      const seX = keys.map((m, j) => {
        const a = hist[0];
        const b = hist[hist.length - 1];
        const dTheta = b && a ? b.theta[j] - a.theta[j] : 0;
        // How strongly the simulated fit follows the value, from two noisy points: it may widen the
        // uncertainty (a value the staircases barely see), never narrow it below the direct fit's
        // own sampling spread (a steep-looking slope between two noisy fits once claimed 1.3 % for a
        // value 15 % off).
        const follow = Math.abs(dTheta) > 1e-6 ? Math.min(1, Math.max(0.3, Math.abs((b.fit[j] - a.fit[j]) / dTheta))) : 1;
        const left = b ? Math.abs(target[j] - b.fit[j]) / follow : 0;
        const carried = Math.sqrt(prop.reduce((acc, d) => acc + (Number.isFinite(d[j]) ? (d[j] / follow) ** 2 : 0), 0));
        const direct = Number.isFinite(sampleSe[j]) ? sampleSe[j] : Number.isFinite(m.se) ? m.se : 0;
        return Math.hypot(direct / follow, left, carried);
      });
      const method = (what: string) => `${what}; the fit's own bias removed: the values whose simulated sweep, fitted the same way, gives the board's fit`;
      const shape = method('gate staircase at the reference VTE, G = cap(gain Gsat (1 - exp(-slope (VG - v0)))), a shift and a gain per curve, one shape for all');
      const methods: Partial<Record<ScalarName, string>> = {
        transfer_gsat_S: shape,
        transfer_slope_per_V: shape,
        transfer_v0_V: method('median of the per-cell shifts'),
        transfer_v0_sigma_V: method("sqrt of the covariance of a cell's shifts in its two cycles (cycle-to-cycle noise drops out)"),
        g_cap_S: method('saturation of the gate staircases (same fit)'),
        g_cap_sharpness: method('sharpness of that saturation (same fit)'),
      };
      keys.forEach((m, j) => set(m.k, p[m.k], methods[m.k]!, runs, m.log ? p[m.k] * seX[j] : seX[j]));
    }
    p.gain_sigma_rel = gainFromEff(p);
    const final = await simulate(p);
    // Uncertainties: the bootstrap spread of each matched statistic over the measured cells,
    // carried to the parameter through its sensitivity (measured over the iterations when the
    // parameter moved, else its elasticity), and through the joint solve for the blocks.
    const how = (what: string) => `indirect inference: the recorded sweep simulated with candidate values until the simulated ${what} matched the measured one`;
    for (const m of matches) {
      const se = seOf(m.stat);
      const h = history.get(m.param) ?? [];
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
      // The simulated statistic has its own sampling error (nSim cells at one seed): indirect
      // inference's variance is the data's times (1 + nData / nSim).
      set(m.param, p[m.param], how(m.what), runs, unc * simInflation);
    }
    for (const bl of blocks) {
      // Covariance of x = (J^T W J)^-1 with W = 1/se^2; parameter = sqrt(x): se = se_x / (2 sqrt x).
      const cov = invSym(bl.params.map((_, a) => bl.params.map((_, b) => bl.J!.reduce((acc, row, i) => acc + (row[a] * row[b]) / bl.se![i] ** 2, 0))));
      // For a squared parameter at the non-negativity bound (~0) the one-sigma range is [0, sqrt(se_x)].
      // A spread the solve put at zero (its bound) hands its share to its partners; the data may
      // not tell them apart. Each partner's uncertainty then includes how far it moves when the
      // bounded one is held at the base calibration's value instead (one linear solve, no simulation).
      const sqOf = (j: number) => bl.squared?.[j] ?? true;
      const xb = bl.params.map((k, j) => (sqOf(j) ? p[k] ** 2 : p[k]));
      const shift = bl.params.map(() => 0);
      bl.params.forEach((k, j) => {
        const b0 = values(input.base)[k];
        if (!sqOf(j) || !bl.y || p[k] > 0.2 * b0) return;
        const fixed = b0 * b0;
        const free = bl.params.map((_, i) => i).filter((i) => i !== j);
        const A = free.map((a) => free.map((b) => bl.J!.reduce((acc, row, i) => acc + (row[a] * row[b]) / bl.se![i] ** 2, 0)));
        const r = free.map((a) => bl.J!.reduce((acc, row, i) => acc + (row[a] * (bl.y![i] - row[j] * fixed)) / bl.se![i] ** 2, 0));
        const sol = invSym(A).map((row) => row.reduce((acc, v, c) => acc + v * r[c], 0));
        free.forEach((i, c) => {
          const k2 = bl.params[i];
          const alt = sqOf(i) ? Math.sqrt(Math.max(0, sol[c])) : sol[c];
          if (Number.isFinite(alt)) shift[i] = Math.max(shift[i], Math.abs(alt - p[k2]));
        });
      });
      bl.params.forEach((k, j) => {
        const seX = Math.sqrt(Math.max(0, cov[j][j]));
        const sq = sqOf(j);
        const se = !sq ? seX : p[k] ** 2 > seX ? seX / (2 * p[k]) : Math.sqrt(seX);
        set(k, p[k], how(bl.what), runs, Math.hypot(se * simInflation, shift[j]));
      });
    }
    set('gain_sigma_rel', p.gain_sigma_rel, "covariance of a cell's curve scale over two cycles, minus the part the SET threshold's spread adds", runs, bootstrapSE(tf.perCurve.filter((c) => c.cycle === 0).map((c) => c.gain), (x) => std(x)));
    // Unformable: cells not formed beyond what the forming-voltage tail explains.
    const tail = 1 - phi((ds.config.form.vteStop_V - p.form_v_median_V) / Math.hypot(p.form_v_sigma_V, 0.05));
    const nPristine = cells.filter((c) => c.formVte_V !== null || c.status === 'unformable').length;
    set('fraction_unformable', Math.max(0, obs.unformed - tail), 'share of cells never formed in the forming staircase, minus the forming-voltage tail beyond its top', runs, Math.sqrt(obs.unformed * nPristine + 1) / Math.max(1, nPristine));
    const q = (statistic: string, o: number, s: number, unit: string) => quality.push({ statistic, measured: o, model: s, unit });
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
    transferOut.curve = Array.from({ length: 80 }, (_, k) => {
      const vg = ds.config.gate.vgStart_V + ((ds.config.gate.vgStop_V - ds.config.gate.vgStart_V) * k) / 79;
      return { vg, g: transferG(p, vg) };
    });
  }

  // ---- the transfer where the levels are, from a characterize run's final voltages ----------
  if (levelRun) {
    // What the sweep found enters as a prior (value and uncertainty): the levels refine it and
    // cannot make it worse than the sweep alone.
    const prior: Partial<Record<ScalarName, { value: number; se: number }>> = {};
    for (const [k, f] of fits) if (f.uncertainty !== undefined && f.uncertainty > 0) prior[k] = { value: p[k], se: f.uncertainty };
    const lf = await fitLevels({ p, calibrate: (q) => withValues(input.base, q, relaxation), data: levelRun.data, keep, pool, prior });
    for (const [k, v] of Object.entries(lf.values) as [ScalarName, number][]) {
      const before = fits.get(k);
      const method = before ? `${before.method}; then refined: ${lf.method}` : lf.method;
      set(k, v, method, [...(before?.runs ?? []), levelRun.runId], lf.se[k]);
    }
    quality.push(...lf.quality);
    if (transferOut) transferOut.curve = transferOut.curve.map((c) => ({ vg: c.vg, g: transferG(p, c.vg) }));
  }

  // ---- relaxation from the re-reads of characterize runs --------------------------------------
  // The spread of (re-read - read-back) per level, matched by replaying the run on the emulator
  // with per-G scale factors on the base table: the replay has the same delays between each
  // cell's programming, its read-back and its re-reads, so no assumption about them is needed.
  const rel = input.cdfs.filter((c) => c.data.levels[0]?.relax.length);
  if (rel.length) {
    const { runId, data: d } = rel[0];
    const vread = d.vread_V;
    const spread = (levels: { status: string; current_A: number; relax: { current_A: number }[] }[][], keepCell: (i: number) => boolean) =>
      levels.map((cells) => {
        const okc = cells.filter((c, i) => c.status === 'ok' && keepCell(i));
        const g0 = median(okc.map((c) => toG(input.base, c.current_A, vread)));
        const s = d.levels[0].relax.map((_, j) => std(okc.map((c) => toG(input.base, c.relax[j].current_A, vread) - toG(input.base, c.current_A, vread))));
        return { g0, s, n: okc.length };
      });
    const obsR = spread(d.levels.map((l) => l.cells), keep);
    const usable = obsR.map((o) => o.n >= 10);
    const b = input.base.relaxation;
    const s0 = values(input.base).relaxation_scale;
    let f = obsR.map(() => 1);
    const table = (fac: number[]) => {
      const pts = obsR.map((o, k) => ({ g: o.g0, f: fac[k] })).filter((_, k) => usable[k]).sort((x, y) => x.g - y.g);
      const fAt = (g: number) => {
        if (!pts.length) return 1;
        if (g <= pts[0].g) return pts[0].f;
        if (g >= pts[pts.length - 1].g) return pts[pts.length - 1].f;
        let k = 0;
        while (pts[k + 1].g < g) k++;
        const w = (g - pts[k].g) / (pts[k + 1].g - pts[k].g);
        return pts[k].f * (1 - w) + pts[k + 1].f * w;
      };
      return { ...b, mean_S: b.mean_S.map((row, i) => row.map((v) => v * s0 * fAt(b.g0_S[i]))), sigma_S: b.sigma_S.map((row, i) => row.map((v) => v * s0 * fAt(b.g0_S[i]))) };
    };
    let simR = obsR;
    for (let it = 0; it < 3; it++) {
      const cal = withValues(input.base, { ...p, relaxation_scale: 1 }, table(f));
      simR = spread(await pool.run({ kind: 'replay', cal, design: characterizeDesign(d), factor: 2, seed: seedOf(d.levels.map((l) => l.cells), 7) }), () => true);
      f = f.map((x, k) => {
        const r = obsR[k].s.map((o, j) => o / simR[k].s[j]).filter((v) => Number.isFinite(v) && v > 0);
        return r.length ? x * Math.min(3, Math.max(1 / 3, Math.exp(mean(r.map(Math.log))))) : x;
      });
    }
    relaxation = { ...table(f), source: `the base table (${b.source.slice(0, 60)}...) scaled per G0 so a replay of run ${runId} matches its re-read spreads (rram calibrate --from)` };
    const seF = obsR.map((o) => Math.SQRT1_2 / Math.sqrt(Math.max(2, o.n)));
    set('relaxation_scale', 1, `folded into the relaxation table: per-level factors on the base table ${obsR.map((o, k) => (usable[k] ? `${(o.g0 * 1e6).toFixed(0)} uS x${f[k].toFixed(2)} (+-${(f[k] * seF[k]).toFixed(2)})` : '')).filter(Boolean).join(', ')}, matched by replaying the run`, [runId], mean(f.map((x, k) => x * seF[k])));
    relaxOut = { levels: obsR.flatMap((o, k) => o.s.map((m, j) => ({ g_S: o.g0, t_s: d.levels[0].relax[j].t_s, measured_S: m, model_S: simR[k].s[j], n: o.n }))) };
    if (!input.sweeps.length) {
      const all = input.cdfs.flatMap((c) => c.data.levels.flatMap((l) => l.cells));
      const stuck = all.filter((c) => c.status === 'stuck').length;
      if (all.length) set('fraction_stuck_lrs', stuck / all.length, 'share of cells the characterize runs found stuck', input.cdfs.map((c) => c.runId));
    }
  }

  const runsAll = [...input.sweeps, ...input.cdfs].map((r) => r.runId);
  const params = {} as Record<ScalarName, ParamFit>;
  for (const k of Object.keys(ALL_UNITS) as ScalarName[]) {
    const f = fits.get(k);
    const conv = CONVENTIONS[k];
    params[k] = f
      ? { value: p[k], unit: ALL_UNITS[k], status: 'fitted', method: f.method, runs: f.runs, uncertainty: f.uncertainty }
      : { value: p[k], unit: ALL_UNITS[k], status: conv ? 'convention' : 'kept', method: conv ?? `not identifiable from runs ${runsAll.join(', ')}: kept from ${input.base.id}`, runs: [] };
  }
  const calibration = withValues(input.base, p, relaxation);
  calibration.id = input.id ?? `${input.base.id}-fit`;
  calibration.description = `fitted by rram calibrate --from ${runsAll.join(',')} on ${new Date().toISOString().slice(0, 10)}, base ${input.base.id}`;
  for (const k of Object.keys(params) as ScalarName[]) {
    const f = params[k];
    calibration.params[k] = { value: f.value, unit: f.unit, source: f.status === 'fitted' ? `fitted by rram calibrate from ${f.runs.join(', ')}: ${f.method}` : input.base.params[k].source, status: f.status, method: f.method, runs: f.runs, ...(f.uncertainty !== undefined ? { uncertainty: f.uncertainty } : {}) };
  }
  validateCalibration(calibration);
  return { calibration, params, quality, transfer: transferOut, relaxation: relaxOut, elapsed_s: (performance.now() - t0) / 1000 };
}

/** A calibration with these values (and relaxation table), everything else from the base. */
export function withValues(base: Calibration, v: CalValues, relaxation = base.relaxation): Calibration {
  const c: Calibration = structuredClone(base);
  for (const k of Object.keys(ALL_UNITS) as ScalarName[]) c.params[k] = { ...c.params[k], value: v[k] };
  c.relaxation = relaxation;
  return c;
}

function phi(z: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(z / Math.SQRT2));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(z * z) / 2);
  return 0.5 * (1 + (z >= 0 ? y : -y));
}

function transferG(p: CalValues, vg: number): number {
  const x = vg - p.transfer_v0_V;
  if (x <= 0) return 0;
  const raw = p.transfer_gsat_S * (1 - Math.exp(-p.transfer_slope_per_V * x));
  return raw / Math.pow(1 + Math.pow(raw / p.g_cap_S, p.g_cap_sharpness), 1 / p.g_cap_sharpness);
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
