/**
 * InfluxDB 1.x sink. The engine only ever pushes into an in-memory buffer; a writer loop sends
 * batches of at most 5000 points. While the server is down (or slow), batches spill to files on
 * disk in order and are replayed in order when it returns; memory stays bounded by maxMemory.
 * The `influx` package (node-influx) handles the HTTP API and database creation.
 */
import { InfluxDB } from 'influx';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Observable, Subscription } from 'rxjs';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { RunEvent } from '../engine/events.js';
import { LineFormatter } from './influx-points.js';

export interface InfluxTarget {
  host: string;
  port: number;
  database: string;
}

export function parseInfluxUrl(url: string): InfluxTarget {
  const m = /^http:\/\/([^/:]+):(\d+)\/([A-Za-z0-9_-]+)\/?$/.exec(url);
  if (!m) throw new InvalidArgumentError('--influx', url, 'expected http://HOST:PORT/DB');
  const port = Number(m[2]);
  if (!(port >= 1 && port <= 65535)) throw new InvalidArgumentError('--influx', url, `port ${m[2]} is not a TCP port (1..65535)`);
  return { host: m[1], port, database: m[3] };
}

export interface InfluxSinkOptions extends InfluxTarget {
  spillDir: string;
  /** Points per write (InfluxDB 1.x likes 1000-10000). Default 5000. */
  batch?: number;
  /** Writes in flight at once: influxd parses concurrent writes on separate cores. Default 2. */
  concurrency?: number;
  /** Points kept in memory before spilling to disk (~200 B each). Default 250000: rides out a busy server's pauses (WAL snapshots) without a disk round trip. */
  maxMemory?: number;
  flushEvery_ms?: number;
  /** The writing station's name: a `station` tag on every point (`rram serve --name`). */
  station?: string;
}

/** A write the server refused: `retryable` false for malformed data (HTTP 400), which no retry fixes. */
export class InfluxWriteError extends Error {
  constructor(readonly status: number, message: string, readonly retryable: boolean) {
    super(message);
    this.name = 'InfluxWriteError';
  }
}

export class InfluxSink {
  readonly client: InfluxDB;
  private lines: string[] = [];
  private subs = new Set<Subscription>();
  private readonly fmt: LineFormatter;
  private loop?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private closing = false;
  private seg = 0;
  private rejectedFiles = 0;
  private backoff = 100;
  readonly stats = { written: 0, spilled: 0, failures: 0, batches: 0, rejected: 0 };
  /** Last write error, for diagnostics. */
  lastError = '';

  private constructor(private readonly o: InfluxSinkOptions) {
    this.fmt = new LineFormatter({ station: o.station });
    this.client = new InfluxDB({ host: o.host, port: o.port, database: o.database });
    mkdirSync(o.spillDir, { recursive: true });
    this.seg = this.segments().reduce((m, s) => Math.max(m, s), 0);
  }

  static async create(o: InfluxSinkOptions): Promise<InfluxSink> {
    const s = new InfluxSink(o);
    await s.ensureDatabase();
    if (s.segments().length) s.kick(); // points spilled by an earlier run go out first
    return s;
  }

  private async ensureDatabase(): Promise<void> {
    try {
      await this.client.createDatabase(this.o.database); // idempotent in InfluxDB 1.x
    } catch {
      /* server down: points spill and are replayed later */
    }
  }

  attach(events$: Observable<RunEvent>): this {
    this.subs.add(events$.subscribe((e) => this.onEvent(e)));
    return this;
  }

  /**
   * A per-job view of a long-lived sink (the dashboard server keeps one for all its jobs, so two
   * jobs never share a spill folder through two writers): closing it stops listening to that job
   * and flushes in the background instead of shutting the sink.
   */
  forJob(): { attach(events$: Observable<RunEvent>): void; close(): Promise<void> } {
    let sub: Subscription | undefined;
    return {
      attach: (events$) => {
        sub = events$.subscribe((e) => this.onEvent(e));
        this.subs.add(sub);
      },
      close: async () => {
        if (sub) this.subs.delete(sub);
        sub?.unsubscribe();
        this.kick();
      },
    };
  }

  private get batchSize(): number {
    return this.o.batch ?? 5000;
  }

  private onEvent(e: RunEvent): void {
    const line = this.fmt.format(e);
    if (line === undefined) return;
    this.lines.push(line);
    if (this.lines.length >= (this.o.maxMemory ?? 250000)) this.spill(this.lines.splice(0));
    if (this.lines.length >= this.batchSize) this.kick();
    else if (!this.timer) this.timer = setTimeout(() => this.kick(), this.o.flushEvery_ms ?? 250);
  }

  private segments(): number[] {
    if (!existsSync(this.o.spillDir)) return [];
    return readdirSync(this.o.spillDir)
      .map((f) => /^spill-(\d+)\.lp$/.exec(f))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  private spill(lines: string[]): void {
    if (!lines.length) return;
    if (!this.segments().length) this.seg++;
    appendFileSync(join(this.o.spillDir, `spill-${this.seg}.lp`), lines.join('\n') + '\n');
    this.stats.spilled += lines.length;
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.loop) this.loop = this.run().finally(() => (this.loop = undefined));
  }

  /** One batch; a batch the server calls malformed is kept on disk (rejected-N.lp), never retried. */
  private async send(batch: string[]): Promise<void> {
    try {
      await rawWrite(this.o, batch.join('\n'));
    } catch (e) {
      if (!(e instanceof InfluxWriteError) || e.retryable) throw e;
      writeFileSync(join(this.o.spillDir, `rejected-${Date.now()}-${this.rejectedFiles++}.lp`), batch.join('\n') + '\n');
      this.stats.rejected += batch.length;
      this.lastError = e.message;
      return;
    }
    this.stats.written += batch.length;
    this.stats.batches++;
  }

  /**
   * Sends `src` (consumed from the front, may grow meanwhile) with up to `concurrency` writes in
   * flight, full batches first; a partial batch only goes when nothing is in flight, so batches
   * stay large under load. On a failure the failed batches are handed to onFail in order.
   */
  private async pipeline(src: string[], onFail: (failed: string[]) => void): Promise<void> {
    const conc = Math.max(1, this.o.concurrency ?? 2);
    const inflight: { batch: string[]; done: Promise<void> }[] = [];
    while (src.length || inflight.length) {
      while (inflight.length < conc && (src.length >= this.batchSize || (src.length && !inflight.length))) {
        const batch = src.splice(0, this.batchSize);
        inflight.push({ batch, done: this.send(batch) });
      }
      try {
        await inflight[0].done;
        inflight.shift();
      } catch (e) {
        const settled = await Promise.allSettled(inflight.map((f) => f.done));
        onFail(inflight.filter((_, i) => settled[i].status === 'rejected').flatMap((f) => f.batch));
        throw e;
      }
    }
  }

  /** Writer loop: first drain spilled segments in order, then memory. */
  private async run(): Promise<void> {
    for (;;) {
      const segs = this.segments();
      try {
        if (segs.length) {
          const s = segs[0];
          // Rotate so new spills go to a later segment while this one is replayed.
          if (s === this.seg) this.seg++;
          const f = join(this.o.spillDir, `spill-${s}.lp`);
          // On failure the segment stays on disk; re-sent points overwrite themselves (same ts).
          await this.pipeline(readFileSync(f, 'utf8').split('\n').filter(Boolean), () => {});
          rmSync(f);
          this.backoff = 100;
          continue;
        }
        if (!this.lines.length) return;
        await this.pipeline(this.lines, (failed) => this.spill(failed));
        this.backoff = 100;
      } catch (e) {
        this.stats.failures++;
        this.lastError = (e as Error).message;
        // Server down or slow: everything waiting goes to disk (in order), retry with backoff.
        this.spill(this.lines.splice(0));
        if (e instanceof InfluxWriteError && e.status === 404) await this.ensureDatabase();
        if (this.closing && this.backoff > 4000) return;
        await new Promise((r) => setTimeout(r, this.backoff));
        this.backoff = Math.min(5000, this.backoff * 2);
      }
    }
  }

  get spillDir(): string {
    return this.o.spillDir;
  }

  /** Points waiting on disk for the server. */
  pendingOnDisk(): number {
    return this.segments().reduce((n, s) => n + readFileSync(join(this.o.spillDir, `spill-${s}.lp`), 'utf8').split('\n').filter(Boolean).length, 0);
  }

  /** Flush everything that can be flushed; what cannot stays spilled on disk for the next run. */
  async close(): Promise<void> {
    for (const sub of this.subs) sub.unsubscribe();
    this.subs.clear();
    this.closing = true;
    this.kick();
    await this.loop;
    this.spill(this.lines.splice(0));
    clearTimeout(this.timer);
  }

  /** Keep retrying until the spill is empty (tests, `rram influx-flush`). */
  async drain(timeout_ms = 30000): Promise<void> {
    const end = Date.now() + timeout_ms;
    this.closing = false;
    while (Date.now() < end) {
      this.kick();
      await this.loop;
      if (!this.lines.length && !this.segments().length) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function rawWrite(t: InfluxTarget, body: string): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`http://${t.host}:${t.port}/write?db=${encodeURIComponent(t.database)}&precision=n`, { method: 'POST', body, signal: AbortSignal.timeout(10000) });
  } catch (e) {
    // fetch says only "fetch failed"; the cause names what happened (ECONNREFUSED, timeout, ...).
    const c = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new InfluxWriteError(0, `InfluxDB at ${t.host}:${t.port} unreachable: ${c?.code ?? c?.message ?? (e as Error).message}`, true);
  }
  if (res.status === 204) return;
  const text = (await res.text()).slice(0, 500);
  // 400: unparsable points (a retry cannot help); 404: database missing; others: server trouble.
  throw new InfluxWriteError(res.status, `InfluxDB write: HTTP ${res.status} ${text}`, res.status !== 400);
}
