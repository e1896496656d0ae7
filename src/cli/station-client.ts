/**
 * A CLI run through a station (issue 29): the job joins the station's queue for its board, and the
 * command follows it - queued position, then the run's console events (GET /api/runs/:id/follow)
 * into the same progress bar and warnings a local run prints - and ends with the same outcome
 * (result, exit code) as a local run. Ctrl-C takes the item out of the queue, or aborts its run.
 */
import { Subject } from 'rxjs';
import { RramError, type RramErrorCode } from '../../drivers/errors.js';
import type { RunEvent } from '../engine/events.js';
import type { JobOutcome } from '../jobs/run-job.js';
import type { BoardInfo } from '../../drivers/board.js';

export interface StationTarget {
  url: string;
  token: string;
  boardId: string;
  /** The lock's key, when the queue is locked (env RRAM_LOCK_KEY). */
  lockKey?: string;
}

/** An error the station answered with, carrying its code so the exit code is a local run's. */
export class StationError extends RramError {
  constructor(code: string, message: string) {
    super((code || 'BOARD_ERROR') as RramErrorCode, message);
  }
}

async function call<T>(t: StationTarget, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${t.url}${path}`, { method, headers: { 'content-type': 'application/json', 'x-rram-token': t.token, ...(t.lockKey ? { 'x-rram-lock': t.lockKey } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new StationError('DISCONNECTED', `station ${t.url} does not answer (${(e as Error).message})`);
  }
  const j = (await res.json().catch(() => ({}))) as { error?: string; code?: string };
  if (!res.ok) throw new StationError(j.code === 'UNAUTHORIZED' ? 'INVALID_ARGUMENT' : (j.code ?? 'BOARD_ERROR'), `station ${t.url}: ${j.error ?? res.statusText}`);
  return j as T;
}

interface Item {
  id: string;
  state: string;
  position?: number;
  /** Runs before it: queued ahead, and the running one. */
  ahead?: number;
  error?: string;
  errorCode?: string;
}

/** The run's console events, stored then live, until its run-end (or the stream closes). */
async function follow(t: StationTarget, runId: string, events$: Subject<RunEvent>, seen: { seq: number; ended: boolean }, signal: AbortSignal): Promise<void> {
  const res = await fetch(`${t.url}/api/runs/${runId}/follow${seen.seq >= 0 ? `?after=${seen.seq}` : ''}`, { signal }).catch(() => undefined);
  if (!res?.ok || !res.body) return;
  const dec = new TextDecoder();
  let buf = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(chunk, { stream: true });
      for (let k = buf.indexOf('\n\n'); k >= 0; k = buf.indexOf('\n\n')) {
        const msg = buf.slice(0, k);
        buf = buf.slice(k + 2);
        const data = /^data: (.*)$/m.exec(msg)?.[1];
        if (!/^event: run$/m.test(msg) || !data) continue;
        const e = JSON.parse(data) as RunEvent;
        if (e.seq <= seen.seq) continue;
        seen.seq = e.seq;
        events$.next(e);
        if (e.type === 'run-end') seen.ended = true;
      }
      if (seen.ended) return;
    }
  } catch {
    // cut (station stopped, or we were aborted): the caller looks at the item
  }
}

/** Adds the run to the board's queue; with `resume`, the stored run of that id to go on (POST /api/runs/:id/resume). */
function queueOnStation(t: StationTarget, request: Record<string, unknown>, what: string, resume?: string): Promise<{ runId: string; ahead: number; resumedAfterSeq?: number }> {
  const body = { request, submitter: `${what} (pid ${process.pid})` };
  return call(t, 'POST', resume ? `/api/runs/${resume}/resume` : `/api/boards/${t.boardId}/queue`, body);
}

/**
 * Queues `request` on the station and follows it to its end. `onEvents` gets the stream a local
 * run's sinks would (progress bar, warnings, setup notes). Returns the run's outcome as runJob does.
 */
export async function runOnStation<T>(t: StationTarget, request: Record<string, unknown>, resultName: string, what: string, onEvents: (events$: Subject<RunEvent>) => void, o: { resume?: string } = {}): Promise<JobOutcome<T>> {
  return followOnStation<T>(t, await queueOnStation(t, request, what, o.resume), resultName, onEvents, o);
}

/** Adds the requests at consecutive places of the board's queue, in one step (POST .../queue/batch): nothing comes between them. */
export async function queueBatchOnStation(t: StationTarget, requests: Record<string, unknown>[], what: string): Promise<{ runId: string; ahead: number }[]> {
  return (await call<{ items: { runId: string; ahead: number }[] }>(t, 'POST', `/api/boards/${t.boardId}/queue/batch`, { requests, submitter: `${what} (pid ${process.pid})` })).items;
}

/** Takes a queued item out of the queue (a batch's items after one that did not complete). */
export async function removeFromStation(t: StationTarget, runId: string): Promise<void> {
  await call(t, 'DELETE', `/api/boards/${t.boardId}/queue/${runId}`);
}

/** Follows an item queued on the station to its end, as runOnStation does. */
export async function followOnStation<T>(t: StationTarget, added: { runId: string; ahead: number; resumedAfterSeq?: number }, resultName: string, onEvents: (events$: Subject<RunEvent>) => void, o: { resume?: string } = {}): Promise<JobOutcome<T>> {
  const runId = added.runId;
  process.stderr.write(`rram: board ${t.boardId} is served by the station at ${t.url}: run ${runId} ${o.resume ? 'queued to resume' : 'queued'}${added.ahead ? ` behind ${added.ahead} run(s)` : ''}\n`);
  const events$ = new Subject<RunEvent>();
  onEvents(events$);
  const ac = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(130);
    process.stderr.write('\nrram: aborting run on the station (Ctrl-C again to stop following)\n');
    void call(t, 'POST', `/api/jobs/${runId}/abort`).catch((e: Error) => process.stderr.write(`rram: ${e.message}\n`));
  };
  process.on('SIGINT', onSigint);
  // A resumed run's stored part (its old run-end included) is not followed again.
  const seen = { seq: added.resumedAfterSeq ?? -1, ended: false };
  let item: Item;
  try {
    let lastAhead = added.ahead;
    let wasPaused = false;
    for (;;) {
      item = await call<Item>(t, 'GET', `/api/boards/${t.boardId}/queue/${runId}`);
      if (item.state === 'queued') {
        if (item.ahead !== lastAhead) process.stderr.write(`rram: run ${runId}: ${item.ahead ? `${item.ahead} run(s) ahead` : 'next'}\n`);
        lastAhead = item.ahead ?? 0;
        // A paused queue (by a user, or after the station came back from a run it was killed in) starts nothing: say so.
        const paused = (await call<{ paused: boolean }>(t, 'GET', `/api/boards/${t.boardId}/queue`)).paused;
        if (paused !== wasPaused) process.stderr.write(paused ? `rram: run ${runId} waits: the station's queue is paused (resume it from the dashboard's queue card, or POST ${t.url}/api/boards/${t.boardId}/queue/resume)\n` : `rram: the station's queue was resumed\n`);
        wasPaused = paused;
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (item.state !== 'running') break; // ended (or removed before it started)
      const before = seen.seq;
      // Its events until run-end; the item's own end (its state) follows a moment later.
      if (!seen.ended) await follow(t, runId, events$, seen, ac.signal);
      if (seen.ended || seen.seq === before) await new Promise((r) => setTimeout(r, 150));
    }
    // Begun and ended between two looks (a short run): its stored console events, up to its run-end, are shown all the same.
    if (!seen.ended && ['completed', 'failed', 'aborted'].includes(item.state) && (await call<{ events?: number }>(t, 'GET', `/api/runs/${runId}`).catch(() => ({ events: 0 }))).events)
      await follow(t, runId, events$, seen, AbortSignal.any([ac.signal, AbortSignal.timeout(10000)]));
  } finally {
    process.off('SIGINT', onSigint);
    ac.abort();
  }
  events$.complete();
  const status = item.state === 'completed' ? 'completed' : item.state === 'failed' || item.state === 'interrupted' ? 'failed' : 'aborted';
  const stored = seen.seq >= 0;
  if (status !== 'completed') return { runId, status, stored, error: new StationError(status === 'aborted' ? 'ABORTED' : (item.errorCode ?? 'BOARD_ERROR'), item.state === 'removed' ? 'taken out of the queue before it started' : (item.error ?? status)) };
  const result = await call<T>(t, 'GET', `/api/runs/${runId}/results/${resultName}`);
  return { runId, status, result, stored };
}

/** The result a run that did not complete stored all the same (a partial report), or undefined when it stored none. */
export async function storedResultOnStation<T>(t: StationTarget, runId: string, resultName: string): Promise<T | undefined> {
  try {
    return await call<T>(t, 'GET', `/api/runs/${runId}/results/${resultName}`);
  } catch (e) {
    if ((e as RramError).code !== 'NOT_FOUND') process.stderr.write(`rram: run ${runId}: its stored ${resultName} result could not be fetched (${(e as Error).message})\n`);
    return undefined;
  }
}

/** The station's board as `rram info` shows it (what its HELLO said), without opening it again. */
export async function stationBoardInfo(t: StationTarget, quiet = false): Promise<{ info(): BoardInfo; close(): Promise<void> }> {
  const boards = await call<{ id: string; info: BoardInfo }[]>(t, 'GET', '/api/boards');
  const b = boards.find((x) => x.id === t.boardId);
  if (!b) throw new StationError('NOT_FOUND', `station ${t.url} has no board ${t.boardId}`);
  if (!quiet) process.stderr.write(`rram: board ${b.info.id} is served by the station at ${t.url}\n`);
  return { info: () => b.info, close: async () => undefined };
}
