/**
 * What the store knows of a board's cells across runs (issue 24: COUNTERS count since power-up,
 * so after a power cycle a sweep took the cells every earlier run had used for pristine ones).
 * Every run leaves `runs/<id>/cells.json`: the board it ran on and the cells it pulsed and
 * programmed (status ok). A run that ended without one (a crash) is read from its events once
 * and the file written then. A board is known by its id (and, for an in-process emulated board,
 * its saved-state generation: `--new-board` is another chip).
 *
 * It also says which cells are bad (issue 27, yield-aware mapping): a cell whose last verdict on
 * this board was a device failure (stuck, unformable, leaky, failed: its range exhausted) or that
 * was flagged leaky when pristine, and a cell read back outside its level's band in two or more
 * runs (a `warning` with code `out-of-band` and the cell, which program-net emits).
 */
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { BoardInfo } from '../../drivers/board.js';
import { cellKey, type RunEvent } from '../engine/events.js';
import type { EmbeddedStore } from './embedded-store.js';

export interface RunCells {
  /** 3: with `verdicts`, `outOfBand` and `readOnly` (an older file is rebuilt from the run's events while they are kept). */
  version?: 2 | 3;
  board: string;
  /** Cells that received at least one pulse (any outcome). */
  pulsed: string[];
  /** Cells a step ended programmed (status ok): formed cells. */
  formed: string[];
  /** The run's last verdict on each cell it programmed: 'ok', or the failure (stuck, unformable, leaky, failed, ...); 'leaky' also for a leaky cell that was programmed. */
  verdicts?: Record<string, string>;
  /** Cells read back outside their level's band in this run. */
  outOfBand?: string[];
  /** Cells this run read but never pulsed (a whole-array MVM probe, a pristine cell's leak check): their cell history holds these reads too. */
  readOnly?: string[];
}

/** Verdicts that say the device is bad (others: the run's budget, limits or link, not the cell). */
export const BAD_VERDICTS = new Set(['stuck', 'unformable', 'leaky', 'failed']);
/** A cell out of band in this many runs is bad. */
export const OUT_OF_BAND_RUNS = 2;

export interface BoardCellHistory {
  board: string;
  pulsed: Set<string>;
  formed: Set<string>;
  /** Cells known bad, with why (the last bad verdict, or out-of-band). */
  bad: Map<string, string>;
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
  readonly verdicts = new Map<string, string>();
  readonly outOfBand = new Set<string>();
  readonly read = new Set<string>();
  board?: string;
  observe(e: RunEvent): void {
    if ((e.type === 'run-start' || e.type === 'run-resume') && e.board) this.board = boardKey(e.board);
    else if (e.type === 'pulse') this.pulsed.add(cellKey(e.cell));
    else if (e.type === 'read') this.read.add(cellKey(e.cell));
    else if (e.type === 'cell-done') {
      const k = cellKey(e.cell);
      if (e.outcome.status === 'ok') this.formed.add(k);
      this.verdicts.set(k, e.outcome.status === 'ok' && e.outcome.leaky ? 'leaky' : e.outcome.status);
    } else if (e.type === 'warning' && e.code === 'out-of-band' && e.cell) this.outOfBand.add(cellKey(e.cell));
  }
  toJSON(): RunCells | undefined {
    if (!this.board) return undefined;
    const readOnly = [...this.read].filter((k) => !this.pulsed.has(k));
    return { version: 3, board: this.board, pulsed: [...this.pulsed], formed: [...this.formed], verdicts: Object.fromEntries(this.verdicts), outOfBand: [...this.outOfBand], readOnly };
  }
}

export function writeRunCells(store: EmbeddedStore, runId: string, c: RunCells, tmp = '.tmp'): void {
  const f = join(store.runDir(runId), 'cells.json');
  writeFileSync(f + tmp, JSON.stringify(c));
  renameSync(f + tmp, f);
}

export async function runCells(store: EmbeddedStore, runId: string): Promise<RunCells | undefined> {
  const f = join(store.runDir(runId), 'cells.json');
  if (existsSync(f)) {
    try {
      const c = JSON.parse(readFileSync(f, 'utf8')) as RunCells;
      // A file of an older version (without verdicts or readOnly) is rebuilt while the run's events are there.
      if (c.version === 3 || store.getRun(runId).pruned) return c;
    } catch {
      /* a torn cache file: rebuilt below */
    }
  }
  const col = new RunCellsCollector();
  for await (const e of store.events(runId)) col.observe(e);
  const c = col.toJSON();
  try {
    if (c) writeRunCells(store, runId, c, `.${process.pid}.tmp`);
  } catch {
    // A cache: a read-only store, or another process renaming its copy first, leaves it to be rebuilt next time.
  }
  return c;
}

/** Every cell the store has seen pulsed or programmed on this board (optionally leaving one run out, or only runs started before a time). */
export async function boardHistory(store: EmbeddedStore, info: Pick<BoardInfo, 'id' | 'kind' | 'state'>, o: { except?: string; before?: string } = {}): Promise<BoardCellHistory> {
  const board = boardKey(info);
  const h: BoardCellHistory = { board, pulsed: new Set(), formed: new Set(), bad: new Map(), runs: [] };
  const outOfBand = new Map<string, number>();
  // Oldest first: a cell's latest verdict decides (a cell formed later is no longer unformable).
  for (const r of store.listRuns().reverse()) {
    if (r.id === o.except) continue; // a pruned run keeps its cells.json
    if (o.before !== undefined && !(r.started < o.before)) continue;
    const b = r.board as Pick<BoardInfo, 'id' | 'kind' | 'state'> | undefined;
    if (!b || boardKey(b) !== board) continue;
    const c = await runCells(store, r.id);
    if (!c) continue;
    h.runs.push(r.id);
    for (const k of c.pulsed) h.pulsed.add(k);
    for (const k of c.formed) h.formed.add(k);
    for (const [k, v] of Object.entries(c.verdicts ?? {})) {
      if (BAD_VERDICTS.has(v)) h.bad.set(k, v);
      else if (v === 'ok') h.bad.delete(k);
    }
    for (const k of c.outOfBand ?? []) outOfBand.set(k, (outOfBand.get(k) ?? 0) + 1);
  }
  for (const [k, n] of outOfBand) if (n >= OUT_OF_BAND_RUNS && !h.bad.has(k)) h.bad.set(k, 'out-of-band');
  return h;
}
