/**
 * One cell's whole history on its board (issue 29, "click a cell"): every pulse, read and verdict
 * the store holds for it, across the runs on the same board (the board of the run it was clicked
 * in: by id, and for an emulated board its saved state), oldest run first. Runs whose cells.json
 * says they never pulsed the cell are skipped unless they only read (rram read, retention reads
 * need no pulse); the others are scanned with the store's cell filter.
 */
import type { BoardInfo } from '../../drivers/board.js';
import { cellKey } from '../engine/events.js';
import { boardKey, runCells } from './board-history.js';
import type { EmbeddedStore } from './embedded-store.js';

export interface CellHistoryPoint {
  run: string;
  seq: number;
  t: number;
  type: 'pulse' | 'read' | 'cell-done';
  /** Pulses: form, set, reset, write-verify; reads: their phase; cell-done: its status. */
  what: string;
  vte_V?: number;
  vsl_V?: number;
  vg_V?: number;
  width_s?: number;
  outcome?: string;
  current_A?: number | null;
  level?: number;
  step?: string;
}

export interface CellHistory {
  board: string;
  cell: { array: number; row: number; col: number };
  runs: { id: string; kind: string; started: string; status: string; pulses: number; reads: number; verdict?: string }[];
  points: CellHistoryPoint[];
  /** More points than the limit: the oldest `limit` are given. */
  truncated: boolean;
}

/** Kinds that read cells without pulsing them. */
const READ_ONLY = new Set(['read', 'retention']);

export async function cellHistory(store: EmbeddedStore, runId: string, cell: { array: number; row: number; col: number }, limit = 20000): Promise<CellHistory> {
  const board = store.getRun(runId).board as Pick<BoardInfo, 'id' | 'kind' | 'state'> | undefined;
  if (!board) return { board: '', cell, runs: [], points: [], truncated: false };
  const key = boardKey(board);
  const k = cellKey(cell);
  const h: CellHistory = { board: key, cell, runs: [], points: [], truncated: false };
  for (const r of store.listRuns().reverse()) {
    const b = r.board as Pick<BoardInfo, 'id' | 'kind' | 'state'> | undefined;
    if (!b || boardKey(b) !== key || r.pruned) continue;
    const c = await runCells(store, r.id);
    // A cells.json from before `readOnly` cannot say which cells the run only read: scanned.
    if (!READ_ONLY.has(r.kind) && !c?.pulsed.includes(k) && c?.readOnly?.includes(k) === false) continue;
    const entry = { id: r.id, kind: r.kind, started: r.started, status: r.status, pulses: 0, reads: 0, verdict: c?.verdicts?.[k] };
    for await (const e of store.events(r.id, cell)) {
      if (e.type !== 'pulse' && e.type !== 'read' && e.type !== 'cell-done') continue;
      if (e.type === 'pulse') entry.pulses++;
      if (e.type === 'read') entry.reads++;
      if (h.points.length >= limit) {
        h.truncated = true;
        continue;
      }
      const base = { run: r.id, seq: e.seq, t: e.t, type: e.type, ...(e.step ? { step: e.step } : {}) };
      if (e.type === 'pulse') h.points.push({ ...base, what: e.kind, vte_V: e.vte_V, vsl_V: e.vsl_V, vg_V: e.vg_V, width_s: e.width_s, level: e.level, ...(e.outcome ? { outcome: e.outcome } : {}) });
      else if (e.type === 'read') h.points.push({ ...base, what: e.phase, current_A: e.current_A, level: e.level });
      else h.points.push({ ...base, what: e.outcome.status, current_A: e.outcome.final_A, level: e.level });
    }
    if (entry.pulses || entry.reads) h.runs.push(entry);
  }
  return h;
}
