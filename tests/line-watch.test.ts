/**
 * Issue 29: the station's line view (src/station/line-watch.ts) claims "grounded" only for a GROUND
 * the board acknowledged with nothing sent after it. Invariant over any sequence of requests (the
 * MVM among them: it drives rows at up to vread_max): after each, the view is grounded exactly when
 * the last request was GROUND, and "driven" while one is in flight.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { watchLines } from '../src/station/line-watch.js';

const TILE = { array: 0, row0: 0, col0: 0, rows: 2, cols: 2 };
type Op = 'ground' | 'read' | 'readArray' | 'mvm';

test('the line view is grounded exactly after an acknowledged GROUND with nothing sent after it, the MVM included (property)', async () => {
  const board = new EmulatedBoard({ seed: 3, arrays: 1 });
  try {
    const w = watchLines(board);
    const run = (op: Op) =>
      op === 'ground' ? w.board.ground() : op === 'read' ? w.board.read({ array: 0, row: 0, col: 0 }, { vread_V: 0.2 }) : op === 'readArray' ? w.board.readArray(0, { vread_V: 0.2 }) : w.board.mvm!(TILE, Float64Array.of(0.1, 0.2));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom<Op>('ground', 'read', 'readArray', 'mvm'), { minLength: 1, maxLength: 12 }), async (ops) => {
        for (const op of ops) {
          const p = run(op);
          assert.equal(w.lines().state, 'driven', `${op} in flight`);
          await p;
          assert.equal(w.lines().state, op === 'ground' ? 'grounded' : 'idle', `after ${op} (sequence ${ops.join(',')})`);
        }
      }),
      { numRuns: 40 },
    );
  } finally {
    await board.close();
  }
});
