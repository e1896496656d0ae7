/**
 * The station's queue API (docs/server.md "Station and queues"): per board, add / move / remove /
 * pause / resume / abort / halt, history, and a lock with a key. Every change needs the server's
 * token; while a queue is locked, also the lock's key (header X-Rram-Lock). Bodies are zod schemas
 * (src/station/queue-requests.ts); answers carry the queue's `rev`. Beside them, a down board's
 * reconnect (src/station/board-revival.ts).
 */
import type express from 'express';
import { existsSync } from 'node:fs';
import type { Request, RequestHandler, Response } from 'express';
import { InvalidArgumentError, RramError } from '../../drivers/errors.js';
import { newRunId } from '../engine/events.js';
import { parseBody } from '../io/validate.js';
import { checkRunId } from '../store/embedded-store.js';
import { AbortBody, AddBody, LockBody, MoveBody, ReconnectBody, UnlockBody } from '../station/queue-requests.js';
import type { Station } from '../station/station.js';
import type { StationBoards } from '../station/station-boards.js';
import { preflightBoardJob } from './job-preflight.js';
import { parseJobRequest, type JobRequest } from './job-requests.js';
import { checkConformanceBoard } from './conformance-job.js';

type Wrap = (fn: (req: Request, res: Response) => unknown) => RequestHandler;

const lockKey = (req: Request): string | undefined => req.get('x-rram-lock') ?? undefined;

/** A board job request for the queue (inference needs no board: it runs beside, POST /api/jobs). */
export function boardJobRequest(raw: unknown, station: Station, maxTrials?: number, o: { batch?: boolean } = {}): JobRequest {
  const r = parseJobRequest(raw, station.jobs.board.info(), { maxTrials });
  station.jobs.checkBoardUp();
  // A wv-bench entry comes in its benchmark's batch only, and the station alone links it to the item before it.
  if (r.kind === 'characterize' && r.wvBench) {
    if (!o.batch) throw new InvalidArgumentError('wvBench', r.wvBench.label, 'a wv-bench entry is added with its whole benchmark (POST /api/boards/:board/queue/batch)');
    for (const k of ['previous', 'first'] as const) if (r.wvBench[k] !== undefined) throw new InvalidArgumentError(`wvBench.${k}`, r.wvBench[k], 'is set by the station (the item before it in the batch), not by the request');
  }
  if (r.kind === 'infer') throw new InvalidArgumentError('kind', r.kind, 'an inference needs no board: start it with POST /api/jobs, not through a board queue');
  if (r.kind === 'conformance') checkConformanceBoard(station.jobs.board);
  if (r.kind === 'program-net') {
    station.jobs.modelDir(r.model);
    if (r.device.startsWith('run:')) station.jobs.levelCdfPath(r.device);
  }
  return r;
}

/** Runs before a queued item's: those queued ahead of it, and the one running. */
const aheadOf = (station: Station, position: number | undefined) => (position === undefined ? undefined : position + (station.queue.view().running ? 1 : 0));

/** Adds a board job to the queue; the answer names its run id and place. */
export function enqueue(station: Station, request: JobRequest, o: { position?: number; submitter?: string; key?: string }) {
  // Run ids carry a second and 16 random bits: two added in one second may meet; pick one no queue item or stored run has.
  let id = newRunId();
  while (station.queue.item(id) || existsSync(station.jobs.store.runDir(id))) id = newRunId();
  const { item, position, rev } = station.queue.add({ id, kind: request.kind, request, submitter: o.submitter, position: o.position }, o.key);
  // A page following the run opens its live stream now: it waits there until the run starts.
  station.jobs.liveRun(id);
  return { runId: item.id, kind: item.kind, params: request, position, ahead: aheadOf(station, position), rev, state: item.state };
}

export function registerQueueRoutes(app: express.Express, boards: StationBoards, o: { requireToken: RequestHandler; wrap: Wrap; maxTrials?: number }): void {
  const { requireToken, wrap } = o;
  const base = '/api/boards/:board/queue';
  const stationOf = (req: Request) => boards.get(String(req.params.board));
  const queueOf = (req: Request) => stationOf(req).queue;
  app.get(base, wrap((req, res) => res.json(stationOf(req).view())));
  app.get(`${base}/history`, wrap((req, res) => res.json({ board: stationOf(req).boardId, items: queueOf(req).history() })));
  app.get(
    `${base}/:id`,
    wrap((req, res) => {
      const station = stationOf(req);
      const id = checkRunId(String(req.params.id));
      const item = station.queue.item(id);
      if (!item) throw new RramError('NOT_FOUND', `no item ${id} in board ${station.boardId}'s queue or its history`);
      res.json({ ...item, ahead: aheadOf(station, item.position) });
    }),
  );
  app.post(
    base,
    requireToken,
    wrap(async (req, res) => {
      const station = stationOf(req);
      const b = parseBody(AddBody, req.body);
      const r = boardJobRequest(b.request, station, o.maxTrials);
      await preflightBoardJob(station.jobs.store, station.jobs.board, r);
      res.status(202).json(enqueue(station, r, { position: b.position, submitter: b.submitter, key: lockKey(req) }));
    }),
  );
  app.post(`${base}/:id/move`, requireToken, wrap((req, res) => res.json(queueOf(req).move(checkRunId(String(req.params.id)), parseBody(MoveBody, req.body).position, lockKey(req)))));
  app.delete(`${base}/:id`, requireToken, wrap((req, res) => res.json(queueOf(req).remove(checkRunId(String(req.params.id)), lockKey(req)))));
  app.post(`${base}/pause`, requireToken, wrap((req, res) => res.json(queueOf(req).pause(lockKey(req)))));
  app.post(`${base}/resume`, requireToken, wrap((req, res) => res.json(queueOf(req).resume(lockKey(req)))));
  app.post(
    `${base}/abort`,
    requireToken,
    wrap(async (req, res) => {
      const q = queueOf(req);
      res.json(await q.abort(parseBody(AbortBody, req.body ?? {}).id, lockKey(req)));
    }),
  );
  app.post(
    `${base}/halt`,
    requireToken,
    wrap(async (req, res) => {
      const station = stationOf(req);
      const r = await station.halt(lockKey(req));
      res.json({ ...r, halted: true, lines: station.watched.lines() });
    }),
  );
  app.post(`/api/boards/:board/lock`, requireToken, wrap((req, res) => {
    const b = parseBody(LockBody, req.body);
    res.json(queueOf(req).lock(b.key, b.note));
  }));
  app.post(`/api/boards/:board/unlock`, requireToken, wrap((req, res) => res.json(queueOf(req).unlock(parseBody(UnlockBody, req.body).key))));
  // A down board taken back now (the re-probe does it by itself too): no lock key, as it changes no queue.
  app.post(
    `/api/boards/:board/reconnect`,
    requireToken,
    wrap(async (req, res) => {
      const station = stationOf(req);
      parseBody(ReconnectBody, req.body ?? {});
      const r = await station.revival.reconnect();
      res.json({ board: station.boardId, ...r, link: station.revival.view(), lines: station.watched.lines() });
    }),
  );
}
