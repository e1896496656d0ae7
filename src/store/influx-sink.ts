/**
 * InfluxDB 1.x sink. The engine only ever pushes into an in-memory buffer; a writer loop sends
 * batches of at most 5000 points. While the server is down (or slow), batches spill to files on
 * disk in order and are replayed in order when it returns; memory stays bounded by maxMemory.
 * The `influx` package (node-influx) handles the HTTP API and database creation.
 */
import { InfluxDB } from 'influx';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Observable, Subscription } from 'rxjs';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { RunEvent } from '../engine/events.js';
import { eventToPoint, toLine } from './influx-points.js';

export interface InfluxTarget {
  host: string;
  port: number;
  database: string;
}

export function parseInfluxUrl(url: string): InfluxTarget {
  const m = /^http:\/\/([^/:]+):(\d+)\/([A-Za-z0-9_-]+)\/?$/.exec(url);
  if (!m) throw new InvalidArgumentError('--influx', url, 'expected http://HOST:PORT/DB');
  return { host: m[1], port: Number(m[2]), database: m[3] };
}

export interface InfluxSinkOptions extends InfluxTarget {
  spillDir: string;
  /** Points per write (InfluxDB 1.x likes 1000-10000). Default 5000. */
  batch?: number;
  /** Points kept in memory before spilling to disk. Default 50000. */
  maxMemory?: number;
  flushEvery_ms?: number;
}

export class InfluxSink {
  readonly client: InfluxDB;
  private lines: string[] = [];
  private sub?: Subscription;
  private board = '';
  private algo = '';
  private loop?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private closing = false;
  private seg = 0;
  private backoff = 100;
  readonly stats = { written: 0, spilled: 0, failures: 0, batches: 0 };
  /** Last write error, for diagnostics. */
  lastError = '';

  private constructor(private readonly o: InfluxSinkOptions) {
    this.client = new InfluxDB({ host: o.host, port: o.port, database: o.database });
    mkdirSync(o.spillDir, { recursive: true });
    this.seg = this.segments().reduce((m, s) => Math.max(m, s), 0);
  }

  static async create(o: InfluxSinkOptions): Promise<InfluxSink> {
    const s = new InfluxSink(o);
    try {
      await s.client.createDatabase(o.database); // idempotent in InfluxDB 1.x
    } catch {
      /* server down: points spill and are replayed later */
    }
    return s;
  }

  attach(events$: Observable<RunEvent>): this {
    this.sub = events$.subscribe((e) => this.onEvent(e));
    return this;
  }

  private onEvent(e: RunEvent): void {
    if (e.type === 'run-start') {
      this.board = e.board.id;
      this.algo = String(e.params.algo ?? '');
    }
    this.lines.push(toLine(eventToPoint(e, { board: this.board, algo: this.algo })));
    if (this.lines.length >= (this.o.maxMemory ?? 50000)) this.spill(this.lines.splice(0));
    if (this.lines.length >= (this.o.batch ?? 5000)) this.kick();
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

  private async writeLines(lines: string[]): Promise<void> {
    const size = this.o.batch ?? 5000;
    for (let i = 0; i < lines.length; i += size) {
      await rawWrite(this.o, lines.slice(i, i + size).join('\n'));
      this.stats.written += Math.min(size, lines.length - i);
      this.stats.batches++;
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
          const lines = readFileSync(f, 'utf8').split('\n').filter(Boolean);
          await this.writeLines(lines);
          rmSync(f);
          this.backoff = 100;
          continue;
        }
        if (!this.lines.length) return;
        const batch = this.lines.splice(0, this.o.batch ?? 5000);
        try {
          await this.writeLines(batch);
          this.backoff = 100;
        } catch (e) {
          this.spill(batch);
          throw e;
        }
      } catch (e) {
        this.stats.failures++;
        this.lastError = (e as Error).message;
        // Server down or slow: everything waiting goes to disk (in order), retry with backoff.
        this.spill(this.lines.splice(0));
        if (this.closing && this.backoff > 4000) return;
        await new Promise((r) => setTimeout(r, this.backoff));
        this.backoff = Math.min(5000, this.backoff * 2);
      }
    }
  }

  /** Points not yet acknowledged by the server (memory + disk). */
  pendingOnDisk(): number {
    return this.segments().reduce((n, s) => n + readFileSync(join(this.o.spillDir, `spill-${s}.lp`), 'utf8').split('\n').filter(Boolean).length, 0);
  }

  /** Flush everything that can be flushed; what cannot stays spilled on disk for the next run. */
  async close(): Promise<void> {
    this.sub?.unsubscribe();
    this.closing = true;
    this.kick();
    await this.loop;
    this.spill(this.lines.splice(0));
    clearTimeout(this.timer);
  }

  /** Keep retrying until the spill is empty (tests, `rram influx-replay`). */
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
  const res = await fetch(`http://${t.host}:${t.port}/write?db=${encodeURIComponent(t.database)}&precision=n`, { method: 'POST', body, signal: AbortSignal.timeout(10000) });
  if (res.status !== 204) throw new Error(`InfluxDB write: HTTP ${res.status} ${await res.text()}`);
}
