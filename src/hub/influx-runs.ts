/**
 * What the shared InfluxDB holds per station and run (the hub's Stations page): points per run and
 * measurement, the run's kind and start, its end status and stored event count, its last progress.
 * Every query is bounded at both ends of its time range (an unbounded one made influxd 1.6 exhaust
 * memory, ../shared/reference/environment.md). Points written before stations had names have no
 * `station` tag: they come back under the station "" and are shown apart, never dropped.
 */
import type { InfluxTarget } from '../store/influx-sink.js';

export interface InfluxRun {
  station: string;
  run: string;
  kind?: string;
  /** ms since the epoch of the run's `run` point. */
  started?: number;
  status?: string;
  /** The run-end's `events` field: every event the run stored, intents included. */
  endEvents?: number;
  progress?: { done: number; total: number };
  /** Points per measurement, and their sum. */
  byMeasurement: Record<string, number>;
  points: number;
}

interface Series {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: (string | number | null)[][];
}
interface QueryAnswer {
  results?: { statement_id: number; series?: Series[]; error?: string }[];
  error?: string;
}

/** The four queries, one request; `window_h` back from now to a minute ahead (clocks of stations differ a little). */
export function runQueries(window_h: number): string {
  const when = `time > now() - ${Math.round(window_h * 3600)}s AND time < now() + 1h`;
  return [
    `SELECT count(seq) FROM /.*/ WHERE ${when} GROUP BY "station","run"`,
    `SELECT first(seq) FROM "run" WHERE ${when} GROUP BY "station","run","kind"`,
    `SELECT last(events) FROM "run_summary" WHERE ${when} GROUP BY "station","run","status"`,
    `SELECT last(done) AS done, last(total) AS total FROM "progress" WHERE ${when} GROUP BY "station","run"`,
  ].join('; ');
}

export async function queryInfluxRuns(t: InfluxTarget, window_h: number, timeout_ms = 3000): Promise<InfluxRun[]> {
  const url = `http://${t.host}:${t.port}/query?db=${encodeURIComponent(t.database)}&epoch=ms&q=${encodeURIComponent(runQueries(window_h))}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(timeout_ms) });
  const body = (await res.json()) as QueryAnswer;
  if (!res.ok || body.error) throw new Error(`InfluxDB query: HTTP ${res.status} ${body.error ?? ''}`.trim());
  return foldRuns(body);
}

/** Folds the four statements' series into one record per (station, run). */
export function foldRuns(body: QueryAnswer): InfluxRun[] {
  const runs = new Map<string, InfluxRun>();
  const runOf = (tags: Record<string, string> = {}) => {
    const station = tags.station ?? '';
    const run = tags.run ?? '';
    const key = `${station}\n${run}`;
    let r = runs.get(key);
    if (!r) runs.set(key, (r = { station, run, byMeasurement: {}, points: 0 }));
    return r;
  };
  const results = body.results ?? [];
  for (const res of results) if (res.error && !/database not found/.test(res.error)) throw new Error(`InfluxDB query: ${res.error}`);
  for (const s of results[0]?.series ?? []) {
    const r = runOf(s.tags);
    const n = Number(s.values[0]?.[1] ?? 0);
    r.byMeasurement[s.name] = (r.byMeasurement[s.name] ?? 0) + n;
    r.points += n;
  }
  for (const s of results[1]?.series ?? []) {
    const r = runOf(s.tags);
    r.kind = s.tags?.kind;
    r.started = Number(s.values[0]?.[0]);
  }
  for (const s of results[2]?.series ?? []) {
    const r = runOf(s.tags);
    r.status = s.tags?.status;
    r.endEvents = Number(s.values[0]?.[1]);
  }
  for (const s of results[3]?.series ?? []) {
    const v = s.values[0] ?? [];
    runOf(s.tags).progress = { done: Number(v[s.columns.indexOf('done')]), total: Number(v[s.columns.indexOf('total')]) };
  }
  return [...runs.values()].filter((r) => r.run !== '');
}
