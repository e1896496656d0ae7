/** Against a real influxd (Debian package influxdb) started by the test on 127.0.0.1. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { InfluxSink } from '../src/store/influx-sink.js';
import { LineFormatter } from '../src/store/influx-points.js';
import { runJob } from '../src/jobs/run-job.js';
import { characterize } from '../src/procedures/characterize.js';
import { needTool } from './helpers/env.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { repoRoot } from '../lib/repo-root.js';
import { Influxd } from './helpers/influxd.js';
import { grafanaDashboard, PANELS } from '../src/grafana/dashboard.js';

// Every measurement an event can be written to (influx-points.ts), marks included (characterize's MVM probe leaves one).
const MEAS = ['pulse', 'read', 'cell_result', 'progress', 'warning', 'mark', 'run', 'run_summary'];

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
      // An intent (the store's write-ahead) is no point (docs/formats.md, InfluxDB).
      ctx.events$.subscribe((e) => e.type !== 'intent' && events++);
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
        if (e.type !== 'intent') events++;
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

test('a batch the server refuses as malformed is kept on disk, not retried forever, and later points still arrive', async (t) => {
  if (!needTool(t, 'influxd', 'influxdb') || !needTool(t, 'influx', 'influxdb-client')) return;
  const d = new Influxd();
  await d.start();
  try {
    const dir = mkdtempSync(join(tmpdir(), 'infl-'));
    const spillDir = join(dir, 'spill');
    const sink = await InfluxSink.create({ host: '127.0.0.1', port: d.port, database: 'rram', spillDir, flushEvery_ms: 20 });
    // A lab database where `read.current_A` already holds strings: our float points conflict (HTTP 400).
    const pre = await fetch(`http://127.0.0.1:${d.port}/write?db=rram`, { method: 'POST', body: `read current_A="legacy" ${Date.now() - 60000}000000` });
    assert.equal(pre.status, 204);
    const out = await runJob({ store: new EmbeddedStore(dir), sinks: [sink] }, (ctx) =>
      characterize(new EmulatedBoard({ seed: 3 }), ctx, { algo: 'igvva', step_V: 0.1, levels: 2, cellsPerLevel: 8, reads: 1, relax_s: [], seed: 3 }),
    );
    assert.equal(out.status, 'completed');
    await sink.drain(10000);
    assert.ok(sink.stats.rejected > 0, JSON.stringify(sink.stats));
    assert.match(sink.lastError, /HTTP 400/);
    const kept = readdirSync(spillDir).filter((f) => f.startsWith('rejected-'));
    assert.ok(kept.length > 0, 'refused lines are kept on disk');
    const keptLines = kept.reduce((n, f) => n + readFileSync(join(spillDir, f), 'utf8').split('\n').filter(Boolean).length, 0);
    assert.equal(keptLines, sink.stats.rejected);
    assert.equal(sink.pendingOnDisk(), 0, 'nothing left waiting for a retry');
    // The run's summary (its own measurement) still arrived.
    assert.equal(d.count('rram', 'run_summary', out.runId), 1);
  } finally {
    await d.destroy();
  }
});

test('CLI: a run while InfluxDB is down keeps its points on disk; rram influx-flush delivers them exactly once, each with the station tag of the machine that measured', async (t) => {
  if (!needTool(t, 'influxd', 'influxdb') || !needTool(t, 'influx', 'influxdb-client')) return;
  const d = new Influxd();
  await d.start();
  await d.stop(); // the port is known and nothing listens on it
  try {
    const cwd = mkdtempSync(join(tmpdir(), 'cli-infl-'));
    const url = `http://127.0.0.1:${d.port}/rram`;
    const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
    const rram = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', cwd, env: { ...process.env, RRAM_STATION_NAME: 'bench-7' } });
    const run = rram('characterize', '--levels', '2', '--cells-per-level', '4', '--step', '0.1', '--influx', url, '--json');
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /InfluxDB did not take (\d+) points \(InfluxDB at 127\.0\.0\.1:\d+ unreachable: ECONNREFUSED\).*`rram influx-flush`/);
    const runId = JSON.parse(run.stdout).runId as string;
    const rec = new EmbeddedStore(join(cwd, 'rram-data')).getRun(runId);
    const events = rec.events - (rec.counts.intent ?? 0);
    assert.ok((rec.counts.intent ?? 0) > 0 && events > 0);
    assert.equal(Number(/did not take (\d+) points/.exec(run.stderr)![1]), events);
    await d.start();
    const flush = rram('influx-flush', '--influx', url, '--timeout', '30');
    assert.equal(flush.status, 0, flush.stderr);
    assert.match(flush.stdout, new RegExp(`sent ${events} of ${events} spilled points`));
    assert.equal(await countAll(d, 'rram', runId), events);
    const again = rram('influx-flush', '--influx', url);
    assert.match(again.stdout, /sent 0 of 0/);
    assert.equal(await countAll(d, 'rram', runId), events);
    // A direct CLI run is never untagged: every point names the station (here RRAM_STATION_NAME).
    const tagged = MEAS.reduce((n, m) => n + Number(query(d, `SELECT count(seq) FROM "${m}" WHERE run='${runId}' AND station='bench-7' AND ${ALL_TIME}`)[0]?.[1] ?? 0), 0);
    assert.equal(tagged, events);
    const bad = spawnSync(process.execPath, [main, 'read', '--cell', '0,0', '--influx', url], { encoding: 'utf8', cwd, env: { ...process.env, RRAM_STATION_NAME: 'probe 1' } });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /RRAM_STATION_NAME="probe 1": a station name is/);
  } finally {
    await d.destroy();
  }
});

test('Grafana dashboard: the committed JSON is the typed one, every panel query (as Grafana expands it) returns data from a real influxd, and the station variable narrows the runs to a station\'s', async (t) => {
  const committed = JSON.parse(readFileSync(join(repoRoot(), 'dashboards', 'grafana', 'rram-hil.json'), 'utf8'));
  assert.deepEqual(committed, JSON.parse(JSON.stringify(grafanaDashboard())), 'dashboards/grafana/rram-hil.json is stale: npm run build && npm run grafana');
  if (!needTool(t, 'influxd', 'influxdb')) return;
  const d = new Influxd();
  await d.start();
  try {
    const dir = mkdtempSync(join(tmpdir(), 'graf-'));
    const sink = await InfluxSink.create({ host: '127.0.0.1', port: d.port, database: 'rram', spillDir: join(dir, 'spill') });
    const t0 = Date.now();
    const out = await runJob({ store: new EmbeddedStore(dir), sinks: [sink] }, (ctx) => {
      ctx.emit({ type: 'warning', code: 'TEST', message: 'a warning for the warnings panel' });
      return characterize(new EmulatedBoard({ seed: 1 }), ctx, { algo: 'igvva', levels: 4, cellsPerLevel: 16, reads: 1, relax_s: [], seed: 1 });
    });
    assert.equal(out.status, 'completed');
    // Grafana's expansion of the macros for the last hour, the run variable set to this run.
    const expand = (q: string, station = '.*') =>
      q
        .replaceAll('$station', station)
        .replaceAll('$timeFilter', `time >= ${t0 - 3600e3}ms and time <= ${Date.now() + 60e3}ms`)
        .replaceAll('$__interval', '1s')
        .replaceAll('$run', out.runId.replace(/-/g, '\\-'));
    const query = async (q: string, station?: string) => {
      const r = await fetch(`http://127.0.0.1:${d.port}/query?db=rram&epoch=ms&q=${encodeURIComponent(expand(q, station))}`);
      const j = (await r.json()) as { results: { error?: string; series?: { name: string; tags?: Record<string, string>; values: unknown[][] }[] }[] };
      assert.equal(r.status, 200, q);
      assert.equal(j.results[0].error, undefined, `${q}: ${j.results[0].error}`);
      return j.results[0].series ?? [];
    };
    for (const p of PANELS)
      for (const q of p.queries) {
        const series = await query(q.q);
        assert.ok(series.length > 0 && series.some((s) => s.values.length > 0), `panel "${p.title}" returns no data: ${expand(q.q)}`);
      }
    const levels = await query(PANELS.find((p) => p.title.startsWith('Final current'))!.queries[0].q);
    assert.deepEqual(levels.map((s) => s.tags!.level).sort(), ['0', '1', '2', '3']);
    const variable = (name: string) => (grafanaDashboard().templating!.list!.find((v) => v.name === name) as { query: string }).query;
    const vars = await query(variable('run'));
    assert.ok(JSON.stringify(vars).includes(out.runId), 'the run variable lists the run (All stations: also a run written before stations had names)');
    // A second run from a named station: the station variable lists it, and choosing it keeps only its runs.
    const named = await InfluxSink.create({ host: '127.0.0.1', port: d.port, database: 'rram', spillDir: join(dir, 'spill-2'), station: 'probe-1' });
    const out2 = await runJob({ store: new EmbeddedStore(dir), sinks: [named] }, (ctx) => characterize(new EmulatedBoard({ seed: 2 }), ctx, { algo: 'igvva', levels: 2, cellsPerLevel: 4, reads: 1, relax_s: [], seed: 1 }));
    assert.equal(out2.status, 'completed');
    assert.ok(JSON.stringify(await query(variable('station'))).includes('"probe-1"'), 'the station variable lists the station');
    const runsOf = async (station: string) => JSON.stringify(await query(variable('run'), station));
    assert.ok((await runsOf('probe-1')).includes(out2.runId) && !(await runsOf('probe-1')).includes(out.runId), 'probe-1: its run only');
    assert.ok((await runsOf('.*')).includes(out2.runId) && (await runsOf('.*')).includes(out.runId), 'All: both');
    const table = JSON.stringify(await query(PANELS[0].queries[0].q, 'probe-1'));
    assert.ok(table.includes(out2.runId) && !table.includes(out.runId), 'the Runs panel follows the station variable');
  } finally {
    await d.destroy();
  }
});

/** Runs an InfluxQL query with the influx shell; the first series' rows. */
function query(d: Influxd, q: string): unknown[][] {
  const out = execFileSync('influx', ['-host', '127.0.0.1', '-port', String(d.port), '-database', 'rram', '-format', 'json', '-execute', q], { encoding: 'utf8' });
  const j = JSON.parse(out) as { results: { series?: { values: unknown[][] }[] }[] };
  return j.results[0].series?.[0].values ?? [];
}
const ALL_TIME = `time > '2000-01-01T00:00:00Z' AND time < '2100-01-01T00:00:00Z'`;

test('issue 25 InfluxDB: a missing value is a missing field (never -1.0); re-sent points overwrite themselves; a spill folder of an earlier process with a reused pid is adopted', async (t) => {
  if (!needTool(t, 'influxd', 'influxdb') || !needTool(t, 'influx', 'influxdb-client')) return;
  const d = new Influxd();
  await d.start();
  try {
    // Missing values: reads with null and NaN currents (unreadable cells) among good ones.
    const dir = mkdtempSync(join(tmpdir(), 'infl-'));
    const sink = await InfluxSink.create({ host: '127.0.0.1', port: d.port, database: 'rram', spillDir: join(dir, 'spill') });
    const board = new EmulatedBoard({ seed: 4 });
    const out = await runJob({ store: new EmbeddedStore(dir), sinks: [sink] }, async (ctx) => {
      ctx.begin({ kind: 'read', params: {}, board: board.info() });
      const values = [1e-5, null, Number.NaN, 2e-5, Number.POSITIVE_INFINITY, 3e-6];
      values.forEach((v, k) => ctx.emit({ type: 'read', cell: { array: 0, row: 0, col: k }, level: 0, phase: 'verify', vread_V: 0.2, current_A: v as number, ...(v === null || !Number.isFinite(v) ? { unusable: 'no answer' } : {}) }));
      return values;
    });
    assert.equal(out.status, 'completed');
    await sink.close();
    const [[, nCurrent, nSeq]] = query(d, `SELECT count(current_A), count(seq) FROM "read" WHERE run='${out.runId}' AND ${ALL_TIME}`) as [string, number, number][];
    assert.equal(nSeq, 6, 'one point per read');
    assert.equal(nCurrent, 3, 'only the three real currents are fields');
    assert.deepEqual(query(d, `SELECT current_A FROM "read" WHERE run='${out.runId}' AND current_A < 0 AND ${ALL_TIME}`), [], 'no made-up negative value');

    // Re-send: the whole run's points go out again (an answer lost after the server took them).
    const cdfDir = mkdtempSync(join(tmpdir(), 'infl-'));
    const s2 = await InfluxSink.create({ host: '127.0.0.1', port: d.port, database: 'rram', spillDir: join(cdfDir, 'spill') });
    const store = new EmbeddedStore(cdfDir);
    const run = await runJob({ store, sinks: [s2] }, (ctx) => characterize(new EmulatedBoard({ seed: 5 }), ctx, { algo: 'igvva', step_V: 0.1, levels: 2, cellsPerLevel: 16, reads: 1, relax_s: [], seed: 5 }));
    await s2.close();
    const n = store.getRun(run.runId).events;
    const pointsOf = async () => {
      const f = new LineFormatter();
      const lines: string[] = [];
      for await (const e of store.events(run.runId)) {
        const l = f.format(e);
        if (l) lines.push(l);
      }
      return lines;
    };
    const lines = await pointsOf();
    const before = await countAll(d, 'rram', run.runId);
    assert.equal(before, lines.length);
    // A spill folder left by an earlier process that had pid 1 (alive here: init), heartbeat long stale.
    const base = join(cdfDir, 'rram-data', 'influx-spill');
    const orphan = join(base, `1-${Date.now() - 3600e3}-0`);
    mkdirSync(orphan, { recursive: true });
    writeFileSync(join(orphan, '.owner'), JSON.stringify({ host: 'elsewhere', pid: 1 }));
    const old = new Date(Date.now() - 3600e3);
    utimesSync(join(orphan, '.owner'), old, old);
    writeFileSync(join(orphan, 'spill-1.lp'), lines.join('\n') + '\n');
    const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
    const flush = spawnSync(process.execPath, [main, 'influx-flush', '--influx', `http://127.0.0.1:${d.port}/rram`, '--timeout', '30'], { encoding: 'utf8', cwd: cdfDir });
    assert.equal(flush.status, 0, flush.stderr);
    assert.match(flush.stdout, new RegExp(`sent ${lines.length} of ${lines.length} spilled points`), 'the orphan folder was adopted');
    assert.ok(!existsSync(orphan), 'the adopted folder is removed');
    assert.equal(await countAll(d, 'rram', run.runId), before, `re-sent ${lines.length} points: still ${before} stored (of ${n} events)`);
    const help = spawnSync(process.execPath, [main, 'influx-flush', '--help'], { encoding: 'utf8' }).stdout.replace(/\s+/g, ' ');
    assert.doesNotMatch(help, /exactly once/);
    assert.match(help, /at least once .* each point is stored once/);
  } finally {
    await d.destroy();
  }
});
