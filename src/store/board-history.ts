/**
 * What the store knows of a board's cells across runs (issue 24: COUNTERS count since power-up,
 * so after a power cycle a sweep took the cells every earlier run had used for pristine ones).
 * Every run leaves `runs/<id>/cells.json`: the board it ran on and the cells it pulsed and
 * programmed (status ok). A run that ended without one (a crash) is read from its events once
 * and the file written then. A board is known by its id (and, for an in-process emulated board,
 * its saved-state generation: `--new-board` is another chip).
 */
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { BoardInfo } from '../../drivers/board.js';
import { cellKey, type RunEvent } from '../engine/events.js';
import type { EmbeddedStore } from './embedded-store.js';

export interface RunCells {
  board: string;
  /** Cells that received at least one pulse (any outcome). */
  pulsed: string[];
  /** Cells a step ended programmed (status ok): formed cells. */
  formed: string[];
}

export interface BoardCellHistory {
  board: string;
  pulsed: Set<string>;
  formed: Set<string>;
  /** Runs of this board the history was gathered from. */
  runs: string[];
}

/** How the store names a board: its id, and an emulated board's saved state (generation). */
export function boardKey(info: Pick<BoardInfo, 'id' | 'kind' | 'state'>): string {
  return info.kind === 'emulated' && info.state ? `emulated:${info.state}` : `${info.kind}:${info.id}`;
}

/** Folds a run's events into its cell sets (the StoreSink keeps one while the run is written). */
export class RunCellsCollector {
  readonly pulsed = new Set<string>();
  readonly formed = new Set<string>();
  board?: string;
  observe(e: RunEvent): void {
    if (e.type === 'run-start' || e.type === 'run-resume') this.board = boardKey(e.board);
    else if (e.type === 'pulse') this.pulsed.add(cellKey(e.cell));
    else if (e.type === 'cell-done' && e.outcome.status === 'ok') this.formed.add(cellKey(e.cell));
  }
  toJSON(): RunCells | undefined {
    return this.board ? { board: this.board, pulsed: [...this.pulsed], formed: [...this.formed] } : undefined;
  }
}

export function writeRunCells(store: EmbeddedStore, runId: string, c: RunCells): void {
  const f = join(store.runDir(runId), 'cells.json');
  writeFileSync(f + '.tmp', JSON.stringify(c));
  renameSync(f + '.tmp', f);
}

export async function runCells(store: EmbeddedStore, runId: string): Promise<RunCells | undefined> {
  const f = join(store.runDir(runId), 'cells.json');
  if (existsSync(f)) {
    try {
      return JSON.parse(readFileSync(f, 'utf8')) as RunCells;
    } catch {
      /* a torn cache file: rebuilt below */
    }
  }
  const col = new RunCellsCollector();
  for await (const e of store.events(runId)) col.observe(e);
  const c = col.toJSON();
  if (c) writeRunCells(store, runId, c);
  return c;
}

/** Every cell the store has seen pulsed or programmed on this board (optionally leaving one run out, or only runs started before a time). */
export async function boardHistory(store: EmbeddedStore, info: Pick<BoardInfo, 'id' | 'kind' | 'state'>, o: { except?: string; before?: string } = {}): Promise<BoardCellHistory> {
  const board = boardKey(info);
  const h: BoardCellHistory = { board, pulsed: new Set(), formed: new Set(), runs: [] };
  for (const r of store.listRuns()) {
    if (r.id === o.except) continue; // a pruned run keeps its cells.json
    if (o.before !== undefined && !(r.started < o.before)) continue;
    const b = r.board as Pick<BoardInfo, 'id' | 'kind' | 'state'> | undefined;
    if (!b || boardKey(b) !== board) continue;
    const c = await runCells(store, r.id);
    if (!c) continue;
    h.runs.push(r.id);
    for (const k of c.pulsed) h.pulsed.add(k);
    for (const k of c.formed) h.formed.add(k);
  }
  return h;
}
