/**
 * One live run to one client over Server-Sent Events, with bounded memory (issue 25: a client that
 * stopped reading held 8.7 MB after 30 s and grew without bound). Each tick sends the delta since
 * the last seq the client got (live-state.ts): while the socket has not drained nothing more is
 * queued, so the next message coalesces every change meanwhile (the client sees the newest state,
 * not a backlog); a client stalled longer than `maxStall_ms`, or with more than `maxBuffered`
 * bytes queued, is dropped, and its EventSource reconnects with Last-Event-ID and resumes by seq.
 */
import type { Request, Response } from 'express';
import type { LiveDelta } from './live-state.js';

export interface LiveSource {
  readonly seq: number;
  readonly ended: boolean;
  delta(since: number): LiveDelta;
}

export interface StreamLimits {
  /** Bytes queued for one client beyond which it is dropped (one coalesced message can exceed the socket's high-water mark). */
  maxBuffered: number;
  /** How long a client may not drain before it is dropped. */
  maxStall_ms: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = { maxBuffered: 4 << 20, maxStall_ms: 30000 };

export interface StreamStats {
  runId: string;
  /** Bytes queued for the client now. */
  buffered: number;
  /** Most bytes ever queued for it. */
  peakBuffered: number;
  /** Ticks whose changes were folded into a later message because the client had not drained. */
  coalesced: number;
  sent: number;
}

/** The open streams (GET /api/streams): what each client has queued, and the clients dropped so far. */
export class StreamRegistry {
  readonly open = new Set<StreamStats>();
  dropped = 0;
  stats(): { open: StreamStats[]; dropped: number } {
    return { open: [...this.open].map((s) => ({ ...s })), dropped: this.dropped };
  }
}

/** The seq a client last saw (Last-Event-ID header, or ?since= for clients that cannot set headers); -1 for none. */
export function lastSeenSeq(req: Request): number {
  const last = req.get('last-event-id') ?? (req.query.since as string | undefined);
  return last !== undefined && /^-?\d{1,15}$/.test(last) ? Number(last) : -1;
}

export function serveLiveStream(
  req: Request,
  res: Response,
  o: { runId: string; live: LiveSource; tick_ms: number; active: () => boolean; registry: StreamRegistry; limits?: StreamLimits; clean?: (d: LiveDelta) => LiveDelta },
): void {
  const limits = o.limits ?? DEFAULT_STREAM_LIMITS;
  let since = lastSeenSeq(req);
  const stats: StreamStats = { runId: o.runId, buffered: 0, peakBuffered: 0, coalesced: 0, sent: 0 };
  o.registry.open.add(stats);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write('retry: 1000\n\n');
  let stalledSince: number | undefined;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    o.registry.open.delete(stats);
  };
  const send = () => {
    if (closed) return;
    stats.buffered = res.writableLength;
    stats.peakBuffered = Math.max(stats.peakBuffered, stats.buffered);
    if (res.writableNeedDrain) {
      const now = Date.now();
      stalledSince ??= now;
      if (now - stalledSince > limits.maxStall_ms || res.writableLength > limits.maxBuffered) {
        // Dropped: the socket's queue goes with it; the client reconnects and resumes by seq.
        o.registry.dropped++;
        close();
        res.destroy();
        return;
      }
      stats.coalesced++;
      return;
    }
    stalledSince = undefined;
    if (o.live.seq > since || since < 0) {
      const raw = o.live.delta(since);
      const d = o.clean ? o.clean(raw) : raw;
      res.write(`id: ${d.seq}\nevent: delta\ndata: ${JSON.stringify(d)}\n\n`);
      stats.sent++;
      since = d.seq;
      stats.buffered = res.writableLength;
      stats.peakBuffered = Math.max(stats.peakBuffered, stats.buffered);
    }
    if (o.live.ended && !o.active()) {
      res.write('event: end\ndata: {}\n\n');
      close();
      res.end();
    }
  };
  const timer = setInterval(send, o.tick_ms);
  req.on('close', close);
  res.on('close', close);
  send();
}
