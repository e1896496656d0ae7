/**
 * The run engine: executes per-cell plans against any Board and keeps the link full. Up to
 * `concurrency` cells are active, each with at most one request in flight; a cell's next request
 * leaves as soon as its previous answer is handled, so a slow cell (a long on-board climb) holds
 * no other back, and a serial link always has requests queued within the board's window.
 *  - Order: answers are handled strictly in the order their requests were sent (one that arrives
 *    early waits for those before it), and a cell's next request (or, when it finished, the next
 *    cell's first) is queued where its answer was handled. So the board receives the same
 *    sequence of operations whatever the link's timing: in-process and serial runs stay identical
 *    for a seed, and src/calibrate/simulate.ts replays the same order without promises.
 *  - Batches: the answers already in are handled (their events emitted), the cells' next requests
 *    prepared, then one `intent` event lists the batch's pulses and one commit writes everything
 *    emitted (fsync'd when cells finished) before any of the batch's requests leaves
 *    (docs/formats.md, "The record"). A cell is done when its cell-done is in the record, and
 *    nowhere else.
 *  - Amplitudes are put on the board's DAC grid, then checked against the board's and the user's
 *    limits and the cell's pulse budget before anything is sent; a command beyond them ends that
 *    cell ('limit'), it is never sent.
 *  - A pulse whose outcome is unknown (link lost, board rebooted) is recorded as such; with the
 *    default policy 're-verify' the cell's plan goes on, and since every plan reads the cell
 *    after a pulse before deciding anything, it continues from the measured state. Policy 'stop'
 *    ends the cell as 'unknown' instead. Unusable reads: cell-requests.ts.
 *  - Abort or an error: nothing more is sent; the requests in flight are awaited and recorded
 *    (cells they finish are done), the record committed, the board grounded, then it throws
 *    (procedures ground the board again at their very end, however they end).
 */
import type { Board, BoardInfo, CellAddress, SafetyLimits } from '../../drivers/board.js';
import { checkCell, checkRead, checkResetPulse, checkSetPulse, onGrid, resetOnGrid, setOnGrid, tighten } from '../../drivers/limits.js';
import { AbortedError, RramError, UnsupportedError } from '../../drivers/errors.js';
import type { CellOutcome, CellPlan, Command } from '../plans/commands.js';
import { checkWriteVerify, wvOnGrid } from './write-verify-job.js';
import type { RunContext } from './run-context.js';
import type { CellResult } from './cell-ledger.js';
import { CellRequests, intentOf, stepOf, type Active, type InFlight } from './cell-requests.js';

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
  /** Cells programmed at once (each with at most one request in flight). Default 64. */
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

/** A batch waits for this many answers while more than KEEP_OUT requests are still out. */
const GATHER = 8;
const KEEP_OUT = 16;

export class RunEngine {
  constructor(
    private readonly board: Board,
    private readonly ctx: RunContext,
  ) {}

  /** Programs every job; returns the finished cells' results. Throws AbortedError after a clean stop. */
  async runCells(jobs: CellJob[], opts: EngineOptions = {}): Promise<CellResult[]> {
    const info = this.board.info();
    for (const j of jobs) checkCell(info, j.cell);
    try {
      return await new CellStream(this.board, info, this.ctx, jobs, opts).run();
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
}

/** One runCells call: the active cells, the requests in flight (in send order) and the batch being prepared. */
class CellStream {
  private readonly queue: CellJob[];
  private readonly results: CellResult[] = [];
  private readonly limits: SafetyLimits;
  private readonly req: CellRequests;
  private readonly inFlight: InFlight[] = [];
  private toSend: Active[] = [];
  private live = 0;
  /** Cells finished since the last commit (their cell-done is made durable with it). */
  private finished = 0;
  private readonly start = Date.now();
  private lastProgress = 0;

  constructor(
    private readonly board: Board,
    private readonly info: BoardInfo,
    private readonly ctx: RunContext,
    private readonly jobs: CellJob[],
    private readonly o: EngineOptions,
  ) {
    this.queue = jobs.slice().reverse();
    this.limits = tighten(info.limits, o.limits ?? {});
    this.req = new CellRequests(board, ctx, o.onUnknownOutcome ?? 're-verify', info.dacStep_V);
  }

  private get concurrency(): number {
    return Math.max(1, this.o.concurrency ?? 64);
  }

  private get budget(): number {
    return this.o.pulseBudget ?? 1000;
  }

  async run(): Promise<CellResult[]> {
    if (this.o.signal?.aborted) throw new AbortedError();
    this.admit();
    this.dispatch();
    let lastYield = performance.now();
    while (this.inFlight.length) {
      await this.inFlight[0].done;
      // Over a link answers trickle in: while plenty of requests are still out (the board has work
      // queued), a few more are awaited so that one batch (one commit, one intent) serves several.
      for (let k = this.answered(); k < GATHER && this.inFlight.length - k > KEEP_OUT; k = this.answered()) await this.inFlight[k].done;
      // Answers already on their way (an in-process board's, the rest of a reply chunk) join this
      // batch; an in-process board answers in microtasks, which would starve timers and I/O (a
      // hosting server's live stream, abort requests): the event loop gets a turn at least every ~20 ms.
      if ((this.inFlight.length > 1 && !this.inFlight[1].settled) || performance.now() - lastYield > 20) {
        await new Promise((r) => setImmediate(r));
        lastYield = performance.now();
      }
      let fatal: unknown;
      while (this.inFlight[0]?.settled) {
        const f = this.inFlight.shift()!;
        try {
          this.req.handle(f);
          this.prepare(f.a);
          this.admit();
        } catch (err) {
          fatal = err;
          break;
        }
      }
      if (fatal !== undefined) await this.drain(fatal);
      if (this.o.signal?.aborted) await this.drain(new AbortedError());
      if (this.ctx.holdRequested()) {
        await this.quiesce();
        if (this.o.signal?.aborted) await this.drain(new AbortedError());
      }
      // (The last batch sends nothing: its commit writes the last results.)
      this.dispatch();
      this.progress(false);
    }
    this.progress(true);
    return this.results;
  }

  /** How many of the oldest requests in flight are answered (the prefix a batch may handle). */
  private answered(): number {
    let k = 0;
    while (this.inFlight[k]?.settled) k++;
    return k;
  }

  /** Takes new cells while there is room; each one's first request joins the batch (or it ends at once). */
  private admit(): void {
    while (this.live < this.concurrency && this.queue.length) {
      const job = this.queue.pop()!;
      const gen = job.plan();
      this.live++;
      this.prepare({ job, gen, next: gen.next(), pulses: 0, unknown: 0 });
    }
  }

  /** The cell's next request joins the batch, or the cell ends: its plan returned, a limit, its budget. */
  private prepare(a: Active): void {
    if (a.reread) {
      this.toSend.push(a);
      return;
    }
    if (a.next.done) return this.finish(a, a.next.value);
    let c = grid(a.next.value, this.info.dacStep_V);
    // An on-board job may not apply more pulses than the cell's budget has left.
    if (c.op === 'write-verify') c = { ...c, maxPulses: Math.max(0, Math.min(c.maxPulses, this.budget - a.pulses)) };
    a.next = { done: false, value: c };
    // A plan asking for WRITE_VERIFY on a board without it is a setup error: stop before the intent.
    if (c.op === 'write-verify' && !(this.board.writeVerify && this.info.features?.writeVerify)) throw new UnsupportedError('on-board write-verify (WRITE_VERIFY)');
    try {
      if (c.op === 'read') checkRead(this.limits, c.vread_V);
      else if (c.op === 'reset') checkResetPulse(this.limits, c);
      else if (c.op === 'write-verify') checkWriteVerify(this.limits, c);
      else checkSetPulse(this.limits, c);
    } catch (err) {
      if (!(err instanceof RramError)) throw err;
      this.ctx.emit({ type: 'warning', code: 'limit', message: `not sent: ${err.message}`, cell: a.job.cell });
      return this.finish(a, { status: 'limit', pulses: a.pulses, reads: 0, final_A: NaN, finalStepped_V: NaN, note: `limit: ${err.message}` });
    }
    if (c.op !== 'read' && (a.pulses >= this.budget || (c.op === 'write-verify' && c.maxPulses < 1)))
      return this.finish(a, { status: 'budget', pulses: a.pulses, reads: 0, final_A: NaN, finalStepped_V: NaN, note: `pulse budget ${this.budget} exhausted` });
    this.toSend.push(a);
  }

  private finish(a: Active, outcome: CellOutcome): void {
    const o = a.unknown ? { ...outcome, unknownPulses: a.unknown } : outcome;
    const e: CellResult = { cell: a.job.cell, level: a.job.level, target_A: a.job.target_A, outcome: o, ...stepOf(a.job) };
    this.results.push(e);
    this.live--;
    this.finished++;
    this.ctx.emit({ type: 'cell-done', ...e });
  }

  /** Write-ahead, then send: the batch's pulses as one intent, one commit of all emitted so far, then the requests leave in order. */
  private dispatch(): void {
    const batch = this.toSend;
    this.toSend = [];
    const intents = [];
    for (const a of batch) if (!a.reread && !a.next.done && a.next.value.op !== 'read') intents.push(intentOf(a.job, a.next.value));
    if (intents.length) this.ctx.emit({ type: 'intent', pulses: intents });
    this.commit();
    for (const a of batch) this.inFlight.push(this.req.send(a));
  }

  /** Written always; fsync'd when cells finished (their cell-done is what a resume trusts). */
  private commit(): void {
    this.ctx.commit(this.finished > 0);
    this.finished = 0;
  }

  /**
   * A hold (a station's pause): nothing more is sent until every request in flight is answered
   * and recorded (their cells' next requests wait in the batch), the record is committed, and the
   * run's checkpoint has returned; the board is idle meanwhile. Then the waiting batch is sent.
   */
  private async quiesce(): Promise<void> {
    while (this.inFlight.length) {
      const f = this.inFlight.shift()!;
      await f.done;
      try {
        this.req.handle(f);
        this.prepare(f.a);
        this.admit();
      } catch (err) {
        await this.drain(err);
      }
    }
    this.commit();
    await this.ctx.checkpoint();
  }

  /** Sends nothing more: the requests in flight are awaited and recorded (their cells may finish), then `why` is thrown. */
  private async drain(why: unknown): Promise<never> {
    this.toSend = [];
    while (this.inFlight.length) {
      const f = this.inFlight.shift()!;
      await f.done;
      try {
        this.req.handle(f);
        if (!f.a.reread && f.a.next.done) this.finish(f.a, f.a.next.value);
      } catch {
        // the first error is the run's; this one's events are recorded
      }
    }
    this.commit();
    throw why;
  }

  private progress(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastProgress < (this.o.progressEvery_ms ?? 250)) return;
    this.lastProgress = now;
    const done = this.results.length;
    const total = this.jobs.length;
    const el = (now - this.start) / 1000;
    const rate = el > 0 ? done / el : 0;
    this.ctx.emit({ type: 'progress', done, total, rate_per_s: rate, eta_s: rate > 0 ? (total - done) / rate : null, phase: this.o.phase ?? 'program' });
  }
}

/** A command with its amplitudes on the board's DAC grid (the board rounds the same way). */
function grid(c: Command, dac_V: number): Command {
  if (c.op === 'read') return { ...c, vread_V: onGrid(c.vread_V, dac_V) };
  if (c.op === 'reset') return { ...c, ...resetOnGrid(c, dac_V) };
  return c.op === 'write-verify' ? wvOnGrid(c, dac_V) : { ...c, ...setOnGrid(c, dac_V) };
}
