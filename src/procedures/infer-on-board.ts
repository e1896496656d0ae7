/**
 * `rram infer --on-board`: a net programmed by `rram program-net --keep` evaluated through the
 * board's analog MVM (src/inference/on-board-forward.ts), in batches of images. Reads only (MVM
 * voltages within vread_max): no pulse, so no run engine; the board is grounded after.
 */
import type { Board, BoardInfo } from '../../drivers/board.js';
import { AbortedError, InvalidArgumentError, UnsupportedError } from '../../drivers/errors.js';
import { onGrid } from '../../drivers/limits.js';
import type { CrossbarNet } from '../inference/crossbar-net.js';
import { pixelsOf, type Split } from '../inference/datasets.js';
import { predictOnBoard, signalled, type OnBoardLayer, type OnBoardTile } from '../inference/on-board-forward.js';
import { groundedAfter } from './board-phases.js';
import type { EncodedWeights } from './fine-tune-stages.js';

/** What `program-net --keep` stores with its result: enough to drive the programmed tiles again. */
export interface KeptNet {
  layers: OnBoardLayer[];
  tiles: OnBoardTile[];
  /** Read voltage the layers' cell values are currents at. */
  vread_V: number;
  /**
   * A fine-tuned run (`--fine-tune progressive --keep`): the net as programmed, every weight layer's
   * fine-tuned weights and the digital scale and bias after the final re-fit (fine-tune-stages.ts
   * encoding), and the digest of that net (netDigest): the model file holds the net before tuning.
   */
  tuned?: { weights: EncodedWeights; digest: string };
}

export interface OnBoardRun {
  images: number;
  correct: number;
  accuracy: number;
  confusion: number[][];
  elapsed_s: number;
  vIn_V: number;
  batch: number;
}

/** The board must offer the MVM (HELLO feature bit 2). */
export function requireMvm(board: Board): NonNullable<Board['mvm']> {
  if (!board.info().features?.mvm || !board.mvm) throw new UnsupportedError('the analog MVM (MVM, HELLO feature bit 2) that rram infer --on-board evaluates the net with');
  return board.mvm.bind(board);
}

/** The drive voltage on the board's DAC grid, within its read limit (`field`: the flag or request field that gave it). */
export function checkVin(info: BoardInfo, vIn_V: number, field = '--v-in'): number {
  const vIn = onGrid(vIn_V, info.dacStep_V);
  if (!(vIn > 0 && vIn <= info.limits.vread_max_V)) throw new InvalidArgumentError(field, vIn_V, `must be on the DAC grid in (0, vread_max = ${info.limits.vread_max_V} V]`);
  return vIn;
}

/** Batch by batch; an abort (`signal`) stops it within the MVM call on the line (its requests not sent yet dropped), the board grounded. */
export async function inferOnBoard(board: Board, net: CrossbarNet, kept: KeptNet, test: Split, o: { images: number; batch: number; vIn_V: number; signal?: AbortSignal; onBatch?: (done: number, correct: number) => void }): Promise<OnBoardRun> {
  const mvm = signalled(requireMvm(board), o.signal);
  const info = board.info();
  const vIn = checkVin(info, o.vIn_V);
  const per = pixelsOf(test);
  const confusion = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
  let correct = 0;
  const t0 = performance.now();
  await groundedAfter(board, async () => {
    for (let k0 = 0; k0 < o.images; k0 += o.batch) {
      if (o.signal?.aborted) throw new AbortedError(`aborted after ${k0} of ${o.images} images (${correct} classified right; each batch is in the run's record)`);
      const n = Math.min(o.batch, o.images - k0);
      const { classes: pred } = await predictOnBoard(net, kept.layers, kept.tiles, mvm, test.images.subarray(k0 * per, (k0 + n) * per), n, { vIn_V: vIn, dacStep_V: info.dacStep_V, vread_V: kept.vread_V });
      for (let k = 0; k < n; k++) {
        const label = test.labels[k0 + k];
        confusion[label][pred[k]]++;
        if (pred[k] === label) correct++;
      }
      o.onBatch?.(k0 + n, correct);
      // An in-process board answers at once: a hosting station serves its API (progress, abort, halt) between batches.
      await new Promise((r) => setImmediate(r));
    }
  });
  return { images: o.images, correct, accuracy: correct / o.images, confusion, elapsed_s: (performance.now() - t0) / 1000, vIn_V: vIn, batch: o.batch };
}
