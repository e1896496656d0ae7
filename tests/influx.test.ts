/** Against a real influxd (Debian package influxdb) started by the test on 127.0.0.1. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { InfluxSink } from '../src/store/influx-sink.js';
import { runJob } from '../src/jobs/run-job.js';
import { characterize } from '../src/procedures/characterize.js';
import { needTool } from './helpers/env.js';
import { Influxd } from './helpers/influxd.js';

const MEAS = ['pulse', 'read', 'cell_result', 'progress', 'warning', 'run', 'run_summary'];

async function countAll(d: Influxd, db: string, run: string): Promise<number> {
  return MEAS.reduce((n, m) => n + d.count(db, m, run), 0);
}

test('every event of a run arrives in InfluxDB as exactly one point', async (t) => {
  if (!needTool(t, 'influxd', 'influxdb') || !needTool(t, 'influx', 'influxdb-client')) return;
  const d = new Influxd();
  await d.start();
  try {
    const dir = mkdtempSync(join(tmpdir(), 'infl-'));
    const sink = await InfluxSink.create({ host: '127.0.0.1', port: d.port, database: 'rram', spillDir: join(dir, 'spill') });
    let events = 0;
    const out = await runJob({ store: new EmbeddedStore(dir), sinks: [sink] }, (ctx) => {
      ctx.events$.subscribe(() => events++);
      return characterize(new EmulatedBoard({ seed: 1 }), ctx, { algo: 'igvva', step_V: 0.1, levels: 4, cellsPerLevel: 32, reads: 2, relax_s: [], seed: 1 });
    });
    assert.equal(out.status, 'completed');
    assert.ok(sink.stats.batches >= 1 && sink.stats.written === events, `written ${sink.stats.written} of ${events}: ${JSON.stringify(sink.stats)}`);
    assert.equal(await countAll(d, 'rram', out.runId), events);
  } finally {
    await d.destroy();
  }
});

test('outage: influxd stopped mid-run and restarted, every point arrives exactly once', async (t) => {
  if (!needTool(t, 'influxd', 'influxdb') || !needTool(t, 'influx', 'influxdb-client')) return;
  const d = new Influxd();
  await d.start();
  try {
    const dir = mkdtempSync(join(tmpdir(), 'infl-'));
    const sink = await InfluxSink.create({ host: '127.0.0.1', port: d.port, database: 'rram', spillDir: join(dir, 'spill'), flushEvery_ms: 50 });
    let events = 0;
    let stopped = false;
    const out = await runJob({ store: new EmbeddedStore(dir), sinks: [sink] }, async (ctx) => {
      ctx.events$.subscribe((e) => {
        events++;
        if (!stopped && e.type === 'cell-done' && e.seq > 2000) {
          stopped = true;
          void d.stop();
        }
      });
      const board = new EmulatedBoard({ seed: 2 });
      const r = await characterize(board, ctx, { algo: 'igvva', step_V: 0.05, levels: 4, cellsPerLevel: 64, reads: 1, relax_s: [], seed: 2, engine: { concurrency: 4 } });
      await new Promise((res) => setTimeout(res, 500));
      return r;
    });
    assert.equal(out.status, 'completed');
    assert.ok(stopped);
    assert.ok(sink.stats.spilled > 0, 'points spilled to disk during the outage');
    await d.start();
    await sink.drain(30000);
    assert.equal(sink.pendingOnDisk(), 0);
    assert.equal(await countAll(d, 'rram', out.runId), events);
  } finally {
    await d.destroy();
  }
});
