/**
 * `rram pulse` and `rram read` as stored runs (issue 24: the README promises every pulse stored,
 * and `rram pulse` stored nothing): the same record as any run (run-start, a write-ahead intent,
 * the pulse with its outcome, the reads, run-end), so a cell's history holds hand-made pulses too.
 */
import type { Board, CellAddress, PulseKind } from '../../drivers/board.js';
import { InvalidArgumentError, OutcomeUnknownError, RramError } from '../../drivers/errors.js';
import { checkCell, checkResetPulse, checkSetPulse, resetOnGrid, setOnGrid } from '../../drivers/limits.js';
import type { RunContext } from '../engine/run-context.js';
import type { PulseIntent } from '../engine/events.js';
import { unusableRead } from '../engine/readings.js';
import { groundedAfter } from './board-phases.js';

export interface PulseOnce {
  kind: PulseKind;
  cell: CellAddress;
  vte_V: number;
  vsl_V: number;
  vg_V: number;
  width_s: number;
  /** Read the cell at this voltage after the pulse. */
  verify_V?: number;
}

export interface PulseOnceResult {
  runId: string;
  kind: PulseKind;
  cell: CellAddress;
  outcome: 'applied' | 'unknown';
  reason?: string;
  vte_V: number;
  vsl_V: number;
  vg_V: number;
  width_s: number;
  verify_A?: number | null;
}

export async function pulseOnce(board: Board, ctx: RunContext, o: PulseOnce): Promise<PulseOnceResult> {
  // Outside the board's limits or address range: refused before any record, as the engine refuses a plan's pulse.
  const info = board.info();
  checkCell(info, o.cell);
  // On the DAC grid first, as the drivers check it (a value within half a step of a limit is the limit).
  if (o.kind === 'reset') checkResetPulse(info.limits, resetOnGrid({ vsl_V: o.vsl_V, vg_V: o.vg_V, width_s: o.width_s }, info.dacStep_V));
  else checkSetPulse(info.limits, setOnGrid({ vte_V: o.vte_V, vg_V: o.vg_V, width_s: o.width_s }, info.dacStep_V));
  ctx.begin({ kind: 'pulse', params: { ...o }, board: board.info(), calibration: board.info().calibration });
  const p: PulseIntent = { cell: o.cell, kind: o.kind, vte_V: o.kind === 'reset' ? 0 : o.vte_V, vsl_V: o.kind === 'reset' ? o.vsl_V : 0, vg_V: o.vg_V, width_s: o.width_s, level: -1 };
  return groundedAfter(board, async () => {
    ctx.emit({ type: 'intent', pulses: [p] });
    ctx.commit(false);
    let outcome: PulseOnceResult['outcome'] = 'applied';
    let reason: string | undefined;
    try {
      if (o.kind === 'reset') await board.reset(o.cell, { vsl_V: o.vsl_V, vg_V: o.vg_V, width_s: o.width_s });
      else await board[o.kind](o.cell, { vte_V: o.vte_V, vg_V: o.vg_V, width_s: o.width_s });
      ctx.emit({ type: 'pulse', ...p });
    } catch (e) {
      if (!(e instanceof OutcomeUnknownError)) {
        // Refused by the driver or the board before it ran (bad value, limit, address): not applied.
        const refused = e instanceof InvalidArgumentError || (e instanceof RramError && (e.code === 'LIMIT' || e.code === 'ADDRESS'));
        ctx.emit({ type: 'pulse', ...p, outcome: refused ? 'refused' : 'unknown' });
        throw e;
      }
      outcome = 'unknown';
      reason = e.message;
      ctx.emit({ type: 'pulse', ...p, outcome: 'unknown' });
      ctx.emit({ type: 'warning', code: 'outcome-unknown', message: e.message, cell: o.cell });
    }
    let verify_A: number | null | undefined;
    if (o.verify_V !== undefined) {
      const i = await board.read(o.cell, { vread_V: o.verify_V });
      const why = unusableRead(i);
      verify_A = why ? null : i;
      ctx.emit({ type: 'read', cell: o.cell, vread_V: o.verify_V, current_A: verify_A, phase: 'verify', level: -1, ...(why ? { unusable: why } : {}) });
    }
    return { runId: ctx.runId, kind: o.kind, cell: o.cell, outcome, ...(reason ? { reason } : {}), vte_V: p.vte_V, vsl_V: p.vsl_V, vg_V: o.vg_V, width_s: o.width_s, verify_A };
  });
}

export interface ReadOnce {
  array: number;
  /** One cell, one row, a list of cells (a selection on the dashboard's map), or the whole array. */
  cell?: { row: number; col: number };
  row?: number;
  cells?: { row: number; col: number }[];
  vread_V: number;
}

export interface ReadCell {
  array: number;
  row: number;
  col: number;
  /** null: the read was unusable (see the run's events for why). */
  current_A: number | null;
}

export async function readOnce(board: Board, ctx: RunContext, o: ReadOnce): Promise<{ runId: string; vread_V: number; cells: ReadCell[] }> {
  if (!(o.vread_V > 0)) throw new InvalidArgumentError('--vread', o.vread_V, 'must be above 0 V (a read at 0 V measures no current)');
  ctx.begin({ kind: 'read', params: { ...o }, board: board.info(), calibration: board.info().calibration });
  const { cols } = board.info();
  return groundedAfter(board, async () => {
    let raw: { row: number; col: number; i: number }[];
    if (o.cell) raw = [{ ...o.cell, i: await board.read({ array: o.array, ...o.cell }, { vread_V: o.vread_V }) }];
    else if (o.cells) {
      raw = [];
      for (const c of o.cells) raw.push({ ...c, i: await board.read({ array: o.array, ...c }, { vread_V: o.vread_V }) });
    } else if (o.row !== undefined) {
      const r = o.row;
      raw = Array.from(await board.readRow(o.array, r, { vread_V: o.vread_V }), (i, col) => ({ row: r, col, i }));
    } else raw = Array.from(await board.readArray(o.array, { vread_V: o.vread_V }), (i, k) => ({ row: Math.floor(k / cols), col: k % cols, i }));
    const cells = raw.map(({ row, col, i }) => {
      const why = unusableRead(i);
      const cell = { array: o.array, row, col };
      ctx.emit({ type: 'read', cell, vread_V: o.vread_V, current_A: why ? null : i, phase: 'readback', level: -1, ...(why ? { unusable: why } : {}) });
      return { ...cell, current_A: why ? null : i };
    });
    return { runId: ctx.runId, vread_V: o.vread_V, cells };
  });
}
