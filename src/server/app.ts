/**
 * The dashboard's HTTP side: JSON API, Server-Sent Events live stream, static pages from
 * dashboards/. Requests that start, abort or change anything need a token (security.ts): the
 * user's, or a per-server one the served page reads from /api/config; foreign Host headers and
 * cross-site requests are refused; at most one inference job runs at a time.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { join, resolve } from 'node:path';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { InvalidArgumentError, RramError } from '../../drivers/errors.js';
import { exportableRun, exportRun } from '../store/export.js';
import { exportHdf5 } from '../store/export-hdf5.js';
import { checkRunId } from '../store/embedded-store.js';
import { eventTypeFilter } from '../engine/events.js';
import { repoRoot } from '../../lib/repo-root.js';
import type { JobManager } from './job-manager.js';
import { DEFAULT_MAX_TRIALS, parseJobRequest } from './job-requests.js';
import { getStudy, listStudies } from './studies.js';
import { hostAllowlist, refuseCrossSite, requestToken, requireToken as requireTokenOf, scrubPaths } from './security.js';
import { contentSecurityPolicy } from './csp.js';
import { deleteRun, setArchived, setMetadata } from '../store/run-admin.js';
import { parseBody } from '../io/validate.js';
import { z } from 'zod';

const ArchiveBody = z.object({ archived: z.boolean() }).strict();
import { serveLiveStream, StreamRegistry, type StreamLimits } from './live-stream.js';
import { serveEventModel } from './event-model-stream.js';
import { cellHistory } from '../store/cell-history.js';
import { Station } from '../station/station.js';
import { StationBoards } from '../station/station-boards.js';
import { serveRunFollow } from './event-follow.js';
import { boardJobRequest, enqueue, registerQueueRoutes } from './queue-routes.js';
import { preflightBoardJob } from './job-preflight.js';
import { registerQueueBatchRoute } from './queue-batch-route.js';
import { registerResumeRoutes } from './resume-run.js';
import { registerStationsRoutes } from './stations-routes.js';
import type { StationsHub } from '../hub/stations-hub.js';

export interface AppOptions {
  /** The user's token (--token, always set beyond loopback); without one a per-server token protects mutating requests. */
  token?: string;
  /** Host names besides the loopback ones this server answers to (its listen address). */
  allowHosts?: string[];
  /** Live-stream tick (ms): updates are batched to at most one message per tick per client. */
  tick_ms?: number;
  /** Most Monte Carlo trials one job may ask for. */
  maxTrials?: number;
  /** Folder whose study folders (`rram study ... --out`) the Studies page shows (default: the working folder). */
  studies?: string;
  /** Per-client live-stream bounds (default 4 MB queued, 30 s without draining). */
  streamLimits?: StreamLimits;
  /** The station (the board's queue); one over `jobs` is made when not given. */
  station?: Station;
  /** Every board of the station (rram serve with several boards); the first is `jobs`'s. Overrides `station`. */
  boards?: StationBoards;
  /** The station's name (`rram serve --name`), told in /api/config so a hub can check whom it reached. */
  stationName?: string;
  /** The stations of a stations file (`rram serve --stations`): the Stations page. */
  hub?: StationsHub;
}

const STATUS: Record<string, number> = { PRUNED: 410, INVALID_ARGUMENT: 400, NOT_FOUND: 404, BUSY: 409, LOCKED: 423, LIMIT: 400, ADDRESS: 400, DATA: 400, UNSUPPORTED: 400, DISCONNECTED: 503 };

/** Folders whose paths never appear in an answer (set per app: the store's root joins them). */
let serverRoots: string[] = [repoRoot(), homedir(), tmpdir(), realTmp()];
function realTmp(): string {
  try {
    return realpathSync(tmpdir());
  } catch {
    return tmpdir();
  }
}
const scrub = (m: string) => scrubPaths(m, serverRoots);

function sendError(res: Response, e: unknown): void {
  if (e instanceof RramError) {
    const ctx = Object.fromEntries(Object.entries(e.context ?? {}).map(([k, v]) => [k, typeof v === 'string' ? scrub(v) : v]));
    res.status(STATUS[e.code] ?? 500).json({ error: scrub(e.message), code: e.code, ...ctx });
  } else res.status(500).json({ error: scrub((e as Error)?.message ?? String(e)), code: 'INTERNAL' });
}

const wrap = (fn: (req: Request, res: Response) => unknown) => async (req: Request, res: Response) => {
  try {
    await fn(req, res);
  } catch (e) {
    sendError(res, e);
  }
};

function intQuery(req: Request, name: string, def: number, max: number): number {
  const raw = req.query[name];
  if (raw === undefined) return def;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0 || v > max) throw new InvalidArgumentError(name, raw, `must be an integer in 0..${max}`);
  return v;
}

/** A cell address from path segments: plain decimal digits (never an empty or coerced value), inside the run's board. */
const cellParams = (b: { arrays?: number; rows?: number; cols?: number }) => {
  const index = (name: string, n = 1024) => z.string().regex(/^\d{1,4}$/, `${name} must be a whole number`).transform(Number).refine((v) => v < n, `${name} must be below ${n} (this board)`);
  return z.object({ array: index('array', b.arrays), row: index('row', b.rows), col: index('col', b.cols) }).strict();
};

export function createApp(jobs: JobManager, o: AppOptions = {}): express.Express {
  const app = express();
  const tick = o.tick_ms ?? 125;
  const streams = new StreamRegistry();
  app.disable('x-powered-by');
  app.use(contentSecurityPolicy);
  serverRoots = [...new Set([...serverRoots, resolve(jobs.store.root)])];
  app.use(hostAllowlist(o.allowHosts));
  app.use('/api', refuseCrossSite);
  app.use(express.json({ limit: '64kb' }));
  const { token, generated } = requestToken(o.token);
  const requireToken = requireTokenOf(token);

  const boards = o.boards ?? new StationBoards([o.station ?? new Station(jobs)]);
  // Runs other processes write into the store appear live like this server's own.
  jobs.followStore();
  // Each board with its queue, the state of its lines (a halt leaves them grounded: `lines.state`) and its link (down, why, the last re-probe).
  app.get('/api/boards', (_req, res) => {
    res.json(
      boards.stations.map((station) => {
        const v = station.view();
        return { id: station.boardId, ...(station.key ? { key: station.key } : {}), info: station.jobs.board.info(), busy: v.running?.id ?? null, queue: { rev: v.rev, paused: v.paused, halted: v.halted, locked: v.lock.locked, running: v.running?.id ?? null, queued: v.queued.map((i) => i.id) }, lines: v.lines, link: v.link };
      }),
    );
  });
  registerQueueRoutes(app, boards, { requireToken, wrap, maxTrials: o.maxTrials });
  registerQueueBatchRoute(app, boards, { requireToken, wrap, maxTrials: o.maxTrials });
  registerResumeRoutes(app, boards, { requireToken, wrap, maxTrials: o.maxTrials });
  // The page reads the per-server token here; a cross-site page cannot (no CORS, Host and Sec-Fetch-Site checked).
  app.get('/api/config', (_req, res) => res.json({ tokenRequired: !generated, tick_ms: tick, maxTrials: o.maxTrials ?? DEFAULT_MAX_TRIALS, ...(o.stationName ? { station: o.stationName } : {}), hub: !!o.hub, ...(generated ? { sessionToken: token } : {}) }));
  registerStationsRoutes(app, o.hub);
  // Run records keep the full error for the CLI user; over HTTP server paths are cut from it.
  const shown = <T extends { error?: string }>(r: T): T => (r.error ? { ...r, error: scrub(r.error) } : r);
  app.get('/api/runs', wrap((_req, res) => res.json(jobs.store.listRuns().map((r) => shown({ ...r, board: undefined, writer: undefined, active: jobs.isActive(r.id) })))));
  app.get('/api/runs/:id', wrap((req, res) => res.json(shown({ ...jobs.store.getRun(checkRunId(String(req.params.id))), active: jobs.isActive(String(req.params.id)) }))));
  app.get(
    '/api/runs/:id/events',
    wrap(async (req, res) => {
      const id = checkRunId(String(req.params.id));
      jobs.store.getRun(id);
      const offset = intQuery(req, 'offset', 0, 1e9);
      const limit = intQuery(req, 'limit', 1000, 10000);
      const type = eventTypeFilter('type', req.query.type === undefined ? undefined : String(req.query.type));
      const events = [];
      for await (const e of jobs.store.events(id, { offset, limit, type })) events.push(e);
      res.json({ runId: id, offset, limit, events, next: events.length === limit ? offset + limit : null });
    }),
  );
  app.get(
    '/api/runs/:id/results/:name',
    wrap((req, res) => {
      const id = checkRunId(String(req.params.id));
      const name = String(req.params.name);
      if (!['level-cdf', 'program', 'infer', 'program-net', 'fine-tune', 'sweep', 'calibration-fit', 'twin', 'wv-bench', 'read', 'pulse', 'iv', 'endurance', 'retention', 'reverify', 'conformance', 'infer-on-board'].includes(name)) return res.status(404).json({ error: `no result kind ${name}`, code: 'NOT_FOUND' });
      // Results name the level-CDF files they used: shown as run:<id>, and no other server path leaves.
      const runsDir = resolve(jobs.store.root, 'runs').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const text = JSON.stringify(jobs.store.loadResult(id, name)).replace(new RegExp(`${runsDir}/([A-Za-z0-9_-]+)/level-cdf\\.json`, 'g'), 'run:$1');
      res.type('application/json').send(scrub(text));
    }),
  );
  // One cell's history on the board of a run (the map's click): every run's pulses and reads of it.
  app.get(
    '/api/runs/:id/cells/:array/:row/:col/history',
    wrap(async (req, res) => {
      const id = checkRunId(String(req.params.id));
      const run = jobs.store.getRun(id);
      const b = (run.board ?? {}) as { arrays?: number; rows?: number; cols?: number };
      const cell = parseBody(cellParams(b), { array: req.params.array, row: req.params.row, col: req.params.col });
      res.json(await cellHistory(jobs.store, id, cell));
    }),
  );
  app.get(
    '/api/runs/:id/event-model',
    wrap((req, res) => serveEventModel(jobs.store, checkRunId(String(req.params.id)), req, res)),
  );
  app.get(
    '/api/runs/:id/export',
    wrap(async (req, res) => {
      const id = checkRunId(String(req.params.id));
      const format = String(req.query.format ?? 'csv');
      if (format !== 'csv' && format !== 'json' && format !== 'hdf5' && format !== 'event-model') return res.status(400).json({ error: `format=${JSON.stringify(format)}: must be csv, json, hdf5 or event-model`, field: 'format', reason: 'must be csv, json, hdf5 or event-model' });
      exportableRun(jobs.store, id);
      if (format === 'hdf5') {
        const array = req.query.array === undefined ? undefined : intQuery(req, 'array', 0, 1023);
        const dir = mkdtempSync(join(tmpdir(), 'rram-h5-'));
        const file = join(dir, `${id}.h5`);
        try {
          await exportHdf5(jobs.store, id, file, { array });
          await new Promise<void>((ok, fail) => res.download(file, `${id}.h5`, (e) => (e ? fail(e) : ok())));
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
        return;
      }
      res.type(format === 'csv' ? 'text/csv' : format === 'json' ? 'application/json' : 'application/x-ndjson').attachment(`${id}.${format === 'event-model' ? 'jsonl' : format}`);
      await exportRun(jobs.store, id, format, res);
      res.end();
    }),
  );
  // The final state of every cell a run touched, in one answer: the map of a stored run without replaying its stream.
  app.get(
    '/api/runs/:id/map',
    wrap(async (req, res) => {
      const id = checkRunId(String(req.params.id));
      const d = (await jobs.loadLive(id)).delta(-1);
      res.json({ runId: id, seq: d.seq, kind: d.kind, params: d.params, board: d.board, cells: d.cells, end: d.end ? { status: d.end.status } : undefined });
    }),
  );
  // Metadata edits, archiving and deleting (run-admin.ts): each needs the token; a running run is never deleted.
  app.put('/api/runs/:id/metadata', requireToken, wrap((req, res) => res.json(shown(setMetadata(jobs.store, checkRunId(String(req.params.id)), req.body)))));
  app.post(
    '/api/runs/:id/archive',
    requireToken,
    wrap((req, res) => res.json(shown(setArchived(jobs.store, checkRunId(String(req.params.id)), parseBody(ArchiveBody, req.body).archived)))),
  );
  app.delete(
    '/api/runs/:id',
    requireToken,
    wrap((req, res) => {
      const id = checkRunId(String(req.params.id));
      deleteRun(jobs.store, id, (x) => jobs.isActive(x));
      res.json({ runId: id, deleted: true });
    }),
  );
  app.get('/api/jobs', (_req, res) => res.json(jobs.jobs()));
  const studiesRoot = o.studies ?? '.';
  app.get('/api/studies', wrap((_req, res) => res.json(listStudies(studiesRoot))));
  app.get('/api/studies/:name', wrap((req, res) => res.json(getStudy(studiesRoot, String(req.params.name)))));
  // A board job joins the board's queue (its run id is known at once); an inference starts now, beside it.
  app.post(
    '/api/jobs',
    requireToken,
    wrap(async (req, res) => {
      // `board`: which board's queue (boards.target refuses an unknown one by name, or none while several are served).
      const { station, request } = boards.target(req.body);
      const kind = (request as { kind?: unknown } | null)?.kind;
      if (kind !== 'infer') {
        const r = boardJobRequest(request, station, o.maxTrials);
        await preflightBoardJob(station.jobs.store, station.jobs.board, r);
        return res.status(202).json({ ...enqueue(station, r, { key: req.get('x-rram-lock') ?? undefined }), board: station.boardId });
      }
      const r = parseJobRequest(request, jobs.board.info(), { maxTrials: o.maxTrials });
      if (r.kind !== 'infer') throw new InvalidArgumentError('kind', r.kind, 'not an inference');
      // One inference at a time: a Monte Carlo takes every core.
      const running = jobs.jobs().find((j) => j.kind === 'infer');
      if (running) return res.status(409).json({ error: `inference job ${running.runId} is running: one at a time`, code: 'BUSY', runId: running.runId });
      jobs.modelDir(r.model);
      if (r.device.startsWith('run:')) jobs.levelCdfPath(r.device);
      const runId = jobs.start(r);
      res.status(202).json({ runId, kind: r.kind, params: r });
    }),
  );
  app.post(
    '/api/jobs/:id/abort',
    requireToken,
    wrap((req, res) => {
      const id = checkRunId(String(req.params.id));
      const station = boards.holding(id);
      const v = station?.queue.view();
      const key = req.get('x-rram-lock') ?? undefined;
      // A board job: aborted through its queue (the lock applies); one not started yet leaves the queue.
      if (station && v?.queued.some((i) => i.id === id)) return res.json({ runId: id, removed: true, ...station.queue.remove(id, key) });
      if (station && v?.running?.id === id) {
        const p = station.queue.abort(id, key);
        return void p.then(() => res.json({ runId: id, aborting: true }), (e: unknown) => sendError(res, e));
      }
      if (!jobs.abort(id)) return res.status(404).json({ error: `no active job ${id}`, code: 'NOT_FOUND' });
      res.json({ runId: id, aborting: true });
    }),
  );

  // Live stream: one SSE message per tick with everything that changed (compacted), id = seq;
  // bounded per client (live-stream.ts).
  app.get(
    '/api/runs/:id/stream',
    wrap(async (req, res) => {
      const id = checkRunId(String(req.params.id));
      const live = await jobs.loadLive(id);
      serveLiveStream(req, res, { runId: id, live, tick_ms: tick, active: () => jobs.isActive(id), registry: streams, limits: o.streamLimits, clean: (d) => (d.end?.error ? { ...d, end: { ...d.end, error: scrub(d.end.error) } } : d) });
    }),
  );
  // A run's console events (what a CLI shows), stored then live: a command queued on this station follows its run here.
  app.get(
    '/api/runs/:id/follow',
    wrap((req, res) => {
      const id = checkRunId(String(req.params.id));
      // `after`: only events past this seq (a resumed run's follower skips what came before its resume).
      const after = req.query.after === undefined ? -1 : intQuery(req, 'after', 0, 1e12);
      serveRunFollow(req, res, { runId: id, after, bus: jobs.bus, store: jobs.store, clean: (e) => (e.type === 'run-end' && e.error ? { ...e, error: scrub(e.error) } : e) });
    }),
  );
  // What each open live stream has queued (memory stays bounded however slow a client is).
  app.get('/api/streams', (_req, res) => res.json(streams.stats()));
  // Newest run and job changes, for pages that follow "whatever runs now".
  app.get('/api/active', (_req, res) => res.json({ jobs: jobs.jobs(), latest: jobs.store.listRuns().sort((a, b) => (a.started < b.started ? 1 : -1))[0]?.id ?? null }));

  app.use('/api', (_req, res) => res.status(404).json({ error: 'no such endpoint', code: 'NOT_FOUND' }));
  // The charting library, served from the installed package (no CDN: lab machines are often offline).
  app.get('/vendor/echarts.min.js', (_req, res) => res.sendFile(join(repoRoot(), 'node_modules', 'echarts', 'dist', 'echarts.min.js')));
  app.use(express.static(join(repoRoot(), 'dashboards'), { index: 'index.html' }));
  // Malformed JSON bodies and any other error: a JSON answer, never a crash.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string };
    if (e?.type === 'entity.parse.failed') return res.status(400).json({ error: `body: not valid JSON (${e.message})`, field: 'body', reason: 'not valid JSON' });
    if (e?.status && e.status < 500) return res.status(e.status).json({ error: scrub(e.message ?? 'bad request') });
    sendError(res, err);
  });
  return app;
}
