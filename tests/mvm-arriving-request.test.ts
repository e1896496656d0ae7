/**
 * The wired MVM's lost reply (issue 28's open fault, docs/array-effects.md): the emulator solved an
 * MVM on its event loop while the next request was half received; the rest waited unread, and the
 * stall clock, due once the loop was free, took that delay for the line's silence and dropped the
 * request (the host then waited minutes for a reply the board never saw). The rule now: the board
 * never starts an MVM while a request frame is still arriving. Checked over seeded splits of the
 * second request (where it is cut, how long its rest takes, how long the first MVM computes): the
 * first MVM's computation never starts before the second request has arrived whole, and both
 * calls give the in-process board's currents.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { Firmware } from '../drivers/emulated/firmware.js';
import { SerialBoard } from '../drivers/serial/serial-board.js';
import { MsgType } from '../drivers/protocol/messages.js';
import type { Transport } from '../drivers/serial/transport.js';
import type { MvmTile } from '../drivers/board.js';

const TILE_A: MvmTile = { array: 0, row0: 0, col0: 0, rows: 8, cols: 8 };
const TILE_B: MvmTile = { array: 0, row0: 20, col0: 20, rows: 6, cols: 5 };

/** A link that delivers the host's second MVM request in two parts, the rest `gap_ms` later. */
function splitting(fw: Firmware, cut: number, gap_ms: number, log: { restAt?: number }) {
  return async (): Promise<Transport> => {
    let toHost: (b: Buffer) => void = () => undefined;
    fw.setWriter((b) => setImmediate(() => toHost(Buffer.from(b))));
    let mvms = 0;
    return {
      write: (b: Buffer) => {
        const frame = Buffer.from(b);
        // One frame per write (SOF, version, type at byte 3): the second MVM is split.
        if (frame.length > 16 && frame[3] === MsgType.MVM && ++mvms === 2) {
          const at = Math.max(1, Math.min(frame.length - 1, Math.round(cut * frame.length)));
          setImmediate(() => fw.onData(frame.subarray(0, at)));
          setTimeout(() => {
            log.restAt = performance.now();
            fw.onData(frame.subarray(at));
          }, gap_ms);
        } else setImmediate(() => fw.onData(frame));
      },
      onData: (cb: (b: Buffer) => void) => void (toHost = cb),
      onClose: () => undefined,
      close: async () => undefined,
    };
  };
}

test('an MVM is never computed while the next request is still arriving; both replies come, equal to the in-process board', { timeout: 60000 }, async () => {
  await fc.assert(
    fc.asyncProperty(fc.double({ min: 0.05, max: 0.95, noNaN: true }), fc.integer({ min: 5, max: 35 }), fc.integer({ min: 20, max: 60 }), async (cut, gap_ms, solve_ms) => {
      const board = new EmulatedBoard({ seed: 4 });
      const reference = new EmulatedBoard({ seed: 4 });
      // The wired solve blocks the loop: modelled by a busy wait before the board's own product.
      const starts: number[] = [];
      const mvmSync = board.mvmSync.bind(board);
      board.mvmSync = (t, v) => {
        starts.push(performance.now());
        const t0 = performance.now();
        while (performance.now() - t0 < solve_ms);
        return mvmSync(t, v);
      };
      const fw = new Firmware(board, () => undefined, { time: 'virtual', tOp_s: 0.002 });
      const log: { restAt?: number } = {};
      const s = await SerialBoard.open({ transport: splitting(fw, cut, gap_ms, log), keepAlive_ms: 0, margin_ms: 200 });
      try {
        const va = Float64Array.from({ length: 3 * TILE_A.rows }, (_, k) => ((k * 7) % 20) / 100);
        const vb = Float64Array.from({ length: 40 * TILE_B.rows }, (_, k) => ((k * 11) % 20) / 100);
        const [a, b] = await Promise.all([s.mvm(TILE_A, va), s.mvm(TILE_B, vb)]);
        assert.deepEqual(a, reference.mvmSync(TILE_A, va));
        assert.deepEqual(b, reference.mvmSync(TILE_B, vb));
        assert.ok(log.restAt !== undefined, 'the second request was split');
        assert.ok(starts[0] >= log.restAt!, `the first MVM computed ${(log.restAt! - starts[0]).toFixed(1)} ms before the second request had arrived (cut ${cut.toFixed(2)}, gap ${gap_ms} ms)`);
      } finally {
        await s.close();
        fw.stop();
      }
    }),
    { numRuns: 12, seed: 2828 },
  );
});
