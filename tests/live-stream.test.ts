/**
 * Slow clients cannot hold the server's memory (issue 25): a client that stops reading gets its
 * changes coalesced, never more than the per-client bound queued, and is dropped after the stall
 * limit; a client reading normally meanwhile gets every change; the run's final state reaches a
 * client that reconnects with its last seq.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startServer, waitFor } from './helpers/server.js';

interface Delta {
  seq: number;
  cells: [number, number, number, number | null, number, string | null, number, number | null][];
  end?: unknown;
}

/** Reads an SSE stream to its end (or until `stop`), folding cells into a map keyed by address. */
async function follow(url: string, headers: Record<string, string> = {}, stop?: (seq: number) => boolean) {
  const ac = new AbortController();
  const r = await fetch(url, { headers, signal: ac.signal });
  const reader = r.body!.getReader();
  const dec = new TextDecoder();
  const cells = new Map<string, string>();
  let buf = '';
  let last = -1;
  let ended = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let k;
      while ((k = buf.indexOf('\n\n')) >= 0) {
        const msg = buf.slice(0, k);
        buf = buf.slice(k + 2);
        if (/^event: end/m.test(msg)) ended = true;
        const data = /^data: (.*)$/m.exec(msg)?.[1];
        if (!data || !/^event: delta/m.test(msg)) continue;
        const d = JSON.parse(data) as Delta;
        for (const c of d.cells) cells.set(`${c[0]}:${c[1]}:${c[2]}`, JSON.stringify(c.slice(3)));
        last = d.seq;
        if (stop?.(last)) {
          ac.abort();
          return { cells, last, ended };
        }
      }
    }
  } catch (e) {
    if (!ac.signal.aborted) throw e;
  }
  return { cells, last, ended };
}

test('a client that stops reading: bounded queue, changes coalesced, dropped after the stall limit; other clients unaffected', { timeout: 300000 }, async () => {
  const maxBuffered = 256 << 10;
  const s = await startServer({ tick_ms: 10, streamLimits: { maxBuffered, maxStall_ms: 2500 } });
  try {
    const started = (await (await s.post(`${s.url}/api/jobs`, { kind: 'characterize', levels: 8, cellsPerLevel: 384 })).json()) as { runId: string };
    const id = started.runId;
    const path = `/api/runs/${id}/stream`;
    // The stalled client: asks for the stream and never reads a byte.
    const { port } = new URL(s.url);
    const sock = connect(Number(port), '127.0.0.1');
    sock.pause();
    sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
    // A client that reads normally, at the same time: every cell's last state, and the end.
    const normal = follow(`${s.url}${path}`);
    let peak = 0;
    let coalesced = 0;
    const stats = await waitFor(
      async () => {
        const st = (await (await fetch(`${s.url}/api/streams`)).json()) as { open: { runId: string; peakBuffered: number; coalesced: number }[]; dropped: number };
        for (const o of st.open) {
          peak = Math.max(peak, o.peakBuffered);
          coalesced = Math.max(coalesced, o.coalesced);
        }
        return st.dropped >= 1 ? st : undefined;
      },
      240000,
      'the stalled client to be dropped',
    );
    assert.equal(stats.dropped, 1, 'only the stalled client is dropped');
    assert.ok(coalesced > 0, 'ticks were coalesced while the client did not drain');
    const got = await normal;
    assert.ok(got.ended, 'the reading client got the whole run');
    // The bound: what was queued before a tick found the socket full, plus one coalesced message
    // (at most the whole state, which a client that never saw anything gets).
    const full = await follow(`${s.url}${path}?since=-1`);
    const fullBytes = JSON.stringify([...full.cells]).length + (64 << 10);
    assert.ok(peak <= maxBuffered + fullBytes, `peak queued ${peak} B > ${maxBuffered} + ${fullBytes}`);
    assert.deepEqual(new Map([...got.cells].sort()), new Map([...full.cells].sort()), 'the reading client has the final state');
    assert.equal(full.cells.size, 8 * 384);
    // A client that left halfway and reconnects with its last seq ends with the same state.
    const first = await follow(`${s.url}${path}`, {}, (seq) => seq > 0);
    const rest = await follow(`${s.url}${path}`, { 'last-event-id': String(first.last) });
    const merged = new Map([...first.cells, ...rest.cells]);
    assert.deepEqual(new Map([...merged].sort()), new Map([...full.cells].sort()));
    sock.destroy();
  } finally {
    await s.close();
  }
});
