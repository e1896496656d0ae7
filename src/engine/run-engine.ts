/**
 * The run engine: executes per-cell plans against any Board. Cells advance in lockstep rounds:
 * each round sends one command of every active cell at once (so a pipelined serial link is never
 * idle) and the board sees the same operation order whatever the link's timing, which keeps
 * in-process and serial runs identical for a seed.
 *  - Amplitudes are put on the board's DAC grid, then checked against the board's and the user's
 *    limits and the cell's pulse budget before anything is sent; a command beyond them ends that
 *    cell ('limit'), it is never sent.
 *  - The record comes first (docs/formats.md, "The record"): a round's pulses are written as an
 *    `intent` event before any of them leaves; each then gets its `pulse` event (confirmed,
 *    unknown or refused); the round's results are committed after it, fsync'd when cells
 *    finished. A cell is done when its cell-done is in the record, and nowhere else.
 *  - A pulse whose outcome is unknown (link lost, board rebooted) is recorded as such; with the
 *    default policy 're-verify' the cell's plan goes on, and since every plan reads the cell
 *    after a pulse before deciding anything, it continues from the measured state. Policy 'stop'
 *    ends the cell as 'unknown' instead.
 *  - A read that is unusable (a malformed reply, a value no cell gives) is recorded with no value
 *    and tried again; a cell whose reads stay unusable ends 'unreadable', with no further pulse.
 *  - Abort stops at the next round; the board is grounded when runCells throws (procedures ground
 *    it again at their very end, however they end).
 */
import type { Board, CellAddress, SafetyLimits } from '../../drivers/board.js';
import { checkCell, checkRead, checkResetPulse, checkSetPulse, onGrid, resetOnGrid, setOnGrid, tighten } from '../../drivers/limits.js';
import { AbortedError, BoardError, OutcomeUnknownError, ProtocolError, RramError, UnsupportedError } from '../../drivers/errors.js';
import type { Answer, CellOutcome, CellPlan, Command, WriteVerifyAnswer } from '../plans/commands.js';
import { checkWriteVerify, jobViolation, wvJob, wvOnGrid } from './write-verify-job.js';
import type { RunContext } from './run-context.js';
import type { CellResult } from './cell-ledger.js';
import type { PulseIntent } from './events.js';
import { READ_ATTEMPTS, unusableRead } from './readings.js';

export type { CellResult } from './cell-ledger.js';

export interface CellJob {
  cell: CellAddress;
  level: number;
  target_A: number;
  plan: () => CellPlan;
  /** The step of the run this job belongs to (a tile, a re-verify pass); default 'program'. */
  step?: string;
}

export interface EngineOptions {
  /** Cells programmed at once (commands in flight per round). Default 64. */
  concurrency?: number;
  /** User safety profile, applied on top of the board's own limits. */
  limits?: Partial<SafetyLimits>;
  /** Most pulses one cell may receive in this run. Default 1000. */
  pulseBudget?: number;
  signal?: AbortSignal;
  /** Emit a progress event at most this often (ms). Default 250. */
  progressEvery_ms?: number;
  phase?: string;
  /** What a pulse of unknown outcome does to its cell (see above). Default 're-verify'. */
  onUnknownOutcome?: 're-verify' | 'stop';
}

interface Active {
  job: CellJob;
  gen: CellPlan;
  next: IteratorResult<Command, CellOutcome>;
  pulses: number;
  /** Pulses sent whose outcome is unknown. */
  unknown: number;
}

const stepOf = (j: CellJob) => (j.step && j.step !== 'program' ? { step: j.step } : {});

export class RunEngine {
  constructor(
    private readonly board: Board,
    private readonly ctx: RunContext,
  ) {}

  /** Programs every job; returns the finished cells' results. Throws AbortedError after a clean stop. */
  async runCells(jobs: CellJob[], opts: EngineOptions = {}): Promise<CellResult[]> {
    const info = this.board.info();
    const limits = tighten(info.limits, opts.limits ?? {});
    const concurrency = Math.max(1, opts.concurrency ?? 64);
    const budget = opts.pulseBudget ?? 1000;
    const every = opts.progressEvery_ms ?? 250;
    const policy = opts.onUnknownOutcome ?? 're-verify';
    for (const j of jobs) checkCell(info, j.cell);
    const results: CellResult[] = [];
    const queue = jobs.slice().reverse();
    const active: Active[] = [];
    const start = Date.now();
    let lastProgress = 0;
    const total = jobs.length;
    const progress = (force: boolean) => {
      const now = Date.now();
      if (!force && now - lastProgress < every) return;
      lastProgress = now;
      const el = (now - start) / 1000;
      const rate = el > 0 ? results.length / el : 0;
      this.ctx.emit({ type: 'progress', done: results.length, total, rate_per_s: rate, eta_s: rate > 0 ? (total - results.length) / rate : null, phase: opts.phase ?? 'program' });
    };
    let finishedThisRound = 0;
    const finish = (a: Active, outcome: CellOutcome) => {
      const o = a.unknown ? { ...outcome, unknownPulses: a.unknown } : outcome;
      const e: CellResult = { cell: a.job.cell, level: a.job.level, target_A: a.job.target_A, outcome: o, ...stepOf(a.job) };
      results.push(e);
      finishedThisRound++;
      this.ctx.emit({ type: 'cell-done', ...e });
    };
    const grid = (c: Command): Command =>
      c.op === 'read' ? { ...c, vread_V: onGrid(c.vread_V, info.dacStep_V) } : c.op === 'reset' ? { ...c, ...resetOnGrid(c, info.dacStep_V) } : c.op === 'write-verify' ? wvOnGrid(c, info.dacStep_V) : { ...c, ...setOnGrid(c, info.dacStep_V) };
    let lastYield = performance.now();
    try {
      for (;;) {
        // An in-process board answers in microtasks, which would starve timers and I/O (a
        // hosting server's live stream, abort requests): give the event loop a turn every ~20 ms.
        if (performance.now() - lastYield > 20) {
          await new Promise((r) => setImmediate(r));
          lastYield = performance.now();
        }
        if (opts.signal?.aborted) throw new AbortedError();
        while (active.length < concurrency && queue.length) {
          const job = queue.pop()!;
          const gen = job.plan();
          active.push({ job, gen, next: gen.next(), pulses: 0, unknown: 0 });
        }
        if (!active.length) break;
        finishedThisRound = 0;
        // Put this round's commands on the DAC grid and validate them before anything is sent.
        const intents: PulseIntent[] = [];
        for (let k = active.length - 1; k >= 0; k--) {
          const a = active[k];
          if (a.next.done) continue;
          let c = grid(a.next.value);
          // An on-board job may not apply more pulses than the cell's budget has left.
          if (c.op === 'write-verify') c = { ...c, maxPulses: Math.max(0, Math.min(c.maxPulses, budget - a.pulses)) };
          a.next = { done: false, value: c };
          // A plan asking for WRITE_VERIFY on a board without it is a setup error: stop before the intent.
          if (c.op === 'write-verify' && !(this.board.writeVerify && info.features?.writeVerify)) throw new UnsupportedError('on-board write-verify (WRITE_VERIFY)');
          try {
            if (c.op === 'read') checkRead(limits, c.vread_V);
            else if (c.op === 'reset') checkResetPulse(limits, c);
            else if (c.op === 'write-verify') checkWriteVerify(limits, c);
            else checkSetPulse(limits, c);
          } catch (err) {
            if (!(err instanceof RramError)) throw err;
            this.ctx.emit({ type: 'warning', code: 'limit', message: `not sent: ${err.message}`, cell: a.job.cell });
            finish(a, { status: 'limit', pulses: a.pulses, reads: 0, final_A: NaN, finalStepped_V: NaN, note: `limit: ${err.message}` });
            active.splice(k, 1);
            continue;
          }
          if (c.op !== 'read' && a.pulses < budget) intents.push(this.intent(a, c));
        }
        // Write-ahead: the round's pulses are in the record before any of them leaves.
        if (intents.length) {
          this.ctx.emit({ type: 'intent', pulses: intents });
          this.ctx.commit(false);
        }
        const answers = await Promise.allSettled(active.map((a) => this.step(a, budget, policy)));
        let fatal: unknown;
        for (let k = active.length - 1; k >= 0; k--) {
          const a = active[k];
          const r = answers[k];
          if (r.status === 'rejected') {
            const err = r.reason;
            if (err instanceof OutcomeUnknownError) {
              // policy 'stop', or the plan could not re-verify: the cell's state is unknown.
              finish(a, { status: 'unknown', pulses: a.pulses, reads: 0, final_A: NaN, finalStepped_V: NaN, note: err.message });
              active.splice(k, 1);
              continue;
            }
            fatal ??= err;
            continue;
          }
          if (a.next.done) {
            finish(a, a.next.value);
            active.splice(k, 1);
          }
        }
        // The round's results: written always, fsync'd when cells finished (their cell-done is what a resume trusts).
        this.ctx.commit(finishedThisRound > 0);
        if (fatal !== undefined) throw fatal;
        progress(false);
        // Everything of the round is stored: a paused station queue holds the run here.
        if (active.length || queue.length) await this.ctx.checkpoint();
      }
      progress(true);
      return results;
    } catch (e) {
      // Whatever stopped us: what finished is in the record, the lines are grounded, the error is
      // kept (a store that cannot write any more still lets the lines be grounded; the job reports it).
      try {
        this.ctx.commit(true);
      } catch {
        // the store sink holds its failure; runJob ends the run with it
      }
      await this.board.ground().catch(() => undefined);
      throw e;
    }
  }

  private intent(a: Active, c: Exclude<Command, { op: 'read' }>): PulseIntent {
    const p =
      c.op === 'reset'
        ? { kind: 'reset' as const, vte_V: 0, vsl_V: c.vsl_V, vg_V: c.vg_V, width_s: c.width_s }
        : c.op === 'write-verify'
          ? { kind: 'write-verify' as const, vte_V: c.vte_V, vsl_V: 0, vg_V: c.vgStart_V, width_s: c.width_s, onboard: { target_A: c.target_A, vgStart_V: c.vgStart_V, vgStep_V: c.vgStep_V, vgStop_V: c.vgStop_V, maxPulses: c.maxPulses, vread_V: c.vread_V } }
          : { kind: c.op, vte_V: c.vte_V, vsl_V: 0, vg_V: c.vg_V, width_s: c.width_s };
    return { cell: a.job.cell, ...p, level: a.job.level, ...stepOf(a.job) };
  }

  /** Sends the cell's current command, feeds the answer back to its plan. */
  private async step(a: Active, budget: number, policy: 're-verify' | 'stop'): Promise<void> {
    if (a.next.done) return;
    const c = a.next.value;
    const cell = a.job.cell;
    let answer: Answer;
    if (c.op === 'read') {
      answer = await this.usableRead(a, c.vread_V);
      if (answer === undefined) return;
    } else {
      if (a.pulses >= budget || (c.op === 'write-verify' && c.maxPulses < 1)) {
        a.next = { done: true, value: { status: 'budget', pulses: a.pulses, reads: 0, final_A: NaN, finalStepped_V: NaN, note: `pulse budget ${budget} exhausted` } };
        return;
      }
      const ev = this.intent(a, c);
      // A job of unknown outcome may have applied its maxPulses: counted so against the budget.
      const most = c.op === 'write-verify' ? c.maxPulses : 1;
      a.pulses += most;
      try {
        if (c.op === 'write-verify') {
          const s = await this.board.writeVerify!(cell, wvJob(c));
          a.pulses += s.pulses - most;
          answer = s;
          this.ctx.emit({ type: 'pulse', ...ev, onboard: { ...ev.onboard!, pulses: s.pulses, success: s.success, final_A: s.final_A, finalStepped_V: s.finalStepped_V } });
        } else {
          if (c.op === 'reset') await this.board.reset(cell, c);
          else await (c.op === 'form' ? this.board.form(cell, c) : this.board.set(cell, c));
          this.ctx.emit({ type: 'pulse', ...ev });
        }
      } catch (err) {
        if (err instanceof BoardError || (err instanceof RramError && (err.code === 'LIMIT' || err.code === 'ADDRESS'))) {
          // Refused (no effect): recorded so, then the run stops (the host's checks and the board disagree).
          a.pulses -= most;
          this.ctx.emit({ type: 'pulse', ...ev, outcome: 'refused' });
          throw err;
        }
        if (!(err instanceof OutcomeUnknownError)) {
          this.ctx.emit({ type: 'pulse', ...ev, outcome: 'unknown' });
          throw err;
        }
        a.unknown += most;
        this.ctx.emit({ type: 'pulse', ...ev, outcome: 'unknown' });
        this.ctx.emit({ type: 'warning', code: 'outcome-unknown', message: err.message, cell });
        if (policy === 'stop') throw err;
        a.next = a.gen.next(undefined);
        // Only a plan that reads the cell next can go on from the measured state.
        if (!a.next.done && a.next.value.op !== 'read') throw err;
        return;
      }
    }
    if (c.op === 'write-verify') {
      // The board's summary (recorded as it came) must be a run of the job as sent; one that is not stops the run.
      const broken = jobViolation(c, answer as WriteVerifyAnswer, this.board.info().dacStep_V);
      if (broken) throw new ProtocolError(`board broke WRITE_VERIFY on cell ${cell.array}:${cell.row},${cell.col}: ${broken}`);
      // A last current no cell gives is never fed to the plan: the cell is read instead (unusable reads end it 'unreadable').
      const s = answer as WriteVerifyAnswer;
      if (unusableRead(s.final_A) !== undefined) {
        const v = await this.usableRead(a, c.vread_V);
        if (v === undefined) return;
        answer = { ...s, final_A: v };
      }
    }
    a.next = a.gen.next(answer!);
  }

  /**
   * A read the plan may use, or undefined after READ_ATTEMPTS unusable ones (the cell is then
   * ended 'unreadable'). Every attempt is recorded; an unusable one with no value and why.
   */
  private async usableRead(a: Active, vread_V: number): Promise<number | undefined> {
    const cell = a.job.cell;
    let why = '';
    for (let k = 0; k < READ_ATTEMPTS; k++) {
      let v: number | undefined;
      try {
        v = await this.board.read(cell, { vread_V });
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        why = `malformed reply: ${err.message}`;
      }
      if (v !== undefined) why = unusableRead(v) ?? '';
      this.ctx.emit({ type: 'read', cell, vread_V, current_A: why ? null : v!, phase: 'verify', level: a.job.level, ...stepOf(a.job), ...(why ? { unusable: why } : {}) });
      if (!why) return v;
    }
    this.ctx.emit({ type: 'warning', code: 'unreadable', message: `cell ${cell.array}:${cell.row},${cell.col}: ${READ_ATTEMPTS} reads unusable (${why}); no further pulse`, cell });
    a.next = { done: true, value: { status: 'unreadable', pulses: a.pulses, reads: READ_ATTEMPTS, final_A: NaN, finalStepped_V: NaN, note: `reads unusable: ${why}` } };
    return undefined;
  }
}
