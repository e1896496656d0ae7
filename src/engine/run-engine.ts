/**
 * The run engine: executes per-cell plans against any Board. Cells advance in lockstep rounds:
 * each round sends one command of every active cell at once (so a pipelined serial link is never
 * idle) and the board sees the same operation order whatever the link's timing, which keeps
 * in-process and serial runs identical for a seed. Limits and the per-cell pulse budget are
 * checked before a command is sent; abort stops at the next round and grounds the board.
 */
import type { Board, CellAddress, SafetyLimits } from '../../drivers/board.js';
import { checkCell, checkRead, checkResetPulse, checkSetPulse, tighten } from '../../drivers/limits.js';
import { AbortedError, OutcomeUnknownError, RramError } from '../../drivers/errors.js';
import type { CellOutcome, CellPlan, Command } from '../plans/commands.js';
import type { RunContext } from './run-context.js';
import type { Journal, JournalEntry } from './journal.js';

export interface CellJob {
  cell: CellAddress;
  level: number;
  target_A: number;
  plan: () => CellPlan;
}

export interface EngineOptions {
  /** Cells programmed at once (commands in flight per round). Default 64. */
  concurrency?: number;
  /** User safety profile, applied on top of the board's own limits. */
  limits?: Partial<SafetyLimits>;
  /** Most pulses one cell may receive in this run. Default 1000. */
  pulseBudget?: number;
  signal?: AbortSignal;
  journal?: Journal;
  /** Emit a progress event at most this often (ms). Default 250. */
  progressEvery_ms?: number;
  phase?: string;
}

interface Active {
  job: CellJob;
  gen: CellPlan;
  next: IteratorResult<Command, CellOutcome>;
  pulses: number;
}

export class RunEngine {
  constructor(
    private readonly board: Board,
    private readonly ctx: RunContext,
  ) {}

  /** Programs every job; returns the finished cells' entries. Throws AbortedError after a clean stop. */
  async runCells(jobs: CellJob[], opts: EngineOptions = {}): Promise<JournalEntry[]> {
    const info = this.board.info();
    const limits = tighten(info.limits, opts.limits ?? {});
    const concurrency = Math.max(1, opts.concurrency ?? 64);
    const budget = opts.pulseBudget ?? 1000;
    const every = opts.progressEvery_ms ?? 250;
    for (const j of jobs) checkCell(info, j.cell);
    const results: JournalEntry[] = [];
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
      this.ctx.emit({ type: 'progress', done: results.length, total, rate_per_s: rate, eta_s: rate > 0 ? (total - results.length) / rate : Infinity, phase: opts.phase ?? 'program' });
    };
    const finish = (a: Active, outcome: CellOutcome) => {
      const e: JournalEntry = { cell: a.job.cell, level: a.job.level, target_A: a.job.target_A, outcome };
      results.push(e);
      this.ctx.emit({ type: 'cell-done', ...e });
      return e;
    };
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
          active.push({ job, gen, next: gen.next(), pulses: 0 });
        }
        if (!active.length) break;
        const done: JournalEntry[] = [];
        // Validate this round's commands before anything is sent: a command beyond the limits
        // ends that cell's plan (it is reported, never sent).
        for (let k = active.length - 1; k >= 0; k--) {
          const a = active[k];
          if (a.next.done) continue;
          const c = a.next.value;
          try {
            if (c.op === 'read') checkRead(limits, c.vread_V);
            else if (c.op === 'reset') checkResetPulse(limits, c);
            else checkSetPulse(limits, c);
          } catch (err) {
            if (!(err instanceof RramError)) throw err;
            this.ctx.emit({ type: 'warning', message: `not sent: ${err.message}`, cell: a.job.cell });
            done.push(finish(a, { status: 'failed', pulses: a.pulses, reads: 0, final_A: NaN, finalStepped_V: NaN, note: `limit: ${err.message}` }));
            active.splice(k, 1);
          }
        }
        const answers = await Promise.allSettled(active.map((a) => this.step(a, budget)));
        for (let k = active.length - 1; k >= 0; k--) {
          const a = active[k];
          const r = answers[k];
          if (r.status === 'rejected') {
            const err = r.reason;
            if (err instanceof OutcomeUnknownError) {
              this.ctx.emit({ type: 'warning', message: err.message, cell: a.job.cell });
              done.push(finish(a, { status: 'unknown', pulses: a.pulses, reads: 0, final_A: NaN, finalStepped_V: NaN, note: err.message }));
              active.splice(k, 1);
              continue;
            }
            throw err;
          }
          if (a.next.done) {
            done.push(finish(a, a.next.value));
            active.splice(k, 1);
          }
        }
        opts.journal?.append(done);
        progress(false);
      }
      progress(true);
      return results;
    } catch (e) {
      // Whatever stopped us, leave the lines grounded; keep the original error.
      await this.board.ground().catch(() => undefined);
      throw e;
    }
  }

  /** Sends the cell's current command, feeds the answer back to its plan. */
  private async step(a: Active, budget: number): Promise<void> {
    if (a.next.done) return;
    const c = a.next.value;
    const cell = a.job.cell;
    let answer: number | undefined;
    if (c.op === 'read') {
      answer = await this.board.read(cell, { vread_V: c.vread_V });
      this.ctx.emit({ type: 'read', cell, vread_V: c.vread_V, current_A: answer, phase: 'verify', level: a.job.level });
    } else {
      if (a.pulses >= budget) {
        a.next = { done: true, value: { status: 'budget', pulses: a.pulses, reads: 0, final_A: NaN, finalStepped_V: NaN, note: `pulse budget ${budget} exhausted` } };
        return;
      }
      a.pulses++;
      if (c.op === 'reset') {
        await this.board.reset(cell, c);
        this.ctx.emit({ type: 'pulse', cell, kind: 'reset', vte_V: 0, vsl_V: c.vsl_V, vg_V: c.vg_V, width_s: c.width_s, level: a.job.level });
      } else {
        await (c.op === 'form' ? this.board.form(cell, c) : this.board.set(cell, c));
        this.ctx.emit({ type: 'pulse', cell, kind: c.op, vte_V: c.vte_V, vsl_V: 0, vg_V: c.vg_V, width_s: c.width_s, level: a.job.level });
      }
    }
    a.next = a.gen.next(answer);
  }
}
