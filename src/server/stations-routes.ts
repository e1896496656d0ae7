/**
 * The hub's routes (docs/server.md "Several stations, one view"): GET /api/stations, the newest
 * snapshot of every station of the stations file, and GET /api/stations/stream, the same pushed
 * over Server-Sent Events after every poll. Stations' tokens stay on the server (the snapshot
 * never carries them). A client that has not drained its socket skips snapshots (the next one
 * supersedes them); one stalled 30 s is dropped and its EventSource reconnects.
 */
import type express from 'express';
import type { StationsHub } from '../hub/stations-hub.js';

const STALL_MS = 30000;

export function registerStationsRoutes(app: express.Express, hub: StationsHub | undefined): void {
  const none = (res: express.Response) => res.status(404).json({ error: 'this server lists no stations: start it with rram serve --stations FILE (docs/server.md)', code: 'NOT_FOUND' });
  app.get('/api/stations', (_req, res) => (hub ? res.json(hub.snapshot) : none(res)));
  app.get('/api/stations/stream', (req, res) => {
    if (!hub) return none(res);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 1000\n\n');
    let stalledSince: number | undefined;
    const send = (s: unknown) => {
      if (res.writableNeedDrain) {
        stalledSince ??= Date.now();
        if (Date.now() - stalledSince > STALL_MS) res.destroy();
        return;
      }
      stalledSince = undefined;
      res.write(`event: stations\ndata: ${JSON.stringify(s)}\n\n`);
    };
    const off = hub.onSnapshot(send);
    req.on('close', off);
    res.on('close', off);
    send(hub.snapshot);
  });
}
