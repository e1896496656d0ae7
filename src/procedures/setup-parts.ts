/**
 * The preflight's parts (program-setup.ts puts them together), each deriving one group of
 * write-verify parameters from the limits, the flags and the calibration and recording what it
 * could not make work in the shared SetupContext: the level targets under the gate limit, forming,
 * RESET, the share of cells the run can program, and the gates each algorithm starts its climbs at.
 */
import { onGrid } from '../../drivers/limits.js';
import { readCurrent, transferCurve } from '../../calibration/transfer.js';
import { defaultLevels, HRS_MAX_A, LRS_MAX_A, LRS_MIN_A, type LevelSpec } from '../analysis/levels.js';
import { FORM_DEFAULTS } from '../plans/form.js';
import { IGVVA_DEFAULTS } from '../plans/igvva.js';
import { ISPVA_DEFAULTS } from '../plans/ispva.js';
import { RADAR_DEFAULTS } from '../plans/radar.js';
import { RESET_DEFAULTS } from '../plans/reset-verify.js';
import { Phi, uA, V, type SetupContext } from './setup-context.js';
import type { SetupInput } from './program-setup.js';

/** igvva-predict starts where a cell this many device-to-device sigmas stronger than nominal reaches the target. */
export const PREDICT_SIGMAS = 3;

export type Curve = ReturnType<typeof transferCurve>;

/** The level targets: LRS targets within what the gate limit reaches on a weak cell, HRS ceiling from the calibration. */
export function levelTargets(c: SetupContext, o: SetupInput, vgStop: number, curve: Curve | undefined, vread: number): { levels: LevelSpec[]; lrsMin: number; hrsMax: number; topGate: number } {
  const { p, cal } = c;
  let hrsMax = o.hrsMax_A ?? HRS_MAX_A;
  c.sources['hrs-max'] = o.hrsMax_A !== undefined ? 'user' : 'default';
  if (p && cal && o.hrsMax_A === undefined) {
    const hrs90 = readCurrent(cal, p.g_hrs_S * Math.exp(1.2816 * p.g_hrs_sigma_log), vread);
    if (hrs90 * 1.3 > hrsMax) {
      hrsMax = +(hrs90 * 1.3).toPrecision(3);
      c.sources['hrs-max'] = 'calibration';
      c.notes.push(`HRS ceiling ${uA(hrsMax)} (the calibration's HRS reads ${uA(hrs90)} at its 90th percentile; default ${uA(HRS_MAX_A)})`);
    }
  }
  const given = o.levelSpecs?.filter((l) => l.kind === 'lrs').map((l) => l.target_A);
  let [lrsMin, lrsMax] = o.lrsRange_A ?? (given?.length ? [Math.min(...given), Math.max(...given)] : [LRS_MIN_A, LRS_MAX_A]);
  c.sources['lrs-range'] = o.lrsRange_A ? 'user' : given ? 'dataset' : 'default';
  let topGate = NaN;
  if (curve) {
    // What a cell two device-to-device sigmas weaker than nominal reaches at the gate limit.
    const reach = curve.readAt(vgStop, 2);
    if (!o.lrsRange_A && !given && reach < lrsMax) {
      lrsMax = Math.floor(reach * 0.97 * 1e7) / 1e7;
      c.sources['lrs-range'] = 'calibration';
      c.notes.push(`LRS levels up to ${uA(lrsMax)}: the calibration's transfer reaches ${uA(reach)} at vg-max ${V(vgStop)} on a cell 2 sigma weaker than nominal (default top ${uA(LRS_MAX_A)})`);
    }
    topGate = curve.gateFor(lrsMax, 2);
    if (lrsMax > reach) c.problems.push(`the top LRS target ${uA(lrsMax)} needs VG ${Number.isFinite(topGate) ? V(topGate) : 'beyond saturation'} by the calibration (a cell 2 sigma weak), above vg-max ${V(vgStop)}: lower --lrs-range or raise the gate limit`);
  }
  if (lrsMin >= lrsMax && o.levels > 2) c.problems.push(`lrs-range ${uA(lrsMin)}..${uA(lrsMax)} leaves no room for ${o.levels - 1} LRS levels`);
  let levels: LevelSpec[] = [];
  if (o.levelSpecs) {
    levels = o.levelSpecs;
    if (levels.length !== o.levels) c.problems.push(`the dataset gives ${levels.length} level targets for ${o.levels} levels`);
  } else {
    try {
      levels = defaultLevels(o.levels, Math.min(lrsMin, lrsMax), lrsMax, hrsMax);
    } catch (e) {
      c.problems.push((e as Error).message);
    }
  }
  return { levels, lrsMin, hrsMax, topGate };
}

/** Forming: gate, VTE range (safe: from below nearly every cell's forming voltage; fast: from 1 sigma below the median), the formed test. */
export function formingRange(c: SetupContext, o: SetupInput, levels: LevelSpec[], lrsMin: number, vread: number) {
  const { L, p, cal } = c;
  const formVg = c.pick('form-vg', o.formVg_V, FORM_DEFAULTS.vg_V, { value: L.vg_max_V, what: "board's vg_max" });
  c.within('form-vg', formVg, L.vg_max_V, 'vg_max');
  const formStop = c.pick('form-vte-max', o.formVteMax_V, FORM_DEFAULTS.vteStop_V, { value: L.vte_max_V, what: "board's vte_max" });
  c.within('form-vte-max', formStop, L.vte_max_V, 'vte_max');
  let formStartDef = FORM_DEFAULTS.vteStart_V;
  const fast = o.prep === 'fast';
  if (p) formStartDef = Math.max(0.5, Math.floor((p.form_v_median_V - (fast ? 1 : 3.5) * p.form_v_sigma_V) * 10) / 10);
  const formStart = c.pick('form-vte-start', o.formVteStart_V, formStartDef);
  if (p && o.formVteStart_V === undefined) c.sources['form-vte-start'] = 'calibration';
  if (formStart > formStop) c.problems.push(`form-vte-start=${V(formStart)} is above form-vte-max ${V(formStop)}`);
  const lrsMinTarget = levels.find((l) => l.kind === 'lrs')?.target_A ?? lrsMin;
  const formedAbove = o.formedAbove_A ?? lrsMinTarget * 0.5;
  const jumpMin = o.formJumpMin_A ?? lrsMinTarget * 0.3;
  c.sources['formed-above'] = o.formedAbove_A !== undefined ? 'user' : 'levels';
  let formable = NaN;
  if (p) {
    formable = Phi((formStop - p.form_v_median_V) / Math.hypot(p.form_v_sigma_V, 0.05));
    const pristine = readCurrent(cal!, p.g_pristine_S, vread);
    if (pristine >= formedAbove) c.problems.push(`pristine cells read ${uA(pristine)} by the calibration, at or above formed-above ${uA(formedAbove)}: they would be taken as formed`);
    if (formable < c.minSuccess) c.problems.push(`form-vte-max=${V(formStop)}: only ${(100 * formable).toFixed(1)} % of cells form below it by the calibration (forming ${V(p.form_v_median_V)} median, ${V(p.form_v_sigma_V)} sigma), under --min-success ${(100 * c.minSuccess).toFixed(0)} %`);
  }
  return { formVg, formStop, formStart, formedAbove, jumpMin, formable, fast };
}

/** RESET: gate and SL range, and the share of cells that reset within it. */
export function resetRange(c: SetupContext, o: SetupInput) {
  const { L, p } = c;
  const resetVg = c.pick('reset-vg', o.resetVg_V, RESET_DEFAULTS.vg_V, { value: L.vg_max_V, what: "board's vg_max" });
  c.within('reset-vg', resetVg, L.vg_max_V, 'vg_max');
  const vslStop = c.pick('reset-vsl-max', o.resetVslMax_V, RESET_DEFAULTS.vslStop_V, { value: L.vsl_max_V, what: "board's vsl_max" });
  c.within('reset-vsl-max', vslStop, L.vsl_max_V, 'vsl_max');
  if (RESET_DEFAULTS.vslStart_V > vslStop) c.problems.push(`reset-vsl-max=${V(vslStop)} is below the first RESET step ${V(RESET_DEFAULTS.vslStart_V)}`);
  let resettable = NaN;
  if (p) {
    resettable = Phi((vslStop - 0.1 - p.reset_v_median_V) / Math.hypot(p.reset_v_sigma_V, p.reset_v_c2c_V));
    if (resettable < c.minSuccess) c.problems.push(`reset-vsl-max=${V(vslStop)}: only ${(100 * resettable).toFixed(1)} % of cells reset below it by the calibration (${V(p.reset_v_median_V)} median), under --min-success ${(100 * c.minSuccess).toFixed(0)} %`);
    const open = p.transfer_v0_V + 2 * p.transfer_v0_sigma_V + 0.3;
    if (resetVg < open) c.problems.push(`reset-vg=${V(resetVg)} does not open the select transistor of most cells (the calibration's threshold ${V(p.transfer_v0_V)} + 2 sigma + 0.3 V = ${V(open)})`);
  }
  return { resetVg, vslStop, resettable };
}

/** All together: what share of cells the calibration says this run can program. */
export function checkExpectedYield(c: SetupContext, formable: number, resettable: number): void {
  const p = c.p;
  if (!p) return;
  const defects = p.fraction_unformable + p.fraction_stuck_lrs;
  const expected = formable * resettable * (1 - defects);
  if (expected < c.minSuccess && formable >= c.minSuccess && resettable >= c.minSuccess)
    c.problems.push(`by the calibration only ${(100 * expected).toFixed(1)} % of cells can be programmed (unformable ${(100 * p.fraction_unformable).toFixed(1)} %, stuck ${(100 * p.fraction_stuck_lrs).toFixed(1)} %, forming in range ${(100 * formable).toFixed(1)} %, resetting in range ${(100 * resettable).toFixed(1)} %), under --min-success ${(100 * c.minSuccess).toFixed(0)} %`);
}

export interface GateStarts {
  vgStart: number;
  vte: number;
  ispvaStop: number;
  ispvaGates?: number[];
  startGates?: number[];
  retryGates?: number[];
}

/** Where each algorithm's climbs start: IGVVA's first gate, igvva-predict's and bidir's predicted gates, radar's and identical-pulse's SET gates, ISPVA's per-level gates. */
export function gateStarts(c: SetupContext, o: SetupInput, levels: LevelSpec[], curve: Curve | undefined, vgStop: number, step: number, vread: number): GateStarts {
  const { L } = c;
  const vte = c.pick('vte', o.vte_V, IGVVA_DEFAULTS.vte_V);
  const ispvaStop = c.pick('ispva-vte-max', o.ispvaVteMax_V, ISPVA_DEFAULTS.vteStop_V, { value: L.vte_max_V, what: "board's vte_max" });
  if (o.algo === 'ispva') {
    c.within('ispva-vte-max', ispvaStop, L.vte_max_V, 'vte_max');
    return { vgStart: IGVVA_DEFAULTS.vgStart_V, vte, ispvaStop, ispvaGates: ispvaLevelGates(c, o, levels, curve, vread) };
  }
  c.within('vte', vte, L.vte_max_V, 'vte_max');
  const p = c.p;
  let vgStart: number;
  if (p && o.vgStart_V === undefined) {
    // A little below the lowest gate any cell switches at: no pulse is wasted far below it.
    vgStart = Math.max(0, Math.floor((p.transfer_v0_V - 3 * p.transfer_v0_sigma_V - 0.1) * 100) / 100);
    c.sources['vg-start'] = 'calibration';
  } else {
    vgStart = o.vgStart_V ?? IGVVA_DEFAULTS.vgStart_V;
    c.sources['vg-start'] = o.vgStart_V !== undefined ? 'user' : 'default';
  }
  if (vgStart > vgStop) c.problems.push(`vg-start=${V(vgStart)} is above vg-max ${V(vgStop)}`);
  const out: GateStarts = { vgStart, vte, ispvaStop };
  if (o.algo === 'igvva-predict' || o.algo === 'bidir') Object.assign(out, predictedGates(c, o, levels, curve, vgStart, vgStop, step));
  if (o.algo === 'radar' || o.algo === 'identical-pulse') out.startGates = setGates(c, o, levels, curve, vgStart, vgStop);
  return out;
}

/** igvva-predict and bidir: where a cell `k` sigmas stronger than nominal reaches the target, less the gate jitter's share (few cells cross below it; those that do are caught as mispredictions). */
function predictedGates(c: SetupContext, o: SetupInput, levels: LevelSpec[], curve: Curve | undefined, vgStart: number, vgStop: number, step: number): Pick<GateStarts, 'startGates' | 'retryGates'> {
  const p = c.p;
  if (!curve || !p) {
    if (o.algo === 'igvva-predict') c.problems.push('igvva-predict needs the board\'s calibration to predict each level\'s gate: give --calibration FILE fitted to this board (`rram calibrate --from`)');
    return { startGates: o.algo === 'bidir' ? levels.map(() => vgStart) : undefined };
  }
  const k = o.predictSigmas ?? PREDICT_SIGMAS;
  c.sources['start-gates'] = 'calibration';
  const at = (l: LevelSpec, sigmas: number) => {
    const g = curve.gateFor(l.target_A, -sigmas) - sigmas * p.vg_jitter_V;
    return l.kind === 'hrs' || !Number.isFinite(g) ? vgStart : +Math.min(vgStop, Math.max(vgStart, vgStart + Math.floor((g - vgStart) / step) * step)).toFixed(6);
  };
  return { startGates: levels.map((l) => at(l, k)), retryGates: o.algo === 'igvva-predict' ? levels.map((l) => at(l, 2 * k)) : undefined };
}

/** radar: the nominal cell lands at the band's top (weaker ones climb in fine steps from there); identical-pulse: in the band's middle. Capped at vg-max. */
function setGates(c: SetupContext, o: SetupInput, levels: LevelSpec[], curve: Curve | undefined, vgStart: number, vgStop: number): number[] | undefined {
  const p = c.p;
  if (!curve || !p) {
    c.problems.push(`${o.algo} needs the board's calibration for each level's SET gate: give --calibration FILE fitted to this board (\`rram calibrate --from\`)`);
    return undefined;
  }
  const tol = o.tolerance_A ?? RADAR_DEFAULTS.tolerance_A;
  c.sources['start-gates'] = 'calibration';
  return levels.map((l) => {
    const g = o.algo === 'radar' ? curve.gateFor(l.target_A + tol) + p.vg_jitter_V : curve.gateFor(l.target_A + tol / 2);
    if (l.kind === 'lrs' && !(g <= vgStop)) c.notes.push(`level ${l.level}: ${o.algo}'s SET gate (${Number.isFinite(g) ? V(g) : 'beyond saturation'} by the calibration) capped at vg-max ${V(vgStop)}`);
    return l.kind === 'hrs' ? vgStart : +Math.min(vgStop, Math.max(vgStart, Number.isFinite(g) ? onGrid(g, c.dac) : vgStop)).toFixed(6);
  });
}

/** ISPVA: a gate per level, the user's or the compliance a little above each target (2 uS at the read voltage), as the seed's tables. */
function ispvaLevelGates(c: SetupContext, o: SetupInput, levels: LevelSpec[], curve: Curve | undefined, vread: number): number[] | undefined {
  let gates: number[] | undefined;
  if (o.ispvaGates_V) {
    c.sources['ispva-vg'] = 'user';
    if (o.ispvaGates_V.length !== o.levels) c.problems.push(`ispva-vg has ${o.ispvaGates_V.length} values for ${o.levels} levels`);
    gates = o.ispvaGates_V;
  } else if (curve) {
    c.sources['ispva-vg'] = 'calibration';
    gates = levels.map((l) => (l.kind === 'hrs' ? 0 : +onGrid(curve.gateFor(l.target_A + 2e-6 * vread), c.dac).toFixed(6)));
  } else c.problems.push('ISPVA needs a gate voltage per level: give --ispva-vg, or --calibration FILE fitted to this board (`rram calibrate`); the project\'s default calibration describes another device');
  gates?.forEach((g, k) => {
    if (k > 0 && !(Number.isFinite(g) && onGrid(g, c.dac) <= c.L.vg_max_V + 1e-12)) c.problems.push(`ispva-vg for level ${k} = ${Number.isFinite(g) ? V(g) : 'beyond saturation'} is above vg_max ${V(c.L.vg_max_V)}`);
  });
  return gates;
}
