/**
 * Checks a board job needs beyond its request's schema, made when the request arrives (a refusal
 * answers the request, 400, instead of becoming a failed run in the queue): a re-verify's source
 * run, its board and its cells (src/jobs/experiment-jobs.ts reverifyPlan); an on-board inference's
 * kept run and its net's folder in the store, the board it programmed, the MVM feature, the drive
 * voltage (src/jobs/kept-net.ts checkKeptRun: no net or data set loaded while a request waits; the
 * net's digest and recomputed read-back are checked at the item's turn, before any MVM); a fine-tuning program-net's image
 * count against the training set (filled in when left out) and its stored baseline run
 * (src/procedures/fine-tune-inputs.ts, as the direct command checks them). The job makes the same
 * checks again when its turn comes, for what changed while it waited.
 */
import type { Board } from '../../drivers/board.js';
import { reverifyPlan } from '../jobs/experiment-jobs.js';
import { checkKeptBoard, checkKeptRun } from '../jobs/kept-net.js';
import { trainImageCount } from '../inference/datasets.js';
import { fineTuneImages, storedBaseline } from '../procedures/fine-tune-inputs.js';
import type { EmbeddedStore } from '../store/embedded-store.js';
import type { JobRequest } from './job-requests.js';

export async function preflightBoardJob(store: EmbeddedStore, board: Board, r: JobRequest): Promise<void> {
  if (r.kind === 'reverify') await reverifyPlan({ store }, board, r);
  if (r.kind === 'infer-on-board') checkKeptBoard(checkKeptRun(store, r.run), board, r.vIn_V, 'vIn_V');
  if (r.kind === 'program-net' && r.fineTune) {
    const ft = r.fineTune;
    // Filled in here, so the queued request (and the run's request.json) says how many the run takes.
    ft.images = fineTuneImages(ft.images, trainImageCount(r.dataset), 'fineTune.images');
    if (ft.baseline) storedBaseline(store, ft.baseline, { model: r.model, dataset: r.dataset, levels: r.levels, scheme: r.mapping }, 'fineTune.baseline');
  }
}
