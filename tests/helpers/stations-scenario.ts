/**
 * Issue 29's "several stations, one view", shared by its CI test (tests/stations-hub.test.ts) and
 * its benchmark (bench/stations-cut.ts): a private influxd, two `rram serve` stations writing to
 * it (probe-1 through a TCP proxy that can cut its network: both its link to InfluxDB and the
 * hub's link to it), and a third `rram serve --stations FILE`, the hub whose Stations page shows
 * both. `checkEveryRun` compares what InfluxDB holds with each station's store, run by run.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunEvent } from '../../src/engine/events.js';
import { EmbeddedStore } from '../../src/store/embedded-store.js';
import { Influxd } from './influxd.js';
import { waitFor } from './server.js';
import { serveStation, type Station } from './station.js';
import { TcpProxy } from './tcp-proxy.js';

export const DB = 'rram';

export interface Member {
  name: string;
  store: string;
  st: Station;
  token: string;
}

export interface Scene {
  influxd: Influxd;
  /** probe-1's link to InfluxDB, and the hub's link to probe-1. */
  cutInflux: TcpProxy;
  cutHttp: TcpProxy;
  a: Member;
  b: Member;
  hub: Station;
  close(): Promise<void>;
}

/** The token the station wrote into its entry (written just after it printed its address). */
function tokenOf(store: string): Promise<string> {
  const dir = join(store, 'stations');
  return waitFor(() => {
    try {
      const f = readdirSync(dir).find((n) => n.endsWith('.json'));
      return f ? (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { token: string }).token : undefined;
    } catch {
      return undefined;
    }
  }, 30000, `the station entry in ${dir}`);
}

async function member(name: string, influx: string, args: string[], started: Station[]): Promise<Member> {
  const store = mkdtempSync(join(tmpdir(), `rram-${name}-`));
  const st = await serveStation(store, ['--name', name, '--influx', influx, ...args]);
  started.push(st);
  return { name, store, st, token: await tokenOf(store) };
}

export async function startScene(): Promise<Scene> {
  const influxd = new Influxd();
  const started: Station[] = [];
  try {
    return await scene(influxd, started);
  } catch (e) {
    // A part that did not start: stop the others, or their processes keep the test alive.
    await Promise.all(started.map((s) => s.stop()));
    await influxd.destroy();
    throw e;
  }
}

async function scene(influxd: Influxd, started: Station[]): Promise<Scene> {
  await influxd.start();
  const cutInflux = await new TcpProxy(influxd.port).start();
  const direct = `http://127.0.0.1:${influxd.port}/${DB}`;
  const [a, b] = await Promise.all([member('probe-1', `http://127.0.0.1:${cutInflux.port}/${DB}`, ['--seed', '11'], started), member('probe-2', direct, ['--seed', '12'], started)]);
  const cutHttp = await new TcpProxy(Number(new URL(a.st.url).port)).start();
  const hubStore = mkdtempSync(join(tmpdir(), 'rram-hub-'));
  const file = join(hubStore, 'stations.json');
  writeFileSync(file, JSON.stringify({ influx: direct, stations: [{ name: a.name, url: `http://127.0.0.1:${cutHttp.port}`, token: a.token }, { name: b.name, url: b.st.url, token: b.token }] }));
  const hub = await serveStation(hubStore, ['--name', 'hub', '--stations', file]);
  started.push(hub);
  return {
    influxd,
    cutInflux,
    cutHttp,
    a,
    b,
    hub,
    close: async () => {
      // Network back first: a station stopping flushes its sink.
      if (cutInflux.state !== 'open') await cutInflux.restore();
      if (cutHttp.state !== 'open') await cutHttp.restore();
      await Promise.all([a.st.stop(), b.st.stop(), hub.stop()]);
      await Promise.all([cutInflux.close(), cutHttp.close()]);
      await influxd.destroy();
      for (const d of [a.store, b.store, hubStore]) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** Queues a characterize on the member's board (directly: the test stands beside the station). */
export async function queueCharacterize(m: Member, cellsPerLevel: number): Promise<string> {
  const r = await fetch(`${m.st.url}/api/boards/board0/queue`, { method: 'POST', headers: { 'x-rram-token': m.token, 'content-type': 'application/json' }, body: JSON.stringify({ request: { kind: 'characterize', levels: 4, cellsPerLevel }, submitter: 'stations-scenario' }) });
  const body = (await r.json()) as { runId?: string; error?: string };
  if (r.status !== 202 || !body.runId) throw new Error(`queue add on ${m.name}: HTTP ${r.status} ${body.error}`);
  return body.runId;
}

export async function runStatus(m: Member, id: string): Promise<string | undefined> {
  const r = await fetch(`${m.st.url}/api/runs/${id}`);
  return r.ok ? ((await r.json()) as { status: string }).status : undefined;
}

/** The run's final status, once it has one. */
export const ended = (m: Member, id: string, timeout_ms = 120000) =>
  waitFor(
    async () => {
      const s = await runStatus(m, id);
      return s && s !== 'running' ? s : undefined;
    },
    timeout_ms,
    `run ${id} on ${m.name} to end`,
  );

const MEASUREMENT: Record<RunEvent['type'], string | undefined> = { 'run-start': 'run', 'run-resume': 'run', intent: undefined, pulse: 'pulse', read: 'read', 'cell-done': 'cell_result', progress: 'progress', warning: 'warning', mark: 'mark', 'run-end': 'run_summary' };

interface Series {
  name: string;
  columns: string[];
  values: (string | number | null)[][];
}

/** Every point of a run in InfluxDB: `measurement:seq` and its station tag (both time bounds given). */
export async function influxPoints(port: number, run: string): Promise<{ key: string; station: string | null }[]> {
  const q = `SELECT seq, station FROM /.*/ WHERE run='${run}' AND time > '2000-01-01T00:00:00Z' AND time < '2100-01-01T00:00:00Z'`;
  const r = await fetch(`http://127.0.0.1:${port}/query?db=${DB}&q=${encodeURIComponent(q)}`);
  const body = (await r.json()) as { results: { series?: Series[]; error?: string }[] };
  if (body.results[0].error) throw new Error(body.results[0].error);
  return (body.results[0].series ?? []).flatMap((s) => s.values.map((v) => ({ key: `${s.name}:${v[s.columns.indexOf('seq')]}`, station: v[s.columns.indexOf('station')] as string | null })));
}

export interface RunCheck {
  run: string;
  stored: number;
  inInflux: number;
  lost: number;
  duplicated: number;
  /** Points whose station tag is not the station's name. */
  wrongTag: number;
}

/** For every run of the member's store: InfluxDB holds each stored event's point exactly once, tagged with the station. */
export async function checkEveryRun(port: number, m: Member): Promise<RunCheck[]> {
  const store = new EmbeddedStore(m.store);
  const out: RunCheck[] = [];
  for (const rec of store.listRuns()) {
    const want = new Set<string>();
    for await (const e of store.events(rec.id)) {
      const meas = MEASUREMENT[e.type];
      if (meas) want.add(`${meas}:${e.seq}`);
    }
    const got = await influxPoints(port, rec.id);
    const seen = new Map<string, number>();
    for (const p of got) seen.set(p.key, (seen.get(p.key) ?? 0) + 1);
    out.push({
      run: rec.id,
      stored: want.size,
      inInflux: got.length,
      lost: [...want].filter((k) => !seen.has(k)).length,
      duplicated: got.length - [...seen.keys()].filter((k) => want.has(k)).length,
      wrongTag: got.filter((p) => p.station !== m.name).length,
    });
  }
  return out;
}

/** Spill segments waiting on disk in the member's store (points its sink could not send). */
export function spilledFiles(m: Member): number {
  const base = join(m.store, 'influx-spill');
  try {
    return readdirSync(base).flatMap((d) => readdirSync(join(base, d)).filter((f) => /^spill-\d+\.lp$/.test(f))).length;
  } catch {
    return 0;
  }
}
