/**
 * Checks a board job needs beyond its request's schema, made when the request arrives (a refusal
 * answers the request, 400, instead of becoming a failed run in the queue): a re-verify's source
 * run, its board and its cells (src/jobs/experiment-jobs.ts reverifyPlan); an on-board inference's
 * kept run, its net from the store and its recomputed read-back accuracy, the board it programmed,
 * the MVM feature, the drive voltage (src/jobs/kept-net.ts). The job makes the same checks again
 * when its turn comes, for what changed while it waited.
 */
import type { Board } from '../../drivers/board.js';
import { reverifyPlan } from '../jobs/experiment-jobs.js';
import { checkKeptBoard, planKeptNet } from '../jobs/kept-net.js';
import type { EmbeddedStore } from '../store/embedded-store.js';
import type { JobRequest } from './job-requests.js';

export async function preflightBoardJob(store: EmbeddedStore, board: Board, r: JobRequest): Promise<void> {
  if (r.kind === 'reverify') await reverifyPlan({ store }, board, r);
  if (r.kind === 'infer-on-board') checkKeptBoard(await planKeptNet(store, r.run), board, r.vIn_V, 'vIn_V');
}
