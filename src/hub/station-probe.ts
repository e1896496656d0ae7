/**
 * One poll of one station over its own HTTP API, server-side (the token never reaches a page):
 * who it says it is (/api/config), its boards with their queues (/api/boards, then each board's
 * /api/boards/:id/queue), and what its store holds per run (/api/runs). Any failure, a timeout
 * included, makes the whole poll fail: a station is up only when it answered all of it just now.
 */
import { z } from 'zod';

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

// What the hub reads of a station's answers, checked (another process's bytes: a station of
// another version, or not a station at all, is refused by name, never shown as numbers it did not say).
const Item = z.object({ id: z.string(), kind: z.string(), submitter: z.string().optional() });
type RawItem = z.infer<typeof Item>;
const ConfigAnswer = z.object({ station: z.string().optional() });
const BoardsAnswer = z.array(z.object({ id: z.string(), info: z.object({ kind: z.string().optional() }).optional(), lines: z.object({ state: z.string().optional() }).nullish() }));
const QueueAnswer = z.object({ rev: z.number(), paused: z.boolean(), halted: z.boolean(), lock: z.object({ locked: z.boolean() }), running: Item.nullable(), queued: z.array(Item) });
const RunsAnswer = z.array(z.object({ id: z.string(), kind: z.string(), status: z.string(), started: z.string(), events: z.number().int().nonnegative(), counts: z.record(z.number()).optional() }));

const item = (i: RawItem) => ({ id: i.id, kind: i.kind, ...(i.submitter ? { submitter: i.submitter } : {}) });

export async function probeStation(s: { url: string; token?: string }, timeout_ms: number): Promise<Probe> {
  const signal = AbortSignal.timeout(timeout_ms);
  const get = async <T>(path: string, schema: z.ZodType<T>): Promise<T> => {
    const r = await fetch(`${s.url}${path}`, { signal, headers: s.token ? { 'x-rram-token': s.token } : {} });
    if (!r.ok) throw new Error(`GET ${path}: HTTP ${r.status}`);
    const body = schema.safeParse(await r.json());
    if (!body.success) {
      const i = body.error.issues[0];
      throw new Error(`GET ${path}: not a station's answer (${i.path.join('.') || 'the body'}: ${i.message})`);
    }
    return body.data;
  };
  const [cfg, boards, runs] = await Promise.all([get('/api/config', ConfigAnswer), get('/api/boards', BoardsAnswer), get('/api/runs', RunsAnswer)]);
  const queues = await Promise.all(boards.map((b) => get(`/api/boards/${encodeURIComponent(b.id)}/queue`, QueueAnswer)));
  return {
    name: cfg.station,
    boards: boards.map((b, k) => {
      const q = queues[k];
      return { id: b.id, kind: b.info?.kind, lines: b.lines?.state, queue: { rev: q.rev, paused: q.paused, halted: q.halted, locked: q.lock.locked, running: q.running ? item(q.running) : null, queued: q.queued.map(item) } };
    }),
    runs: runs.map((r) => ({ id: r.id, kind: r.kind, status: r.status, started: r.started, points: r.events - (r.counts?.intent ?? 0) })),
  };
}
