/**
 * MVM calls through a pty against the same board in process (tests/mvm-pty.test.ts and the wired
 * soak, bench/mvm-wired-pty.ts): seeded calls within the documented limits, each answered in time,
 * run once on the board and equal to the in-process board's products.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EmulatedBoard } from '../../drivers/emulated/emulated-board.js';
import { Firmware, type FirmwareOptions } from '../../drivers/emulated/firmware.js';
import { loopback } from '../../drivers/emulated/loopback.js';
import { PtyServer } from '../../drivers/emulated/pty-server.js';
import { SerialBoard } from '../../drivers/serial/serial-board.js';
import type { MvmTile } from '../../drivers/board.js';
import { quietCalibration } from './quiet-calibration.js';

/** Rejects when `p` takes longer than `ms`: a hang fails the test instead of stopping it. */
export function within<T>(p: Promise<T>, ms: number, what: string, diag: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms (hang); ${diag()}`)), ms)));
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

export interface Call {
  tile: MvmTile;
  vectors: number;
  seed: number;
}

/** A call within the documented limits: any tile of the 64 x 64 arrays, grid voltages 0..0.2 V. */
export const callArb = (maxVectors: number) =>
  fc
    .record({ rows: fc.integer({ min: 1, max: 64 }), cols: fc.integer({ min: 1, max: 64 }), a: fc.nat(), b: fc.nat(), array: fc.integer({ min: 0, max: 1 }), vectors: fc.integer({ min: 1, max: maxVectors }), seed: fc.nat() })
    .map(({ rows, cols, a, b, array, vectors, seed }): Call => ({ tile: { array, row0: a % (65 - rows), col0: b % (65 - cols), rows, cols }, vectors, seed }));

export function voltages(c: Call): Float64Array {
  return Float64Array.from({ length: c.vectors * c.tile.rows }, (_, k) => ((c.seed + k * 7919) % 201) / 1000);
}

/**
 * A quiet board (no read noise, no relaxation) with a pattern of formed and set cells on both
 * arrays: its products do not depend on the order the board ran requests in (a frame the board
 * dropped under load goes again after later ones), so they must equal the in-process board's exactly.
 */
export function quietBoard(seed: number, o: ConstructorParameters<typeof EmulatedBoard>[0] = {}): () => EmulatedBoard {
  const cal = quietCalibration();
  return () => {
    const b = new EmulatedBoard({ seed, arrays: 2, calibration: cal, ...o });
    for (let array = 0; array < 2; array++)
      for (let i = 0; i < 64; i++)
        for (let j = (i + array) % 3; j < 64; j += 3) {
          const c = { array, row: i, col: j };
          b.formSync(c, { vte_V: 3.9, vg_V: 1.6, width_s: 1e-5 });
          if ((i * 7 + j) % 4) b.resetSync(c, { vsl_V: 2.0, vg_V: 3.0, width_s: 1e-5 });
        }
    return b;
  };
}

/** The same seeded board behind a pty and in process (loopback, no pty), driver options alike. */
export async function pair(board: () => EmulatedBoard, firmware: FirmwareOptions) {
  const fw = { time: 'virtual' as const, bootId: 7, random: () => 0x5e55, ...firmware };
  const srv = new PtyServer(board(), { firmware: fw });
  await srv.start();
  const o = { keepAlive_ms: 0, margin_ms: 250 };
  const pty = await SerialBoard.open({ path: srv.hostPath, ...o });
  const local = await SerialBoard.open({ transport: loopback(new Firmware(board(), () => undefined, fw)).factory, ...o });
  const diag = () => `host link ${JSON.stringify(pty.stats)}, host decoder ${JSON.stringify((pty.link as unknown as { decoder: { stats: object } }).decoder.stats)}, firmware ${JSON.stringify(srv.firmware.stats)}, its decoder ${JSON.stringify(srv.firmware.decoderStats)}`;
  return {
    pty,
    local,
    diag,
    firmware: srv.firmware,
    done: async () => {
      await pty.close().catch(() => undefined);
      await local.close().catch(() => undefined);
      await srv.stop();
    },
  };
}

export interface Pair {
  pty: SerialBoard;
  local: SerialBoard;
  diag: () => string;
  /** The board's firmware when it runs in this process (its count of executed requests). */
  firmware?: Firmware;
}

export async function checkCalls(p: Pair, calls: Call[], label: string): Promise<void> {
  try {
    await checkCallsOnce(p, calls, label);
  } catch (e) {
    // fast-check reports the counterexample; the reason is printed here
    console.error(`${label}: ${(e as Error).message}`);
    throw e;
  }
}

export async function checkCallsOnce(p: Pair, calls: Call[], label: string): Promise<void> {
  const vs = calls.map(voltages);
  const viaPty = await within(Promise.all(calls.map((c, k) => p.pty.mvm(c.tile, vs[k]))), 60_000, label, p.diag);
  const inProcess = await Promise.all(calls.map((c, k) => p.local.mvm(c.tile, vs[k])));
  const s = p.pty.stats;
  // Each request ran on the board exactly once (a frame the board dropped for the line's silence
  // under load may go again: it never ran), no reply arrived damaged, the link never gave up on one.
  // No reply arrived for a request already answered (none ran twice: a board slower than its
  // timing rule makes the host re-send a read, which runs again), none damaged, no recovery.
  assert.deepEqual({ late: s.lateReplies, damaged: s.damagedReplies, recoveries: s.recoveries }, { late: 0, damaged: 0, recoveries: 0 }, `${label}: ${p.diag()}`);
  if (p.firmware) assert.equal(p.firmware.stats.executed, s.sent - s.retransmits - 1, `${label}: every request (HELLO aside) executed exactly once; ${p.diag()}`);
  for (let k = 0; k < calls.length; k++) assert.ok(!vs[k].some((v) => v > 0) || viaPty[k].some((i) => i > 0), `${label}: call ${k} driven, yet no current`);
  for (let k = 0; k < calls.length; k++) assert.deepEqual(viaPty[k], inProcess[k], `${label}: call ${k} ${JSON.stringify(calls[k].tile)} x ${calls[k].vectors} differs from the in-process board`);
}

