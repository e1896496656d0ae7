/**
 * A station's down board brought back without a restart (docs/server.md "A board that is down"):
 * on request (POST /api/boards/:board/reconnect) and by a re-probe every few seconds while it is
 * down. An attempt reopens the board's link on the same port (a new session, HELLO; another board
 * answering there is refused and the board stays down naming it, never adopted), grounds its
 * lines (line-watch.ts), then lets its queue go on. Never while an item runs (the link gave up
 * under it: it ends at its next request), and nothing at all while the board is up: an up board
 * gets no HELLO from here.
 */
import { DisconnectedError, RramError, UnsupportedError } from '../../drivers/errors.js';
import { RECONNECTED, type WatchedBoard } from './line-watch.js';

/** How often a down board is tried again by default (rram serve --reprobe). */
export const DEFAULT_REPROBE_MS = 10000;

export interface ReconnectAttempt {
  /** When it started (ISO). */
  at: string;
  by: 'request' | 're-probe';
  ok: boolean;
  /** Why the board is still down (a different board answered, the port missing, no HELLO reply). */
  error?: string;
  ms: number;
}

/** The board's link as GET /api/boards and the queue view show it. */
export interface LinkView {
  /** 'ungrounded': the link back but the GROUND sent then not acknowledged (the queue still waits). */
  state: 'up' | 'down' | 'reconnecting' | 'ungrounded';
  /** Why it is down (or, ungrounded, why the GROUND failed). */
  down?: string;
  /** Seconds between re-probes while down; null: no re-probe (turned off, or a board not behind a link). */
  reprobe_s: number | null;
  lastAttempt?: ReconnectAttempt;
  /** The last re-probe's start (ISO), and the next one's while down. */
  lastReprobeAt?: string;
  nextReprobeAt?: string;
}

export interface RevivalOptions {
  boardId: string;
  watched: WatchedBoard;
  /** The queue's running item, if any: no attempt meanwhile. */
  running: () => string | undefined;
  /** Called after every attempt (the queue starts its head if the board is back). */
  after: () => void;
  /** Between re-probes (ms); 0: none. */
  every_ms: number;
  /** How long a requested reconnect retries a port absent or silent a moment (ms; default the link's reopen time). */
  within_ms?: number;
}

export class BoardRevival {
  private attempt?: Promise<ReconnectAttempt>;
  private timer?: NodeJS.Timeout;
  private nextAt?: number;
  private stopped = false;
  private last?: ReconnectAttempt;
  private lastReprobeAt?: string;
  /** Set when the link came back but the GROUND after it failed (why): the queue stays held until one is acknowledged. */
  private ungrounded?: string;
  private attemptBy?: ReconnectAttempt['by'];

  constructor(private readonly o: RevivalOptions) {}

  /** Only a board behind a link can go down and come back. */
  private get reconnectable(): boolean {
    return typeof this.o.watched.board.reconnect === 'function';
  }

  private down(): string | undefined {
    return this.o.watched.board.linkDown?.();
  }

  /** Starts the re-probe (a timer that keeps no process alive). */
  start(): this {
    if (this.o.every_ms > 0 && this.reconnectable) this.schedule();
    return this;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.nextAt = Date.now() + this.o.every_ms;
    // A timer's promise never rejects into the process (an unhandled rejection would end the station).
    this.timer = setTimeout(() => void this.reprobe().catch((e: unknown) => process.stderr.write(`rram serve: re-probe of board ${this.o.boardId} failed: ${(e as Error)?.message ?? String(e)}\n`)).finally(() => this.schedule()), this.o.every_ms);
    this.timer.unref();
  }

  /** What needs taking back: the link down, or back with its lines not grounded since. */
  private needed(): boolean {
    return !!this.down() || this.ungrounded !== undefined;
  }

  private async reprobe(): Promise<void> {
    if (this.stopped || !this.needed() || this.o.running() || this.attempt) return;
    // Given up because another host uses the board, or for a version or protocol error: a timer's
    // HELLO would end the other host's session (and its GROUND move the lines under it), or meet
    // the same firmware. Only a user's reconnect tries those.
    if (this.down() && this.o.watched.board.reprobeAllowed?.() === false) return;
    this.lastReprobeAt = new Date().toISOString();
    // One attempt: the next re-probe is the retry.
    await this.run('re-probe', 0);
  }

  /**
   * POST /api/boards/:board/reconnect: the board taken back now, or why not (DisconnectedError:
   * still down, naming why; BUSY: an item still runs). An up board is left alone.
   */
  async reconnect(): Promise<{ reconnected: boolean; attempt?: ReconnectAttempt }> {
    // A re-probe under way tries once: if it fails, this request gets its own attempt with its retries.
    if (this.attempt && this.attemptBy === 're-probe') await this.attempt;
    const a = this.attempt ?? this.begin();
    if (!a) return { reconnected: false };
    const r = await a;
    if (!r.ok) {
      if (this.ungrounded !== undefined && !this.down()) throw new DisconnectedError(`board ${this.o.boardId} answers again, but the GROUND sent then was not acknowledged (${this.ungrounded}): its queue waits until one is; reconnect again`);
      throw new DisconnectedError(`board ${this.o.boardId} is still down: ${r.error ?? 'no reason recorded'}`);
    }
    return { reconnected: true, attempt: r };
  }

  private begin(): Promise<ReconnectAttempt> | undefined {
    if (this.stopped) throw new DisconnectedError(`the station is stopping: board ${this.o.boardId} is not reconnected`);
    if (!this.needed()) return undefined;
    if (!this.reconnectable) throw new UnsupportedError('a reconnect (its link cannot be reopened)');
    const running = this.o.running();
    if (running) throw new RramError('BUSY', `board ${this.o.boardId}'s item ${running} still runs (its link gave up under it; it ends at its next request): reconnect once it has ended`, { runId: running });
    return this.run('request', this.o.within_ms);
  }

  private run(by: ReconnectAttempt['by'], within_ms: number | undefined): Promise<ReconnectAttempt> {
    const t0 = Date.now();
    const go = async (): Promise<ReconnectAttempt> => {
      let error: string | undefined;
      const linkWasDown = !!this.down();
      try {
        // The link down: reopened, then grounded (line-watch.ts); back but not grounded: the GROUND alone.
        if (linkWasDown) await this.o.watched.board.reconnect!({ within_ms });
        else await this.o.watched.ground(RECONNECTED);
      } catch (e) {
        error = (e as Error)?.message ?? String(e);
      }
      // The link back without an acknowledged GROUND: the lines are not known safe, the queue keeps waiting.
      this.ungrounded = !this.down() && error !== undefined ? error : undefined;
      return { at: new Date(t0).toISOString(), by, ok: error === undefined && !this.down(), ...(error !== undefined ? { error } : {}), ms: Date.now() - t0 };
    };
    const p = go().then((a) => {
      this.last = a;
      this.attempt = undefined;
      this.attemptBy = undefined;
      try {
        this.o.after();
      } catch (e) {
        // The queue's own bookkeeping (its saved file) failed: said, never a rejection out of a timer.
        process.stderr.write(`rram serve: board ${this.o.boardId}'s queue after a reconnect attempt: ${(e as Error)?.message ?? String(e)}\n`);
      }
      return a;
    });
    this.attempt = p;
    this.attemptBy = by;
    return p;
  }

  /** Why the queue may start nothing now: the board down, or being taken back (its lines not grounded yet). */
  held(): string | undefined {
    return this.down() ?? (this.attempt ? `board ${this.o.boardId} is being reconnected` : this.ungrounded !== undefined ? `board ${this.o.boardId} answers again but its lines are not grounded yet (${this.ungrounded})` : undefined);
  }

  /** What a refused job is told: what the station does by itself, and how to ask now. */
  hint(): string {
    const now = `to try now: POST /api/boards/${this.o.boardId}/reconnect (the dashboard's Reconnect, on the board queue card)`;
    if (!this.reconnectable || this.o.every_ms <= 0) return `the station does not try it again by itself (rram serve --reprobe 0); once the board answers, ${now}`;
    if (this.down() && this.o.watched.board.reprobeAllowed?.() === false) return `the station does not try it again by itself (another host using the board, or a version or protocol error: its HELLO would end the other host's session); once that is over, ${now}`;
    return `the station tries it again by itself every ${this.o.every_ms / 1000} s (a new session on the same port; only the same board is taken back) and its queue goes on then; ${now}`;
  }

  view(): LinkView {
    const down = this.down();
    const reprobing = this.reconnectable && this.o.every_ms > 0 && !this.stopped;
    const why = down ?? this.ungrounded;
    return {
      state: this.attempt ? 'reconnecting' : down ? 'down' : this.ungrounded !== undefined ? 'ungrounded' : 'up',
      ...(why !== undefined ? { down: why } : {}),
      reprobe_s: reprobing ? this.o.every_ms / 1000 : null,
      ...(this.last ? { lastAttempt: { ...this.last } } : {}),
      ...(this.lastReprobeAt ? { lastReprobeAt: this.lastReprobeAt } : {}),
      ...(why !== undefined && reprobing && this.nextAt ? { nextReprobeAt: new Date(this.nextAt).toISOString() } : {}),
    };
  }
}
