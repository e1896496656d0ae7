/**
 * A run's identity and its event emitter: numbers events, stamps them, and pushes them into the
 * shared rxjs Subject that every sink subscribes to. A resumed run continues the original's
 * sequence numbers, starts with `run-resume` instead of `run-start`, and is refused when its
 * parameters or its board differ from the original's.
 */
import { Subject } from 'rxjs';
import type { BoardInfo } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { EventBody, RunEvent, RunKind } from './events.js';
import { CellLedger } from './cell-ledger.js';

export interface ResumeFrom {
  /** Seq of the last stored event of the interrupted run. */
  lastSeq: number;
  kind: RunKind;
  params: Record<string, unknown>;
  board?: BoardInfo;
  /** The stored events folded per cell: what is done, what every attempt sent, what was in flight. */
  ledger: CellLedger;
}

export interface RunBegin {
  kind: RunKind;
  params: Record<string, unknown>;
  board: BoardInfo;
  calibration?: string;
  setup?: Record<string, unknown>;
}

/** Parameter keys that may differ on resume (they do not change what is programmed). */
const RESUME_FREE = new Set(['minSuccess', 'concurrency', 'resume']);
/** Keys recorded since a later version (derived from the others): a run recorded before them resumes without them. */
const ADDED_SINCE = new Set(['levelSpecs', 'retryGates_V']);

/** Names every parameter (by its path, e.g. config.igvva.vgStep_V) whose value differs between the original run and a resume. */
export function paramDiff(was: Record<string, unknown>, now: Record<string, unknown>): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    const obj = (x: unknown) => typeof x === 'object' && x !== null && !Array.isArray(x);
    if (obj(a) && obj(b)) {
      const ra = a as Record<string, unknown>;
      const rb = b as Record<string, unknown>;
      for (const k of new Set([...Object.keys(ra), ...Object.keys(rb)])) if (!(path === '' && (RESUME_FREE.has(k) || (ADDED_SINCE.has(k) && ra[k] === undefined)))) walk(ra[k], rb[k], path ? `${path}.${k}` : k);
      return;
    }
    const x = JSON.stringify(a);
    const y = JSON.stringify(b);
    if (x !== y) out.push(`${path}: was ${x ?? 'unset'}, now ${y ?? 'unset'}`);
  };
  walk(JSON.parse(JSON.stringify(was)), JSON.parse(JSON.stringify(now)), '');
  return out;
}

/** Why a run cannot continue the interrupted one: another kind, parameter or input, another board (or its state or limits). */
export function resumeProblems(r: Pick<ResumeFrom, 'kind' | 'params' | 'board'>, b: Pick<RunBegin, 'kind' | 'params' | 'board'>): string[] {
  const problems = paramDiff(r.params, b.params);
  if (r.kind !== b.kind) problems.unshift(`kind: was ${r.kind}, now ${b.kind}`);
  return [...problems, ...boardProblems(r.board, b.board)];
}

/** Why a board is not the one an interrupted run was on (id; an emulated board's saved state; limits). */
export function boardProblems(was: BoardInfo | undefined, now: BoardInfo): string[] {
  if (!was) return ['board: the interrupted run recorded no board'];
  const problems: string[] = [];
  if (was.id !== now.id) problems.push(`board: was ${was.id}, now ${now.id}`);
  if (was.kind === 'emulated' && (!was.state || was.state !== now.state))
    problems.push(`board state: the run started on emulated board ${was.id} ${was.state ? `with state ${was.state}` : 'without a saved state'}; this board ${now.state ? `has state ${now.state}` : 'is a fresh one'}: it does not hold what was programmed`);
  if (JSON.stringify(was.limits) !== JSON.stringify(now.limits)) problems.push('board limits changed');
  return problems;
}

export class RunContext {
  private seq: number;
  private readonly flushers: ((durable: boolean) => void)[] = [];
  /** Every cell's record so far, the stored part of a resumed run included (the one truth for done and counts). */
  readonly ledger: CellLedger;
  constructor(
    readonly runId: string,
    readonly events$: Subject<RunEvent> = new Subject<RunEvent>(),
    readonly resume?: ResumeFrom,
  ) {
    this.seq = resume ? resume.lastSeq + 1 : 0;
    this.ledger = resume?.ledger ?? new CellLedger();
  }

  emit(body: EventBody): RunEvent {
    const e = { ...body, runId: this.runId, seq: this.seq++, t: Date.now() } as RunEvent;
    this.ledger.observe(e);
    this.events$.next(e);
    return e;
  }

  /** The run's first event: run-start, or run-resume after checking it is the same run on the same board. */
  begin(b: RunBegin): RunEvent {
    const r = this.resume;
    if (!r) return this.emit({ type: 'run-start', ...b });
    const problems = resumeProblems(r, b);
    if (problems.length) throw new InvalidArgumentError('--resume', this.runId, `cannot resume: ${problems.join('; ')}`);
    const ev = this.emit({ type: 'run-resume', kind: b.kind, resumedAfterSeq: r.lastSeq, params: b.params, board: b.board });
    // Pulses the interrupted process sent and never heard back about: they may or may not have run.
    const open = this.ledger.openIntents();
    for (const p of open) this.emit({ type: 'pulse', ...p, outcome: 'unknown', recovered: true });
    if (open.length) this.emit({ type: 'warning', code: 'outcome-unknown', message: `${open.length} pulse(s) were in flight when the run was interrupted: recorded as of unknown outcome (their cells are re-read before anything else)` });
    this.commit(true);
    return ev;
  }

  /** Registers a synchronous flush (the store sink's): `durable` asks for fsync as well as the write. */
  onFlush(f: (durable: boolean) => void): void {
    this.flushers.push(f);
  }

  /**
   * Puts every event emitted so far on disk: written (kill -9 loses nothing written) and, when
   * `durable`, fsync'd (a power loss neither). The engine commits once per batch: the answers
   * handled since the last commit and the next requests' intent, before those requests leave.
   */
  commit(durable: boolean): void {
    for (const f of this.flushers) f(durable);
  }

  /**
   * A checkpoint (rram serve's pause, src/station/): when `holdRequested()` says so, the engine
   * stops sending, waits for every request in flight and records it, commits, and then awaits
   * `checkpoint()`, which holds the run (the board idle, everything stored) until resumed or
   * aborted. A plain run is never asked to hold.
   */
  holdRequested: () => boolean = () => false;
  checkpoint: () => Promise<void> = async () => undefined;

  /** commit(true): kept for callers that make everything durable. */
  flush(): void {
    this.commit(true);
  }

  get eventCount(): number {
    return this.seq;
  }
}
