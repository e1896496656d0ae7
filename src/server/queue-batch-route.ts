/**
 * POST /api/boards/:board/queue/batch (docs/server.md "Station and queues"): several job requests
 * added at consecutive places of the board's queue in one step, so nothing another submitter adds
 * comes between them (`rram wv-bench` through a station: one characterize item per algorithm).
 * Every request is checked before any is added (one bad request adds none). A request with a
 * `wvBench` entry gets the run ids of the item before it (`wvBench.previous`: it runs only when
 * that one completed) and of the batch's first (`wvBench.first`: whose cell selection it takes),
 * src/server/wv-bench-job.ts.
 */
import type express from 'express';
import type { Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { parseBody } from '../io/validate.js';
import type { StationBoards } from '../station/station-boards.js';
import { preflightBoardJob } from './job-preflight.js';
import { boardJobRequest, enqueue } from './queue-routes.js';
import type { JobRequest } from './job-requests.js';
import { InvalidArgumentError } from '../../drivers/errors.js';

const BatchBody = z
  .object({
    requests: z.array(z.record(z.unknown(), { invalid_type_error: 'must be a job request object' }), { invalid_type_error: 'must be a list of job requests' }).min(1, 'list at least one request').max(100, 'at most 100 requests'),
    submitter: z.string().min(1).max(200).regex(/^[^\p{Cc}]*$/u, 'one line of text: no control characters').optional(),
  })
  .strict();

type Wrap = (fn: (req: Request, res: Response) => unknown) => RequestHandler;

export function registerQueueBatchRoute(app: express.Express, boards: StationBoards, o: { requireToken: RequestHandler; wrap: Wrap; maxTrials?: number }): void {
  app.post(
    '/api/boards/:board/queue/batch',
    o.requireToken,
    o.wrap(async (req, res) => {
      const station = boards.get(String(req.params.board));
      const body = parseBody(BatchBody, req.body);
      const parsed = body.requests.map((r) => boardJobRequest(r, station, o.maxTrials, { batch: true }));
      checkBenchBatch(parsed);
      for (const r of parsed) await preflightBoardJob(station.jobs.store, station.jobs.board, r);
      const key = req.get('x-rram-lock') ?? undefined;
      // One synchronous pass: no other request is served between these adds.
      const items: ReturnType<typeof enqueue>[] = [];
      for (const r of parsed) {
        const prev = items.at(-1);
        const w = (r as { wvBench?: { previous?: string; first?: string } }).wvBench;
        if (w && prev) Object.assign(w, { previous: prev.runId, first: items[0].runId });
        const at = prev ? station.queue.item(prev.runId)?.position : undefined;
        items.push(enqueue(station, r, { position: at === undefined ? (prev ? 0 : undefined) : at + 1, submitter: body.submitter, key }));
      }
      res.status(202).json({ items });
    }),
  );
}

/** A benchmark's entries, in order and alike: entry k of n at place k, the same levels, cells per level, seed and array (their cell slices are cut from one selection). */
function checkBenchBatch(parsed: JobRequest[]): void {
  const bench = parsed.map((r) => (r.kind === 'characterize' ? r : undefined));
  if (!bench.some((r) => r?.wvBench)) return;
  const first = bench[0];
  bench.forEach((r, k) => {
    const at = `requests[${k}]`;
    if (!r?.wvBench) throw new InvalidArgumentError(`${at}.wvBench`, 'missing', 'a wv-bench batch holds its entries only');
    if (r.wvBench.entry !== k || r.wvBench.of !== parsed.length) throw new InvalidArgumentError(`${at}.wvBench`, `${r.wvBench.entry} of ${r.wvBench.of}`, `must be entry ${k} of ${parsed.length} (its place in the batch)`);
    for (const f of ['levels', 'cellsPerLevel', 'seed', 'array'] as const) if (r[f] !== first![f]) throw new InvalidArgumentError(`${at}.${f}`, r[f], `must equal the first entry's ${first![f]}: the entries share one selection of cells`);
  });
}
