/** A dashboard server on an ephemeral loopback port with its own store, for API and browser tests. */
import { mkdtempSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../../drivers/emulated/emulated-board.js';
import { loadCalibration } from '../../calibration/calibration.js';
import { EmbeddedStore } from '../../src/store/embedded-store.js';
import { JobManager } from '../../src/server/job-manager.js';
import { createApp } from '../../src/server/app.js';
import { Station } from '../../src/station/station.js';
import { StationBoards } from '../../src/station/station-boards.js';
import type { StreamLimits } from '../../src/server/live-stream.js';

export interface TestServer {
  url: string;
  /** The token mutating requests need (the given one, or the per-server one the page reads from /api/config). */
  token: string;
  /** POST with the token, as the dashboard page does. */
  post(url: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  jobs: JobManager;
  /** The board's queue (src/station/). */
  station: Station;
  /** Every board's (`boards` > 1: emulated seeds 4, 5, ... beside the first, seed 3). */
  boards: StationBoards;
  storeDir: string;
  close(): Promise<void>;
}

/** `savedBoard`: the board's cells kept in the store (as `rram serve` keeps them), so that its runs can be resumed. */
export async function startServer(o: { token?: string; storeDir?: string; allowHosts?: string[]; studies?: string; tick_ms?: number; streamLimits?: StreamLimits; savedBoard?: boolean; boards?: number } = {}): Promise<TestServer> {
  const storeDir = o.storeDir ?? mkdtempSync(join(tmpdir(), 'srv-store-'));
  // As `rram serve` does: the emulated board with its own calibration (ranges, ISPVA gates, igvva-predict).
  const board = new EmulatedBoard({ seed: 3 });
  if (o.savedBoard) board.attachState(join(storeDir, 'boards'));
  const jobs = new JobManager(board, new EmbeddedStore(storeDir), async () => [], loadCalibration());
  const station = new Station(jobs);
  const boards = new StationBoards([station, ...Array.from({ length: (o.boards ?? 1) - 1 }, (_, k) => new Station(jobs.forBoard(new EmulatedBoard({ seed: 4 + k }), loadCalibration()), `board${k + 1}`))]);
  const server: Server = createApp(jobs, { boards, token: o.token, allowHosts: o.allowHosts, studies: o.studies, tick_ms: o.tick_ms, streamLimits: o.streamLimits }).listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  const a = server.address() as { port: number };
  const url = `http://127.0.0.1:${a.port}`;
  const cfg = (await (await fetch(`${url}/api/config`)).json()) as { sessionToken?: string };
  const token = o.token ?? cfg.sessionToken!;
  return {
    url,
    token,
    post: (u, body, headers = {}) => fetch(u, { method: 'POST', headers: { 'content-type': 'application/json', 'x-rram-token': token, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) }),
    jobs,
    station,
    boards,
    storeDir,
    async close() {
      for (const b of boards.stations) b.queue.pause();
      for (const j of jobs.jobs()) jobs.abort(j.runId);
      await jobs.idle();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      if (o.savedBoard) await board.close();
    },
  };
}

export async function waitFor<T>(fn: () => Promise<T | undefined> | T | undefined, timeout_ms = 60000, what = 'condition'): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeout_ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
