/**
 * Folds a run's event stream into what the dashboard draws: progress, the latest current, pulse
 * count, status and target of every cell (heat map), the write-verify trace of one in-flight cell
 * per level, followed from its first verify read until it is done (then the next one of that
 * level: with 64 cells in flight, following "the most recent" cells kept one point each), warnings,
 * start/end.
 * Every item remembers the seq that last changed it, so `delta(sinceSeq)` serves both the
 * throttled live updates and a reconnecting client's catch-up (it sends the last seq it saw).
 */
import { pulsesOf } from '../engine/cell-ledger.js';
import type { RunEvent } from '../engine/events.js';

interface CellState {
  array: number;
  row: number;
  col: number;
  current_A: number;
  level: number;
  status?: string;
  pulses: number;
  target_A?: number;
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
  /** [array, row, col, current_A | null (not read yet), level, status | null, pulses, target_A | null] */
  cells: [number, number, number, number | null, number, string | null, number, number | null][];
  traces: Trace[];
  warnings: { seq: number; message: string }[];
  end?: { status: string; error?: string; summary?: Record<string, unknown> };
}


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
  /** The followed cell's trace per level. */
  private readonly traces = new Map<number, Trace>();
  private readonly warnings: { seq: number; message: string }[] = [];
  private end?: LiveDelta['end'];
  private endSeq = -1;
  private readonly lastStepped = new Map<string, number>();

  constructor(readonly runId: string) {}

  apply(e: RunEvent): void {
    // Each event once: a run followed from the store may deliver what a replay already applied.
    if (e.seq <= this.seq) return;
    this.seq = e.seq;
    this.t = Math.max(this.t, e.t);
    switch (e.type) {
      case 'run-start':
      case 'run-resume':
        this.kind = e.kind;
        this.params = e.params;
        this.board = e.board ? { arrays: e.board.arrays, rows: e.board.rows, cols: e.board.cols } : undefined;
        this.startSeq = e.seq;
        // A resumed run goes on: the end its interrupted part recorded is over.
        if (e.type === 'run-resume') this.end = undefined;
        break;
      case 'progress':
        this.progress = { done: e.done, total: e.total, rate_per_s: e.rate_per_s, eta_s: e.eta_s, phase: e.phase };
        this.progressSeq = e.seq;
        break;
      case 'pulse': {
        const k = `${e.cell.array}:${e.cell.row}:${e.cell.col}`;
        // The stepped voltage: IGVVA's gate, ISPVA's top electrode; a RESET's source line, drawn negative.
        if (e.kind === 'set') this.lastStepped.set(k, this.params?.algo === 'ispva' ? e.vte_V : e.vg_V);
        else if (e.kind === 'reset') this.lastStepped.set(k, -e.vsl_V);
        else if (e.kind === 'write-verify' && e.onboard?.finalStepped_V !== undefined) this.lastStepped.set(k, e.onboard.finalStepped_V);
        const c = this.cell(e.cell, e.level, e.seq);
        c.pulses += pulsesOf(e);
        break;
      }
      case 'read': {
        if (e.current_A === null) break; // an unusable read: the cell keeps its last value
        // The MVM probe reads whole arrays after the run: not the run's cells (the map shows what it programmed).
        if (e.phase === 'probe') break;
        const k = `${e.cell.array}:${e.cell.row}:${e.cell.col}`;
        const c = this.cell(e.cell, e.level, e.seq);
        c.current_A = e.current_A;
        if (e.phase === 'verify') {
          let tr = this.traces.get(e.level);
          // Follow this cell when the level has none in flight (none yet, or the followed one is done).
          if (!tr || (tr.status !== undefined && tr.key !== k)) {
            tr = { key: k, level: e.level, points: [], seq: e.seq };
            this.traces.set(e.level, tr);
          }
          // Reads before the cell's first SET or RESET (forming) have no stepped voltage to plot against.
          if (tr.key === k && tr.status === undefined && this.lastStepped.has(k)) {
            tr.points.push([this.lastStepped.get(k)!, e.current_A!]);
            tr.seq = e.seq;
          }
        }
        break;
      }
      case 'cell-done': {
        const k = `${e.cell.array}:${e.cell.row}:${e.cell.col}`;
        const c = this.cell(e.cell, e.level, e.seq);
        Object.assign(c, { status: e.outcome.status, target_A: e.target_A });
        if (!Number.isFinite(c.current_A)) c.current_A = e.outcome.final_A;
        const tr = this.traces.get(e.level);
        if (tr?.key === k) Object.assign(tr, { status: e.outcome.status, target_A: e.target_A, seq: e.seq });
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

  /** A cell's state, created on its first event; marks it changed at `seq`. */
  private cell(at: { array: number; row: number; col: number }, level: number, seq: number): CellState {
    const k = `${at.array}:${at.row}:${at.col}`;
    let c = this.cells.get(k);
    if (!c) this.cells.set(k, (c = { array: at.array, row: at.row, col: at.col, current_A: NaN, level, pulses: 0, seq }));
    c.level = level;
    c.seq = seq;
    return c;
  }

  /** Everything that changed after `since` (-1: everything). */
  delta(since: number): LiveDelta {
    const cells: LiveDelta['cells'] = [];
    for (const c of this.cells.values())
      if (c.seq > since) cells.push([c.array, c.row, c.col, Number.isFinite(c.current_A) ? c.current_A : null, c.level, c.status ?? null, c.pulses, c.target_A ?? null]);
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
