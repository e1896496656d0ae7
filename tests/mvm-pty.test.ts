/**
 * Issue 28: the analog MVM over a real pty never hangs. The cause of the intermittent hang was
 * three faults (drivers/serial/poller-fix.ts, the firmware's executor, StallWatch): a large write
 * stopping for good when a read re-armed the shared poller, a board computing the next MVM while
 * its last reply still waited for room on the port, and a receiver taking its own blocked event
 * loop for the line's silence. And a board must meet its timing rule: the emulator with resistive
 * wires advertises the per-cell time its solver needs.
 *
 * Invariants, over seeded shapes within the documented limits: every MVM through the pty is
 * answered (within a hang bound), every request executed on the board exactly once, no reply
 * damaged, no recovery; the results equal, bit for bit, the same driver and firmware in process
 * (no pty); a tile too tall for max_payload is split into row blocks whose sum is the whole
 * tile's product.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { SerialPort } from 'serialport';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { Firmware, type FirmwareOptions } from '../drivers/emulated/firmware.js';
import { loopback } from '../drivers/emulated/loopback.js';
import { PtyServer } from '../drivers/emulated/pty-server.js';
import { SerialBoard } from '../drivers/serial/serial-board.js';
import { serialTransport } from '../drivers/serial/transport.js';
import { patchPoller } from '../drivers/serial/poller-fix.js';
import { encodeFrame, FrameDecoder, StallWatch, type RawFrame } from '../drivers/protocol/frame.js';
import { MsgType } from '../drivers/protocol/messages.js';
import { loadCalibration } from '../calibration/calibration.js';
import { emulatePty } from './helpers/station.js';
import type { MvmTile } from '../drivers/board.js';
import { needTool } from './helpers/env.js';
import { quietCalibration } from './helpers/quiet-calibration.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Rejects when `p` takes longer than `ms`: a hang fails the test instead of stopping it. */
function within<T>(p: Promise<T>, ms: number, what: string, diag: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms (hang); ${diag()}`)), ms)));
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

test('pty: a large write whose room comes back after the port read is never left stalled (serialport poller fix)', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const dir = mkdtempSync(join(tmpdir(), 'rram-poller-'));
  const [a, b] = [join(dir, 'a'), join(dir, 'b')];
  const socat = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
  try {
    for (let k = 0; k < 200 && !(existsSync(a) && existsSync(b)); k++) await sleep(10);
    const writer = await serialTransport(a, 921600)(); // the production transport
    writer.onData(() => undefined);
    const reader = await new Promise<SerialPort>((res, rej) => {
      const p = new SerialPort({ path: b, baudRate: 921600, autoOpen: false });
      p.open((e) => (e ? rej(e) : (patchPoller(p), res(p))));
    });
    let got = 0;
    reader.on('data', (d: Buffer) => (got += d.length));
    // Four rounds (the stock poller lost the write in about half of them): the writer's big write
    // fills the pty while the reader is paused; the reader talks (the writer reads, re-arming its
    // poller), then drains and falls silent. Every byte must arrive.
    const size = 200_000;
    for (let round = 1; round <= 4; round++) {
      reader.pause();
      writer.write(Buffer.alloc(size, round));
      await sleep(150);
      reader.write(Buffer.from('hello'));
      await sleep(150);
      reader.resume();
      const want = round * size;
      for (let k = 0; k < 150 && got < want; k++) await sleep(20);
      assert.equal(got, want, `round ${round}: ${got - (round - 1) * size} of ${size} bytes arrived; the write stopped`);
    }
    await writer.close();
    await new Promise<void>((r) => reader.close(() => r()));
  } finally {
    socat.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a receiver whose event loop was blocked gives the line a whole stall timeout after it wakes (StallWatch)', async () => {
  // Half a frame arrives, then the loop is blocked for 4 stall timeouts (an MVM computing); the
  // rest reaches JavaScript a few loop turns (2 ms) after the loop is free (serialport reads in
  // the thread pool after the readable event), well within one stall timeout of waking. The frame must not be dropped for the receiver's own delay.
  for (const block of [2, 4, 8]) {
    const dec = new FrameDecoder({ maxBody: 8 + 4096, stall_ms: 20 });
    const got: RawFrame[] = [];
    const watch = new StallWatch(dec, (fs) => got.push(...fs));
    const frame = encodeFrame({ version: 2, type: MsgType.PING, seq: 9, session: 1, boot: 2, payload: Buffer.alloc(3000, 1) });
    const feed = (b: Buffer) => {
      got.push(...dec.push(b));
      watch.fed();
    };
    feed(frame.subarray(0, 1500));
    await sleep(5);
    const t0 = performance.now();
    while (performance.now() - t0 < block * 20); // the loop is busy
    await sleep(2);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    feed(frame.subarray(1500));
    watch.stop();
    assert.equal(got.length, 1, `blocked ${block} stall timeouts: the frame was dropped (${dec.stats.stalls} stalls)`);
  }
});

interface Call {
  tile: MvmTile;
  vectors: number;
  seed: number;
}

/** A call within the documented limits: any tile of the 64 x 64 arrays, grid voltages 0..0.2 V. */
const callArb = (maxVectors: number) =>
  fc
    .record({ rows: fc.integer({ min: 1, max: 64 }), cols: fc.integer({ min: 1, max: 64 }), a: fc.nat(), b: fc.nat(), array: fc.integer({ min: 0, max: 1 }), vectors: fc.integer({ min: 1, max: maxVectors }), seed: fc.nat() })
    .map(({ rows, cols, a, b, array, vectors, seed }): Call => ({ tile: { array, row0: a % (65 - rows), col0: b % (65 - cols), rows, cols }, vectors, seed }));

function voltages(c: Call): Float64Array {
  return Float64Array.from({ length: c.vectors * c.tile.rows }, (_, k) => ((c.seed + k * 7919) % 201) / 1000);
}

/**
 * A quiet board (no read noise, no relaxation) with a pattern of formed and set cells on both
 * arrays: its products do not depend on the order the board ran requests in (a frame the board
 * dropped under load goes again after later ones), so they must equal the in-process board's exactly.
 */
function quietBoard(seed: number, o: ConstructorParameters<typeof EmulatedBoard>[0] = {}): () => EmulatedBoard {
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
async function pair(board: () => EmulatedBoard, firmware: FirmwareOptions) {
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

interface Pair {
  pty: SerialBoard;
  local: SerialBoard;
  diag: () => string;
  /** The board's firmware when it runs in this process (its count of executed requests). */
  firmware?: Firmware;
}

async function checkCalls(p: Pair, calls: Call[], label: string): Promise<void> {
  try {
    await checkCallsOnce(p, calls, label);
  } catch (e) {
    // fast-check reports the counterexample; the reason is printed here
    console.error(`${label}: ${(e as Error).message}`);
    throw e;
  }
}

async function checkCallsOnce(p: Pair, calls: Call[], label: string): Promise<void> {
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

test('pty: seeded MVM shapes (1..64 x 1..64 tiles, up to 600 vectors, 1-3 calls at once) all answered in time, equal to the in-process board', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const p = await pair(quietBoard(11), {});
  try {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(callArb(600), { minLength: 1, maxLength: 3 }), async (calls) => checkCalls(p, calls, `ideal wires, case ${++n}`)),
      { numRuns: 30, seed: 2801, endOnFailure: true },
    );
  } finally {
    await p.done();
  }
});

test('pty: resistive wires on `rram emulate --pty` (another process; it solves the whole array per vector): small and large tiles answered in time, equal to the in-process board', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  // Another process, so that the board's long computations block only the board (as on a real
  // board): a reply it left half written while computing the next stalled past the host's timeout.
  const dir = mkdtempSync(join(tmpdir(), 'rram-mvm-pty-'));
  const calFile = join(dir, 'quiet.json');
  writeFileSync(calFile, JSON.stringify(quietCalibration()));
  const args = ['--calibration', calFile, '--wire-resistance', '1', '--virtual-time', '--arrays', '2', '--seed', '12'];
  const emu = await emulatePty(args);
  const o = { keepAlive_ms: 0, margin_ms: 250 };
  const board = () => new EmulatedBoard({ seed: 12, arrays: 2, calibration: loadCalibration(calFile), mvm: { wire_ohm: 1 } });
  const pty = await SerialBoard.open({ path: emu.path, ...o });
  const local = await SerialBoard.open({ transport: loopback(new Firmware(board(), () => undefined, { time: 'virtual' })).factory, ...o });
  const p = { pty, local, diag: () => `host link ${JSON.stringify(pty.stats)}, host decoder ${JSON.stringify((pty.link as unknown as { decoder: { stats: object } }).decoder.stats)}, emulator stderr: ${JSON.stringify(emu.err())}` };
  try {
      // The cases that stalled or timed out before: many vectors of a 1 x 1 tile, whole-array replies.
    await checkCalls(p, [{ tile: { array: 0, row0: 5, col0: 9, rows: 1, cols: 1 }, vectors: 400, seed: 3 }], 'wires, 1 x 1 x 400');
    await checkCalls(p, [{ tile: { array: 1, row0: 0, col0: 0, rows: 64, cols: 64 }, vectors: 40, seed: 4 }, { tile: { array: 0, row0: 0, col0: 2, rows: 49, cols: 62 }, vectors: 60, seed: 5 }], 'wires, full tiles');
    // A request computing for a second while a large one (16 kB) arrives: the board must not take
    // its own busy second for the line's silence and drop the frame it was receiving.
    await checkCalls(p, [{ tile: { array: 0, row0: 3, col0: 3, rows: 1, cols: 1 }, vectors: 900, seed: 8 }, { tile: { array: 1, row0: 0, col0: 0, rows: 64, cols: 64 }, vectors: 63, seed: 9 }], 'wires, a large request behind a long computation');
    // A whole-array reply (32 kB, far more than the pty holds), then a request computing for a second.
    await checkCalls(p, [{ tile: { array: 1, row0: 0, col0: 0, rows: 64, cols: 64 }, vectors: 63, seed: 6 }, { tile: { array: 0, row0: 7, col0: 7, rows: 1, cols: 1 }, vectors: 900, seed: 7 }], 'wires, a long computation behind a large reply');
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(callArb(80), { minLength: 1, maxLength: 2 }), async (calls) => checkCalls(p, calls, `wires, case ${++n}`)),
      { numRuns: 6, seed: 2802, endOnFailure: true },
    );
  } finally {
    await pty.close().catch(() => undefined);
    await local.close().catch(() => undefined);
    emu.proc.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a tile too tall for the board\'s max_payload is driven in row blocks: the sum equals the whole tile\'s product', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  // On ideal wires a cell's current depends on its own row's voltage only, so the blocks' sum is
  // the whole product, up to rounding.
  const make = quietBoard(13);
  const p = await pair(make, { maxPayload: 100 }); // 22 rows per request
  try {
    const whole = make();
    for (const c of [{ tile: { array: 0, row0: 0, col0: 0, rows: 64, cols: 8 }, vectors: 5, seed: 1 }, { tile: { array: 0, row0: 10, col0: 3, rows: 23, cols: 5 }, vectors: 3, seed: 2 }]) {
      await checkCalls(p, [c], `row blocks ${c.tile.rows} rows`);
      const got = await p.pty.mvm(c.tile, voltages(c));
      const want = whole.mvmSync(c.tile, voltages(c));
      for (let k = 0; k < want.length; k++) assert.ok(Math.abs(got[k] - want[k]) <= 1e-12 * Math.abs(want[k]) + 1e-18, `entry ${k}: ${got[k]} vs ${want[k]}`);
      assert.ok(want.some((x) => x > 1e-6), 'the tile carries current');
    }
  } finally {
    await p.done();
  }
});
