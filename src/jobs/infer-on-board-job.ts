/**
 * `rram infer --on-board RUN` as a stored job (issues 28, 29): its request (zod; the same from the
 * CLI's flags for the direct run and for a station's queue item of kind `infer-on-board`), and
 * the run it makes - kind `infer`, the kept net evaluated through the board's MVM batch by batch
 * (a progress event and an `on-board` mark with the images classified right so far per batch),
 * its result `infer-on-board` what the command prints. The net and its checks: kept-net.ts.
 */
import { z } from 'zod';
import type { Board } from '../../drivers/board.js';
import type { RunContext } from '../engine/run-context.js';
import { RunMetadata } from '../io/schemas/run-metadata.js';
import { inferOnBoard, type KeptNet, type OnBoardRun } from '../procedures/infer-on-board.js';
import { checkKeptBoard, type KeptPlan } from './kept-net.js';
import { runJob, type JobEnv, type JobOutcome } from './run-job.js';

const int = (min: number, max: number) => z.number({ invalid_type_error: `must be an integer in ${min}..${max}` }).int(`must be an integer in ${min}..${max}`).gte(min, `must be an integer in ${min}..${max}`).lte(max, `must be an integer in ${min}..${max}`);

/** The request: which kept run (by id: the CLI resolves run:latest in the store it shares with the station), how many images, in what batches, at what drive voltage. */
export const inferOnBoardRequest = z
  .object({
    kind: z.literal('infer-on-board'),
    run: z.string({ required_error: 'is required: the id of a program-net run stored with --keep' }).regex(/^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$/, 'must be the id of a program-net run stored with --keep'),
    /** Default: the images the run evaluated (at most the test split's). */
    images: int(1, 10000000).optional(),
    batch: int(1, 10000).default(100),
    vIn_V: z.number({ invalid_type_error: 'must be a voltage (V) in (0, 10]' }).gt(0, 'must be a voltage (V) in (0, 10]').lte(10, 'must be a voltage (V) in (0, 10]').default(0.2),
    metadata: RunMetadata.optional(),
  })
  .strict();
export type InferOnBoardRequest = z.infer<typeof inferOnBoardRequest>;

/** The result's name in the store (GET /api/runs/:id/results/infer-on-board). */
export const ON_BOARD_RESULT = 'infer-on-board';
/** The mark each batch leaves in the record: images done, classified right, of how many. */
export const ON_BOARD_MARK = 'on-board';

/** What `rram infer --on-board --json` prints, and the run's stored result. */
export interface OnBoardResult {
  format: 'rram-hil/infer-on-board';
  version: 1;
  /** The program-net run whose kept net this is. */
  runId: string;
  board: string;
  images: number;
  onBoard: OnBoardRun;
  fineTuned: boolean;
  /** The program-net run's --device (its prediction's source). */
  device: string;
  readbackAccuracy: number;
  readbackRecomputed?: number;
  readbackImages: number;
  prediction?: { mean: number; interval: [number, number] };
  quantizedAccuracy: number;
  floatAccuracy: number;
}

function resultOf(plan: KeptPlan, board: string, images: number, r: OnBoardRun): OnBoardResult {
  const k = plan.kept;
  return { format: 'rram-hil/infer-on-board', version: 1, runId: plan.runId, board, images, onBoard: r, fineTuned: !!k.onBoard.tuned, device: k.device, readbackAccuracy: k.readbackAccuracy, readbackRecomputed: plan.recomputed, readbackImages: k.images, prediction: k.prediction ? { mean: k.prediction.summary.mean, interval: k.prediction.interval } : undefined, quantizedAccuracy: k.quantizedAccuracy, floatAccuracy: k.floatAccuracy };
}

/**
 * The evaluation as a run on `board`, `plan` made by planKeptNet beforehand (the direct command:
 * before it opens the board; a station: at the item's turn). The board is checked again here.
 */
export function runInferOnBoardJob(env: JobEnv, board: Board, req: InferOnBoardRequest, plan: KeptPlan, onContext?: (ctx: RunContext) => void): Promise<JobOutcome<OnBoardResult>> {
  return runJob(
    env,
    async (ctx, signal) => {
      checkKeptBoard(plan, board, req.vIn_V, 'vIn_V');
      const info = board.info();
      const images = Math.min(req.images ?? plan.kept.images, plan.test.n);
      ctx.begin({ kind: 'infer', params: { onBoard: plan.runId, model: plan.kept.model, dataset: plan.kept.dataset, images, batch: req.batch, vIn_V: req.vIn_V, fineTuned: !!plan.kept.onBoard.tuned }, board: info });
      const t0 = performance.now();
      const r = await inferOnBoard(board, plan.net, plan.kept.onBoard as KeptNet, plan.test, {
        images,
        batch: req.batch,
        vIn_V: req.vIn_V,
        signal,
        onBatch: (done, correct) => {
          const s = (performance.now() - t0) / 1000;
          ctx.emit({ type: 'progress', done, total: images, rate_per_s: done / Math.max(s, 1e-3), eta_s: ((images - done) * s) / done, phase: 'on-board' });
          ctx.emit({ type: 'mark', name: ON_BOARD_MARK, value: { done, correct, images } });
        },
      });
      return resultOf(plan, info.id, images, r);
    },
    { resultName: ON_BOARD_RESULT, summarize: (r) => ({ accuracy: r.onBoard.accuracy, images: r.images, readbackAccuracy: r.readbackAccuracy, onBoard: r.runId }) },
    onContext,
  );
}
