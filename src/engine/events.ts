/**
 * The one event stream of a run. The engine emits, every sink (embedded store, InfluxDB,
 * dashboard, progress bar) subscribes; adding a sink never touches the engine.
 * `t` is host wall time in ms since the epoch; `seq` numbers a run's events from 0 without gaps.
 */
import type { BoardInfo, CellAddress, PulseKind } from '../../drivers/board.js';
import type { CellOutcome } from '../plans/commands.js';

interface Base {
  runId: string;
  seq: number;
  t: number;
}

export type RunKind = 'characterize' | 'program' | 'program-net' | 'sweep' | 'calibrate' | 'twin' | 'wv-bench' | 'infer' | 'pulse' | 'read';

export interface RunStartEvent extends Base {
  type: 'run-start';
  kind: RunKind;
  params: Record<string, unknown>;
  board: BoardInfo;
  calibration?: string;
  /** How programming ranges were derived for this board (sources, notes, predictions). */
  setup?: Record<string, unknown>;
}
/** A resumed run: the same run id, its events continue the original seq. */
export interface RunResumeEvent extends Base {
  type: 'run-resume';
  kind: RunKind;
  /** Seq of the last event the interrupted process stored. */
  resumedAfterSeq: number;
  /** The run's parameters (the same as its run-start's: a resume with others is refused). */
  params: Record<string, unknown>;
  board: BoardInfo;
}
export interface PulseEvent extends Base {
  type: 'pulse';
  cell: CellAddress;
  kind: PulseKind;
  vte_V: number;
  vsl_V: number;
  vg_V: number;
  width_s: number;
  level: number;
  /** Absent when the board confirmed the pulse; 'unknown' when it may or may not have been applied. */
  outcome?: 'unknown';
}
export interface ReadEvent extends Base {
  type: 'read';
  cell: CellAddress;
  vread_V: number;
  current_A: number;
  /** verify: inside a write-verify loop; readback: after programming; relax: after a wait; reverify: a re-verify pass's check. */
  phase: 'verify' | 'readback' | 'relax' | 'reverify';
  level: number;
  /** Seconds waited before a relax read. */
  relax_s?: number;
}
export interface CellDoneEvent extends Base {
  type: 'cell-done';
  cell: CellAddress;
  level: number;
  target_A: number;
  outcome: CellOutcome;
}
export interface ProgressEvent extends Base {
  type: 'progress';
  done: number;
  total: number;
  rate_per_s: number;
  /** Seconds to go; null until a rate is known. */
  eta_s: number | null;
  phase: string;
}
export interface WarningEvent extends Base {
  type: 'warning';
  /** What kind of warning: limit, outcome-unknown, link-lost, link-restored, board-rebooted, session-lost, gave-up, resume, ... */
  code?: string;
  message: string;
  cell?: CellAddress;
}
export interface RunEndEvent extends Base {
  type: 'run-end';
  status: 'completed' | 'aborted' | 'failed';
  error?: string;
  summary?: Record<string, unknown>;
}

export type RunEvent = RunStartEvent | RunResumeEvent | PulseEvent | ReadEvent | CellDoneEvent | ProgressEvent | WarningEvent | RunEndEvent;

/** Distributes Omit<> over the union so callers can build any event without runId/seq/t. */
export type EventBody = RunEvent extends infer E ? (E extends RunEvent ? Omit<E, 'runId' | 'seq' | 't'> : never) : never;

export function cellKey(c: CellAddress): string {
  return `${c.array}:${c.row}:${c.col}`;
}

export function newRunId(now = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const rand = Math.floor(Math.random() * 0xffff).toString(16).padStart(4, '0');
  return `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}-${rand}`;
}
