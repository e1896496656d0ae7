/**
 * GET /api/runs/:id/event-model: a run as Bluesky event-model documents, JSON lines of
 * [name, document], live: the documents so far at once, then each new one as the run's writer
 * (this server or any other process on the store) appends its events, until the run has ended
 * (RunStop) or the client goes. The same documents, uids included, as `rram export --format
 * event-model` gives once the run is over.
 */
import type { Request, Response } from 'express';
import { EventModelComposer, type Doc } from '../store/event-model.js';
import { EventTail } from '../store/event-tail.js';
import type { EmbeddedStore } from '../store/embedded-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function serveEventModel(store: EmbeddedStore, id: string, req: Request, res: Response, poll_ms = 250): Promise<void> {
  const run = store.getRun(id);
  const composer = new EventModelComposer(id, run.metadata);
  const tail = new EventTail(store.runDir(id));
  let gone = false;
  req.on('close', () => (gone = true));
  res.status(200).type('application/x-ndjson').setHeader('Cache-Control', 'no-store');
  res.flushHeaders();
  const send = async (docs: Doc[]) => {
    if (!docs.length || gone) return;
    if (!res.write(docs.map((d) => JSON.stringify(d) + '\n').join(''))) await new Promise<void>((r) => (res.once('drain', r), res.once('close', r)));
  };
  while (!gone) {
    const docs: Doc[] = [];
    for (const e of await tail.next()) docs.push(...composer.push(e));
    await send(docs);
    // Ended: a run-end is in and the run is no longer running (a resume would have set it running again).
    if (composer.ended && store.getRun(id).status !== 'running') {
      await send(composer.finish());
      break;
    }
    await sleep(poll_ms);
  }
  res.end();
}
