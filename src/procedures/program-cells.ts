/**
 * Runs a step's cell jobs through the engine. In a resumed run, a cell whose cell-done the record
 * already holds for this step is not pulsed again (the record is the one truth: docs/formats.md,
 * "The record"); every cell's result comes back, the earlier ones included.
 */
import type { Board } from '../../drivers/board.js';
import { cellKey } from '../engine/events.js';
import type { RunContext } from '../engine/run-context.js';
import { RunEngine, type CellJob, type CellResult, type EngineOptions } from '../engine/run-engine.js';

export async function programCells(board: Board, ctx: RunContext, jobs: CellJob[], engine?: EngineOptions): Promise<Map<string, CellResult>> {
  const byKey = new Map<string, CellResult>();
  const todo: CellJob[] = [];
  for (const j of jobs) {
    const d = ctx.ledger.done(j.step, j.cell);
    if (d) byKey.set(cellKey(j.cell), d);
    else todo.push(j);
  }
  if (byKey.size) ctx.emit({ type: 'warning', code: 'resume', message: `resuming${jobs[0]?.step ? ` ${jobs[0].step}` : ''}: ${byKey.size} cells already done in the record, ${todo.length} to go` });
  for (const e of await new RunEngine(board, ctx).runCells(todo, engine)) byKey.set(cellKey(e.cell), e);
  return byKey;
}
