/**
 * The one event stream of a run. The engine emits, every sink (embedded store, InfluxDB,
 * dashboard, progress bar) subscribes; adding a sink never touches the engine.
 * `t` is host wall time in ms since the epoch; `seq` numbers a run's events from 0 without gaps.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { BoardInfo, CellAddress, PulseKind } from '../../drivers/board.js';
import type { CellOutcome } from '../plans/commands.js';

interface Base {
  runId: string;
  seq: number;
  t: number;
}

export type RunKind = 'characterize' | 'program' | 'program-net' | 'sweep' | 'calibrate' | 'twin' | 'wv-bench' | 'infer' | 'pulse' | 'read' | 'iv' | 'endurance' | 'retention' | 'reverify' | 'conformance';

export interface RunStartEvent extends Base {
  type: 'run-start';
  kind: RunKind;
  params: Record<string, unknown>;
  /** The board the run drives; absent for a run that needs none (a CLI `rram infer`). */
  board?: BoardInfo;
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
/**
 * An on-board write-verify job (kind 'write-verify'): its climb as sent, and once the board
 * answered, what it did. A job of unknown outcome may have applied up to maxPulses pulses.
 */
export interface OnboardJob {
  target_A: number;
  vgStart_V: number;
  vgStep_V: number;
  vgStop_V: number;
  maxPulses: number;
  vread_V: number;
  /** The board's summary (confirmed jobs only). */
  pulses?: number;
  success?: boolean;
  final_A?: number;
  finalStepped_V?: number;
}

/** One pulse of a batch, as the engine is about to send it (an intent); or one on-board write-verify job. */
export interface PulseIntent {
  cell: CellAddress;
  kind: PulseKind | 'write-verify';
  vte_V: number;
  vsl_V: number;
  vg_V: number;
  width_s: number;
  level: number;
  /** The job step the cell belongs to (absent: 'program'). */
  step?: string;
  /** kind 'write-verify': the job (vg_V is its first gate, vte_V its fixed top-electrode amplitude). */
  onboard?: OnboardJob;
}
/**
 * Write-ahead: the pulses a batch is about to send, on disk before any of them leaves (docs/formats.md,
 * "The record"). Each is followed by its `pulse` event once the board answered; one that has none
 * when a run is resumed was in flight when the process stopped, and is recorded then as a pulse of
 * unknown outcome.
 */
export interface IntentEvent extends Base {
  type: 'intent';
  pulses: PulseIntent[];
}
export interface PulseEvent extends Base, PulseIntent {
  type: 'pulse';
  /**
   * Absent when the board confirmed the pulse; 'unknown' when it may or may not have been applied;
   * 'refused' when the board refused it (no effect).
   */
  outcome?: 'unknown' | 'refused';
  /** Recorded when a run was resumed: the interrupted process had sent it and never learnt its outcome. */
  recovered?: true;
}
export interface ReadEvent extends Base {
  type: 'read';
  cell: CellAddress;
  vread_V: number;
  /** null when the read was unusable (a malformed reply, or a value no cell can give): see `unusable`. */
  current_A: number | null;
  /** verify: inside a write-verify loop; readback: after programming; relax: after a wait; reverify: a re-verify pass's check; refresh: a refresh's check (program-net --refresh-after); probe: a whole-array read of characterize's MVM probe (step mvm-probe). */
  phase: 'verify' | 'readback' | 'relax' | 'reverify' | 'refresh' | 'probe';
  level: number;
  /** Seconds waited before a relax read (a retention run: the time point, nominal). */
  relax_s?: number;
  /** A retention run: the time since its origin (the end of programming) when the read was taken, as the board's clock has it. */
  age_s?: number;
  step?: string;
  /** Why the read could not be used (its value is then null). */
  unusable?: string;
}
export interface CellDoneEvent extends Base {
  type: 'cell-done';
  cell: CellAddress;
  level: number;
  target_A: number;
  outcome: CellOutcome;
  step?: string;
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
/**
 * A procedure's checkpoint in the record (issue 31): what a resume needs beyond cells, e.g. a
 * retention run's time origin and the waits it completed. `name` says which; `value` is plain data.
 */
export interface MarkEvent extends Base {
  type: 'mark';
  name: string;
  value: Record<string, unknown>;
}
export interface RunEndEvent extends Base {
  type: 'run-end';
  status: 'completed' | 'aborted' | 'failed';
  error?: string;
  summary?: Record<string, unknown>;
}

/** Every event type (filters name one of them: `rram export --type`, `/api/runs/:id/events?type=`). */
export const EVENT_TYPES = ['run-start', 'run-resume', 'intent', 'pulse', 'read', 'cell-done', 'progress', 'warning', 'mark', 'run-end'] as const satisfies readonly RunEvent['type'][];

/** A type filter from a user: one of EVENT_TYPES, or a refusal naming the field. */
export function eventTypeFilter(field: string, raw: string | undefined): RunEvent['type'] | undefined {
  if (raw === undefined) return undefined;
  if (!(EVENT_TYPES as readonly string[]).includes(raw)) throw new InvalidArgumentError(field, raw, `must be one of ${EVENT_TYPES.join(', ')}`);
  return raw as RunEvent['type'];
}

export type RunEvent = RunStartEvent | RunResumeEvent | IntentEvent | PulseEvent | ReadEvent | CellDoneEvent | ProgressEvent | WarningEvent | MarkEvent | RunEndEvent;

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
