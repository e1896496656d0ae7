/**
 * Board phases shared by every procedure: read-backs and relaxation waits that honour an abort
 * within about a second, and the final grounding that ends every run however it ends.
 */
import type { Board } from '../../drivers/board.js';
import { AbortedError } from '../../drivers/errors.js';

export function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted) throw new AbortedError();
}

/**
 * A grounded wait. A board behind a link really waits, so the wait goes in pieces of at most a
 * second with an abort check between them; an in-process emulator only advances its clock.
 */
export async function waitAbortable(board: Board, seconds: number, signal?: AbortSignal): Promise<void> {
  if (!board.linkEvents) return board.wait(seconds);
  let left = seconds;
  while (left > 1e-9) {
    checkAbort(signal);
    const s = Math.min(1, left);
    await board.wait(s);
    left -= s;
  }
}

/** Runs a procedure's body and grounds the board afterwards, whatever happened (the original error is kept). */
export async function groundedAfter<T>(board: Board, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } finally {
    await board.ground().catch(() => undefined);
  }
}
