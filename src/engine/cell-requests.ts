/**
 * One request of a cell and its answer, for the run engine (run-engine.ts): `send` puts the cell's
 * due command (its plan's, or the engine's own re-read) on the board and counts its pulses at once;
 * `handle` records what came back (a pulse confirmed, of unknown outcome or refused; a read usable
 * or not; an on-board job's summary, checked against the job) and moves the cell on: its plan's
 * next command, a re-read due, or an end. An error that stops the run is thrown by `handle` after
 * its events were emitted. A cell has at most one request in flight.
 */
import type { Board, CellAddress } from '../../drivers/board.js';
import { BoardError, OutcomeUnknownError, ProtocolError, RramError } from '../../drivers/errors.js';
import type { Answer, CellOutcome, CellPlan, Command, WriteVerifyAnswer } from '../plans/commands.js';
import type { CellJob } from './run-engine.js';
import type { RunContext } from './run-context.js';
import type { PulseIntent } from './events.js';
import { jobViolation, wvJob } from './write-verify-job.js';
import { READ_ATTEMPTS, unusableRead } from './readings.js';

export interface Active {
  job: CellJob;
  gen: CellPlan;
  /** The plan's current command (on the DAC grid once prepared), or its outcome. */
  next: IteratorResult<Command, CellOutcome>;
  /** Pulses sent, whatever their outcome (an on-board job in flight: its maxPulses). */
  pulses: number;
  /** Pulses sent whose outcome is unknown. */
  unknown: number;
  /** A read the engine owes the plan first: after an unusable read, or a job whose last current is unusable. */
  reread?: { vread_V: number; attempts: number; wv?: WriteVerifyAnswer };
}

type Settled = { ok: true; value: Answer | void } | { ok: false; err: unknown };

export interface InFlight {
  a: Active;
  /** What was sent. */
  cmd: Command;
  /** Pulses it was counted for at send. */
  most: number;
  settled?: Settled;
  /** Resolves (never rejects) once `settled` is set. */
  done: Promise<void>;
}

export const stepOf = (j: CellJob) => (j.step && j.step !== 'program' ? { step: j.step } : {});

const ended = (a: Active, status: CellOutcome['status'], note: string, reads = 0): IteratorResult<Command, CellOutcome> => ({ done: true, value: { status, pulses: a.pulses, reads, final_A: NaN, finalStepped_V: NaN, note } });

/** The command a cell sends next: the engine's re-read when one is due, else its plan's. */
export function dueCommand(a: Active): Command {
  if (a.reread) return { op: 'read', vread_V: a.reread.vread_V };
  if (a.next.done) throw new Error('a finished cell has nothing to send');
  return a.next.value;
}

/** The write-ahead record of a pulse (or an on-board job) about to be sent. */
export function intentOf(job: CellJob, c: Exclude<Command, { op: 'read' }>): PulseIntent {
  const p =
    c.op === 'reset'
      ? { kind: 'reset' as const, vte_V: 0, vsl_V: c.vsl_V, vg_V: c.vg_V, width_s: c.width_s }
      : c.op === 'write-verify'
        ? { kind: 'write-verify' as const, vte_V: c.vte_V, vsl_V: 0, vg_V: c.vgStart_V, width_s: c.width_s, onboard: { target_A: c.target_A, vgStart_V: c.vgStart_V, vgStep_V: c.vgStep_V, vgStop_V: c.vgStop_V, maxPulses: c.maxPulses, vread_V: c.vread_V } }
        : { kind: c.op, vte_V: c.vte_V, vsl_V: 0, vg_V: c.vg_V, width_s: c.width_s };
  return { cell: job.cell, ...p, level: job.level, ...stepOf(job) };
}

export class CellRequests {
  constructor(
    private readonly board: Board,
    private readonly ctx: RunContext,
    private readonly policy: 're-verify' | 'stop',
    private readonly dac_V: number,
  ) {}

  /** Sends the cell's due command; its pulses count against the budget from now on. */
  send(a: Active): InFlight {
    const cmd = dueCommand(a);
    // A job of unknown outcome may have applied its maxPulses: counted so until its summary says.
    const most = cmd.op === 'read' ? 0 : cmd.op === 'write-verify' ? cmd.maxPulses : 1;
    a.pulses += most;
    let p: Promise<Answer | void>;
    try {
      p = this.call(a.job.cell, cmd);
    } catch (err) {
      p = Promise.reject(err);
    }
    const f: InFlight = { a, cmd, most, done: Promise.resolve() };
    f.done = p.then(
      (value) => void (f.settled = { ok: true, value }),
      (err: unknown) => void (f.settled = { ok: false, err }),
    );
    return f;
  }

  private call(cell: CellAddress, c: Command): Promise<Answer | void> {
    if (c.op === 'read') return this.board.read(cell, { vread_V: c.vread_V });
    if (c.op === 'write-verify') return this.board.writeVerify!(cell, wvJob(c));
    if (c.op === 'reset') return this.board.reset(cell, c);
    return c.op === 'form' ? this.board.form(cell, c) : this.board.set(cell, c);
  }

  /** Records the settled request's answer and moves its cell on. Throws what stops the run. */
  handle(f: InFlight): void {
    const { a, cmd } = f;
    const r = f.settled!;
    if (cmd.op === 'read') return this.handleRead(a, cmd.vread_V, r);
    const ev = intentOf(a.job, cmd);
    if (!r.ok) return this.handleFailedPulse(f, ev, r.err);
    if (cmd.op !== 'write-verify') {
      this.ctx.emit({ type: 'pulse', ...ev });
      a.next = a.gen.next(undefined);
      return;
    }
    const s = r.value as WriteVerifyAnswer;
    a.pulses += s.pulses - f.most;
    this.ctx.emit({ type: 'pulse', ...ev, onboard: { ...ev.onboard!, pulses: s.pulses, success: s.success, final_A: s.final_A, finalStepped_V: s.finalStepped_V } });
    // The board's summary (recorded as it came) must be a run of the job as sent; one that is not stops the run.
    const broken = jobViolation(cmd, s, this.dac_V);
    const cell = a.job.cell;
    if (broken) throw new ProtocolError(`board broke WRITE_VERIFY on cell ${cell.array}:${cell.row},${cell.col}: ${broken}`);
    // A last current no cell gives is never fed to the plan: the cell is read instead (unusable reads end it 'unreadable').
    if (unusableRead(s.final_A) !== undefined) a.reread = { vread_V: cmd.vread_V, attempts: 0, wv: s };
    else a.next = a.gen.next(s);
  }

  private handleFailedPulse(f: InFlight, ev: PulseIntent, err: unknown): void {
    const a = f.a;
    if (err instanceof BoardError || (err instanceof RramError && (err.code === 'LIMIT' || err.code === 'ADDRESS'))) {
      // Refused (no effect): recorded so, then the run stops (the host's checks and the board disagree).
      a.pulses -= f.most;
      this.ctx.emit({ type: 'pulse', ...ev, outcome: 'refused' });
      throw err;
    }
    this.ctx.emit({ type: 'pulse', ...ev, outcome: 'unknown' });
    if (!(err instanceof OutcomeUnknownError)) throw err;
    a.unknown += f.most;
    this.ctx.emit({ type: 'warning', code: 'outcome-unknown', message: err.message, cell: a.job.cell });
    if (this.policy === 'stop') {
      a.next = ended(a, 'unknown', err.message);
      return;
    }
    a.next = a.gen.next(undefined);
    // Only a plan that reads the cell next can go on from the measured state.
    if (!a.next.done && a.next.value.op !== 'read') a.next = ended(a, 'unknown', err.message);
  }

  /**
   * A read: fed to the plan when usable; an unusable one (a malformed reply, a value no cell
   * gives) is recorded with no value and why, and tried again, READ_ATTEMPTS times in all before
   * the cell ends 'unreadable' with no further pulse.
   */
  private handleRead(a: Active, vread_V: number, r: Settled): void {
    const cell = a.job.cell;
    let why = '';
    let v = NaN;
    if (r.ok) {
      v = r.value as number;
      why = unusableRead(v) ?? '';
    } else if (r.err instanceof ProtocolError) why = `malformed reply: ${r.err.message}`;
    else if (r.err instanceof OutcomeUnknownError) {
      a.reread = undefined;
      a.next = ended(a, 'unknown', r.err.message);
      return;
    } else throw r.err;
    this.ctx.emit({ type: 'read', cell, vread_V, current_A: why ? null : v, phase: 'verify', level: a.job.level, ...stepOf(a.job), ...(why ? { unusable: why } : {}) });
    const wv = a.reread?.wv;
    const attempts = (a.reread?.attempts ?? 0) + 1;
    a.reread = undefined;
    if (!why) {
      a.next = a.gen.next(wv ? { ...wv, final_A: v } : v);
      return;
    }
    if (attempts < READ_ATTEMPTS) {
      a.reread = { vread_V, attempts, wv };
      return;
    }
    this.ctx.emit({ type: 'warning', code: 'unreadable', message: `cell ${cell.array}:${cell.row},${cell.col}: ${READ_ATTEMPTS} reads unusable (${why}); no further pulse`, cell });
    a.next = ended(a, 'unreadable', `reads unusable: ${why}`, READ_ATTEMPTS);
  }
}
