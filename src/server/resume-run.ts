/**
 * Resuming an interrupted run through the station (issue 29). `POST /api/runs/:id/resume` puts the
 * run's own job back on its board's queue - the path every dashboard job takes - as an item with
 * the run's id and `resume` set, and the engine continues the stored run: the same folder, its
 * sequence numbers continued, every cell its record says is done left alone. `GET
 * /api/runs/:id/resume` says whether it can, and why not (it ended, its board is not served here,
 * an input changed, ...). The job is the one kept in the run folder (request.json), the one a CLI
 * sends with `--resume`, or for a run started directly by the CLI the one its parameters describe.
 */
import type express from 'express';
import type { Request, RequestHandler, Response } from 'express';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { boardProblems } from '../engine/run-context.js';
import { parseBody } from '../io/validate.js';
import { AddBody } from '../station/queue-requests.js';
import type { Station } from '../station/station.js';
import type { StationBoards } from '../station/station-boards.js';
import { checkRunId, type RunRecord } from '../store/embedded-store.js';
import { writerAlive } from '../store/run-admin.js';
import { storedJobRequest } from './job-request-file.js';
import type { JobRequest } from './job-requests.js';
import { boardJobRequest } from './queue-routes.js';

type Wrap = (fn: (req: Request, res: Response) => unknown) => RequestHandler;

/** The kinds a station resumes (the others are resumed by their own command: `rram <kind> --resume ID`). */
export const RESUMABLE_KINDS = ['characterize', 'program', 'program-net'] as const;

/** POST /api/runs/:id/resume: the job (a CLI's `--resume` sends its flags' request; the dashboard none) and who asks. */
export const ResumeBody = AddBody.pick({ submitter: true }).extend({ request: AddBody.shape.request.optional() }).strict();

/** Why a run cannot be resumed here, said to the user as is. */
class NotResumable extends Error {}

/** A job request for a run the CLI started directly, from its recorded parameters (when they say everything the job needs). */
function requestFromParams(rec: RunRecord): Record<string, unknown> {
  const p = rec.params as Record<string, unknown>;
  const base = { algo: p.algo, levels: p.levels, array: p.array, seed: p.seed, ...(p.minSuccess !== undefined ? { minSuccess: p.minSuccess } : {}), ...(rec.metadata ? { metadata: rec.metadata } : {}) };
  if (rec.kind === 'characterize') {
    if (p.cellsGiven !== undefined) throw new NotResumable('its cells were chosen by the CLI (--fresh-cells): resume it with rram characterize --resume');
    if (Array.isArray(p.relax_s) && p.relax_s.length) throw new NotResumable('its --relax re-reads are not carried through the station: resume it with rram characterize --resume');
    return { kind: 'characterize', ...base, cellsPerLevel: p.cellsPerLevel, reads: p.reads, step_V: p.step_V };
  }
  if (rec.kind === 'program') {
    if (!['random', 'checkerboard', 'stripes'].includes(String(p.mapName)) || (p.cellsName !== undefined && p.cellsName !== 'all')) throw new NotResumable(`its level map (${String(p.mapName)}${p.cellsName && p.cellsName !== 'all' ? `, ${String(p.cellsName)}` : ''}) is not a pattern the station takes: resume it with rram program --resume`);
    return { kind: 'program', ...base, map: p.mapName };
  }
  throw new NotResumable(`it was started by the CLI and its parameters do not name the whole job (trials, seed, images): resume it with rram ${rec.kind} --resume ${rec.id} and its flags`);
}

export interface ResumeCheck {
  runId: string;
  resumable: boolean;
  reason?: string;
  request?: JobRequest;
}

/**
 * Whether `runId` can be resumed on this station, with `given` (a CLI's request) or the run's own
 * job. `deep`: also run the job's preflight against the stored run (the engine's own comparison
 * of parameters, inputs and board), which for program-net loads the net and its test set.
 */
export async function checkResume(station: Station, runId: string, o: { given?: unknown; deep: boolean; maxTrials?: number }): Promise<ResumeCheck> {
  const jobs = station.jobs;
  const rec = jobs.store.getRun(runId);
  const no = (reason: string): ResumeCheck => ({ runId, resumable: false, reason });
  if (station.queue.view().queued.some((i) => i.id === runId) || station.queue.view().running?.id === runId) return no('it is in the board queue already');
  if (jobs.isActive(runId) || writerAlive(rec)) return no(`it is running now${rec.writer ? ` (process ${rec.writer.pid} on ${rec.writer.host})` : ''}`);
  if (rec.status === 'completed') return no('it completed: there is nothing to resume');
  if (rec.pruned) return no(`its events were pruned on ${rec.pruned}`);
  if (!(RESUMABLE_KINDS as readonly string[]).includes(rec.kind)) return no(`a ${rec.kind} run is resumed by its own command (rram ${rec.kind} --resume ${runId}), not through the station`);
  const board = boardProblems(rec.board as never, jobs.board.info());
  if (board.length) return no(`its board is not the one served here (${board.join('; ')})`);
  let request: JobRequest;
  try {
    const raw = o.given ?? storedJobRequest(jobs.store, runId) ?? requestFromParams(rec);
    request = boardJobRequest(raw, station, o.maxTrials);
  } catch (e) {
    if (e instanceof NotResumable) return no(e.message);
    return no(`its job is not one this station takes: ${(e as InvalidArgumentError).message}`);
  }
  if (request.kind !== rec.kind) return no(`the request is a ${request.kind}, the run a ${rec.kind}`);
  if (o.deep || request.kind !== 'program-net') {
    const problems = await jobs.resumeProblems(runId, request);
    if (problems.length) return no(problems.join('; ').replace(/^cannot resume: /, 'an input changed: '));
  }
  return { runId, resumable: true, request };
}

/** The board a stored run is resumed on: the one whose queue holds it, else the one it ran on. */
const stationFor = (boards: StationBoards, id: string): Station => boards.holding(id) ?? boards.ofRun(boards.primary.jobs.store.getRun(id).board);

export function registerResumeRoutes(app: express.Express, boards: StationBoards, o: { requireToken: RequestHandler; wrap: Wrap; maxTrials?: number }): void {
  const { requireToken, wrap } = o;
  app.get(
    '/api/runs/:id/resume',
    wrap(async (req, res) => {
      const id = checkRunId(String(req.params.id));
      const c = await checkResume(stationFor(boards, id), id, { deep: false, maxTrials: o.maxTrials });
      res.json({ runId: c.runId, resumable: c.resumable, ...(c.reason ? { reason: c.reason } : {}) });
    }),
  );
  app.post(
    '/api/runs/:id/resume',
    requireToken,
    wrap(async (req, res) => {
      const id = checkRunId(String(req.params.id));
      const body = parseBody(ResumeBody, req.body ?? {});
      const station = stationFor(boards, id);
      const c = await checkResume(station, id, { given: body.request, deep: true, maxTrials: o.maxTrials });
      if (!c.resumable) throw new InvalidArgumentError('--resume', id, c.reason!);
      // The item carries the run's id: launched, it continues that run (JobManager.launch).
      const { item, position, rev } = station.queue.add({ id, kind: c.request!.kind, request: Object.assign({}, c.request!, { resume: true }) as JobRequest, submitter: body.submitter }, req.get('x-rram-lock') ?? undefined);
      station.jobs.liveRun(id);
      const ahead = position + (station.queue.view().running ? 1 : 0);
      res.status(202).json({ runId: id, kind: item.kind, params: c.request, position, ahead, rev, state: item.state, resumedAfterSeq: station.jobs.store.lastSeq(id) });
    }),
  );
}
