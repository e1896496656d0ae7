/**
 * Folds a run's event stream into what the dashboard draws: progress, the latest current of
 * every cell (heat map), the write-verify traces of the most recent cells, warnings, start/end.
 * Every item remembers the seq that last changed it, so `delta(sinceSeq)` serves both the
 * throttled live updates and a reconnecting client's catch-up (it sends the last seq it saw).
 */
import type { RunEvent } from '../engine/events.js';

interface CellState {
  array: number;
  row: number;
  col: number;
  current_A: number;
  level: number;
  status?: string;
  seq: number;
}

interface Trace {
  key: string;
  level: number;
  target_A?: number;
  /** [stepped voltage, verify current] per pulse. */
  points: [number, number][];
  status?: string;
  seq: number;
}

export interface LiveDelta {
  runId: string;
  seq: number;
  /** Engine time (ms) of the newest event included: the page measures event-to-pixel latency with it. */
  t: number;
  kind?: string;
  params?: Record<string, unknown>;
  board?: { arrays: number; rows: number; cols: number };
  progress?: { done: number; total: number; rate_per_s: number; eta_s: number | null; phase: string };
  cells: [number, number, number, number, number, string?][];
  traces: Trace[];
  warnings: { seq: number; message: string }[];
  end?: { status: string; error?: string; summary?: Record<string, unknown> };
}

const TRACE_CELLS = 12;

export class LiveRun {
  seq = -1;
  t = 0;
  kind?: string;
  params?: Record<string, unknown>;
  board?: { arrays: number; rows: number; cols: number };
  private startSeq = -1;
  private progress?: LiveDelta['progress'];
  private progressSeq = -1;
  private readonly cells = new Map<string, CellState>();
  private readonly traces = new Map<string, Trace>();
  private readonly warnings: { seq: number; message: string }[] = [];
  private end?: LiveDelta['end'];
  private endSeq = -1;
  private readonly lastStepped = new Map<string, number>();

  constructor(readonly runId: string) {}

  apply(e: RunEvent): void {
    this.seq = Math.max(this.seq, e.seq);
    this.t = Math.max(this.t, e.t);
    switch (e.type) {
      case 'run-start':
      case 'run-resume':
        this.kind = e.kind;
        this.params = e.params;
        this.board = { arrays: e.board.arrays, rows: e.board.rows, cols: e.board.cols };
        this.startSeq = e.seq;
        break;
      case 'progress':
        this.progress = { done: e.done, total: e.total, rate_per_s: e.rate_per_s, eta_s: e.eta_s, phase: e.phase };
        this.progressSeq = e.seq;
        break;
      case 'pulse': {
        const k = `${e.cell.array}:${e.cell.row}:${e.cell.col}`;
        // IGVVA steps the gate, ISPVA the top electrode.
        if (e.kind === 'set') this.lastStepped.set(k, this.params?.algo === 'ispva' ? e.vte_V : e.vg_V);
        break;
      }
      case 'read': {
        const k = `${e.cell.array}:${e.cell.row}:${e.cell.col}`;
        const c = this.cells.get(k);
        if (c) Object.assign(c, { current_A: e.current_A, level: e.level, seq: e.seq });
        else this.cells.set(k, { ...e.cell, current_A: e.current_A, level: e.level, seq: e.seq });
        if (e.phase === 'verify') {
          let tr = this.traces.get(k);
          if (!tr) {
            tr = { key: k, level: e.level, points: [], seq: e.seq };
            this.traces.set(k, tr);
            if (this.traces.size > TRACE_CELLS) this.traces.delete(this.traces.keys().next().value!);
          }
          tr.points.push([this.lastStepped.get(k) ?? 0, e.current_A]);
          tr.seq = e.seq;
        }
        break;
      }
      case 'cell-done': {
        const k = `${e.cell.array}:${e.cell.row}:${e.cell.col}`;
        const c = this.cells.get(k) ?? { ...e.cell, current_A: e.outcome.final_A, level: e.level, seq: e.seq };
        Object.assign(c, { status: e.outcome.status, level: e.level, seq: e.seq });
        this.cells.set(k, c);
        const tr = this.traces.get(k);
        if (tr) Object.assign(tr, { status: e.outcome.status, target_A: e.target_A, seq: e.seq });
        this.lastStepped.delete(k);
        break;
      }
      case 'warning':
        this.warnings.push({ seq: e.seq, message: e.message });
        if (this.warnings.length > 50) this.warnings.shift();
        break;
      case 'run-end':
        this.end = { status: e.status, error: e.error, summary: e.summary };
        this.endSeq = e.seq;
        break;
    }
  }

  /** Everything that changed after `since` (-1: everything). */
  delta(since: number): LiveDelta {
    const cells: LiveDelta['cells'] = [];
    for (const c of this.cells.values()) if (c.seq > since) cells.push(c.status ? [c.array, c.row, c.col, c.current_A, c.level, c.status] : [c.array, c.row, c.col, c.current_A, c.level]);
    return {
      runId: this.runId,
      seq: this.seq,
      t: this.t,
      ...(this.startSeq > since || since < 0 ? { kind: this.kind, params: this.params, board: this.board } : {}),
      ...(this.progressSeq > since ? { progress: this.progress } : {}),
      cells,
      traces: [...this.traces.values()].filter((t) => t.seq > since),
      warnings: this.warnings.filter((w) => w.seq > since),
      ...(this.endSeq > since ? { end: this.end } : {}),
    };
  }

  get ended(): boolean {
    return this.end !== undefined;
  }
}
