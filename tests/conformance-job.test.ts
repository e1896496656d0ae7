/**
 * Issue 29: a conformance item whose board cannot be taken out of service (the link recovering
 * from a blip, grounding refused) fails with that reason: nothing was lent, no check ran, nothing is
 * stored, and it is never called "the board did not come back".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DisconnectedError } from '../drivers/errors.js';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import type { Board } from '../drivers/board.js';
import { RunContext } from '../src/engine/run-context.js';
import { runConformanceJob, type ConformanceReport } from '../src/server/conformance-job.js';

test('a board that cannot be lent out: the item fails with why, no report stored, not "did not come back"', async () => {
  const inner = new EmulatedBoard({ seed: 1, arrays: 1 });
  try {
    const why = new DisconnectedError('the link to the board at /dev/ttyUSB0 is recovering: it cannot be taken out of service now');
    const board = new Proxy(inner, {
      get: (t, p, r) => (p === 'outOfService' ? async (use: () => Promise<unknown>) => { void use; throw why; } : Reflect.get(t, p, r)),
    }) as unknown as Board;
    const saved: ConformanceReport[] = [];
    await assert.rejects(
      runConformanceJob(board, new RunContext('c'), { kind: 'conformance', margin_ms: 250 }, async () => undefined, (r) => saved.push(r)),
      (e: Error) => e === why,
    );
    assert.equal(saved.length, 0, 'nothing ran: no report');
  } finally {
    await inner.close();
  }
});
