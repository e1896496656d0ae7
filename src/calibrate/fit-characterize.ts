/**
 * Everything a characterize run identifies, from that run alone or on top of a sweep's fit
 * (issue 26): the run is replayed on the emulator (same design, levels, reads, re-reads and
 * delays) and the model's values moved by indirect inference (indirect.ts) until the replay's
 * statistics (replay-stats.ts) match the board's: the transfer where the levels are (exponential
 * or monotone spline, chosen by a held-out fit: transfer-form.ts), device-to-device and
 * cycle-to-cycle spreads from the final gates and verify reads, read noise and random-telegraph
 * noise from the repeated read-backs, relaxation between verify and read-back and from the
 * re-reads, the RESET and HRS from the HRS level, forming from the pulses before the climb.
 * Shares of leaky, stuck and unformable cells are counted directly.
 */
import { ALL_UNITS, type Calibration, type ScalarName } from '../../calibration/calibration.js';
import type { LevelCdfDataset } from '../procedures/characterize.js';
import { reviveConfig, type ReplayCell } from './simulate.js';
import type { SimPool } from './sim-pool.js';
import { characterizeDesign } from './sim-tasks.js';
import { characterizeStatDefs, evalStats, statErrors, type StatCell, type StatDef } from './replay-stats.js';
import { indirectInference, type FitParam } from './indirect.js';
import { cloneState, knotParams, scalarParam, splineOf, type ModelState, type Priors } from './characterize-params.js';
import { levelPoints, startingForms, type FormChoice, type LevelPoint } from './transfer-form.js';
import { invSym, seedOf } from './numeric.js';
import { toG } from './sweep-stats.js';
import type { Evidence, ParamRecord } from './param-record.js';
import { fitTiming } from './fit-timing.js';

export const MIN_LEVEL_CELLS = 10;
const FACTOR = 2;

export interface CharFitInput {
  base: Calibration;
  state: ModelState;
  data: LevelCdfDataset;
  runId: string;
  keep: (i: number) => boolean;
  pool: SimPool;
  /** What the sweep fitted (value, uncertainty): the run refines it. */
  priors: Priors;
  /** A calibration from the state (withValues + spline). */
  calibrate: (s: ModelState) => Calibration;
}

export interface CharFitResult {
  state: ModelState;
  records: Map<string, ParamRecord>;
  quality: { statistic: string; measured: number; model: number; se: number; unit: string }[];
  form?: FormChoice;
  runs: number;
}

/** Whether a run has enough programmed cells to fit anything from (3 levels with MIN_LEVEL_CELLS). */
export function characterizeUsable(d: LevelCdfDataset, keep: (i: number) => boolean): boolean {
  return d.levels.filter((l) => l.cells.filter((c, i) => c.status === 'ok' && keep(i)).length >= MIN_LEVEL_CELLS).length >= 3;
}

const GROUPS: { keys: ScalarName[]; when: (f: Features) => boolean }[] = [
  { keys: ['transfer_v0_sigma_V', 'gain_sigma_rel', 'vg_jitter_V', 'set_sigma_rel', 'set_sigma_abs_S'], when: () => true },
  { keys: ['relax_fast_sigma_rel', 'relax_fast_sigma_S', 'relax_fast_g_peak_S', 'relax_fast_g_width', 'relax_fast_drift_rel'], when: () => true },
  { keys: ['relax_fast_tau_s', 'relaxation_scale', 'relaxation_time_exp', 'relaxation_g_exp', 'relaxation_drift_rel'], when: (f) => f.relax },
  { keys: ['read_noise_S', 'read_noise_rel', 'fraction_rtn', 'rtn_amplitude_rel'], when: (f) => f.reads },
  { keys: ['reset_v_median_V', 'reset_v_sigma_V', 'reset_v_c2c_V', 'reset_width_V', 'reset_sigma_rel', 'g_hrs_S', 'g_hrs_sigma_log', 'g_hrs_floor_S', 'form_v_median_V', 'form_v_sigma_V'], when: (f) => f.hrs },
  { keys: ['form_v_median_V', 'form_v_sigma_V'], when: (f) => !f.hrs },
];
const EXP_KEYS: ScalarName[] = ['transfer_v0_V', 'transfer_gsat_S', 'transfer_slope_per_V', 'g_cap_S', 'g_cap_sharpness'];
interface Features {
  reads: boolean;
  relax: boolean;
  hrs: boolean;
}

interface Ctx {
  o: CharFitInput;
  defs: StatDef[];
  obs: number[];
  se: number[];
  kept: StatCell[][];
  halves?: Halves;
  replay: (factor: number, programmingOnly: boolean, on: StatDef[], beforeClimb?: boolean) => (s: ModelState) => Promise<number[]>;
  records: Map<string, ParamRecord>;
}

type Pool = Pick<SimPool, 'run'>;

interface Halves {
  /** The even half's share of the run's cells. */
  share: number;
  on: StatDef[];
  obsE: number[];
  seE: number[];
  obsO: number[];
  seO: number[];
}

/** Stage A: the transfer and its spreads against the final gates, verify reads and yields (programming only). */
const STAGE_A = { keys: (n: string) => n.startsWith('transfer_') || n.startsWith('g_cap') || ['gain_sigma_rel', 'vg_jitter_V', 'set_sigma_rel', 'set_sigma_abs_S'].includes(n), groups: ['transfer', 'c2c', 'yield'], reads: false, beforeClimb: false };
/** Stage B: RESET, HRS and forming against the HRS level and the pulses before the climbs, which its replays skip (a third of the work). */
const STAGE_B = { keys: (n: string) => n.startsWith('reset_') || n.startsWith('g_hrs') || n.startsWith('form_'), groups: ['hrs', 'forming'], reads: false, beforeClimb: true };
/** Stage C: read noise and relaxation against the read-backs and re-reads. */
const STAGE_C = { keys: (n: string) => n.startsWith('read_noise') || n.startsWith('relax') || n.includes('rtn'), groups: ['reads', 'relaxation', 'hrs'], reads: true, beforeClimb: false };
type Stage = typeof STAGE_A;

export async function fitCharacterize(o: CharFitInput): Promise<CharFitResult> {
  const d = o.data;
  const cfg = reviveConfig((d.params as { config: Parameters<typeof reviveConfig>[0] }).config);
  const reads = ((d.params as { reads?: number }).reads ?? 1) as number;
  const relaxTimes = d.levels[0]?.relax.map((r) => r.t_s) ?? [];
  const kept: StatCell[][] = d.levels.map((l) => l.cells.filter((_, i) => o.keep(i)));
  const defs = characterizeStatDefs(d.levels.map((l, k) => ({ spec: l.spec, cells: kept[k] })), cfg, reads, relaxTimes, MIN_LEVEL_CELLS);
  const obs = evalStats(defs, kept);
  const design = characterizeDesign(d);
  // The replays' seed from what the cells measured: a field added to the records later (the
  // read-back delays) leaves the seed, and so a fit of the same measurements, as it was.
  const seed = seedOf(d.levels.map((l) => l.cells.map(({ readbackDelay_s: _t, ...c }) => c)), 9);
  const records = new Map<string, ParamRecord>();
  let state = cloneState(o.state);
  shares(kept, state, records, o.runId);
  directStarts(defs, obs, d, state);
  // The board's timing first: every later replay reads its cells back as long after their verify
  // as the board did. Its replays start now; the statistics' errors (bootstraps on this thread) are
  // drawn while the workers run them.
  // Every replay the fit runs goes through here (counted: a kept replay asked for again is not run again).
  let replays = 0;
  const pool: Pool = { run: (t) => (replays++, o.pool.run(t)) };
  const timed = fitTiming({ data: d, keep: o.keep, runId: o.runId, state, pool, calibrate: o.calibrate, design, seed });
  timed.catch(() => undefined);
  const se = seFloors(defs, kept, statErrors(defs, kept, 64, seedOf(d.runId, 3)), obs);
  const pts = formPoints(o, kept);
  const halves = pts.length >= 4 ? heldOutHalves(defs, kept, d.levels.reduce((a, l) => a + l.cells.length, 0)) : undefined;
  const ctx: Ctx = { o, defs, obs, se, kept, halves, replay: replayer(pool, o.calibrate, design, seed), records };
  const t0 = performance.now();
  const lap = (what: string) => process.env.RRAM_FIT_DEBUG && process.stderr.write(`fit ${what}: ${((performance.now() - t0) / 1e3).toFixed(2)} s, ${replays} replays\n`);
  const timing = await timed;
  if (timing) ctx.records.set('op_overhead_s', timing.record);
  lap('timing');
  const hrs = d.levels.some((l, k) => l.spec.kind === 'hrs' && kept[k].filter((c) => c.status === 'ok').length >= MIN_LEVEL_CELLS);
  const f: Features = { reads: reads >= 2, relax: relaxTimes.length > 0, hrs };
  const keys = [...new Set(GROUPS.filter((g) => g.when(f)).flatMap((g) => g.keys))];
  const others = keys.map((k) => scalarParam(k, ALL_UNITS[k], state.p, o.priors));
  // The transfer's form by a held-out fit, which also starts stage A near the board.
  const chosen = await chooseForm(ctx, state, others.filter((p) => STAGE_A.keys(p.name)), pts);
  state = chosen.state;
  lap('form choice');
  const params = [...chosen.transfer, ...others];
  for (const st of [STAGE_A, STAGE_B, STAGE_C]) {
    state = await stage(ctx, st, params.filter((p) => st.keys(p.name)), state, st === STAGE_A ? chosen.warm : undefined);
    lap(`stage ${st.groups.join('+')}`);
    // The unformable share once forming is fitted, so the read stage replays it (and the record's final replay is that stage's last).
    if (st === STAGE_B) formingTail(kept, state, ctx.records, o.runId, cfg.form.vteStop_V);
    // Timed again once the transfer is the board's: the first timing ran at the starting transfer,
    // whose pulse counts (and so schedule) may not be the board's.
    if (st === STAGE_A && timing) {
      const again = await fitTiming({ data: d, keep: o.keep, runId: o.runId, state, pool, calibrate: o.calibrate, design, seed });
      if (again) ctx.records.set('op_overhead_s', again.record);
      lap('timing again');
    }
  }
  if (state.spline) {
    const knots = chosen.transfer.map((p) => ctx.records.get(p.name)?.uncertainty ?? NaN);
    state.spline = { ...splineOf(state)!, uncertainty_V: knotUncertainty(knots, state.inc!) };
  }
  // Every statistic at the result, for the record (the match's own replay size).
  const sim = await ctx.replay(FACTOR, false, defs)(state);
  lap('final replay');
  const quality = defs.map((def, i) => ({ statistic: def.name, measured: obs[i], model: sim[i], se: se[i], unit: def.unit }));
  return { state, records: ctx.records, quality, form: chosen.form, runs: replays };
}

/**
 * The run replayed at a candidate state, its statistics `on`. `factor` times the run's cells as
 * that many replays of the run's own size, one seed each (the first the sensitivities' seed), run
 * side by side on the pool's workers: each replay keeps the run's timing (a replay of twice the
 * cells would wait twice as long between verify and read-back, which the fast relaxation sees),
 * and a factor-2 match costs one replay's wall time. The last replays are kept (the promise, so one in
 * flight is shared): a factor-2 match and the sensitivities' centre at the same state share their
 * first seed, and the record's final replay is often the read stage's last.
 */
function replayer(pool: Pool, calibrate: CharFitInput['calibrate'], design: ReturnType<typeof characterizeDesign>, seed: number): Ctx['replay'] {
  const memo = new Map<string, Promise<ReplayCell[][]>>();
  const part = (cal: Calibration, factor: number, k: number, programmingOnly: boolean, beforeClimb: boolean) => {
    const key = JSON.stringify([factor, k, programmingOnly, beforeClimb, cal]);
    let r = memo.get(key);
    if (!r) {
      const run = pool.run({ kind: 'replay', cal, design, factor, seed: k ? seedOf([seed, k], 11) : seed, programmingOnly, beforeClimb }) as Promise<ReplayCell[][]>;
      memo.set(key, (r = run));
      run.catch(() => memo.get(key) === run && memo.delete(key));
      if (memo.size > 8) memo.delete(memo.keys().next().value!);
    }
    return r;
  };
  return (factor, programmingOnly, on, beforeClimb = false) => async (s) => {
    const cal = calibrate(s);
    const parts = await Promise.all(Array.from({ length: factor }, (_, k) => part(cal, 1, k, programmingOnly, beforeClimb)));
    return evalStats(on, parts[0].map((_, l) => parts.flatMap((r) => r[l])));
  };
}

/**
 * The form choice's statistics (stage A's, programming only) on the even and on the odd cells,
 * with their errors, and the even half's share of the run's cells (a half; a quarter under
 * --holdout, whose fit keeps only the even cells): the whole run's replay is 1 / share times it.
 */
function heldOutHalves(defs: StatDef[], kept: StatCell[][], runCells: number): Halves {
  const idx = defs.map((_, i) => i).filter((i) => !defs[i].reads && STAGE_A.groups.includes(defs[i].group));
  const on = idx.map((i) => defs[i]);
  const half = (odd: boolean) => kept.map((cs) => cs.filter((_, i) => i % 2 === (odd ? 1 : 0)));
  const even = half(false);
  const odd = half(true);
  const obsE = evalStats(on, even);
  const obsO = evalStats(on, odd);
  // The run's own cell count (what its replay programs), not a parameter that could be missing.
  const share = Math.min(1, Math.max(1, even.reduce((a, cs) => a + cs.length, 0)) / Math.max(1, runCells));
  return { on, obsE, seE: seFloors(on, even, statErrors(on, even, 48, 5), obsE), obsO, seO: seFloors(on, odd, statErrors(on, odd, 48, 6), obsO), share };
}

/** One stage of the fit: its parameters against its statistics; each parameter's record from it. */
async function stage(ctx: Ctx, st: Stage, ps: FitParam<ModelState>[], state: ModelState, warm?: Warm): Promise<ModelState> {
  const idx = ctx.defs.map((_, i) => i).filter((i) => ctx.defs[i].reads === st.reads && st.groups.includes(ctx.defs[i].group));
  if (!ps.length || !idx.length) return state;
  const on = idx.map((i) => ctx.defs[i]);
  const obs = idx.map((i) => ctx.obs[i]);
  const se = idx.map((i) => ctx.se[i]);
  // Programming-only stages replay the run at its own size; the read stage matches at twice it,
  // its sensitivities from replays of the run's size (same seed: the differences stay precise).
  const factor = st.reads ? FACTOR : 1;
  // Stage A starts where the form choice's fit of the even cells ended: same replay, same
  // statistics, so its simulation there and its sensitivities carry over (saves 1 + P replays).
  const start = warm && warm.names.join() === ps.map((p) => p.name).join() ? { y: warm.y, J: warm.J } : undefined;
  // The read stage starts furthest from the board (its starting values are rough): room for its
  // sensitivities to be measured a second time, which the fit does only while still far off.
  const maxRuns = (st.reads ? 2 : 1) * ps.length + 12;
  const run = (params: FitParam<ModelState>[]) => indirectInference({ params, state, clone: cloneState, simulate: ctx.replay(factor, !st.reads, on, st.beforeClimb), simulateJ: st.reads ? ctx.replay(1, false, on) : undefined, obs, se, simFactor: factor, maxRuns, start });
  if (process.env.RRAM_FIT_DEBUG) process.stderr.write(`stage ${st.groups.join('+')}: ${ps.length} parameters, ${on.length} statistics\n`);
  let r = await run(ps);
  // A sweep's values that the run cannot match (a model drawn from the sweep's staircases that
  // misses this run's levels by more than 3 units of chi^2 per statistic): the run's own values
  // instead, from broad priors, when they match it much better. Said in the method.
  let overruled = '';
  const bad = (x: typeof r) => x.cost / on.length;
  if (ps.some((p) => p.prior.from === 'sweep') && bad(r) > 3) {
    const loose = ps.map((p) => (p.prior.from === 'sweep' ? { ...p, prior: { value: p.prior.value, se: 10 * p.prior.se, from: 'base' as const } } : p));
    const r2 = await run(loose);
    if (r2.cost < 0.5 * r.cost) {
      overruled = `; the sweep's values as priors left this run's statistics at chi2 ${r.cost.toFixed(0)} over ${on.length}: refitted with priors 10x broader (chi2 ${r2.cost.toFixed(0)})`;
      r = r2;
    }
  }
  const out = r.state;
  const method = `the characterize run ${ctx.o.runId} replayed on the emulator (${factor === 1 ? 'once' : `${factor} times, seeds apart`}, same design${st.reads ? ', reads and delays' : ''}) until ${on.length} statistics of its levels (${st.groups.join(', ')}) matched (indirect inference)`;
  ps.forEach((p, j) => {
    const fromSweep = p.prior.from === 'sweep';
    let status: ParamRecord['status'] = 'fitted';
    // At its bound, or within a quarter of its error of a bound at 0: the data say it is small, not how small.
    if (r.atBound[j] || (p.lo === 0 && r.values[j] < 0.25 * r.se[j])) status = 'at-bound';
    else if (r.shrink[j] > 0.7 && !fromSweep) status = 'not-identifiable';
    if (status === 'not-identifiable') p.set(out, p.prior.value);
    const why = overruled + (status === 'not-identifiable' ? `; the run narrows its prior (base value +-${p.prior.se.toPrecision(2)}) only to ${(r.shrink[j] * 100).toFixed(0)} %: kept at the base value` : status === 'at-bound' ? `; at (or within a quarter of its error of) its bound ${p.get(out) >= p.hi ? p.hi : p.lo}` : fromSweep ? "; the sweep's value as the prior" : '');
    ctx.records.set(p.name, { value: p.get(out), unit: p.unit, status, method: method + why, runs: [ctx.o.runId], uncertainty: status === 'fitted' ? r.se[j] : undefined, evidence: evidenceOf(on, obs, r.sim, se, r.J, j) });
  });
  return out;
}

/** The LRS levels' points (mean final gate against target conductance) the transfer's forms start from. */
function formPoints(o: CharFitInput, kept: StatCell[][]): LevelPoint[] {
  const d = o.data;
  const lrs = d.levels.map((l, k) => ({ l, k })).filter((x) => x.l.spec.kind !== 'hrs');
  return levelPoints(lrs.map(({ l, k }) => ({ level: l.spec.level, g_S: toG(o.base, l.spec.target_A, d.vread_V), gates: kept[k].filter((c) => c.status === 'ok').map((c) => c.finalStepped_V) })).filter((x) => x.gates.length >= MIN_LEVEL_CELLS));
}

/**
 * The transfer's form, chosen by a held-out fit (issue 26): stage A is fitted with each form on
 * the even cells of every level, and each fit's replay judged against the odd cells' statistics
 * (chi^2 with both errors). The monotone spline (a knot per level) can draw any shape; the
 * saturating exponential (5 values) wins unless its shape misses the board by more than two units,
 * and the spline is not fitted at all when the exponential's chi^2 is within the statistics' count.
 */
async function chooseForm(ctx: Ctx, state: ModelState, spreads: FitParam<ModelState>[], pts: LevelPoint[]): Promise<{ state: ModelState; transfer: FitParam<ModelState>[]; form?: FormChoice; warm?: Warm }> {
  const { o } = ctx;
  const expParams = (s: ModelState) => EXP_KEYS.map((k) => scalarParam(k, ALL_UNITS[k], s.p, o.priors));
  if (pts.length < 4 || !ctx.halves) return { state, transfer: expParams(state) };
  const starts = startingForms(pts, state.p);
  const asExp = cloneState(state);
  if (!o.priors.transfer_gsat_S) Object.assign(asExp.p, starts.exp);
  const asSpline = cloneState(state);
  asSpline.spline = { ...starts.spline, source: `monotone spline through the levels of run ${o.runId}` };
  asSpline.p.transfer_v0_V = pts[0].all - (starts.spline.x_V[0] ?? 0.1);
  asSpline.inc = starts.spline.x_V.map((x, j) => x - (starts.spline.x_V[j - 1] ?? 0));
  const knots = knotParams(asSpline.inc, pts.slice(0, asSpline.inc.length).map((p) => p.level));
  const { on, obsE, seE, obsO, seO, share } = ctx.halves;
  // Each form is fitted to the even half against replays of the whole run (1 / share times its
  // cells: replays of half the run were tried, and their noisier fits chose worse); the held-out
  // chi^2 counts the odd half's error and the even fit's (its replay's noise and its values' own
  // error, about one even half's variance together).
  const fitOn = async (s: ModelState, ps: FitParam<ModelState>[]) => {
    const r = await indirectInference({ params: [...ps, ...spreads], state: s, clone: cloneState, simulate: ctx.replay(1, true, on), obs: obsE, se: seE, simFactor: 1 / share, maxRuns: ps.length + spreads.length + 8 });
    const chi = r.sim.reduce((a, y, i) => a + (Number.isFinite(y) && Number.isFinite(obsO[i]) ? (y - obsO[i]) ** 2 / (seO[i] ** 2 + seE[i] ** 2) : 0), 0);
    return { state: r.state, chi, warm: { names: [...ps, ...spreads].map((p) => p.name), y: r.sim, J: r.J } };
  };
  const forced = process.env.RRAM_FORM === 'spline' || process.env.RRAM_FORM === 'exp' ? process.env.RRAM_FORM : undefined;
  const e = await fitOn(asExp, expParams(asExp));
  // An exponential whose held-out chi^2 is no more than its statistics' count (what a right model
  // scores) leaves the spline nothing to win but noise: it is not fitted (half the choice's replays).
  const enough = forced === 'exp' || (e.chi <= on.length && forced !== 'spline');
  const s = enough ? undefined : await fitOn(asSpline, knots);
  const model = forced ?? (s && s.chi + 2 < e.chi ? 'spline' : 'exp');
  const form: FormChoice = { model, heldOut: { exp: e.chi, spline: s ? s.chi : null, statistics: on.length }, ...(forced ? { forced } : {}), ...starts };
  // Stage A on all cells starts from the winner's half-cell fit.
  if (model === 'exp' || !s) return { state: e.state, transfer: expParams(e.state), form, warm: e.warm };
  s.state.spline = { ...s.state.spline!, source: `monotone spline through the levels of run ${o.runId}, chosen over the saturating exponential by a held-out fit (odd cells against the even cells' fit: chi2 ${s.chi.toFixed(1)} vs ${e.chi.toFixed(1)} over ${on.length} statistics)` };
  if (!o.priors.transfer_v0_V) ctx.records.set('transfer_v0_V', { value: s.state.p.transfer_v0_V, unit: 'V', status: 'convention', method: "the spline's origin (its knots are measured from it): the base value, or 0.1 V below the lowest level's mean final gate when that is lower", runs: [o.runId] });
  return { state: s.state, transfer: knots, form, warm: s.warm };
}

/** Where a fit ended: its parameters' names, the simulated statistics there and their sensitivities. */
interface Warm {
  names: string[];
  y: number[];
  J: number[][];
}

/**
 * Starting values straight from the statistics, so the replay fit starts near the board: read
 * noise from the spread within cells' read-backs (sigma = a + b G through the levels), the fast
 * relaxation from what read-back minus verify spreads beyond it.
 */
function directStarts(defs: StatDef[], obs: number[], d: LevelCdfDataset, s: ModelState): void {
  const reads = ((d.params as { reads?: number }).reads ?? 1) as number;
  const at = (k: number, name: string) => obs[defs.findIndex((x) => x.level === k && x.name.endsWith(name))];
  const pts: { g: number; sd: number; rel: number }[] = [];
  d.levels.forEach((l, k) => {
    if (l.spec.kind === 'hrs') return;
    const g = l.spec.target_A;
    // Median of a sample variance of K normal reads, over the variance: Wilson-Hilferty.
    const c = reads >= 2 ? (1 - 2 / (9 * (reads - 1))) ** 3 : NaN;
    const sd = Math.sqrt(at(k, 'read spread within cells (median)') ** 2 / c);
    pts.push({ g, sd, rel: at(k, 'read-back - verify spread') });
  });
  const ok = pts.filter((q) => Number.isFinite(q.sd) && q.sd > 0);
  if (ok.length >= 2) {
    const mg = ok.reduce((a, q) => a + q.g, 0) / ok.length;
    const ms = ok.reduce((a, q) => a + q.sd, 0) / ok.length;
    const b = ok.reduce((a, q) => a + (q.g - mg) * (q.sd - ms), 0) / ok.reduce((a, q) => a + (q.g - mg) ** 2, 0);
    const vr = d.vread_V;
    s.p.read_noise_rel = Math.max(0, b);
    s.p.read_noise_S = Math.max(1e-9, ms - Math.max(0, b) * mg) / vr;
    // Read-back minus verify beyond the read noise: the fast relaxation's spread through the levels,
    // a parabola in ln G (a bump: its peak and width) or, when it does not bend down, flat.
    const ex = ok.map((q) => ({ lg: Math.log(q.g / vr), e: Math.sqrt(Math.max(0, q.rel ** 2 - 2 * q.sd ** 2)) / vr })).filter((q) => q.e > 0 && Number.isFinite(q.lg));
    const peak = bump(ex.map((q) => q.lg), ex.map((q) => Math.log(q.e)));
    const mean = ex.reduce((a, q) => a + q.e, 0) / Math.max(1, ex.length);
    // Only a spread well above the read noise is worth a start (else the table's relaxation explains it).
    if (ex.length >= 2 && mean > 3 * s.p.read_noise_S) {
      if (peak) [s.p.relax_fast_sigma_S, s.p.relax_fast_g_peak_S, s.p.relax_fast_g_width] = [0.8 * peak.amp, peak.at, peak.width];
      else s.p.relax_fast_sigma_S = 0.8 * mean;
    }
  }
}

/** A Gaussian bump through points (x, ln y) by a least-squares parabola; undefined unless it bends down with its peak inside a decade of the points. */
function bump(x: number[], ly: number[]): { amp: number; at: number; width: number } | undefined {
  if (x.length < 3) return undefined;
  const n = x.length;
  const S = (f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i)).reduce((a, v) => a + v, 0);
  const A = [0, 1, 2].map((r) => [0, 1, 2].map((c) => S((i) => x[i] ** (r + c))));
  const b = [0, 1, 2].map((r) => S((i) => ly[i] * x[i] ** r));
  const inv = invSym(A);
  const [c0, c1, c2] = inv.map((row) => row.reduce((a, v, k) => a + v * b[k], 0));
  if (!(c2 < 0)) return undefined;
  const at = -c1 / (2 * c2);
  if (at < Math.min(...x) - 2.3 || at > Math.max(...x) + 2.3) return undefined;
  return { amp: Math.exp(c0 - (c1 * c1) / (4 * c2)), at: Math.exp(at), width: Math.sqrt(-1 / (2 * c2)) };
}

/** Standard errors with floors: a share of 1 (or 0) still has a binomial error of a cell's worth; nothing is known to better than 0.1 %. */
function seFloors(defs: StatDef[], levels: StatCell[][], se: number[], obs: number[]): number[] {
  return defs.map((d, i) => {
    const n = Math.max(1, levels[d.level].length);
    if (d.group === 'yield') return Math.max(se[i], Math.sqrt(Math.max(obs[i] * (1 - obs[i]), 1 / n) / n));
    return Math.max(se[i], 1e-3 * Math.abs(obs[i]), 1e-12);
  });
}

/** The statistics that decide a parameter (largest weighted sensitivity), measured beside simulated. */
function evidenceOf(defs: StatDef[], obs: number[], sim: number[], se: number[], J: number[][], j: number): Evidence[] {
  return defs
    .map((d, i) => ({ i, s: Math.abs(J[i]?.[j] ?? 0) / se[i] }))
    .filter((x) => x.s > 0)
    .sort((a, b) => b.s - a.s)
    .slice(0, 2)
    .map(({ i }) => ({ statistic: defs[i].name, measured: obs[i], model: sim[i], se: se[i], unit: defs[i].unit }));
}

/** Knot positions' errors from their increments' (log space): x_k sums the first k increments. */
function knotUncertainty(seInc: number[], inc: number[]): number[] {
  let v = 0;
  return inc.map((_, k) => Math.sqrt((v += seInc[k] ** 2)));
}

/** Leaky and stuck shares, counted; the unformable share follows the forming fit (formingTail). */
function shares(kept: StatCell[][], state: ModelState, rec: Map<string, ParamRecord>, runId: string): void {
  const all = kept.flat();
  const n = Math.max(1, all.length);
  const count = (k: ScalarName, hits: number, what: string) => {
    state.p[k] = hits / n;
    rec.set(k, { value: hits / n, unit: '1', status: hits ? 'fitted' : 'at-bound', method: `${what}: ${hits} of ${n} cells of run ${runId}`, runs: [runId], uncertainty: hits ? Math.sqrt(hits) / n : undefined, evidence: [{ statistic: what, measured: hits / n, model: hits / n, se: Math.sqrt(hits + 1) / n, unit: '1' }] });
  };
  count('fraction_leaky_pristine', all.filter((c) => c.leaky).length, 'share of cells leaky when pristine (they answered no RESET and then formed)');
  count('fraction_stuck_lrs', all.filter((c) => c.status === 'stuck').length, 'share of cells found stuck');
  state.p.fraction_unformable = all.filter((c) => c.status === 'unformable').length / n;
}

/** Unformable: cells never formed, minus the forming voltage's tail above the staircase's top. */
function formingTail(kept: StatCell[][], state: ModelState, rec: Map<string, ParamRecord>, runId: string, top: number): void {
  const n = Math.max(1, kept.reduce((a, k) => a + k.length, 0));
  const hits = kept.reduce((a, k) => a + k.filter((c) => c.status === 'unformable').length, 0);
  const z = (top - state.p.form_v_median_V) / Math.max(1e-6, Math.hypot(state.p.form_v_sigma_V, 0.05));
  const tail = 0.5 * erfc(z / Math.SQRT2);
  const v = Math.max(0, hits / n - tail);
  state.p.fraction_unformable = v;
  rec.set('fraction_unformable', { value: v, unit: '1', status: v > 0 ? 'fitted' : 'at-bound', method: `share of cells of run ${runId} never formed up to ${top} V (${hits} of ${n}), minus the forming voltage's tail above it (${(tail * 100).toFixed(2)} %)`, runs: [runId], uncertainty: v > 0 ? Math.sqrt(hits) / n : undefined, evidence: [{ statistic: 'share never formed', measured: hits / n, model: v + tail, se: Math.sqrt(hits + 1) / n, unit: '1' }] });
}

function erfc(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-x * x);
  return x >= 0 ? y : 2 - y;
}
