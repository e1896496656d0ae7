/**
 * A programming run's events recorded once, then replayed into a sink at a set rate (or as fast
 * as it takes them). Kept as NDJSON in one off-heap Buffer and parsed on replay: a million live
 * event objects would make every major GC walk them and measure the benchmark's heap instead of
 * the sink (parsing stands in for the engine creating each event).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Subject } from 'rxjs';
import type { Board } from '../drivers/board.js';
import type { RunEvent } from '../src/engine/events.js';
import { runJob } from '../src/jobs/run-job.js';
import { programArray } from '../src/procedures/program-array.js';
import { patternMap } from '../src/procedures/level-map.js';
import { EmbeddedStore, StoreSink } from '../src/store/embedded-store.js';
import { InfluxSink } from '../src/store/influx-sink.js';

const sleep = (ms: number) => new Promise((r) => (ms > 0 ? setTimeout(r, ms) : setImmediate(r)));

export class RecordedRun {
  private constructor(
    private readonly buf: Buffer,
    private readonly ends: Uint32Array,
    readonly runId: string,
  ) {}

  get count(): number {
    return this.ends.length;
  }

  static async record(board: Board): Promise<RecordedRun> {
    const parts: Buffer[] = [];
    const ends: number[] = [];
    let bytes = 0;
    let runId = '';
    const store = new EmbeddedStore(mkdtempSync(join(tmpdir(), 'bench-rec-')));
    await runJob({ store }, (ctx) => {
      runId = ctx.runId;
      ctx.events$.subscribe((e) => {
        const b = Buffer.from(JSON.stringify(e));
        parts.push(b);
        ends.push((bytes += b.length));
      });
      return programArray(board, ctx, { algo: 'igvva', levels: 8, array: 0, map: patternMap('random', 8, 64, 64, 1), mapName: 'random', engine: { concurrency: 64 } });
    });
    return new RecordedRun(Buffer.concat(parts), Uint32Array.from(ends), runId);
  }

  private event(k: number): RunEvent {
    return JSON.parse(this.buf.toString('utf8', k ? this.ends[k - 1] : 0, this.ends[k])) as RunEvent;
  }

  /**
   * Pushes every event, 1000 per macrotask, paced to `rate` events/s by the wall clock (Infinity:
   * as fast as possible). Returns the offered rate actually achieved.
   */
  private async feed(events$: Subject<RunEvent>, rate: number): Promise<number> {
    const t0 = performance.now();
    for (let i = 0; i < this.count; i += 1000) {
      for (let k = i; k < Math.min(i + 1000, this.count); k++) events$.next(this.event(k));
      await sleep(Number.isFinite(rate) ? t0 + ((i + 1000) / rate) * 1000 - performance.now() : 0);
    }
    return this.count / ((performance.now() - t0) / 1000);
  }

  async replayIntoStore(store: EmbeddedStore, rate = Infinity) {
    const events$ = new Subject<RunEvent>();
    const sink = new StoreSink(store, this.runId).attach(events$);
    const t0 = performance.now();
    const offered = await this.feed(events$, rate);
    await sink.close();
    const s = (performance.now() - t0) / 1000;
    return { events: this.count, offered_per_s: Math.round(offered), seconds_until_on_disk: +s.toFixed(2), events_per_s: Math.round(this.count / s), stored: store.getRun(this.runId).events };
  }

  async replayIntoInflux(port: number, concurrency: number, rate = Infinity) {
    const sink = await InfluxSink.create({ host: '127.0.0.1', port, database: 'bench', spillDir: mkdtempSync(join(tmpdir(), 'spill-')), concurrency });
    const events$ = new Subject<RunEvent>();
    sink.attach(events$);
    const t0 = performance.now();
    const offered = await this.feed(events$, rate);
    const fed_s = (performance.now() - t0) / 1000;
    await sink.drain(120000);
    await sink.close();
    const s = (performance.now() - t0) / 1000;
    return {
      concurrency,
      events: this.count,
      offered_per_s: Math.round(offered),
      lag_after_last_event_s: +(s - fed_s).toFixed(2),
      points_per_s: Math.round(sink.stats.written / s),
      written: sink.stats.written,
      spilled_to_disk_meanwhile: sink.stats.spilled,
      rss_MiB: Math.round(process.memoryUsage().rss / 2 ** 20),
    };
  }
}
