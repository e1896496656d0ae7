/**
 * Checks a board job needs beyond its request's schema, made when the request arrives (a refusal
 * answers the request, 400, instead of becoming a failed run in the queue): a re-verify's source
 * run, its board and its cells (src/jobs/experiment-jobs.ts reverifyPlan). The job makes the same
 * checks again when its turn comes, for what changed while it waited.
 */
import type { Board } from '../../drivers/board.js';
import { reverifyPlan } from '../jobs/experiment-jobs.js';
import type { EmbeddedStore } from '../store/embedded-store.js';
import type { JobRequest } from './job-requests.js';

export async function preflightBoardJob(store: EmbeddedStore, board: Board, r: JobRequest): Promise<void> {
  if (r.kind === 'reverify') await reverifyPlan({ store }, board, r);
}
