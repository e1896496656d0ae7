/**
 * `rram sweep`: the calibration measurements of a board (docs/formats.md, "Calibration sweep").
 * M fresh cells each go through the staircases of plans/sweep-plans.ts (forming, per cycle a deep
 * RESET, the gate transfer staircase and a RESET staircase, then ISPVA staircases); then, after a
 * grounded settling wait, K back-to-back reads of every cell at its final (mid-LRS) state and,
 * after a deep RESET and another wait, K reads at HRS: read noise at two conductances and the HRS
 * distribution. Ranges come from the board's limits (and its calibration for the start points);
 * the whole design is recorded, so a fit can simulate exactly what was done.
 */
import type { Board, SafetyLimits } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { onGrid, tighten } from '../../drivers/limits.js';
import type { Calibration } from '../../calibration/calibration.js';
import { values } from '../../calibration/calibration.js';
import { transferCurve } from '../../calibration/transfer.js';
import { cellKey } from '../engine/events.js';
import type { CellResult } from '../engine/cell-ledger.js';
import type { RunContext } from '../engine/run-context.js';
import { RunEngine, type CellJob, type EngineOptions } from '../engine/run-engine.js';
import { calibrationSweep, deepResetPlan, repeatedReads, type SweepCellData, type SweepConfig } from '../plans/sweep-plans.js';
import { runSummary, type RunSummary } from './program-array.js';
import { pickCells } from './characterize.js';
import type { CellAddress } from '../../drivers/board.js';

import { checkAbort, groundedAfter, waitAbortable } from './board-phases.js';
import { describeExcluded, selectFreshCells, type FreshCells } from './fresh-cells.js';
import { PreflightError } from './program-setup.js';

export interface SweepOptions {
  cells: number;
  array?: number;
  seed?: number;
  cycles?: number;
  ispvaCycles?: number;
  /** Single SETs from HRS per repeat gate. Default 4. */
  repeats?: number;
  noiseReads?: number;
  /** Grounded wait before the noise reads (s): relaxation right after programming would pose as read noise. */
  settle_s?: number;
  gateStep_V?: number;
  ispvaStep_V?: number;
  ispvaVg_V?: number;
  vread_V?: number;
  calibration?: Calibration;
  userLimits?: Partial<SafetyLimits>;
  engine?: EngineOptions;
  /** Cells the store's history shows pulsed on this board: never taken as fresh. */
  usedCells?: ReadonlySet<string>;
  /** A recorded design to repeat exactly (a fit simulating a measured sweep); default derived for the board. */
  config?: SweepConfig;
}

export interface SweepCell extends SweepCellData {
  array: number;
  row: number;
  col: number;
  status: string;
  pulses: number;
  /** K reads at the final mid-LRS state, and at HRS after a deep reset (both after settle_s). */
  noise: { high_A: number[]; hrs_A: number[] };
}

export interface SweepDataset {
  format: 'rram-hil/sweep';
  version: 1;
  runId: string;
  created: string;
  finished: string;
  board: ReturnType<Board['info']>;
  params: Record<string, unknown>;
  config: SweepConfig;
  vread_V: number;
  noiseReads: number;
  settle_s: number;
  cells: SweepCell[];
  summary: RunSummary;
}

/** The sweep design for this board: every range within its limits, starts from its calibration. */
export function sweepConfig(o: SweepOptions, board: ReturnType<Board['info']>, cal?: Calibration): SweepConfig {
  const L = tighten(board.limits, o.userLimits ?? {});
  const dac = board.dacStep_V;
  const problems: string[] = [];
  const p = cal ? values(cal) : undefined;
  const step = (name: string, v: number) => {
    const k = v / dac;
    if (Math.abs(k - Math.round(k)) > 1e-6 || Math.round(k) < 1) problems.push(`${name}=${v} V is not a whole multiple of the board's DAC step ${dac} V`);
    return v;
  };
  const g = (v: number) => onGrid(v, dac);
  const floorTo = (v: number, s: number) => Math.max(0, Math.floor(v / s + 1e-9) * s);
  const vread = o.vread_V ?? Math.min(0.2, L.vread_max_V);
  if (vread > L.vread_max_V) problems.push(`vread=${vread} V is above the board's vread_max ${L.vread_max_V} V`);
  const width = Math.min(L.width_max_s, Math.max(L.width_min_s, 1e-6));
  const formWidth = Math.min(L.width_max_s, Math.max(L.width_min_s, 10e-6));
  const vgMax = L.vg_max_V;
  const gateVte = 1.2;
  if (gateVte > L.vte_max_V) problems.push(`the transfer staircase needs VTE ${gateVte} V (the calibration's reference), above the board's vte_max ${L.vte_max_V} V`);
  const gateStep = step('gate-step', o.gateStep_V ?? 0.02);
  const ispvaStep = step('ispva-step', o.ispvaStep_V ?? 0.02);
  step('forming step', 0.05);
  step('reset step', 0.05);
  const vgStart = p ? g(floorTo(p.transfer_v0_V - 4 * p.transfer_v0_sigma_V - 0.2, gateStep)) : 0.4;
  const curve = cal ? transferCurve(cal, vread) : undefined;
  const ispvaVg = o.ispvaVg_V ?? (curve ? Math.min(vgMax, g(curve.gateFor(Math.min(25e-6, 0.6 * curve.readAt(vgMax))))) : Math.min(1.6, vgMax));
  if (ispvaVg > vgMax) problems.push(`ispva-vg=${ispvaVg} V is above the board's vg_max ${vgMax} V`);
  const resetVg = Math.min(2.7, vgMax);
  const deepVsl = Math.min(2.8, L.vsl_max_V);
  if (problems.length) throw new PreflightError(problems);
  return {
    vread_V: vread,
    form: {
      vg_V: Math.min(1.6, vgMax),
      vteStart_V: p ? g(Math.max(0.5, floorTo(p.form_v_median_V - 4 * p.form_v_sigma_V, 0.05))) : 2.0,
      vteStep_V: 0.05,
      vteStop_V: Math.min(4.0, L.vte_max_V),
      width_s: formWidth,
      jumpRatio: 3,
      jumpMin_A: 3e-6,
      formedAbove_A: 5e-6,
    },
    deepReset: { vsl_V: deepVsl, vg_V: resetVg, width_s: width, pulses: 3 },
    gate: { vte_V: gateVte, vgStart_V: vgStart, vgStep_V: gateStep, vgStop_V: vgMax, width_s: width },
    reset: { vg_V: resetVg, vslStart_V: 0.3, vslStep_V: 0.05, vslStop_V: deepVsl, width_s: width, stopBelow_A: 1.5e-6 },
    ispva: { vg_V: ispvaVg, vteStart_V: 0.3, vteStep_V: ispvaStep, vteStop_V: Math.min(2.0, L.vte_max_V), width_s: width },
    // Low on the transfer (8 % of its reach: the gate's jitter shows beside the multiplicative
    // spread) and where it bends (75 %: the multiplicative spread dominates).
    repeat: { vgs_V: curve ? [0.08, 0.75].map((f) => Math.min(vgMax, g(curve.gateFor(f * curve.readAt(vgMax))))) : [0.3 * vgMax + 0.2, 0.7 * vgMax], times: o.repeats ?? 4 },
    cycles: o.cycles ?? 2,
    ispvaCycles: o.ispvaCycles ?? 2,
  };
}

export async function sweep(board: Board, ctx: RunContext, o: SweepOptions): Promise<SweepDataset> {
  const info = board.info();
  const first = o.array ?? 0;
  if (!Number.isInteger(first) || first < 0 || first >= info.arrays) throw new InvalidArgumentError('array', first, `board has arrays 0..${info.arrays - 1}`);
  const arrays = Array.from({ length: info.arrays - first }, (_, k) => first + k);
  const n = arrays.length * info.rows * info.cols;
  if (!Number.isInteger(o.cells) || o.cells < 1 || o.cells > n) throw new InvalidArgumentError('cells', o.cells, `must be an integer in 1..${n}`);
  for (const [k, v, lo, hi] of [['cycles', o.cycles ?? 2, 1, 10], ['ispva-cycles', o.ispvaCycles ?? 2, 0, 10], ['noise-reads', o.noiseReads ?? 8, 0, 100]] as const)
    if (!Number.isInteger(v) || v < lo || v > hi) throw new InvalidArgumentError(k, v, `must be an integer in ${lo}..${hi}`);
  const cfg = o.config ?? sweepConfig(o, info, o.calibration);
  const K = o.noiseReads ?? 8;
  const settle = o.settle_s ?? 1;
  const created = new Date().toISOString();
  const params = { cells: o.cells, array: first, seed: o.seed ?? 1, noiseReads: K, settle_s: settle, concurrency: o.engine?.concurrency ?? 64, calibration: o.calibration?.id, config: cfg };
  ctx.begin({ kind: 'sweep', params, board: info, calibration: info.calibration });
  const engine = { ...o.engine, limits: o.userLimits, pulseBudget: 100000 };
  const signal = o.engine?.signal;
  let freshBy: FreshCells['freshBy'] = 'history+read';
  return groundedAfter(board, async () => {
    // Fresh cells only. A board that counts pulses per cell tells exactly which never had one;
    // otherwise the arrays are read and cells under half the formed threshold taken as pristine
    // (an HRS cell can pass for one: use arrays that were never programmed).
    const seed = o.seed ?? 1;
    const fresh = await selectFreshCells(board, arrays, o.cells, seed, cfg.form.formedAbove_A / 2, cfg.vread_V, o.usedCells);
    const cells = fresh.cells;
    freshBy = fresh.freshBy;
    if (cells.length < o.cells) throw new InvalidArgumentError('cells', o.cells, `only ${cells.length} fresh cells are left on arrays ${arrays.join(',')} (never pulsed in the store's history, reading under ${(cfg.form.formedAbove_A / 2) * 1e6} uA; ${describeExcluded(fresh.excluded)}): a sweep measures fresh cells`);
    if (fresh.excluded.history) ctx.emit({ type: 'warning', code: 'fresh-cells', message: `fresh cells: ${describeExcluded(fresh.excluded)}` });
    const jobs: CellJob[] = cells.map((cell) => ({ cell, level: 0, target_A: 0, plan: () => calibrationSweep(cfg) }));
    const done = await new RunEngine(board, ctx).runCells(jobs, { ...engine, phase: 'sweep' });
    const by = new Map<string, CellResult>(done.map((e) => [cellKey(e.cell), e]));
    const formed = done.filter((e) => e.outcome.status === 'ok').map((e) => e.cell);
    const readK = async (phase: string) => {
      const m = new Map<string, number[]>();
      if (!K || !formed.length) return m;
      await waitAbortable(board, settle, signal);
      const r = await new RunEngine(board, ctx).runCells(formed.map((cell) => ({ cell, level: 0, target_A: 0, plan: () => repeatedReads(K, cfg.vread_V) })), { ...engine, phase });
      for (const e of r) m.set(cellKey(e.cell), (e.outcome.data?.reads as number[]) ?? []);
      return m;
    };
    const high = await readK('noise reads (LRS)');
    checkAbort(signal);
    if (K && formed.length) await new RunEngine(board, ctx).runCells(formed.map((cell) => ({ cell, level: 0, target_A: 0, plan: () => deepResetPlan(cfg.deepReset, cfg.vread_V) })), { ...engine, phase: 'deep reset' });
    const hrs = await readK('noise reads (HRS)');
    const out: SweepCell[] = cells.map((c) => {
      const e = by.get(cellKey(c))!;
      const d = (e.outcome.data ?? {}) as unknown as SweepCellData;
      return { ...c, status: e.outcome.status, pulses: e.outcome.pulses, pristine_A: d.pristine_A, formVte_V: d.formVte_V ?? null, form: d.form ?? [], cycles: d.cycles ?? [], ispva: d.ispva ?? [], repeat: d.repeat ?? [], noise: { high_A: high.get(cellKey(c)) ?? [], hrs_A: hrs.get(cellKey(c)) ?? [] } };
    });
    return { format: 'rram-hil/sweep', version: 1, runId: ctx.runId, created, finished: new Date().toISOString(), board: info, params: { ...params, freshBy }, config: cfg, vread_V: cfg.vread_V, noiseReads: K, settle_s: settle, cells: out, summary: runSummary(out.map((c) => c.status), 0) };
  });
}
