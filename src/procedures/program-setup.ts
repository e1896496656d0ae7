/**
 * Preflight (Bluesky's check_limits, done before the first pulse): derives every write-verify
 * range from the board's reported limits, the user's limits and flags, and the board's
 * calibration (when one is known), then checks the whole run can work: every amplitude a plan can
 * send within the limits, steps on the DAC grid, the level targets reachable under the gate limit,
 * enough cells formable and resettable within their ranges. Problems are collected and refused
 * together, each naming the parameter, its value and the limit; nothing has been sent by then.
 */
import type { BoardInfo, SafetyLimits } from '../../drivers/board.js';
import { InvalidArgumentError, RramError } from '../../drivers/errors.js';
import { onGrid, tighten } from '../../drivers/limits.js';
import type { Calibration } from '../../calibration/calibration.js';
import { values } from '../../calibration/calibration.js';
import { readCurrent, transferCurve } from '../../calibration/transfer.js';
import { defaultLevels, HRS_MAX_A, LRS_MAX_A, LRS_MIN_A, type LevelSpec } from '../analysis/levels.js';
import { FORM_DEFAULTS } from '../plans/form.js';
import { IGVVA_DEFAULTS } from '../plans/igvva.js';
import { ISPVA_DEFAULTS } from '../plans/ispva.js';
import { ALGOS, type ProgramConfig } from '../plans/program-cell.js';
import { ADAPTIVE_DEFAULTS } from '../plans/igvva-adaptive.js';
import { BIDIR_DEFAULTS, type BidirConfig } from '../plans/bidir.js';
import { RADAR_DEFAULTS, type RadarConfig } from '../plans/radar.js';
import type { IdenticalConfig } from '../plans/identical-pulse.js';

/** igvva-predict starts where a cell this many device-to-device sigmas stronger than nominal reaches the target. */
export const PREDICT_SIGMAS = 3;
/** igvva-predict's second climb at the gate limit: VTE this much higher. */
export const VTE_BOOST_V = 0.2;
import { RESET_DEFAULTS } from '../plans/reset-verify.js';
import type { ProgramOptions } from './program-config.js';

export class PreflightError extends RramError {
  constructor(readonly problems: string[]) {
    super('INVALID_ARGUMENT', `refused before the first pulse:\n  - ${problems.join('\n  - ')}`, { problems });
    this.name = 'PreflightError';
  }
}

export interface ProgramSetup {
  config: ProgramConfig;
  levels: LevelSpec[];
  ispvaGates_V?: number[];
  /** igvva-predict and bidir: the gate each level's climb starts at (a cell some sigmas stronger than nominal reaches the target there); radar: its overshooting SET's gate; identical-pulse: its one SET gate. */
  startGates_V?: number[];
  /** igvva-predict: where a mispredicted climb starts again (a cell twice as many sigmas stronger), before a full search. */
  retryGates_V?: number[];
  /** The limits in force (board's, tightened by the user's). */
  limits: SafetyLimits;
  /** Where each derived value came from: user | board | calibration | default. */
  sources: Record<string, string>;
  /** What was adapted to this board and why (printed, recorded with the run). */
  notes: string[];
  /** Calibration-based predictions (null without a calibration). */
  predicted: { formable: number; resettable: number; defects: number; topLevelGate_V: number } | null;
}

export interface SetupInput extends ProgramOptions {
  levels: number;
  /** Level targets given by a dataset (a level-CDF's own targets); default derived here. */
  levelSpecs?: LevelSpec[];
  /** Success rate the run must reach (predictions below it are refused). */
  minSuccess?: number;
  /** The board is behind a link (a serial board): on-board write-verify saves its round trips. */
  linked?: boolean;
}

const Phi = (z: number) => 0.5 * (1 + erf(z / Math.SQRT2));
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}
const uA = (a: number) => `${+(a * 1e6).toFixed(2)} uA`;
const V = (v: number) => `${+v.toFixed(4)} V`;

export function setupProgramming(o: SetupInput, board: BoardInfo, cal?: Calibration, userLimits: Partial<SafetyLimits> = {}): ProgramSetup {
  if (!(ALGOS as readonly string[]).includes(o.algo)) throw new InvalidArgumentError('algo', o.algo, `must be one of ${ALGOS.join(', ')}`);
  const gateAlgo = o.algo !== 'ispva';
  const pos = (f: string, v: number | undefined) => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new InvalidArgumentError(f, v, 'must be a positive number');
  };
  for (const [f, v] of [['step', o.step_V], ['width', o.width_s], ['vread', o.vread_V], ['max-pulses', o.maxPulses], ['vte', o.vte_V], ['vg-max', o.vgMax_V], ['form-vg', o.formVg_V], ['form-vte-start', o.formVteStart_V], ['form-vte-max', o.formVteMax_V], ['form-jump', o.formJumpRatio], ['form-jump-min', o.formJumpMin_A], ['formed-above', o.formedAbove_A], ['reset-vg', o.resetVg_V], ['reset-vsl-max', o.resetVslMax_V], ['ispva-vte-max', o.ispvaVteMax_V], ['hrs-max', o.hrsMax_A]] as const) pos(f, v);
  if (o.vgStart_V !== undefined && !(o.vgStart_V >= 0)) throw new InvalidArgumentError('vg-start', o.vgStart_V, 'must be >= 0');
  if (o.tolerance_A !== undefined && !(o.tolerance_A > 0)) throw new InvalidArgumentError('tolerance', o.tolerance_A, 'must be a positive current');
  if (o.formJumpRatio !== undefined && o.formJumpRatio <= 1) throw new InvalidArgumentError('form-jump', o.formJumpRatio, 'must be > 1 (a ratio over the pristine read)');

  const L = tighten(board.limits, userLimits);
  const dac = board.dacStep_V;
  const problems: string[] = [];
  const notes: string[] = [];
  const sources: Record<string, string> = {};
  const p = cal ? values(cal) : undefined;
  const minSuccess = o.minSuccess ?? 0.95;
  /** The user's value, else a default capped by a limit (noted when the cap bites). */
  const pick = (name: string, user: number | undefined, def: number, cap?: { value: number; what: string }): number => {
    if (user !== undefined) {
      sources[name] = 'user';
      return user;
    }
    if (cap && cap.value < def) {
      sources[name] = 'board';
      notes.push(`${name} ${V(cap.value)} (the ${cap.what}; default ${V(def)})`);
      return cap.value;
    }
    sources[name] = 'default';
    return def;
  };
  const within = (name: string, v: number, max: number, what: string) => {
    if (onGrid(v, dac) > max + 1e-12) problems.push(`${name}=${V(v)} is above the ${what} ${V(max)}`);
  };
  const onStep = (name: string, v: number) => {
    const k = v / dac;
    if (Math.abs(k - Math.round(k)) > 1e-6 || Math.round(k) < 1) problems.push(`${name}=${V(v)} is not a whole multiple of the board's DAC step ${V(dac)}: the steps would be uneven or zero`);
  };

  // Read and pulse widths.
  const vread = pick('vread', o.vread_V, 0.2, { value: L.vread_max_V, what: "board's vread_max" });
  within('vread', vread, L.vread_max_V, 'vread_max');
  const width = pick('width', o.width_s, IGVVA_DEFAULTS.width_s);
  if (width < L.width_min_s || width > L.width_max_s) problems.push(`width=${width} s is outside the board's pulse widths ${L.width_min_s}..${L.width_max_s} s`);
  const formWidth = Math.min(L.width_max_s, Math.max(L.width_min_s, FORM_DEFAULTS.width_s));
  if (formWidth !== FORM_DEFAULTS.width_s) notes.push(`forming width ${formWidth} s (the board's width range; default ${FORM_DEFAULTS.width_s} s)`);

  // Levels: LRS targets within what the gate limit reaches.
  const vgStop = pick('vg-max', o.vgMax_V, L.vg_max_V);
  within('vg-max', vgStop, L.vg_max_V, 'vg_max');
  const curve = cal ? transferCurve(cal, vread) : undefined;
  let hrsMax = o.hrsMax_A ?? HRS_MAX_A;
  sources['hrs-max'] = o.hrsMax_A !== undefined ? 'user' : 'default';
  if (p && cal && o.hrsMax_A === undefined) {
    const hrs90 = readCurrent(cal, p.g_hrs_S * Math.exp(1.2816 * p.g_hrs_sigma_log), vread);
    if (hrs90 * 1.3 > hrsMax) {
      hrsMax = +(hrs90 * 1.3).toPrecision(3);
      sources['hrs-max'] = 'calibration';
      notes.push(`HRS ceiling ${uA(hrsMax)} (the calibration's HRS reads ${uA(hrs90)} at its 90th percentile; default ${uA(HRS_MAX_A)})`);
    }
  }
  const given = o.levelSpecs?.filter((l) => l.kind === 'lrs').map((l) => l.target_A);
  let [lrsMin, lrsMax] = o.lrsRange_A ?? (given?.length ? [Math.min(...given), Math.max(...given)] : [LRS_MIN_A, LRS_MAX_A]);
  sources['lrs-range'] = o.lrsRange_A ? 'user' : given ? 'dataset' : 'default';
  let topGate = NaN;
  if (curve) {
    // What a cell two device-to-device sigmas weaker than nominal reaches at the gate limit.
    const reach = curve.readAt(vgStop, 2);
    if (!o.lrsRange_A && !given && reach < lrsMax) {
      lrsMax = Math.floor(reach * 0.97 * 1e7) / 1e7;
      sources['lrs-range'] = 'calibration';
      notes.push(`LRS levels up to ${uA(lrsMax)}: the calibration's transfer reaches ${uA(reach)} at vg-max ${V(vgStop)} on a cell 2 sigma weaker than nominal (default top ${uA(LRS_MAX_A)})`);
    }
    topGate = curve.gateFor(lrsMax, 2);
    if (lrsMax > reach) problems.push(`the top LRS target ${uA(lrsMax)} needs VG ${Number.isFinite(topGate) ? V(topGate) : 'beyond saturation'} by the calibration (a cell 2 sigma weak), above vg-max ${V(vgStop)}: lower --lrs-range or raise the gate limit`);
  }
  if (lrsMin >= lrsMax && o.levels > 2) problems.push(`lrs-range ${uA(lrsMin)}..${uA(lrsMax)} leaves no room for ${o.levels - 1} LRS levels`);
  let levels: LevelSpec[] = [];
  if (o.levelSpecs) {
    levels = o.levelSpecs;
    if (levels.length !== o.levels) problems.push(`the dataset gives ${levels.length} level targets for ${o.levels} levels`);
  } else {
    try {
      levels = defaultLevels(o.levels, Math.min(lrsMin, lrsMax), lrsMax, hrsMax);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }

  // Forming.
  const formVg = pick('form-vg', o.formVg_V, FORM_DEFAULTS.vg_V, { value: L.vg_max_V, what: "board's vg_max" });
  within('form-vg', formVg, L.vg_max_V, 'vg_max');
  const formStop = pick('form-vte-max', o.formVteMax_V, FORM_DEFAULTS.vteStop_V, { value: L.vte_max_V, what: "board's vte_max" });
  within('form-vte-max', formStop, L.vte_max_V, 'vte_max');
  let formStartDef = FORM_DEFAULTS.vteStart_V;
  // safe: from below nearly every cell's forming voltage; fast: from 1 sigma below the median (a cell that forms at once is formed all the same).
  const fast = o.prep === 'fast';
  if (p) formStartDef = Math.max(0.5, Math.floor((p.form_v_median_V - (fast ? 1 : 3.5) * p.form_v_sigma_V) * 10) / 10);
  const formStart = pick('form-vte-start', o.formVteStart_V, formStartDef);
  if (p && o.formVteStart_V === undefined) sources['form-vte-start'] = 'calibration';
  if (formStart > formStop) problems.push(`form-vte-start=${V(formStart)} is above form-vte-max ${V(formStop)}`);
  const lrsMinTarget = levels.find((l) => l.kind === 'lrs')?.target_A ?? lrsMin;
  const formedAbove = o.formedAbove_A ?? lrsMinTarget * 0.5;
  const jumpMin = o.formJumpMin_A ?? lrsMinTarget * 0.3;
  sources['formed-above'] = o.formedAbove_A !== undefined ? 'user' : 'levels';
  let formable = NaN;
  if (p) {
    formable = Phi((formStop - p.form_v_median_V) / Math.hypot(p.form_v_sigma_V, 0.05));
    const pristine = readCurrent(cal!, p.g_pristine_S, vread);
    if (pristine >= formedAbove) problems.push(`pristine cells read ${uA(pristine)} by the calibration, at or above formed-above ${uA(formedAbove)}: they would be taken as formed`);
    if (formable < minSuccess) problems.push(`form-vte-max=${V(formStop)}: only ${(100 * formable).toFixed(1)} % of cells form below it by the calibration (forming ${V(p.form_v_median_V)} median, ${V(p.form_v_sigma_V)} sigma), under --min-success ${(100 * minSuccess).toFixed(0)} %`);
  }

  // RESET.
  const resetVg = pick('reset-vg', o.resetVg_V, RESET_DEFAULTS.vg_V, { value: L.vg_max_V, what: "board's vg_max" });
  within('reset-vg', resetVg, L.vg_max_V, 'vg_max');
  const vslStop = pick('reset-vsl-max', o.resetVslMax_V, RESET_DEFAULTS.vslStop_V, { value: L.vsl_max_V, what: "board's vsl_max" });
  within('reset-vsl-max', vslStop, L.vsl_max_V, 'vsl_max');
  if (RESET_DEFAULTS.vslStart_V > vslStop) problems.push(`reset-vsl-max=${V(vslStop)} is below the first RESET step ${V(RESET_DEFAULTS.vslStart_V)}`);
  let resettable = NaN;
  if (p) {
    resettable = Phi((vslStop - 0.1 - p.reset_v_median_V) / Math.hypot(p.reset_v_sigma_V, p.reset_v_c2c_V));
    if (resettable < minSuccess) problems.push(`reset-vsl-max=${V(vslStop)}: only ${(100 * resettable).toFixed(1)} % of cells reset below it by the calibration (${V(p.reset_v_median_V)} median), under --min-success ${(100 * minSuccess).toFixed(0)} %`);
    const open = p.transfer_v0_V + 2 * p.transfer_v0_sigma_V + 0.3;
    if (resetVg < open) problems.push(`reset-vg=${V(resetVg)} does not open the select transistor of most cells (the calibration's threshold ${V(p.transfer_v0_V)} + 2 sigma + 0.3 V = ${V(open)})`);
  }

  // All together: what share of cells the calibration says this run can program.
  if (p) {
    const defects = p.fraction_unformable + p.fraction_stuck_lrs;
    const expected = formable * resettable * (1 - defects);
    if (expected < minSuccess && formable >= minSuccess && resettable >= minSuccess)
      problems.push(`by the calibration only ${(100 * expected).toFixed(1)} % of cells can be programmed (unformable ${(100 * p.fraction_unformable).toFixed(1)} %, stuck ${(100 * p.fraction_stuck_lrs).toFixed(1)} %, forming in range ${(100 * formable).toFixed(1)} %, resetting in range ${(100 * resettable).toFixed(1)} %), under --min-success ${(100 * minSuccess).toFixed(0)} %`);
  }

  // The stepped amplitude.
  const step = o.step_V ?? (gateAlgo ? IGVVA_DEFAULTS.vgStep_V : ISPVA_DEFAULTS.vteStep_V);
  sources.step = o.step_V !== undefined ? 'user' : 'default';
  onStep('step', step);
  const vte = pick('vte', o.vte_V, IGVVA_DEFAULTS.vte_V);
  let ispvaGates: number[] | undefined;
  let vgStart = IGVVA_DEFAULTS.vgStart_V;
  const ispvaStop = pick('ispva-vte-max', o.ispvaVteMax_V, ISPVA_DEFAULTS.vteStop_V, { value: L.vte_max_V, what: "board's vte_max" });
  let startGates: number[] | undefined;
  let retryGates: number[] | undefined;
  if (gateAlgo) {
    within('vte', vte, L.vte_max_V, 'vte_max');
    if (p && o.vgStart_V === undefined) {
      // A little below the lowest gate any cell switches at: no pulse is wasted far below it.
      vgStart = Math.max(0, Math.floor((p.transfer_v0_V - 3 * p.transfer_v0_sigma_V - 0.1) * 100) / 100);
      sources['vg-start'] = 'calibration';
    } else {
      vgStart = o.vgStart_V ?? vgStart;
      sources['vg-start'] = o.vgStart_V !== undefined ? 'user' : 'default';
    }
    if (vgStart > vgStop) problems.push(`vg-start=${V(vgStart)} is above vg-max ${V(vgStop)}`);
    if (o.algo === 'igvva-predict' || o.algo === 'bidir') {
      if (curve && p) {
        // Where a cell `k` device-to-device sigmas stronger than nominal reaches the target, less
        // the gate jitter's share: few cells cross below it (those that do are caught as mispredictions).
        const k = o.predictSigmas ?? PREDICT_SIGMAS;
        sources['start-gates'] = 'calibration';
        startGates = levels.map((l) => {
          if (l.kind === 'hrs') return vgStart;
          const g = curve.gateFor(l.target_A, -k) - k * p.vg_jitter_V;
          const onStepGrid = vgStart + Math.floor((g - vgStart) / step) * step;
          return Number.isFinite(g) ? +Math.min(vgStop, Math.max(vgStart, onStepGrid)).toFixed(6) : vgStart;
        });
        if (o.algo === 'igvva-predict')
          retryGates = levels.map((l) => {
            const g = curve.gateFor(l.target_A, -2 * k) - 2 * k * p.vg_jitter_V;
            return l.kind === 'hrs' || !Number.isFinite(g) ? vgStart : +Math.min(vgStop, Math.max(vgStart, vgStart + Math.floor((g - vgStart) / step) * step)).toFixed(6);
          });
      } else if (o.algo === 'igvva-predict') problems.push('igvva-predict needs the board\'s calibration to predict each level\'s gate: give --calibration FILE fitted to this board (`rram calibrate --from`)');
      else startGates = levels.map(() => vgStart);
    }
    if (o.algo === 'radar' || o.algo === 'identical-pulse') {
      if (!curve || !p) problems.push(`${o.algo} needs the board's calibration for each level's SET gate: give --calibration FILE fitted to this board (\`rram calibrate --from\`)`);
      else {
        const tol = o.tolerance_A ?? RADAR_DEFAULTS.tolerance_A;
        sources['start-gates'] = 'calibration';
        // radar: the nominal cell lands at the band's top (most land above it; weaker ones climb in fine steps from there);
        // identical-pulse: the nominal cell lands in the band's middle. Capped at vg-max (a cell it leaves below climbs, or fails).
        startGates = levels.map((l) => {
          const g = o.algo === 'radar' ? curve.gateFor(l.target_A + tol) + p.vg_jitter_V : curve.gateFor(l.target_A + tol / 2);
          if (l.kind === 'lrs' && !(g <= vgStop)) notes.push(`level ${l.level}: ${o.algo}'s SET gate (${Number.isFinite(g) ? V(g) : 'beyond saturation'} by the calibration) capped at vg-max ${V(vgStop)}`);
          return l.kind === 'hrs' ? vgStart : +Math.min(vgStop, Math.max(vgStart, Number.isFinite(g) ? onGrid(g, dac) : vgStop)).toFixed(6);
        });
      }
    }
  } else {
    within('ispva-vte-max', ispvaStop, L.vte_max_V, 'vte_max');
    if (o.ispvaGates_V) {
      sources['ispva-vg'] = 'user';
      if (o.ispvaGates_V.length !== o.levels) problems.push(`ispva-vg has ${o.ispvaGates_V.length} values for ${o.levels} levels`);
      ispvaGates = o.ispvaGates_V;
    } else if (curve) {
      sources['ispva-vg'] = 'calibration';
      // The compliance a little above each target (2 uS at the read voltage), as the seed's tables.
      ispvaGates = levels.map((l) => (l.kind === 'hrs' ? 0 : +onGrid(curve.gateFor(l.target_A + 2e-6 * vread), dac).toFixed(6)));
    } else problems.push('ISPVA needs a gate voltage per level: give --ispva-vg, or --calibration FILE fitted to this board (`rram calibrate`); the project\'s default calibration describes another device');
    ispvaGates?.forEach((g, k) => {
      if (k > 0 && !(Number.isFinite(g) && onGrid(g, dac) <= L.vg_max_V + 1e-12)) problems.push(`ispva-vg for level ${k} = ${Number.isFinite(g) ? V(g) : 'beyond saturation'} is above vg_max ${V(L.vg_max_V)}`);
    });
  }

  // fast prep: reset-verify from where most cells already reset (onset + 2 sigma), in 0.15 V steps.
  const resetStart = fast && p ? Math.min(vslStop, Math.max(RESET_DEFAULTS.vslStart_V, Math.round((p.reset_v_median_V + 2 * Math.hypot(p.reset_v_sigma_V, p.reset_v_c2c_V)) / 0.05) * 0.05)) : RESET_DEFAULTS.vslStart_V;
  if (fast && !p) notes.push('--prep fast needs the board\'s calibration for its forming and RESET starts: the safe starts are used');
  // On-board write-verify (WRITE_VERIFY): IGVVA's and igvva-predict's climbs as one request each, where the board offers it.
  const mode = o.onboardVerify ?? 'auto';
  const climbs = (o.algo === 'igvva' || o.algo === 'igvva-predict') && o.tolerance_A === undefined;
  const offered = board.features?.writeVerify === true;
  if (mode === 'on' && !(climbs && offered)) problems.push(`onboard-verify=on: ${!offered ? 'the board does not offer WRITE_VERIFY' : 'only igvva and igvva-predict without --tolerance climb as the board does'}`);
  const onboard = mode === 'on' || (mode === 'auto' && climbs && offered && o.linked === true);
  if (onboard) notes.push('write-verify climbs run on the board (WRITE_VERIFY): one request per climb');
  const reset = { ...RESET_DEFAULTS, vg_V: resetVg, vslStop_V: vslStop, width_s: width, vread_V: vread, max_A: hrsMax, vslStart_V: +onGrid(resetStart, dac).toFixed(6), vslStep_V: fast && p ? 0.15 : RESET_DEFAULTS.vslStep_V };
  // bidir's partial RESET starts where the gentlest cells begin to reset (the calibration's onset less 3 sigma).
  const bidirVslStart = p ? Math.max(0.1, Math.floor((p.reset_v_median_V - 3 * Math.hypot(p.reset_v_sigma_V, p.reset_v_c2c_V)) / 0.02) * 0.02) : BIDIR_DEFAULTS.vslStart_V;
  const bidirStep = Math.max(dac, Math.round(BIDIR_DEFAULTS.vslStep_V / dac) * dac);
  const bidirCfg: BidirConfig = { ...BIDIR_DEFAULTS, tolerance_A: o.tolerance_A ?? BIDIR_DEFAULTS.tolerance_A, vslStart_V: +onGrid(bidirVslStart, dac).toFixed(6), vslStep_V: +bidirStep.toFixed(6), vslStop_V: vslStop, resetVg_V: resetVg };
  const coarse = Math.max(step, Math.round((ADAPTIVE_DEFAULTS.coarseStep_V / step)) * step);
  const radarStep = Math.max(dac, Math.round(RADAR_DEFAULTS.vslStep_V / dac) * dac);
  const radarCfg: RadarConfig = { ...RADAR_DEFAULTS, tolerance_A: o.tolerance_A ?? RADAR_DEFAULTS.tolerance_A, vslStart_V: +onGrid(bidirVslStart, dac).toFixed(6), vslStep_V: +radarStep.toFixed(6), vslStop_V: vslStop, resetVg_V: resetVg };
  // identical-pulse's RESET: at the calibration's median onset (half the pulses act on a cell, gently).
  const identicalCfg: IdenticalConfig = { tolerance_A: o.tolerance_A ?? RADAR_DEFAULTS.tolerance_A, vte_V: vte, vsl_V: +onGrid(p ? Math.min(vslStop, p.reset_v_median_V) : bidirVslStart, dac).toFixed(6), resetVg_V: resetVg, width_s: width, vread_V: vread, maxPulses: o.maxPulses ?? 200 };
  const config: ProgramConfig = {
    algo: o.algo,
    form: { ...FORM_DEFAULTS, vg_V: formVg, vteStart_V: formStart, vteStop_V: formStop, width_s: formWidth, vread_V: vread, formedAbove_A: formedAbove, jumpRatio: o.formJumpRatio ?? FORM_DEFAULTS.jumpRatio, jumpMin_A: jumpMin },
    reset,
    igvva: {
      ...IGVVA_DEFAULTS,
      vgStep_V: gateAlgo ? step : IGVVA_DEFAULTS.vgStep_V,
      tolerance_A: o.algo === 'bidir' ? Infinity : (o.tolerance_A ?? Infinity),
      maxPulses: o.maxPulses ?? IGVVA_DEFAULTS.maxPulses,
      width_s: width,
      vte_V: vte,
      vgStart_V: vgStart,
      vgStop_V: vgStop,
      maxRetries: o.maxRetries ?? IGVVA_DEFAULTS.maxRetries,
      vread_V: vread,
      reset,
      // igvva-predict: a weak cell the gate limit leaves below the target climbs once more at a higher VTE (within vte_max).
      ...(o.algo === 'igvva-predict' && vte + VTE_BOOST_V <= L.vte_max_V + 1e-12 ? { vteBoost_V: VTE_BOOST_V, boostBack_V: 0.2 } : {}),
      ...(onboard ? { onboard: true } : {}),
    },
    ispva: { ...ISPVA_DEFAULTS, vteStep_V: o.algo === 'ispva' ? step : ISPVA_DEFAULTS.vteStep_V, vteStop_V: ispvaStop, tolerance_A: o.tolerance_A ?? Infinity, maxPulses: o.maxPulses ?? ISPVA_DEFAULTS.maxPulses, width_s: width, vread_V: vread },
    ...(o.algo === 'igvva-adaptive' ? { adaptive: { ...ADAPTIVE_DEFAULTS, coarseStep_V: +coarse.toFixed(6) } } : {}),
    ...(o.algo === 'bidir' ? { bidir: bidirCfg } : {}),
    ...(o.algo === 'radar' ? { radar: radarCfg } : {}),
    ...(o.algo === 'identical-pulse' ? { identical: identicalCfg } : {}),
  };
  if (problems.length) throw new PreflightError(problems);
  return { config, levels, ispvaGates_V: ispvaGates, startGates_V: startGates, ...(retryGates ? { retryGates_V: retryGates } : {}), limits: L, sources, notes, predicted: p ? { formable, resettable, defects: p.fraction_unformable + p.fraction_stuck_lrs, topLevelGate_V: topGate } : null };
}
