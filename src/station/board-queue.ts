/**
 * One board's run queue (issue 29; after Bluesky's queueserver): add, move, remove, history,
 * pause at a checkpoint, resume, abort, halt, and a lock with a key. Runs of one board never
 * overlap: the queue starts its head only when nothing runs. Every operation is synchronous on the
 * queue's state (one JavaScript turn), so concurrent HTTP clients are serialized in the order the
 * server handles them; each accepted change bumps `rev`, and every answer - refusals included -
 * carries the `rev` it saw, so a client (and the tests) can replay the order the queue applied.
 */
import { RramError } from '../../drivers/errors.js';
import { createHash } from 'node:crypto';
import { PauseGate, type RunGate } from './pause-gate.js';
import type { QueueSnapshot } from './queue-file.js';

/** `interrupted`: it was running when the station died (kill -9, power): never re-run by itself (--resume is the user's choice). */
export type ItemState = 'queued' | 'running' | 'completed' | 'failed' | 'aborted' | 'removed' | 'interrupted';

export interface QueueItem<R = unknown> {
  /** The run id the item will have in the store (known from the moment it is added). */
  id: string;
  kind: string;
  request: R;
  /** Who added it (free text a client sends: user, host, `rram characterize` pid ...). */
  submitter?: string;
  state: ItemState;
  added: string;
  started?: string;
  ended?: string;
  error?: string;
  /** The error's code (INVALID_ARGUMENT, PORT, ...): a CLI following the item exits by it. */
  errorCode?: string;
  /** Set while a running item waits at a checkpoint (the queue is paused). */
  pausedAt?: string;
}

export interface Execution {
  signal: AbortSignal;
  /** Asked by the run between stored rounds: holds there while the queue is paused. */
  gate: RunGate;
}

export type Executor<R> = (item: QueueItem<R>, x: Execution) => Promise<{ status: 'completed' | 'failed' | 'aborted'; error?: string; code?: string }>;

export interface QueueView<R = unknown> {
  board: string;
  rev: number;
  paused: boolean;
  /** Halted: paused after an abort with every line grounded; `resume` clears it. */
  halted: boolean;
  lock: { locked: boolean; since?: string; note?: string };
  running: QueueItem<R> | null;
  queued: QueueItem<R>[];
}

export class QueueError extends RramError {
  constructor(code: 'LOCKED' | 'BUSY' | 'NOT_FOUND' | 'INVALID_ARGUMENT', message: string, rev: number, extra: Record<string, unknown> = {}) {
    super(code, message, { rev, ...extra });
  }
}

const HISTORY = 500;

const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex');

export class BoardQueue<R = unknown> {
  private rev = 0;
  private readonly items: QueueItem<R>[] = [];
  private running: { item: QueueItem<R>; ac: AbortController; done: Promise<void> } | null = null;
  private readonly done: QueueItem<R>[] = [];
  /** The lock's key as its SHA-256 (it is saved with the queue). */
  private lockHash?: string;
  private lockInfo: { since?: string; note?: string } = {};
  private halted = false;
  /** Paused by a user (pause, halt); the gate may also be closed by the station's own shutdown. */
  private userPaused = false;
  readonly gate = new PauseGate();
  /** Called after every change (the live stream of queue views, the station file). */
  onChange?: (v: QueueView<R>) => void;
  /**
   * Why no item may start now, beside a pause (the board down: the station's revival); the items
   * wait in their order and start at kick() once it is undefined again.
   */
  held?: () => string | undefined;
  /** Called after every accepted change with the queue to save (queue-file.ts). */
  onPersist?: (s: Omit<QueueSnapshot, 'format' | 'version' | 'boardKey'>) => void;

  constructor(
    readonly board: string,
    private readonly execute: Executor<R>,
    /** The batch an item belongs to (entries that run back to back, e.g. a wv-bench's), or undefined. */
    private readonly batchOf: (item: QueueItem<R>) => string | undefined = () => undefined,
  ) {}

  view(): QueueView<R> {
    return {
      board: this.board,
      rev: this.rev,
      paused: this.gate.paused,
      halted: this.halted,
      lock: { locked: this.lockHash !== undefined, ...this.lockInfo },
      running: this.running ? { ...this.running.item } : null,
      queued: this.items.map((i) => ({ ...i })),
    };
  }

  /** Finished and removed items, oldest first (the last 500). */
  history(): QueueItem<R>[] {
    return this.done.map((i) => ({ ...i }));
  }

  /** One item wherever it is (queued, running, finished or removed), with its place while queued. */
  item(id: string): (QueueItem<R> & { position?: number }) | undefined {
    const k = this.items.findIndex((i) => i.id === id);
    if (k >= 0) return { ...this.items[k], position: k };
    if (this.running?.item.id === id) return { ...this.running.item };
    // The newest of its ends: a resumed run's id is in the history once per time it ran.
    for (let k = this.done.length - 1; k >= 0; k--) if (this.done[k].id === id) return { ...this.done[k] };
    return undefined;
  }

  get revision(): number {
    return this.rev;
  }

  /** Refuses a change without the lock's key while the queue is locked. */
  private checkKey(key: string | undefined, what: string): void {
    if (this.lockHash !== undefined && (key === undefined || hashKey(key) !== this.lockHash)) throw new QueueError('LOCKED', `board ${this.board}'s queue is locked${this.lockInfo.note ? ` (${this.lockInfo.note})` : ''}: ${what} needs the lock's key (X-Rram-Lock)`, this.rev);
  }

  private changed(): number {
    this.rev++;
    this.onPersist?.(this.snapshot());
    this.onChange?.(this.view());
    return this.rev;
  }

  /** What is saved: the order, the running item, history, lock (its key's hash), pause and halt. */
  snapshot(): Omit<QueueSnapshot, 'format' | 'version' | 'boardKey'> {
    const copy = (i: QueueItem<R>) => ({ ...i, request: i.request as Record<string, unknown> });
    return { rev: this.rev, paused: this.userPaused, halted: this.halted, lock: { keyHash: this.lockHash, ...this.lockInfo }, running: this.running ? copy(this.running.item) : null, queued: this.items.map(copy), history: this.done.map(copy) };
  }

  /**
   * Takes back a saved queue (a station starting again), before anything runs. The item that was
   * running is marked interrupted in the history - never re-run by itself: re-running pulses
   * cells again; continuing it is the user's `--resume` - and the queue comes back paused then, so
   * nothing starts on a board left mid-run until someone resumes. `check` validates each queued
   * request (it throws naming the item).
   */
  restore(s: Omit<QueueSnapshot, 'format' | 'version' | 'boardKey'>, check: (item: QueueItem<R>) => R): void {
    if (this.running || this.items.length || this.done.length) throw new Error('restore() on a queue in use');
    this.done.push(...(s.history as QueueItem<R>[]));
    for (const i of s.queued as QueueItem<R>[]) this.items.push({ ...i, request: check(i) });
    this.rev = s.rev;
    this.halted = s.halted;
    this.lockHash = s.lock.keyHash;
    this.lockInfo = { since: s.lock.since, note: s.lock.note };
    this.userPaused = s.paused;
    if (s.running) {
      const r = s.running as QueueItem<R>;
      this.archive({ ...r, state: 'interrupted', ended: new Date().toISOString(), error: `the station stopped while this run ran: it is stored as it was left, not run again (--resume ${r.id} continues it, if you choose)`, pausedAt: undefined });
      this.userPaused = true;
    }
    if (this.userPaused) this.gate.pause();
    this.changed();
    this.pump();
  }


  private find(id: string): number {
    const k = this.items.findIndex((i) => i.id === id);
    if (k < 0) {
      if (this.running?.item.id === id) throw new QueueError('BUSY', `item ${id} is running: abort it instead`, this.rev, { id });
      throw new QueueError('NOT_FOUND', `no queued item ${id}`, this.rev, { id });
    }
    return k;
  }

  add(a: { id: string; kind: string; request: R; submitter?: string; position?: number }, key?: string): { item: QueueItem<R>; position: number; rev: number } {
    this.checkKey(key, 'adding');
    const position = a.position ?? this.items.length;
    if (!Number.isInteger(position) || position < 0 || position > this.items.length) throw new QueueError('INVALID_ARGUMENT', `position ${position}: must be an integer in 0..${this.items.length}`, this.rev, { field: 'position' });
    if (this.items.some((i) => i.id === a.id) || this.running?.item.id === a.id) throw new QueueError('INVALID_ARGUMENT', `item ${a.id} is already in the queue`, this.rev, { id: a.id });
    const item: QueueItem<R> = { id: a.id, kind: a.kind, request: a.request, submitter: a.submitter, state: 'queued', added: new Date().toISOString() };
    this.reorder([...this.items.slice(0, position), item, ...this.items.slice(position)], `item ${a.id} at position ${position}`);
    const rev = this.changed();
    this.pump();
    return { item: { ...item }, position: this.items.indexOf(item), rev };
  }

  /**
   * Moves an item; an entry of a batch moves its whole batch as one block (the entry named lands at
   * `position` where the block fits, else the block goes to that end of the queue). A place inside
   * a batch - between two of its entries, or before the next entry of a batch that has started - is
   * refused, naming the batch: its entries run back to back.
   */
  move(id: string, position: number, key?: string): { rev: number; order: string[] } {
    this.checkKey(key, 'moving');
    const k = this.find(id);
    if (!Number.isInteger(position) || position < 0 || position >= this.items.length) throw new QueueError('INVALID_ARGUMENT', `position ${position}: must be an integer in 0..${this.items.length - 1}`, this.rev, { field: 'position' });
    const b = this.batchOf(this.items[k]);
    const block = b === undefined ? [this.items[k]] : this.items.filter((i) => this.batchOf(i) === b);
    const rest = this.items.filter((i) => !block.includes(i));
    const at = Math.max(0, Math.min(rest.length, position - block.indexOf(this.items[k])));
    this.reorder([...rest.slice(0, at), ...block, ...rest.slice(at)], `${b === undefined ? '' : `batch ${b}, with `}item ${id} at position ${position}`);
    return { rev: this.changed(), order: this.items.map((i) => i.id) };
  }

  /** The batches `order` splits that the queue's order does not (the last item started counts as before the head). */
  private splitBatches(order: QueueItem<R>[]): string[] {
    const split = (list: QueueItem<R>[]) => {
      const seq = [this.running?.item ?? this.lastStarted(), ...list].map((i) => (i ? this.batchOf(i) : undefined));
      return new Set(seq.filter((x, n): x is string => x !== undefined && seq.indexOf(x) < n && seq[n - 1] !== x));
    };
    const before = split(this.items);
    return [...split(order)].filter((x) => !before.has(x));
  }

  /** The finished item that started last (runs never overlap: the newest in the history that started). */
  private lastStarted(): QueueItem<R> | undefined {
    for (let k = this.done.length - 1; k >= 0; k--) if (this.done[k].started !== undefined) return this.done[k];
    return undefined;
  }

  /** Takes `order` as the queue's, or refuses it (naming `what`) when it would split a batch. */
  private reorder(order: QueueItem<R>[], what: string): void {
    const [b] = this.splitBatches(order);
    if (b !== undefined) {
      const entries = [this.running?.item, ...this.done, ...this.items].filter((i) => i && this.batchOf(i) === b && i.state !== 'removed').map((i) => i!.id);
      throw new QueueError('INVALID_ARGUMENT', `${what} would come between the entries of batch ${b} (${[...new Set(entries)].join(', ')}), which run back to back: place it before or after the whole batch`, this.rev, { field: 'position', batch: b });
    }
    this.items.splice(0, this.items.length, ...order);
  }

  remove(id: string, key?: string): { rev: number; item: QueueItem<R> } {
    this.checkKey(key, 'removing');
    const [item] = this.items.splice(this.find(id), 1);
    item.state = 'removed';
    item.ended = new Date().toISOString();
    this.archive(item);
    return { rev: this.changed(), item: { ...item } };
  }

  /** No new item starts; the running one stops at its next checkpoint (the lines grounded there). */
  pause(key?: string): { rev: number } {
    this.checkKey(key, 'pausing');
    this.userPaused = true;
    this.gate.pause();
    return { rev: this.changed() };
  }

  resume(key?: string): { rev: number } {
    this.checkKey(key, 'resuming');
    this.halted = false;
    this.userPaused = false;
    this.gate.resume();
    if (this.running) delete this.running.item.pausedAt;
    const rev = this.changed();
    this.pump();
    return { rev };
  }

  /** Aborts the running item (given by id, or whichever runs); resolves once it has ended. */
  async abort(id: string | undefined, key?: string): Promise<{ rev: number; aborted: string | null }> {
    this.checkKey(key, 'aborting');
    const r = this.running;
    if (id !== undefined && r?.item.id !== id) {
      if (this.items.some((i) => i.id === id)) throw new QueueError('BUSY', `item ${id} has not started: remove it instead`, this.rev, { id });
      throw new QueueError('NOT_FOUND', `item ${id} is not running`, this.rev, { id });
    }
    if (!r) return { rev: this.rev, aborted: null };
    r.ac.abort();
    await r.done;
    return { rev: this.rev, aborted: r.item.id };
  }

  /**
   * Halt: pause, abort the running item, and ground every line (`ground` is the board's GROUND,
   * awaited after the run has stopped, so no operation of the run follows it).
   */
  async halt(ground: () => Promise<void>, key?: string): Promise<{ rev: number; aborted: string | null }> {
    this.checkKey(key, 'halting');
    this.halted = true;
    this.userPaused = true;
    this.gate.pause();
    this.changed();
    const r = this.running;
    r?.ac.abort();
    if (r) await r.done;
    await ground();
    return { rev: this.changed(), aborted: r?.item.id ?? null };
  }

  lock(key: string, note?: string): { rev: number } {
    if (this.lockHash !== undefined && this.lockHash !== hashKey(key)) throw new QueueError('LOCKED', `board ${this.board}'s queue is already locked${this.lockInfo.note ? ` (${this.lockInfo.note})` : ''}`, this.rev);
    this.lockHash = hashKey(key);
    this.lockInfo = { since: new Date().toISOString(), note };
    return { rev: this.changed() };
  }

  unlock(key: string): { rev: number } {
    if (this.lockHash === undefined) throw new QueueError('INVALID_ARGUMENT', `board ${this.board}'s queue is not locked`, this.rev);
    this.checkKey(key, 'unlocking');
    this.lockHash = undefined;
    this.lockInfo = {};
    return { rev: this.changed() };
  }

  /** The running item's id, if one runs. */
  get runningId(): string | undefined {
    return this.running?.item.id;
  }

  /** Starts the head if it may start now (the hold lifted: the board back). */
  kick(): void {
    this.pump();
  }

  /** Resolves when nothing runs (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running.done;
  }

  private archive(item: QueueItem<R>): void {
    this.done.push(item);
    if (this.done.length > HISTORY) this.done.shift();
  }

  /** Starts the head when nothing runs, the queue is not paused and nothing holds it (held). */
  private pump(): void {
    if (this.running || this.gate.paused || !this.items.length || this.held?.()) return;
    const item = this.items.shift()!;
    item.state = 'running';
    item.started = new Date().toISOString();
    const ac = new AbortController();
    const gate = this.gate.forRun(ac.signal, (at) => {
      if (at) item.pausedAt = at;
      else delete item.pausedAt;
      this.onChange?.(this.view());
    });
    const done = this.execute(item, { signal: ac.signal, gate })
      .catch((e: unknown) => ({ status: 'failed' as const, error: (e as Error)?.message ?? String(e), code: e instanceof RramError ? e.code : undefined }))
      .then((o) => {
        item.state = o.status;
        item.ended = new Date().toISOString();
        if (o.error) item.error = o.error;
        if (o.code) item.errorCode = o.code;
        delete item.pausedAt;
        this.running = null;
        this.archive(item);
        this.changed();
        this.pump();
      });
    this.running = { item, ac, done };
    this.changed();
  }
}
