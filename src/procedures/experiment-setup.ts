/**
 * What the device experiments (`rram iv`, `rram endurance`, `rram retention`) share before their
 * first pulse: forming and reset-verify settings derived like programming's (program-setup.ts:
 * the board's limits, the user's, the calibration), the compliance gate, the cells (given, or
 * fresh ones from the store's history, the counters and a read) and their record in the params.
 */
import type { Board, BoardInfo, CellAddress, SafetyLimits } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { onGrid, tighten } from '../../drivers/limits.js';
import type { Calibration } from '../../calibration/calibration.js';
import { transferCurve } from '../../calibration/transfer.js';
import { digest } from '../../lib/digest.js';
import { cellKey } from '../engine/events.js';
import type { RunContext } from '../engine/run-context.js';
import type { FormConfig } from '../plans/form.js';
import type { ResetVerifyConfig } from '../plans/reset-verify.js';
import type { ProgramOptions } from './program-config.js';
import { PreflightError, setupProgramming } from './program-setup.js';
import { describeExcluded, selectFreshCells } from './fresh-cells.js';

export interface ExperimentCommon extends Partial<ProgramOptions> {
  /** Cells to measure; default `count` fresh cells. */
  cells?: CellAddress[];
  /** How they were chosen, for the record ("region 0:3,0:3", "cells FILE", "fresh"). */
  cellsName?: string;
  count?: number;
  array?: number;
  seed?: number;
  calibration?: Calibration;
  userLimits?: Partial<SafetyLimits>;
  /** Cells the store's history shows pulsed on this board (never taken as fresh). */
  usedCells?: ReadonlySet<string>;
}

/** Forming and reset-verify as programming derives them for this board (its preflight included). */
export function prepSettings(o: ExperimentCommon, info: BoardInfo, cal?: Calibration): { form: FormConfig; reset: ResetVerifyConfig; limits: SafetyLimits; notes: string[] } {
  const s = setupProgramming({ ...o, algo: 'igvva', levels: 2 }, info, cal, o.userLimits);
  return { form: s.config.form, reset: s.config.reset, limits: s.limits, notes: s.notes };
}

/** The compliance gate: the user's, else where the calibration's nominal cell reaches `target_A`. */
export function complianceGate(user: number | undefined, target_A: number, vread_V: number, info: BoardInfo, limits: SafetyLimits, cal?: Calibration): number {
  if (user !== undefined) {
    if (!(user > 0) || user > limits.vg_max_V + 1e-12) throw new PreflightError([`vg=${user} V is outside the board's gate range 0..${limits.vg_max_V} V`]);
    return user;
  }
  if (!cal) throw new PreflightError(['the compliance gate needs --vg V (no calibration of this board to derive it from)']);
  const g = transferCurve(cal, vread_V).gateFor(target_A);
  if (!Number.isFinite(g) || g > limits.vg_max_V) throw new PreflightError([`the calibration puts ${(target_A * 1e6).toFixed(1)} uA at VG ${Number.isFinite(g) ? g.toFixed(3) : 'beyond saturation'} V, above vg_max ${limits.vg_max_V} V: give --vg`]);
  return +onGrid(g, info.dacStep_V).toFixed(6);
}

/**
 * The SET amplitude, the RESET amplitude and the compliance gate of an experiment, checked against
 * the board's limits with the preflight's other problems (`problems`): one refusal names them all.
 */
export function experimentPulses(
  o: ExperimentCommon & { vg_V?: number; complianceTarget_A?: number },
  info: BoardInfo,
  set: { name: string; value?: number; default: number },
  reset: { name: string; value?: number },
  problems: string[] = [],
): { prep: ReturnType<typeof prepSettings>; vread_V: number; vte_V: number; vsl_V: number; vg_V: number } {
  const prep = prepSettings(o, info, o.calibration);
  const L = prep.limits;
  const vte = set.value ?? Math.min(set.default, L.vte_max_V);
  const vsl = reset.value ?? prep.reset.vslStop_V;
  within(problems, set.name, vte, L.vte_max_V);
  within(problems, reset.name, vsl, L.vsl_max_V);
  if (problems.length) throw new PreflightError(problems);
  const vread = prep.form.vread_V;
  return { prep, vread_V: vread, vte_V: vte, vsl_V: vsl, vg_V: complianceGate(o.vg_V, o.complianceTarget_A ?? 30e-6, vread, info, L, o.calibration) };
}

/** Checks a pulse amplitude against a limit, for the preflight. */
export function within(problems: string[], name: string, v: number, max: number): void {
  if (!(v > 0 && Number.isFinite(v))) problems.push(`${name}=${v} must be a positive voltage`);
  else if (v > max + 1e-12) problems.push(`${name}=${v} V is above the board's limit ${max} V`);
}

export const userLimitsOf = (info: BoardInfo, o: ExperimentCommon) => tighten(info.limits, o.userLimits ?? {});

/** A cell list as the record keeps it (compact keys; a resume takes the very same cells). */
export const cellKeys = (cells: CellAddress[]) => cells.map(cellKey);
export function cellsFromKeys(keys: unknown): CellAddress[] | undefined {
  if (!Array.isArray(keys)) return undefined;
  return keys.map((k) => {
    const [array, row, col] = String(k).split(':').map(Number);
    return { array, row, col };
  });
}

/**
 * The cells of an experiment: the resumed run's own (its params), the given ones, or `count` fresh
 * ones (pristine by every evidence; refused when the board has too few).
 */
export async function experimentCells(board: Board, ctx: RunContext, o: ExperimentCommon, vread_V: number, pristineBelow_A: number): Promise<{ cells: CellAddress[]; name: string; note?: string }> {
  const info = board.info();
  const resumed = cellsFromKeys(ctx.resume?.params.cells);
  if (resumed) return { cells: resumed, name: String(ctx.resume?.params.cellsName ?? 'the resumed run\'s cells') };
  if (o.cells) {
    if (!o.cells.length) throw new InvalidArgumentError('cells', 0, 'no cells selected');
    return { cells: o.cells, name: o.cellsName ?? `${o.cells.length} cells` };
  }
  const n = o.count ?? 16;
  const first = o.array ?? 0;
  if (!Number.isInteger(first) || first < 0 || first >= info.arrays) throw new InvalidArgumentError('array', first, `board has arrays 0..${info.arrays - 1}`);
  const arrays = Array.from({ length: info.arrays - first }, (_, k) => first + k);
  if (!Number.isInteger(n) || n < 1 || n > arrays.length * info.rows * info.cols) throw new InvalidArgumentError('count', n, `must be an integer in 1..${arrays.length * info.rows * info.cols}`);
  const fresh = await selectFreshCells(board, arrays, n, o.seed ?? 1, pristineBelow_A, vread_V, o.usedCells);
  if (fresh.cells.length < n) throw new InvalidArgumentError('count', n, `only ${fresh.cells.length} fresh cells on arrays ${arrays.join(',')} (${describeExcluded(fresh.excluded)}); choose cells with --cells, --region or --map`);
  return { cells: fresh.cells, name: `${n} fresh cells (${fresh.freshBy})`, note: fresh.excluded.history ? `fresh cells: ${describeExcluded(fresh.excluded)}` : undefined };
}

/** The params every experiment records: its cells (a resume takes them) and their digest. */
export function cellParams(cells: CellAddress[], name: string): Record<string, unknown> {
  return { cells: cellKeys(cells), cellsName: name, inputs: { 'cell list': digest(cellKeys(cells).join(' ')) } };
}

/** What every experiment's dataset starts with. */
export interface DatasetHeader {
  runId: string;
  created: string;
  finished: string;
  board: BoardInfo;
  params: Record<string, unknown>;
}
export function datasetHeader(ctx: RunContext, created: string, board: BoardInfo, params: Record<string, unknown>): DatasetHeader {
  return { runId: ctx.runId, created, finished: new Date().toISOString(), board, params };
}
