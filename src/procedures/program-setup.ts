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
import { transferCurve } from '../../calibration/transfer.js';
import type { LevelSpec } from '../analysis/levels.js';
import { FORM_DEFAULTS } from '../plans/form.js';
import { IGVVA_DEFAULTS } from '../plans/igvva.js';
import { ISPVA_DEFAULTS } from '../plans/ispva.js';
import { ALGOS, type ProgramConfig } from '../plans/program-cell.js';
import { ADAPTIVE_DEFAULTS } from '../plans/igvva-adaptive.js';
import { BIDIR_DEFAULTS, type BidirConfig } from '../plans/bidir.js';
import { RADAR_DEFAULTS, type RadarConfig } from '../plans/radar.js';
import type { IdenticalConfig } from '../plans/identical-pulse.js';

import { RESET_DEFAULTS } from '../plans/reset-verify.js';
import type { ProgramOptions } from './program-config.js';
import { SetupContext } from './setup-context.js';
import { checkExpectedYield, formingRange, gateStarts, levelTargets, resetRange, type GateStarts } from './setup-parts.js';

export { PREDICT_SIGMAS } from './setup-parts.js';
/** igvva-predict's second climb at the gate limit: VTE this much higher. */
export const VTE_BOOST_V = 0.2;

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

/** Refuses flags that make no sense whatever the board (non-positive amplitudes, widths, ratios). */
function checkFlags(o: SetupInput): void {
  if (!(ALGOS as readonly string[]).includes(o.algo)) throw new InvalidArgumentError('algo', o.algo, `must be one of ${ALGOS.join(', ')}`);
  const pos = (f: string, v: number | undefined) => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new InvalidArgumentError(f, v, 'must be a positive number');
  };
  for (const [f, v] of [['step', o.step_V], ['width', o.width_s], ['vread', o.vread_V], ['max-pulses', o.maxPulses], ['vte', o.vte_V], ['vg-max', o.vgMax_V], ['form-vg', o.formVg_V], ['form-vte-start', o.formVteStart_V], ['form-vte-max', o.formVteMax_V], ['form-jump', o.formJumpRatio], ['form-jump-min', o.formJumpMin_A], ['formed-above', o.formedAbove_A], ['reset-vg', o.resetVg_V], ['reset-vsl-max', o.resetVslMax_V], ['ispva-vte-max', o.ispvaVteMax_V], ['hrs-max', o.hrsMax_A]] as const) pos(f, v);
  if (o.vgStart_V !== undefined && !(o.vgStart_V >= 0)) throw new InvalidArgumentError('vg-start', o.vgStart_V, 'must be >= 0');
  if (o.tolerance_A !== undefined && !(o.tolerance_A > 0)) throw new InvalidArgumentError('tolerance', o.tolerance_A, 'must be a positive current');
  if (o.formJumpRatio !== undefined && o.formJumpRatio <= 1) throw new InvalidArgumentError('form-jump', o.formJumpRatio, 'must be > 1 (a ratio over the pristine read)');
}

export function setupProgramming(o: SetupInput, board: BoardInfo, cal?: Calibration, userLimits: Partial<SafetyLimits> = {}): ProgramSetup {
  checkFlags(o);
  const L = tighten(board.limits, userLimits);
  const c = new SetupContext(L, board.dacStep_V, o.minSuccess ?? 0.95, cal);
  const { p } = c;
  // Read and pulse widths.
  const vread = c.pick('vread', o.vread_V, 0.2, { value: L.vread_max_V, what: "board's vread_max" });
  c.within('vread', vread, L.vread_max_V, 'vread_max');
  const width = c.pick('width', o.width_s, IGVVA_DEFAULTS.width_s);
  if (width < L.width_min_s || width > L.width_max_s) c.problems.push(`width=${width} s is outside the board's pulse widths ${L.width_min_s}..${L.width_max_s} s`);
  const formWidth = Math.min(L.width_max_s, Math.max(L.width_min_s, FORM_DEFAULTS.width_s));
  if (formWidth !== FORM_DEFAULTS.width_s) c.notes.push(`forming width ${formWidth} s (the board's width range; default ${FORM_DEFAULTS.width_s} s)`);
  // Levels, forming, RESET, and what share of cells all that can program.
  const vgStop = c.pick('vg-max', o.vgMax_V, L.vg_max_V);
  c.within('vg-max', vgStop, L.vg_max_V, 'vg_max');
  const curve = cal ? transferCurve(cal, vread) : undefined;
  const { levels, lrsMin, hrsMax, topGate } = levelTargets(c, o, vgStop, curve, vread);
  const form = formingRange(c, o, levels, lrsMin, vread);
  const rst = resetRange(c, o);
  checkExpectedYield(c, form.formable, rst.resettable);
  // The stepped amplitude, and where each algorithm's climbs start.
  const step = o.step_V ?? (o.algo !== 'ispva' ? IGVVA_DEFAULTS.vgStep_V : ISPVA_DEFAULTS.vteStep_V);
  c.sources.step = o.step_V !== undefined ? 'user' : 'default';
  c.onStep('step', step);
  const gates = gateStarts(c, o, levels, curve, vgStop, step, vread);
  const config = programConfig(c, o, board, { vread, width, formWidth, vgStop, hrsMax, step, form, rst, gates });
  if (c.problems.length) throw new PreflightError(c.problems);
  return {
    config,
    levels,
    ispvaGates_V: gates.ispvaGates,
    startGates_V: gates.startGates,
    ...(gates.retryGates ? { retryGates_V: gates.retryGates } : {}),
    limits: L,
    sources: c.sources,
    notes: c.notes,
    predicted: p ? { formable: form.formable, resettable: rst.resettable, defects: p.fraction_unformable + p.fraction_stuck_lrs, topLevelGate_V: topGate } : null,
  };
}

interface Derived {
  vread: number;
  width: number;
  formWidth: number;
  vgStop: number;
  hrsMax: number;
  step: number;
  form: ReturnType<typeof formingRange>;
  rst: ReturnType<typeof resetRange>;
  gates: GateStarts;
}

/** Whether the climbs run on the board (WRITE_VERIFY): IGVVA's and igvva-predict's, one request each, where the board offers it. */
function onboardVerify(c: SetupContext, o: SetupInput, board: BoardInfo): boolean {
  const mode = o.onboardVerify ?? 'auto';
  const climbs = (o.algo === 'igvva' || o.algo === 'igvva-predict') && o.tolerance_A === undefined;
  const offered = board.features?.writeVerify === true;
  if (mode === 'on' && !(climbs && offered)) c.problems.push(`onboard-verify=on: ${!offered ? 'the board does not offer WRITE_VERIFY' : 'only igvva and igvva-predict without --tolerance climb as the board does'}`);
  const onboard = mode === 'on' || (mode === 'auto' && climbs && offered && o.linked === true);
  if (onboard) c.notes.push('write-verify climbs run on the board (WRITE_VERIFY): one request per climb');
  return onboard;
}

/** The plans' configuration from the derived values. */
function programConfig(c: SetupContext, o: SetupInput, board: BoardInfo, d: Derived): ProgramConfig {
  const { p, dac, L } = c;
  const { vread, width, vgStop, step, form, rst, gates } = d;
  const fast = form.fast;
  const vslStop = rst.vslStop;
  const resetVg = rst.resetVg;
  // fast prep: reset-verify from where most cells already reset (onset + 2 sigma), in 0.15 V steps.
  const resetStart = fast && p ? Math.min(vslStop, Math.max(RESET_DEFAULTS.vslStart_V, Math.round((p.reset_v_median_V + 2 * Math.hypot(p.reset_v_sigma_V, p.reset_v_c2c_V)) / 0.05) * 0.05)) : RESET_DEFAULTS.vslStart_V;
  if (fast && !p) c.notes.push('--prep fast needs the board\'s calibration for its forming and RESET starts: the safe starts are used');
  const onboard = onboardVerify(c, o, board);
  const reset = { ...RESET_DEFAULTS, vg_V: resetVg, vslStop_V: vslStop, width_s: width, vread_V: vread, max_A: d.hrsMax, vslStart_V: +onGrid(resetStart, dac).toFixed(6), vslStep_V: fast && p ? 0.15 : RESET_DEFAULTS.vslStep_V };
  // bidir's partial RESET starts where the gentlest cells begin to reset (the calibration's onset less 3 sigma).
  const bidirVslStart = p ? Math.max(0.1, Math.floor((p.reset_v_median_V - 3 * Math.hypot(p.reset_v_sigma_V, p.reset_v_c2c_V)) / 0.02) * 0.02) : BIDIR_DEFAULTS.vslStart_V;
  const partial = (def: number) => +Math.max(dac, Math.round(def / dac) * dac).toFixed(6);
  const bidirCfg: BidirConfig = { ...BIDIR_DEFAULTS, tolerance_A: o.tolerance_A ?? BIDIR_DEFAULTS.tolerance_A, vslStart_V: +onGrid(bidirVslStart, dac).toFixed(6), vslStep_V: partial(BIDIR_DEFAULTS.vslStep_V), vslStop_V: vslStop, resetVg_V: resetVg };
  const coarse = Math.max(step, Math.round(ADAPTIVE_DEFAULTS.coarseStep_V / step) * step);
  const radarCfg: RadarConfig = { ...RADAR_DEFAULTS, tolerance_A: o.tolerance_A ?? RADAR_DEFAULTS.tolerance_A, vslStart_V: +onGrid(bidirVslStart, dac).toFixed(6), vslStep_V: partial(RADAR_DEFAULTS.vslStep_V), vslStop_V: vslStop, resetVg_V: resetVg };
  // identical-pulse's RESET: at the calibration's median onset (half the pulses act on a cell, gently).
  const identicalCfg: IdenticalConfig = { tolerance_A: o.tolerance_A ?? RADAR_DEFAULTS.tolerance_A, vte_V: gates.vte, vsl_V: +onGrid(p ? Math.min(vslStop, p.reset_v_median_V) : bidirVslStart, dac).toFixed(6), resetVg_V: resetVg, width_s: width, vread_V: vread, maxPulses: o.maxPulses ?? 200 };
  return {
    algo: o.algo,
    form: { ...FORM_DEFAULTS, vg_V: form.formVg, vteStart_V: form.formStart, vteStop_V: form.formStop, width_s: d.formWidth, vread_V: vread, formedAbove_A: form.formedAbove, jumpRatio: o.formJumpRatio ?? FORM_DEFAULTS.jumpRatio, jumpMin_A: form.jumpMin },
    reset,
    igvva: {
      ...IGVVA_DEFAULTS,
      vgStep_V: o.algo !== 'ispva' ? step : IGVVA_DEFAULTS.vgStep_V,
      tolerance_A: o.algo === 'bidir' ? Infinity : (o.tolerance_A ?? Infinity),
      maxPulses: o.maxPulses ?? IGVVA_DEFAULTS.maxPulses,
      width_s: width,
      vte_V: gates.vte,
      vgStart_V: gates.vgStart,
      vgStop_V: vgStop,
      maxRetries: o.maxRetries ?? IGVVA_DEFAULTS.maxRetries,
      vread_V: vread,
      reset,
      // igvva-predict: a weak cell the gate limit leaves below the target climbs once more at a higher VTE (within vte_max).
      ...(o.algo === 'igvva-predict' && gates.vte + VTE_BOOST_V <= L.vte_max_V + 1e-12 ? { vteBoost_V: VTE_BOOST_V, boostBack_V: 0.2 } : {}),
      ...(onboard ? { onboard: true } : {}),
    },
    ispva: { ...ISPVA_DEFAULTS, vteStep_V: o.algo === 'ispva' ? step : ISPVA_DEFAULTS.vteStep_V, vteStop_V: gates.ispvaStop, tolerance_A: o.tolerance_A ?? Infinity, maxPulses: o.maxPulses ?? ISPVA_DEFAULTS.maxPulses, width_s: width, vread_V: vread },
    ...(o.algo === 'igvva-adaptive' ? { adaptive: { ...ADAPTIVE_DEFAULTS, coarseStep_V: +coarse.toFixed(6) } } : {}),
    ...(o.algo === 'bidir' ? { bidir: bidirCfg } : {}),
    ...(o.algo === 'radar' ? { radar: radarCfg } : {}),
    ...(o.algo === 'identical-pulse' ? { identical: identicalCfg } : {}),
  };
}
