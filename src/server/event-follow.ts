/**
 * GET /api/runs/:id/follow: a run's console events as Server-Sent Events - what a CLI prints while
 * it runs (run-start with its setup, progress, warnings, marks, pulses of unknown or refused
 * outcome, run-end) - so a command queued on a station shows its run as if it ran locally. The
 * stored events come first, then the live ones (each once, by seq); a run not started yet is
 * waited for. Pulses, reads and cell-dones stay out: they are the heavy part and the terminal
 * does not show them.
 */
import type { Request, Response } from 'express';
import type { Subject } from 'rxjs';
import type { RunEvent } from '../engine/events.js';
import type { EmbeddedStore } from '../store/embedded-store.js';

export function consoleEvent(e: RunEvent): boolean {
  return e.type === 'run-start' || e.type === 'run-resume' || e.type === 'progress' || e.type === 'warning' || e.type === 'mark' || e.type === 'run-end' || (e.type === 'pulse' && e.outcome !== undefined);
}

export function serveRunFollow(req: Request, res: Response, o: { runId: string; after?: number; bus: Subject<RunEvent>; store: EmbeddedStore; clean: (e: RunEvent) => RunEvent }): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  let last = o.after ?? -1;
  let closed = false;
  const pending: RunEvent[] = [];
  let replaying = true;
  const send = (e: RunEvent) => {
    if (closed || e.seq <= last) return;
    last = e.seq;
    res.write(`id: ${e.seq}\nevent: run\ndata: ${JSON.stringify(o.clean(e))}\n\n`);
    if (e.type === 'run-end') finish();
  };
  const finish = () => {
    if (closed) return;
    closed = true;
    sub.unsubscribe();
    clearInterval(ping);
    res.write('event: end\ndata: {}\n\n');
    res.end();
  };
  // Subscribe before reading the store, so no event falls between the two.
  const sub = o.bus.subscribe((e) => {
    if (e.runId !== o.runId || !consoleEvent(e)) return;
    if (replaying) pending.push(e);
    else send(e);
  });
  // A comment now and then keeps proxies and the client's idle timer from cutting a long wait.
  const ping = setInterval(() => !closed && res.write(': queued or running\n\n'), 15000);
  const stop = () => {
    closed = true;
    sub.unsubscribe();
    clearInterval(ping);
  };
  req.on('close', stop);
  res.on('close', stop);
  void (async () => {
    try {
      o.store.getRun(o.runId);
      for await (const e of o.store.events(o.runId)) if (consoleEvent(e)) send(e);
    } catch {
      // not started yet: its events come from the bus
    }
    replaying = false;
    for (const e of pending.splice(0)) send(e);
  })();
}
