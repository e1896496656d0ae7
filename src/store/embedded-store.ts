/**
 * The embedded store: plain files, one folder per run.
 *   runs/<id>/run.json        what the run was (kind, params, board, calibration, status, counts)
 *   runs/<id>/events.ndjson   every event, one JSON object a line, appended in batches + fsync;
 *                             gzipped into events.ndjson.gz when the run ends (event-files.ts)
 *   runs/<id>/<result>.json   result files (level-cdf.json, inference.json, ...)
 * Append-only lines survive a crash up to the last flushed batch; nothing needs a native build.
 */
import { appendFileSync, closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import type { Observable, Subscription } from 'rxjs';
import { InvalidArgumentError, RramError, StoreWriteError } from '../../drivers/errors.js';
import type { RunEvent, RunKind } from '../engine/events.js';
import { cutTornTail, lastCompleteLine } from '../../lib/files.js';
import { eventLines, eventsLayout, eventsTextSync, packEvents, unpackEventsSync } from './event-files.js';
import { RunCellsCollector, writeRunCells } from './board-history.js';
import type { RunMetadata } from '../io/schemas/run-metadata.js';

export interface RunRecord {
  id: string;
  kind: RunKind;
  status: 'running' | 'completed' | 'aborted' | 'failed' | 'interrupted';
  started: string;
  ended?: string;
  params: Record<string, unknown>;
  board?: unknown;
  calibration?: string;
  events: number;
  counts: Record<string, number>;
  results: string[];
  error?: string;
  /** Times the run was resumed after an interruption. */
  resumes?: number;
  /** The command's verdict beyond the run's status (e.g. success below --min-success). */
  verdict?: Record<string, unknown>;
  /** Arrays the run's events touched (HDF5 export writes one array a file). */
  arrays?: number[];
  /** Bytes of the packed event file, once the run ended. */
  eventsBytes?: number;
  /** When `rram runs prune` removed the events (results and run.json kept). */
  pruned?: string;
  /** Sample, wafer, die, device, operator, temperature, notes, tags (src/io/schemas/run-metadata.ts); editable afterwards. */
  metadata?: RunMetadata;
  /** When the run was archived: hidden from the history unless asked for, its files kept. */
  archived?: string;
  /** The process writing the run (set at its start and each resume): a run whose writer is alive is never deleted. */
  writer?: { pid: number; host: string };
}

export interface EventQuery {
  type?: RunEvent['type'];
  array?: number;
  row?: number;
  col?: number;
  level?: number;
  offset?: number;
  limit?: number;
}

/** Writes through a temporary file and a rename; a failed write leaves the old file and no temporary one. */
export function writeAtomic(f: string, text: string): void {
  try {
    writeFileSync(f + '.tmp', text);
    renameSync(f + '.tmp', f);
  } catch (e) {
    rmSync(f + '.tmp', { force: true });
    throw e;
  }
}

const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function checkRunId(id: string): string {
  if (typeof id !== 'string' || !RUN_ID.test(id)) throw new InvalidArgumentError('run', id, 'not a valid run id');
  return id;
}

export class NotFoundError extends RramError {
  constructor(what: string, id: string) {
    super('NOT_FOUND', `${what} ${id} not found`, { id });
  }
}

export class EmbeddedStore {
  /**
   * Pack ended runs in the background (the server: the board is free the moment a run ends);
   * a CLI process waits for the pack before it exits.
   */
  backgroundPack = false;
  private readonly packing = new Set<Promise<void>>();

  constructor(readonly root: string) {
    mkdirSync(join(root, 'runs'), { recursive: true });
  }

  /** Resolves when no pack is running (server shutdown, tests). */
  async idle(): Promise<void> {
    while (this.packing.size) await Promise.allSettled([...this.packing]);
  }

  runDir(id: string): string {
    return join(this.root, 'runs', checkRunId(id));
  }

  createRun(id: string, kind: RunKind, params: Record<string, unknown>): RunRecord {
    const dir = this.runDir(id);
    mkdirSync(dir, { recursive: true });
    const rec: RunRecord = { id, kind, status: 'running', started: new Date().toISOString(), params, events: 0, counts: {}, results: [] };
    this.writeRun(rec);
    return rec;
  }

  writeRun(rec: RunRecord): void {
    writeAtomic(join(this.runDir(rec.id), 'run.json'), JSON.stringify(rec, null, 1)); // a crash or a full disk never leaves half a run.json
  }

  getRun(id: string): RunRecord {
    const f = join(this.runDir(id), 'run.json');
    if (!existsSync(f)) throw new NotFoundError('run', id);
    const rec = JSON.parse(readFileSync(f, 'utf8')) as RunRecord;
    return rec;
  }

  listRuns(): RunRecord[] {
    const d = join(this.root, 'runs');
    return readdirSync(d)
      .filter((n) => RUN_ID.test(n) && existsSync(join(d, n, 'run.json')))
      .map((n) => this.getRun(n))
      .sort((a, b) => (a.started < b.started ? 1 : -1));
  }

  saveResult(id: string, name: string, data: unknown): string {
    if (!/^[a-z0-9-]+$/.test(name)) throw new InvalidArgumentError('result', name, 'bad result name');
    const f = join(this.runDir(id), `${name}.json`);
    writeAtomic(f, JSON.stringify(data));
    const rec = this.getRun(id);
    if (!rec.results.includes(name)) rec.results.push(name);
    this.writeRun(rec);
    return f;
  }

  loadResult<T>(id: string, name: string): T {
    if (!/^[a-z0-9-]+$/.test(name)) throw new InvalidArgumentError('result', name, 'bad result name');
    const f = join(this.runDir(id), `${name}.json`);
    if (!existsSync(f)) throw new NotFoundError(`result ${name} of run`, id);
    return JSON.parse(readFileSync(f, 'utf8')) as T;
  }

  /** Events per type as stored (every line starts with its type): run.json's counts, rebuilt after a crash. */
  recount(id: string): { events: number; counts: Record<string, number> } {
    const counts: Record<string, number> = {};
    let events = 0;
    const text = eventsTextSync(this.runDir(id), 'latin1');
    const re = /^\{"type":"([a-z-]+)"/gm;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      counts[m[1]] = (counts[m[1]] ?? 0) + 1;
      events++;
    }
    return { events, counts };
  }

  /** Seq of the last event stored for a run (-1 when none): where a resumed run continues. */
  lastSeq(id: string): number {
    const dir = this.runDir(id);
    let line: string | undefined;
    if (eventsLayout(dir) === 'packed') {
      const text = eventsTextSync(dir).trimEnd();
      line = text.slice(text.lastIndexOf('\n') + 1) || undefined;
    } else line = lastCompleteLine(join(dir, 'events.ndjson'));
    if (!line) return -1;
    try {
      return (JSON.parse(line) as RunEvent).seq;
    } catch {
      return -1;
    }
  }

  /** Stream a run's events through a filter (constant memory however large the run). */
  async *events(id: string, q: EventQuery = {}): AsyncGenerator<RunEvent> {
    for await (const batch of this.eventBatches(id, q)) yield* batch;
  }

  /** The same, a chunk of events at a time: for exports of millions of events (one await per chunk). */
  async *eventBatches(id: string, q: EventQuery = {}): AsyncGenerator<RunEvent[]> {
    const dir = this.runDir(id);
    if (eventsLayout(dir) === 'none') {
      this.getRun(id);
      return;
    }
    let skipped = 0;
    let given = 0;
    const limit = q.limit ?? Infinity;
    // A type filter is tested on the line's start ({"type":"..."), before parsing it.
    const prefix = q.type ? `{"type":"${q.type}"` : undefined;
    for await (const lines of eventLines(dir)) {
      const out: RunEvent[] = [];
      for (const line of lines) {
        if (prefix && !line.startsWith(prefix)) continue;
        let e: RunEvent;
        try {
          e = JSON.parse(line) as RunEvent;
        } catch {
          continue; // torn last line after a crash
        }
        const cell = 'cell' in e ? e.cell : undefined;
        if (q.array !== undefined && cell?.array !== q.array) continue;
        if (q.row !== undefined && cell?.row !== q.row) continue;
        if (q.col !== undefined && cell?.col !== q.col) continue;
        if (q.level !== undefined && (!('level' in e) || e.level !== q.level)) continue;
        if (skipped < (q.offset ?? 0)) {
          skipped++;
          continue;
        }
        if (given++ >= limit) break;
        out.push(e);
      }
      if (out.length) yield out;
      if (given > limit) return;
    }
  }

  track(p: Promise<unknown>): void {
    const q = p.then(() => undefined);
    this.packing.add(q);
    void q.finally(() => this.packing.delete(q));
  }

  /** Gzip an ended run's events (kept plain while it runs, so that every batch is durable at once). */
  async pack(id: string): Promise<void> {
    const rec = this.getRun(id);
    if (rec.status === 'running') return;
    const sizes = await packEvents(this.runDir(id));
    if (sizes) this.writeRun({ ...this.getRun(id), eventsBytes: sizes.packed });
  }
}

/**
 * Subscribes a run's event stream into the store: batches lines, appends them, keeps run.json's
 * status and counts current. Writes are synchronous so that a commit (the engine's, through
 * RunContext.commit) puts every earlier event in the file in order: written at once (a kill -9
 * loses nothing written), fsync'd when durable (every batch in which cells finished, every 200 ms, the end).
 * `beforeWrite` runs first: an in-process emulated board makes its cells' state durable there, so
 * no event is ever on disk before the board state it describes. A resumed run appends to the same
 * files and keeps counting.
 *
 * A failed write (a full disk, an I/O error) is a run outcome, never a crash (issue 25): the torn
 * append is cut off, a reserve file kept beside the run is released so that the batch, the run's
 * end and run.json still fit, and every later commit throws the StoreWriteError, which ends the
 * run `failed` with its message (resumable once space is freed). Nothing throws out of the
 * subscription or a timer (an rxjs subscriber's throw would be an uncaught exception in the server).
 */
export class StoreSink {
  /** Bytes set aside at a run's start so that its end can still be written on a full disk. */
  static RESERVE_BYTES = 1 << 20;
  private buf: string[] = [];
  private fd?: number;
  private timer?: NodeJS.Timeout;
  private sub?: Subscription;
  private rec?: RunRecord;
  private counts: Record<string, number> = {};
  private readonly arrays = new Set<number>();
  written = 0;
  /** The cells the run pulsed and programmed: `cells.json` at close (the board's history, board-history.ts). */
  private readonly cells = new RunCellsCollector();
  /** Runs before every write (see above). */
  beforeWrite?: (durable: boolean) => void;
  private unsynced = false;
  private recWritten = 0;
  /** The run's first or last event is in the buffer: run.json is written with it. */
  private final = false;
  /** The first write that failed: the run ends with it. */
  failure?: StoreWriteError;

  constructor(
    private readonly store: EmbeddedStore,
    private readonly runId: string,
    private readonly o: { flushEvery_ms?: number; batch?: number; metadata?: RunMetadata } = {},
  ) {}

  attach(events$: Observable<RunEvent>): this {
    this.sub = events$.subscribe({ next: (e) => this.onEvent(e) });
    return this;
  }

  private get reservePath(): string {
    return join(this.store.runDir(this.runId), '.reserve');
  }

  private onEvent(e: RunEvent): void {
    if (e.runId !== this.runId) return;
    this.cells.observe(e);
    try {
      if (e.type === 'run-start') this.open(e);
      else if (e.type === 'run-resume') this.reopen();
    } catch (err) {
      this.fail(err, this.store.runDir(this.runId));
    }
    this.counts[e.type] = (this.counts[e.type] ?? 0) + 1;
    const cell = 'cell' in e ? e.cell : undefined;
    if (cell && !this.arrays.has(cell.array)) this.arrays.add(cell.array);
    this.buf.push(JSON.stringify(e));
    // A run's first event defines it: durable at once, whatever happens to the process next.
    if (e.type === 'run-start' || e.type === 'run-resume' || e.type === 'run-end') {
      if (e.type === 'run-end' && this.rec) {
        this.rec.status = this.failure ? 'failed' : e.status;
        this.rec.ended = new Date(e.t).toISOString();
        this.rec.error = this.failure && e.status === 'completed' ? this.failure.message : e.error;
        if (e.summary?.verdict) this.rec.verdict = e.summary.verdict as Record<string, unknown>;
      }
      this.final = true;
      this.quietFlush();
      if (e.type !== 'run-end') this.final = false;
      return;
    }
    if (this.buf.length >= (this.o.batch ?? 5000)) this.quietFlush();
    else if (!this.timer) this.timer = setTimeout(() => this.quietFlush(), this.o.flushEvery_ms ?? 200);
  }

  private open(e: Extract<RunEvent, { type: 'run-start' }>): void {
    this.rec = this.store.createRun(e.runId, e.kind, e.params);
    this.rec.board = e.board;
    this.rec.calibration = e.calibration;
    if (this.o.metadata && Object.keys(this.o.metadata).length) this.rec.metadata = this.o.metadata;
    this.rec.writer = { pid: process.pid, host: hostname() };
    this.store.writeRun(this.rec);
    this.reserve();
    this.fd = openSync(join(this.store.runDir(e.runId), 'events.ndjson'), 'a');
  }

  private reopen(): void {
    const dir = this.store.runDir(this.runId);
    this.rec = this.store.getRun(this.runId);
    this.rec.status = 'running';
    this.rec.ended = undefined;
    this.rec.error = undefined;
    this.rec.resumes = (this.rec.resumes ?? 0) + 1;
    // Metadata given with the resume adds to (and corrects) the run's own.
    if (this.o.metadata && Object.keys(this.o.metadata).length) this.rec.metadata = { ...this.rec.metadata, ...this.o.metadata };
    this.rec.writer = { pid: process.pid, host: hostname() };
    this.rec.eventsBytes = undefined;
    unpackEventsSync(dir);
    rmSync(join(dir, 'cells.json'), { force: true });
    const f = join(dir, 'events.ndjson');
    cutTornTail(f);
    // run.json may lag the events after a crash: count what is really stored.
    const c = this.store.recount(this.runId);
    this.counts = c.counts;
    this.written = c.events;
    this.rec.events = c.events;
    this.rec.counts = { ...c.counts };
    this.store.writeRun(this.rec);
    this.reserve();
    this.fd = openSync(f, 'a');
  }

  private reserve(): void {
    writeFileSync(this.reservePath, Buffer.alloc(StoreSink.RESERVE_BYTES));
  }

  private release(): void {
    try {
      rmSync(this.reservePath, { force: true });
    } catch {
      // nothing more to free
    }
  }

  /** Records the first failure, frees the reserve; returns it (for commits, which must stop the run). */
  private fail(e: unknown, path: string): StoreWriteError {
    if (!this.failure) {
      this.failure = StoreWriteError.from(e, path);
      this.release();
    }
    return this.failure;
  }

  /** A flush that never throws (the subscription, the timer): a failure is kept for the next commit. */
  private quietFlush(durable = true): void {
    try {
      this.flushSync(durable);
    } catch {
      // this.failure holds it; the engine's next commit throws it and the run ends failed
    }
  }

  /**
   * Appends every buffered event (and fsyncs when `durable`), then updates run.json. After a
   * failed write the run's closing writes still go out (into the released reserve); any other
   * commit throws the failure, so that no pulse is sent whose intent cannot be recorded.
   */
  flushSync(durable = true): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.failure && !this.final) throw this.failure;
    try {
      this.write(durable);
    } catch (e) {
      const first = !this.failure;
      const f = this.fail(e, join(this.store.runDir(this.runId), 'events.ndjson'));
      // The first failure: the reserve is free now, so the batch that failed still gets in.
      if (first) {
        try {
          this.write(durable);
        } catch {
          // still no room: the events after the last durable batch are lost, the run is resumable
        }
      }
      throw f;
    }
    if (this.failure && !this.final) throw this.failure;
  }

  private write(durable: boolean): void {
    if (this.fd === undefined) return;
    this.beforeWrite?.(durable);
    if (this.buf.length) {
      const size = fstatSync(this.fd).size;
      try {
        appendFileSync(this.fd, this.buf.join('\n') + '\n');
        if (durable) fsyncSync(this.fd);
      } catch (e) {
        // A torn append would glue the next batch to half a line: cut it off, keep the batch.
        ftruncateSync(this.fd, size);
        throw e;
      }
      this.written += this.buf.length;
      this.buf = [];
      this.unsynced = !durable;
      if (!durable && !this.timer) this.timer = setTimeout(() => this.quietFlush(true), this.o.flushEvery_ms ?? 200);
    } else if (durable && this.unsynced) {
      fsyncSync(this.fd);
      this.unsynced = false;
    }
    // run.json follows at most once a second (and at the run's first and last event): its counts
    // are a summary, the events are the record (a resume recounts them).
    const now = Date.now();
    if (!durable || (!this.final && now - this.recWritten < 1000)) return;
    this.recWritten = now;
    if (this.rec) {
      // Merge with what is on disk (results saved, metadata edited meanwhile) and keep status/counts current.
      const disk = this.store.getRun(this.rec.id);
      this.rec.results = disk.results;
      this.rec.metadata = disk.metadata;
      this.rec.archived = disk.archived;
      this.rec.events = this.written;
      this.rec.counts = { ...this.counts };
      if (this.arrays.size) this.rec.arrays = [...new Set([...(this.rec.arrays ?? []), ...this.arrays])].sort((a, b) => a - b);
      this.store.writeRun(this.rec);
    }
  }

  /** Kept for callers that await a flush. */
  async flush(): Promise<void> {
    this.flushSync();
  }

  async close(): Promise<void> {
    this.sub?.unsubscribe();
    this.final = true;
    this.quietFlush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.release();
    if (this.failure) {
      // The events may lag the run's end: run.json says how it ended, with the error.
      this.markFailed();
      return;
    }
    // A resumed run's earlier attempts are in its events, not in this process: its file is rebuilt from them when asked for.
    const c = this.cells.toJSON();
    try {
      if (c && this.rec && !this.rec.resumes) writeRunCells(this.store, this.runId, c);
    } catch (e) {
      process.stderr.write(`rram: run ${this.runId}: ${StoreWriteError.from(e, this.store.runDir(this.runId)).message}; its cell list is rebuilt from the events when needed\n`);
    }
    // An ended run is packed; a failure to pack keeps the plain file (still complete and readable).
    if (this.rec && this.rec.status !== 'running') {
      const p = this.store.pack(this.runId).catch((e: Error) => process.stderr.write(`rram: events of run ${this.runId} kept unpacked: ${e.message}\n`));
      if (this.store.backgroundPack) this.store.track(p);
      else await p;
    }
  }

  /** run.json: failed, with the store's error (best effort: on a full disk even this may not fit). */
  private markFailed(): void {
    if (!this.rec) return;
    try {
      const disk = this.store.getRun(this.rec.id);
      this.store.writeRun({ ...disk, status: 'failed', ended: this.rec.ended ?? new Date().toISOString(), error: this.rec.error ?? this.failure!.message, events: this.written, counts: { ...this.counts } });
    } catch {
      // run.json stays "running": the run shows as interrupted and resumes the same way
    }
  }
}
