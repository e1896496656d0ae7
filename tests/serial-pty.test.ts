/** End-to-end over real pty pairs (fresh socat per test): the serial driver against the emulator firmware. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { PtyServer } from '../drivers/emulated/pty-server.js';
import { SerialBoard } from '../drivers/serial/serial-board.js';
import { OutcomeUnknownError, PortError, TimeoutError, VersionMismatchError } from '../drivers/errors.js';
import { RunContext } from '../src/engine/run-context.js';
import { characterize } from '../src/procedures/characterize.js';
import { needTool } from './helpers/env.js';

async function rig(seed = 1, opts: { timeout_ms?: number; retries?: number } = {}) {
  const board = new EmulatedBoard({ seed });
  const srv = new PtyServer(board);
  await srv.start();
  const drv = await SerialBoard.open({ path: srv.hostPath, baudRate: 115200, timeout_ms: opts.timeout_ms ?? 300, retries: opts.retries ?? 3, keepAlive_ms: 0 });
  return { board, srv, drv, done: async () => { await drv.close().catch(() => undefined); await srv.stop(); } };
}

const cells = (n: number) => Array.from({ length: n }, (_, k) => ({ array: 0, row: k >> 3, col: k & 7 }));

async function programSome(drv: SerialBoard, n: number) {
  const cs = cells(n);
  await Promise.all(cs.map((c) => drv.form(c, { vte_V: 3.9, vg_V: 1.6, width_s: 1e-5 })));
  await Promise.all(cs.map((c) => drv.set(c, { vte_V: 1.2, vg_V: 1.8, width_s: 1e-6 })));
  return Promise.all(cs.map((c) => drv.read(c)));
}

test('normal operation: handshake, pipelined pulses and reads, identical to the in-process board', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await rig(5);
  try {
    const info = r.drv.info();
    assert.equal(info.rows, 64);
    assert.equal(info.protocolVersion, 1);
    const viaSerial = await programSome(r.drv, 32);
    const local = new EmulatedBoard({ seed: 5 });
    const inProc = await programSome(local as unknown as SerialBoard, 32);
    assert.deepEqual(viaSerial, inProc);
    const row = await r.drv.readRow(0, 0);
    assert.equal(row.length, 64);
    const all = await r.drv.readArray(1);
    assert.equal(all.length, 4096);
    for (const c of cells(32)) assert.equal(r.board.counters(c).set, 1);
  } finally {
    await r.done();
  }
});

test('characterize over the pty gives the same dataset as in process for the same seed', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await rig(3);
  try {
    const o = { algo: 'igvva' as const, levels: 4, cellsPerLevel: 8, reads: 2, relax_s: [60], seed: 3 };
    const a = await characterize(r.drv, new RunContext('s'), o);
    const b = await characterize(new EmulatedBoard({ seed: 3 }), new RunContext('s'), o);
    assert.deepEqual(a.levels.map((l) => l.samples_A), b.levels.map((l) => l.samples_A));
  } finally {
    await r.done();
  }
});

test('garbage bytes on the line are skipped', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await rig();
  try {
    const fw = r.srv.firmware;
    // Inject garbage into the host-bound stream by wrapping the firmware's writer.
    const real = (fw as unknown as { write: (b: Buffer) => void }).write;
    fw.setWriter((b) => real(Buffer.concat([Buffer.from([0x00, 0xa5, 0x13, 0x5a, 0xff]), b])));
    const v = await programSome(r.drv, 16);
    assert.equal(v.length, 16);
    for (const c of cells(16)) assert.equal(r.board.counters(c).form, 1);
  } finally {
    await r.done();
  }
});

test('a dropped reply, a corrupted CRC and a slow reply are retried with the same seq: no pulse twice', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await rig(1, { timeout_ms: 150 });
  try {
    r.srv.firmware.faults = { dropReplyAt: 5, corruptReplyAt: 12, delayReplyAt: 20, delayOnce_ms: 400 };
    await programSome(r.drv, 16);
    for (const c of cells(16)) {
      const k = r.board.counters(c);
      assert.equal(k.form, 1, 'form applied once');
      assert.equal(k.set, 1, 'set applied once');
    }
    assert.ok(r.drv.stats.retransmits >= 3, `retransmits ${r.drv.stats.retransmits}`);
    assert.ok(r.srv.firmware.replays >= 3, 'the firmware replayed cached replies');
  } finally {
    await r.done();
  }
});

test('the port closing mid-run: reconnect, re-handshake, finish; counters prove no duplicate pulse', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await rig(1, { timeout_ms: 300 });
  try {
    const cs = cells(64);
    // Slow replies so requests are certainly in flight when the port vanishes after 16 answers.
    r.srv.firmware.faults = { replyDelay_ms: 3 };
    let answered = 0;
    const p = Promise.all(
      cs.map((c) =>
        r.drv.form(c, { vte_V: 3.9, vg_V: 1.6, width_s: 1e-5 }).then(() => {
          if (++answered === 16) void r.srv.unplug().then(() => setTimeout(() => void r.srv.replug(), 300));
        }),
      ),
    );
    await p;
    r.srv.firmware.faults = {};
    await Promise.all(cs.map((c) => r.drv.set(c, { vte_V: 1.2, vg_V: 1.8, width_s: 1e-6 })));
    for (const c of cs) {
      assert.equal(r.board.counters(c).form, 1);
      assert.equal(r.board.counters(c).set, 1);
    }
    assert.ok(r.drv.stats.reconnects >= 1, 'a reconnect happened');
  } finally {
    await r.done();
  }
});

test('a rebooted board: pending pulses are reported as unknown outcome, never guessed', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await rig(1, { timeout_ms: 300 });
  try {
    r.srv.firmware.faults = { replyDelay_ms: 200 };
    const c = { array: 0, row: 9, col: 9 };
    const p = r.drv.form(c, { vte_V: 3.9, vg_V: 1.6, width_s: 1e-5 });
    await new Promise((res) => setTimeout(res, 50));
    await r.srv.unplug();
    (r.srv.firmware as unknown as { bootId: number }).bootId ^= 0xabcdef; // firmware "rebooted"
    r.srv.firmware.faults = {};
    await r.srv.replug();
    await assert.rejects(p, (e: unknown) => e instanceof OutcomeUnknownError && e.op === 'form');
  } finally {
    await r.done();
  }
});

test('clear errors: missing port, busy port, silent board, version mismatch', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  await assert.rejects(SerialBoard.open({ path: '/dev/does-not-exist' }), (e: unknown) => e instanceof PortError && e.reason === 'missing');
  const r = await rig();
  try {
    await assert.rejects(SerialBoard.open({ path: r.srv.hostPath, timeout_ms: 200 }), (e: unknown) => e instanceof PortError && e.reason === 'busy');
  } finally {
    await r.done();
  }
  const board = new EmulatedBoard({ seed: 1 });
  const srv = new PtyServer(board);
  await srv.start();
  try {
    srv.firmware.faults = { dropReplyAt: 1 };
    await assert.rejects(SerialBoard.open({ path: srv.hostPath, timeout_ms: 200, retries: 0 }), (e: unknown) => e instanceof TimeoutError && /does not answer/.test(e.message));
    const info = board.info.bind(board);
    board.info = () => ({ ...info(), protocolVersion: 2 });
    await assert.rejects(SerialBoard.open({ path: srv.hostPath, timeout_ms: 300 }), (e: unknown) => e instanceof VersionMismatchError && e.boardVersion === 2);
  } finally {
    await srv.stop();
  }
});
