/**
 * One poll of one station over its own HTTP API, server-side (the token never reaches a page):
 * who it says it is (/api/config), its boards with their queues (/api/boards, then each board's
 * /api/boards/:id/queue), and what its store holds per run (/api/runs). Any failure, a timeout
 * included, makes the whole poll fail: a station is up only when it answered all of it just now.
 */
export interface ProbedQueue {
  rev: number;
  paused: boolean;
  halted: boolean;
  locked: boolean;
  running: { id: string; kind: string; submitter?: string } | null;
  queued: { id: string; kind: string; submitter?: string }[];
}
export interface ProbedBoard {
  id: string;
  kind?: string;
  lines?: string;
  queue: ProbedQueue;
}
export interface StoreRun {
  id: string;
  kind: string;
  status: string;
  started: string;
  /** Events in the run's record minus its intents (which are no InfluxDB points). */
  points: number;
}
export interface Probe {
  /** The name the station answers with (its --name); undefined for a station older than names. */
  name?: string;
  boards: ProbedBoard[];
  runs: StoreRun[];
}

interface RawItem {
  id: string;
  kind: string;
  submitter?: string;
}
const item = (i: RawItem) => ({ id: i.id, kind: i.kind, ...(i.submitter ? { submitter: i.submitter } : {}) });

export async function probeStation(s: { url: string; token?: string }, timeout_ms: number): Promise<Probe> {
  const signal = AbortSignal.timeout(timeout_ms);
  const get = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${s.url}${path}`, { signal, headers: s.token ? { 'x-rram-token': s.token } : {} });
    if (!r.ok) throw new Error(`GET ${path}: HTTP ${r.status}`);
    return (await r.json()) as T;
  };
  const [cfg, boards, runs] = await Promise.all([
    get<{ station?: string }>('/api/config'),
    get<{ id: string; info?: { kind?: string }; lines?: { state?: string } }[]>('/api/boards'),
    get<{ id: string; kind: string; status: string; started: string; events: number; counts?: Record<string, number> }[]>('/api/runs'),
  ]);
  const queues = await Promise.all(
    boards.map((b) => get<{ rev: number; paused: boolean; halted: boolean; lock: { locked: boolean }; running: RawItem | null; queued: RawItem[] }>(`/api/boards/${encodeURIComponent(b.id)}/queue`)),
  );
  return {
    name: cfg.station,
    boards: boards.map((b, k) => {
      const q = queues[k];
      return { id: b.id, kind: b.info?.kind, lines: b.lines?.state, queue: { rev: q.rev, paused: q.paused, halted: q.halted, locked: q.lock.locked, running: q.running ? item(q.running) : null, queued: q.queued.map(item) } };
    }),
    runs: runs.map((r) => ({ id: r.id, kind: r.kind, status: r.status, started: r.started, points: r.events - (r.counts?.intent ?? 0) })),
  };
}
