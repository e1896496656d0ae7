/**
 * The hub behind the Stations page (`rram serve --stations FILE`): every `interval_ms` it polls
 * each station of the file (station-probe.ts) and the shared InfluxDB (influx-runs.ts), both
 * server-side, and publishes one snapshot to its listeners (the page's event stream). A station is
 * `up` only when its last poll answered in full, as the station the file names; otherwise it is
 * `unreachable` since the first poll that failed (or since the hub started, if it never answered).
 * Per run the snapshot puts the points InfluxDB holds beside the points the station's store says
 * it wrote (when the station answers), so a gap - a spill not yet replayed, a lost point - shows.
 */
import { parseInfluxUrl } from '../store/influx-sink.js';
import { queryInfluxRuns, type InfluxRun } from './influx-runs.js';
import { probeStation, type ProbedBoard, type StoreRun } from './station-probe.js';
import type { StationRef, StationsFile } from './stations-config.js';

export interface HubRun {
  id: string;
  kind?: string;
  started?: string;
  /** What InfluxDB holds: null when it has no point of the run (yet). */
  influx: { points: number; byMeasurement: Record<string, number>; status?: string; endEvents?: number; progress?: { done: number; total: number } } | null;
  /** What the station's store says: null while the station does not answer. */
  store: { points: number; status: string } | null;
  /** store.points - influx.points when both are known (0: InfluxDB holds every point). */
  missing: number | null;
}

export interface StationView {
  name: string;
  url: string;
  state: 'unknown' | 'up' | 'unreachable';
  /** Since when the station is in this state (ISO). */
  since: string;
  lastUp?: string;
  error?: string;
  boards: ProbedBoard[] | null;
  runs: HubRun[];
}

export interface HubSnapshot {
  checked: string;
  window_h: number;
  influx: { ok: boolean; since: string; error?: string };
  stations: StationView[];
  /** Runs whose points carry no station tag (written before names) or a station the file does not list. */
  others: (HubRun & { station: string })[];
}

export interface HubOptions {
  interval_ms?: number;
  timeout_ms?: number;
  /** Runs shown per station, newest first. */
  maxRuns?: number;
}

const RUNS = 50;

/** `influx` null: InfluxDB did not answer, so nothing is known of what it holds (no gap is made up). */
function mergeRuns(influx: InfluxRun[] | null, store: StoreRun[] | null, max: number): HubRun[] {
  const out = new Map<string, HubRun>();
  for (const r of influx ?? []) {
    out.set(r.run, {
      id: r.run,
      kind: r.kind,
      started: r.started === undefined ? undefined : new Date(r.started).toISOString(),
      influx: { points: r.points, byMeasurement: r.byMeasurement, status: r.status, endEvents: r.endEvents, progress: r.progress },
      store: null,
      missing: null,
    });
  }
  for (const s of store ?? []) {
    const r = out.get(s.id) ?? { id: s.id, kind: s.kind, started: s.started, influx: null, store: null, missing: null };
    r.kind ??= s.kind;
    r.started = s.started;
    r.store = { points: s.points, status: s.status };
    r.missing = influx ? s.points - (r.influx?.points ?? 0) : null;
    out.set(s.id, r);
  }
  return [...out.values()].sort((a, b) => ((a.started ?? '') < (b.started ?? '') ? 1 : -1)).slice(0, max);
}

export class StationsHub {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly listeners = new Set<(s: HubSnapshot) => void>();
  private readonly state = new Map<string, { state: StationView['state']; since: string; lastUp?: string; error?: string }>();
  private influxState: HubSnapshot['influx'];
  snapshot: HubSnapshot;

  constructor(
    private readonly cfg: StationsFile,
    private readonly o: HubOptions = {},
  ) {
    const now = new Date().toISOString();
    for (const s of cfg.stations) this.state.set(s.name, { state: 'unknown', since: now });
    this.influxState = { ok: false, since: now, error: 'not asked yet' };
    this.snapshot = { checked: now, window_h: this.windowH, influx: this.influxState, stations: cfg.stations.map((s) => ({ name: s.name, url: s.url, ...this.state.get(s.name)!, boards: null, runs: [] })), others: [] };
  }

  private get windowH(): number {
    return this.cfg.window_h ?? 24;
  }

  start(): this {
    const loop = async () => {
      await this.poll().catch(() => {});
      if (!this.stopped) this.timer = setTimeout(loop, this.o.interval_ms ?? 1500);
    };
    void loop();
    return this;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.listeners.clear();
  }

  onSnapshot(fn: (s: HubSnapshot) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** A station's new reachability: `since` moves only when the state changes. */
  private mark(name: string, up: boolean, error?: string): void {
    const prev = this.state.get(name)!;
    const now = new Date().toISOString();
    const state = up ? 'up' : 'unreachable';
    this.state.set(name, { state, since: prev.state === state || (prev.state === 'unknown' && !up) ? prev.since : now, lastUp: up ? now : prev.lastUp, error });
  }

  private async probe(s: StationRef) {
    try {
      const p = await probeStation(s, this.o.timeout_ms ?? 1500);
      // A station that names itself otherwise is not the one the file means (a moved address, a typo).
      if (p.name !== undefined && p.name !== s.name) throw new Error(`${s.url} answers as station ${JSON.stringify(p.name)}, not ${JSON.stringify(s.name)}`);
      this.mark(s.name, true);
      return p;
    } catch (e) {
      const c = (e as { cause?: { code?: string } }).cause;
      this.mark(s.name, false, (e as Error).name === 'TimeoutError' ? `no answer within ${this.o.timeout_ms ?? 1500} ms` : c?.code ?? (e as Error).message);
      return undefined;
    }
  }

  async poll(): Promise<HubSnapshot> {
    const target = parseInfluxUrl(this.cfg.influx);
    const [probes, influx] = await Promise.all([
      Promise.all(this.cfg.stations.map((s) => this.probe(s))),
      queryInfluxRuns(target, this.windowH, Math.max(3000, this.o.timeout_ms ?? 1500)).then(
        (runs) => {
          if (!this.influxState.ok) this.influxState = { ok: true, since: new Date().toISOString() };
          return runs;
        },
        (e: Error) => {
          const c = (e as { cause?: { code?: string } }).cause;
          this.influxState = { ok: false, since: this.influxState.ok ? new Date().toISOString() : this.influxState.since, error: e.name === 'TimeoutError' ? 'no answer in time' : c?.code ? `${e.message}: ${c.code}` : e.message };
          return undefined;
        },
      ),
    ]);
    const names = new Set(this.cfg.stations.map((s) => s.name));
    const stations = this.cfg.stations.map((s, k): StationView => {
      const p = probes[k];
      const st = this.state.get(s.name)!;
      return { name: s.name, url: s.url, ...st, boards: p?.boards ?? null, runs: mergeRuns(influx ? influx.filter((r) => r.station === s.name) : null, p?.runs ?? null, this.o.maxRuns ?? RUNS) };
    });
    const others = (influx ?? []).filter((r) => !names.has(r.station));
    this.snapshot = {
      checked: new Date().toISOString(),
      window_h: this.windowH,
      influx: this.influxState,
      stations,
      others: mergeRuns(others, null, this.o.maxRuns ?? RUNS).map((r) => ({ ...r, station: others.find((x) => x.run === r.id)?.station ?? '' })),
    };
    for (const fn of this.listeners) fn(this.snapshot);
    return this.snapshot;
  }
}
