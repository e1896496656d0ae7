/**
 * The hub's parts without processes (issue 29): station names, the stations file's errors (each
 * names the field and the value), the `station` tag on every line the formatter writes, and the
 * hub's view of a station it polls - up only while it answers in full as itself, unreachable since
 * the first failed poll otherwise, and a gap between the store and InfluxDB shown, never made up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { runJob } from '../src/jobs/run-job.js';
import { characterize } from '../src/procedures/characterize.js';
import { LineFormatter } from '../src/store/influx-points.js';
import { checkStationName, defaultStationName, STATION_NAME } from '../src/station/station-name.js';
import { readStationsFile } from '../src/hub/stations-config.js';
import { StationsHub } from '../src/hub/stations-hub.js';
import type { RunEvent } from '../src/engine/events.js';

const NAME_CHARS = fc.constantFrom(...'abcXYZ0189-_.'.split(''));
const names = fc.array(NAME_CHARS, { minLength: 1, maxLength: 64 }).map((a) => a.join(''));

test('station names: letters, digits and -_. only, 1-64 of them; anything else refused naming the flag and the value', () => {
  fc.assert(fc.property(names, (n) => checkStationName(n) === n));
  fc.assert(
    fc.property(names, fc.constantFrom(' ', ',', '=', '"', "'", '/', 'é', '\n', ''), fc.nat(), (n, bad, k) => {
      const s = bad === '' ? n.repeat(65).slice(0, 65) : n.slice(0, k % (n.length + 1)) + bad + n.slice(k % (n.length + 1));
      assert.throws(() => checkStationName(s), (e: Error) => e.message.includes('--name') && e.message.includes(JSON.stringify(s).slice(1, 10)));
    }),
  );
  // The default from any host name is a valid name (rram serve starts without --name anywhere), and a valid host name is kept.
  fc.assert(fc.property(fc.string({ maxLength: 300 }), (h) => STATION_NAME.test(defaultStationName(h))));
  fc.assert(fc.property(names, (n) => defaultStationName(n) === n));
});

test('the stations file: every error names the file, the field and the value', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stations-file-'));
  const ok = { influx: 'http://127.0.0.1:8086/rram', stations: [{ name: 'probe-1', url: 'http://10.0.0.5:8080/', token: 't' }] };
  const write = (v: unknown) => {
    const f = join(dir, `s-${Math.random()}.json`);
    writeFileSync(f, typeof v === 'string' ? v : JSON.stringify(v));
    return f;
  };
  const cfg = readStationsFile(write(ok));
  assert.equal(cfg.stations[0].url, 'http://10.0.0.5:8080', 'trailing slash cut');
  const cases: [unknown, RegExp][] = [
    [{ ...ok, influx: 'influx:8086' }, /influx = "influx:8086": must be a URL/],
    [{ ...ok, stations: [{ ...ok.stations[0], name: 'probe 1' }] }, /stations\[0\]\.name = "probe 1"/],
    [{ ...ok, stations: [{ ...ok.stations[0], url: 'ftp://x/' }] }, /stations\[0\]\.url = "ftp:\/\/x\/"/],
    [{ ...ok, stations: [ok.stations[0], ok.stations[0]] }, /stations\[1\]\.name = "probe-1": named twice/],
    [{ ...ok, stations: [] }, /stations = \[\]: must name at least one station/],
    [{ ...ok, influxdb: 'x' }, /influxdb/],
    ['{"influx":', /not valid JSON/],
  ];
  for (const [v, re] of cases) {
    const f = write(v);
    assert.throws(() => readStationsFile(f), (e: Error) => re.test(e.message) && e.message.startsWith(f), `${JSON.stringify(v)}`);
  }
  assert.throws(() => readStationsFile(join(dir, 'none.json')), /none\.json: cannot read the stations file \(ENOENT\)/);
});

test('every line a station writes carries its station tag once; without a name, none', async () => {
  const store = new EmbeddedStore(mkdtempSync(join(tmpdir(), 'station-tag-')));
  const run = await runJob({ store, sinks: [] }, (ctx) => characterize(new EmulatedBoard({ seed: 3 }), ctx, { algo: 'igvva', step_V: 0.1, levels: 2, cellsPerLevel: 4, reads: 1, relax_s: [], seed: 3 }));
  const events: RunEvent[] = [];
  for await (const e of store.events(run.runId)) events.push(e);
  const tagsOf = (line: string) => line.split(/(?<!\\) /)[0].split(/(?<!\\),/).slice(1);
  await fc.assert(
    fc.asyncProperty(fc.option(names, { nil: undefined }), async (station) => {
      const f = new LineFormatter({ station });
      const lines = events.map((e) => f.format(e)).filter((l): l is string => l !== undefined);
      assert.equal(lines.length, events.filter((e) => e.type !== 'intent').length);
      for (const l of lines) {
        const st = tagsOf(l).filter((t) => t.startsWith('station='));
        assert.deepEqual(st, station === undefined ? [] : [`station=${station}`], l);
      }
    }),
    { numRuns: 30 },
  );
  assert.ok(STATION_NAME.test('probe-1'));
});

/** A fake station and InfluxDB in one HTTP server: what it answers is set by the test. */
function fakeServer(state: { name?: string; storePoints: number; influxPoints?: number; up: boolean; garbled?: boolean }): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const json = (v: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v));
    const u = new URL(req.url!, 'http://x');
    if (!state.up && u.pathname.startsWith('/api/')) return res.destroy(); // the station's side only
    if (u.pathname === '/api/config') return json(state.name ? { station: state.name } : {});
    if (u.pathname === '/api/boards') return json([{ id: 'board0', info: { kind: 'emulated' }, lines: { state: 'idle' } }]);
    if (u.pathname === '/api/boards/board0/queue') return json({ rev: 1, paused: false, halted: false, lock: { locked: false }, running: null, queued: [{ id: 'q1', kind: 'read' }] });
    if (u.pathname === '/api/runs') return json([{ id: 'r1', kind: 'read', status: 'completed', started: '2026-12-01T00:00:00.000Z', events: state.garbled ? `${state.storePoints}` : state.storePoints + 7, counts: { intent: 7 } }]);
    if (u.pathname === '/query') {
      if (state.influxPoints === undefined) return res.writeHead(500).end('{"error":"down"}');
      return json({ results: [{ statement_id: 0, series: [{ name: 'read', tags: { station: 'probe-1', run: 'r1' }, columns: ['time', 'count'], values: [[0, state.influxPoints]] }] }, { statement_id: 1 }, { statement_id: 2 }, { statement_id: 3 }] });
    }
    res.writeHead(404).end('{}');
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })));
}

test('the hub: up only while the station answers in full as itself; the gap between its store and InfluxDB shown, unknown when InfluxDB is', async () => {
  const state: { name?: string; storePoints: number; influxPoints?: number; up: boolean; garbled?: boolean } = { name: 'probe-1', storePoints: 100, influxPoints: 60, up: true };
  const { server, url } = await fakeServer(state);
  const hub = new StationsHub({ influx: `${url}/rram`, stations: [{ name: 'probe-1', url, token: 'secret-token' }] }, { timeout_ms: 500 });
  try {
    assert.equal(hub.snapshot.stations[0].state, 'unknown', 'not "up" before it was ever asked');
    let s = await hub.poll();
    const st = s.stations[0];
    assert.equal(st.state, 'up');
    assert.deepEqual(st.boards?.[0].queue.queued, [{ id: 'q1', kind: 'read' }]);
    assert.deepEqual(st.runs.map((r) => [r.id, r.influx?.points, r.store?.points, r.missing]), [['r1', 60, 100, 40]]);
    assert.ok(!JSON.stringify(s).includes('secret-token'), 'no token in the snapshot');
    // InfluxDB not answering: its counts are unknown, no gap made up.
    state.influxPoints = undefined;
    s = await hub.poll();
    assert.equal(s.influx.ok, false);
    assert.deepEqual(s.stations[0].runs.map((r) => [r.influx, r.missing]), [[null, null]]);
    state.influxPoints = 100;
    s = await hub.poll();
    assert.equal(s.stations[0].runs[0].missing, 0);
    // Cut: unreachable since the first failed poll, which stays the `since` of later failed polls.
    state.up = false;
    const before = Date.now();
    s = await hub.poll();
    const since = s.stations[0].since;
    assert.equal(s.stations[0].state, 'unreachable');
    assert.ok(Date.parse(since) >= before - 5);
    assert.equal(s.stations[0].boards, null, 'no boards shown as if known');
    assert.equal(s.stations[0].runs[0].store, null);
    s = await hub.poll();
    assert.equal(s.stations[0].since, since);
    // Answering as another station: not the one the file means.
    state.up = true;
    state.name = 'probe-9';
    s = await hub.poll();
    assert.equal(s.stations[0].state, 'unreachable');
    assert.match(s.stations[0].error ?? '', /answers as station "probe-9"/);
    state.name = 'probe-1';
    // An answer that is not a station's (a count as a string): refused by name, never shown as a number.
    state.garbled = true;
    s = await hub.poll();
    assert.equal(s.stations[0].state, 'unreachable');
    assert.match(s.stations[0].error ?? '', /GET \/api\/runs: not a station's answer \(0\.events: /);
    assert.equal(s.stations[0].runs[0].store, null);
    state.garbled = false;
    s = await hub.poll();
    assert.equal(s.stations[0].state, 'up');
    assert.ok(Date.parse(s.stations[0].since) > Date.parse(since));
  } finally {
    hub.stop();
    server.close();
  }
});
