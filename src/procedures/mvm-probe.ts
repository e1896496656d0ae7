/**
 * The MVM probe of a characterize run (issue 28: what `rram calibrate` fits the wire resistance
 * from, src/calibrate/fit-wire.ts): on a board offering the analog MVM (HELLO feature bit 2),
 * at the end of the run (after its relaxation re-reads, whose times it must not move) each array
 * the run programmed is read whole K times, then its column currents are measured through the MVM with every row driven at
 * the read voltage (a few repeats, averaged by the fit). Every cell then conducts at the voltage it
 * was read at, so the read-back conductances and the row voltages are the whole of what the wires
 * act on. Reads only (no pulse): every whole-array read in the record as read events (phase
 * probe, step mvm-probe), the MVMs' currents in an `mvm-probe` mark; a resumed run probes again.
 */
import type { Board } from '../../drivers/board.js';
import { AbortedError } from '../../drivers/errors.js';
import { onGridAtMost } from '../../drivers/limits.js';
import type { RunContext } from '../engine/run-context.js';
import { unusableRead } from '../engine/readings.js';
import { checkAbort } from './board-phases.js';

export interface MvmProbe {
  array: number;
  rows: number;
  cols: number;
  vread_V: number;
  /** Whole-array reads averaged per cell. */
  reads: number;
  /** Every cell's mean read current (A), row-major (rows x cols). */
  readback_A: number[];
  /**
   * Per column: the sum over its cells of the variance of their mean read current (A^2, the K
   * reads' sample variance / K): how far the read-back alone lets a predicted column current err
   * (the fit's goodness-of-fit check). Absent in probes recorded before it was added.
   */
  readbackColumnVar_A2?: number[];
  /** Per repeat: the column currents (A) with every row at vread_V. */
  currents_A: number[][];
}

/** Why a board gets no probe ('' when it does). */
export function probeUnavailable(board: Board): string {
  return board.info().features?.mvm && board.mvm ? '' : 'the board does not offer the analog MVM (HELLO feature bit 2)';
}

/**
 * The probe as the last part of a run that has measured everything else: a probe that fails
 * (a board refusing the MVM, a timeout) is a warning and no probe, never the loss of the run's
 * dataset; an abort still stops the run.
 */
export async function mvmProbeOrWarn(board: Board, ctx: RunContext, arrays: number[], vread_V: number, o: { reads: number; repeats: number; signal?: AbortSignal }): Promise<MvmProbe[] | undefined> {
  try {
    return await mvmProbe(board, ctx, arrays, vread_V, o);
  } catch (e) {
    if (e instanceof AbortedError || o.signal?.aborted) throw e;
    ctx.emit({ type: 'warning', code: 'mvm-probe', message: `MVM probe failed, the run's dataset is kept without it (rram calibrate cannot fit the wire resistance from this run): ${(e as Error).message}` });
    return undefined;
  }
}

/** Probes each array (K whole reads, then `repeats` MVMs with every row at vread); an array with a cell no read could read is left out, saying so. */
export async function mvmProbe(board: Board, ctx: RunContext, arrays: number[], vread_V: number, o: { reads: number; repeats: number; signal?: AbortSignal }): Promise<MvmProbe[]> {
  const info = board.info();
  const v = onGridAtMost(vread_V, info.limits.vread_max_V, info.dacStep_V);
  const out: MvmProbe[] = [];
  for (const array of arrays) {
    checkAbort(o.signal);
    const sum = new Float64Array(info.rows * info.cols);
    const sq = new Float64Array(info.rows * info.cols);
    const got = new Uint16Array(info.rows * info.cols);
    for (let r = 0; r < o.reads; r++) {
      const all = await board.readArray(array, { vread_V: v });
      // Every read in the record, as every other read is (level -1: the probe reads whatever the cell holds; a programmed cell's history shows them).
      for (let i = 0; i < all.length; i++) {
        const why = unusableRead(all[i]);
        ctx.emit({ type: 'read', cell: { array, row: Math.floor(i / info.cols), col: i % info.cols }, vread_V: v, current_A: why ? null : all[i], phase: 'probe', level: -1, step: 'mvm-probe', ...(why ? { unusable: why } : {}) });
        if (why) continue;
        sum[i] += all[i];
        sq[i] += all[i] * all[i];
        got[i]++;
      }
    }
    const missing = got.filter((g) => g === 0).length;
    if (missing) {
      ctx.emit({ type: 'warning', code: 'mvm-probe', message: `MVM probe of array ${array} left out: ${missing} cells gave no usable read` });
      continue;
    }
    const V = new Float64Array(o.repeats * info.rows).fill(v);
    const J = await board.mvm!({ array, row0: 0, col0: 0, rows: info.rows, cols: info.cols }, V, { signal: o.signal });
    const currents_A = Array.from({ length: o.repeats }, (_, k) => Array.from(J.subarray(k * info.cols, (k + 1) * info.cols)));
    out.push({ array, rows: info.rows, cols: info.cols, vread_V: v, reads: o.reads, readback_A: Array.from(sum, (s, i) => s / got[i]), readbackColumnVar_A2: columnVariance(sum, sq, got, info.rows, info.cols), currents_A });
  }
  // The MVMs' column currents in the record too (a mark: an MVM is no cell's read).
  ctx.emit({ type: 'mark', name: 'mvm-probe', value: { arrays: out.map((p) => p.array), reads: o.reads, repeats: o.repeats, vread_V: v, currents_A: out.map((p) => p.currents_A) } });
  return out;
}

/** Per column, the summed variance of its cells' mean reads (a cell read once adds nothing: its spread is not measured). */
function columnVariance(sum: Float64Array, sq: Float64Array, got: Uint16Array, rows: number, cols: number): number[] {
  const out = new Array<number>(cols).fill(0);
  for (let i = 0; i < rows * cols; i++) {
    const n = got[i];
    if (n < 2) continue;
    out[i % cols] += Math.max(0, (sq[i] - (sum[i] * sum[i]) / n) / (n - 1)) / n;
  }
  return out;
}
