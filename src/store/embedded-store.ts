/**
 * The embedded store: plain files, one folder per run.
 *   runs/<id>/run.json        what the run was (kind, params, board, calibration, status, counts)
 *   runs/<id>/events.ndjson   every event, one JSON object a line, appended in batches + fsync
 *   runs/<id>/journal.ndjson  finished cells (the engine's resume journal)
 *   runs/<id>/<result>.json   result files (level-cdf.json, inference.json, ...)
 * Append-only lines survive a crash up to the last flushed batch; nothing needs a native build.
 */
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Observable, Subscription } from 'rxjs';
import { InvalidArgumentError, RramError } from '../../drivers/errors.js';
import type { RunEvent, RunKind } from '../engine/events.js';

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
  constructor(readonly root: string) {
    mkdirSync(join(root, 'runs'), { recursive: true });
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
    const f = join(this.runDir(rec.id), 'run.json');
    writeFileSync(f + '.tmp', JSON.stringify(rec, null, 1));
    renameSync(f + '.tmp', f); // atomic: a crash never leaves half a run.json
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
    writeFileSync(f, JSON.stringify(data));
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

  journalPath(id: string): string {
    return join(this.runDir(id), 'journal.ndjson');
  }

  /** Stream a run's events through a filter (constant memory however large the run). */
  async *events(id: string, q: EventQuery = {}): AsyncGenerator<RunEvent> {
    const f = join(this.runDir(id), 'events.ndjson');
    if (!existsSync(f)) {
      this.getRun(id);
      return;
    }
    const rl = createInterface({ input: createReadStream(f), crlfDelay: Infinity });
    let skipped = 0;
    let given = 0;
    const limit = q.limit ?? Infinity;
    for await (const line of rl) {
      if (!line) continue;
      let e: RunEvent;
      try {
        e = JSON.parse(line) as RunEvent;
      } catch {
        continue; // torn last line after a crash
      }
      if (q.type && e.type !== q.type) continue;
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
      yield e;
    }
    rl.close();
  }
}

/**
 * Subscribes a run's event stream into the store: batches lines, appends + fsyncs off the
 * engine's path, keeps run.json's status and counts current.
 */
export class StoreSink {
  private buf: string[] = [];
  private fh?: Promise<FileHandle>;
  private writing: Promise<void> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private sub?: Subscription;
  private rec?: RunRecord;
  private readonly counts: Record<string, number> = {};
  written = 0;

  constructor(
    private readonly store: EmbeddedStore,
    private readonly runId: string,
    private readonly o: { flushEvery_ms?: number; batch?: number } = {},
  ) {}

  attach(events$: Observable<RunEvent>): this {
    this.sub = events$.subscribe({ next: (e) => this.onEvent(e) });
    return this;
  }

  private onEvent(e: RunEvent): void {
    if (e.runId !== this.runId) return;
    if (e.type === 'run-start') {
      this.rec = this.store.createRun(e.runId, e.kind, e.params);
      this.rec.board = e.board;
      this.rec.calibration = e.calibration;
      this.store.writeRun(this.rec);
      this.fh = open(join(this.store.runDir(e.runId), 'events.ndjson'), 'a');
    }
    this.counts[e.type] = (this.counts[e.type] ?? 0) + 1;
    this.buf.push(JSON.stringify(e));
    if (e.type === 'run-end') {
      if (this.rec) {
        this.rec.status = e.status;
        this.rec.ended = new Date(e.t).toISOString();
        this.rec.error = e.error;
      }
      void this.flush();
      return;
    }
    if (this.buf.length >= (this.o.batch ?? 5000)) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), this.o.flushEvery_ms ?? 200);
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const lines = this.buf;
    this.buf = [];
    this.writing = this.writing.then(async () => {
      if (!this.fh || !lines.length) return;
      const fh = await this.fh;
      await fh.appendFile(lines.join('\n') + '\n');
      await fh.sync();
      this.written += lines.length;
      if (this.rec) {
        // Merge with what is on disk (results saved meanwhile) and keep status/counts current.
        const disk = this.store.getRun(this.rec.id);
        this.rec.results = disk.results;
        this.rec.events = this.written;
        this.rec.counts = { ...this.counts };
        this.store.writeRun(this.rec);
      }
    });
    return this.writing;
  }

  async close(): Promise<void> {
    this.sub?.unsubscribe();
    await this.flush();
    if (this.fh) await (await this.fh).close();
  }
}
