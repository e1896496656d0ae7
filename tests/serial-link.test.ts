/**
 * The serial driver (host end of protocol v2) against the emulator firmware through the in-process
 * loopback: every link defect found in wave 1 as a test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { Firmware, type FirmwareOptions } from '../drivers/emulated/firmware.js';
import { loopback, type LinkFaults } from '../drivers/emulated/loopback.js';
import { SerialBoard } from '../drivers/serial/serial-board.js';
import type { LinkEvent } from '../drivers/board.js';
import { BoardError, DisconnectedError, OutcomeUnknownError, ProtocolError, VersionMismatchError } from '../drivers/errors.js';
import { encodeFrame, encodeRaw, FrameDecoder, splitBody } from '../drivers/protocol/frame.js';
import { decodeReply, encodeReply, MsgType, spec } from '../drivers/protocol/messages.js';
import { HELLO_RANGES } from '../drivers/protocol/hello.js';

function rig(o: { seed?: number; fw?: FirmwareOptions; faults?: LinkFaults; board?: EmulatedBoard } = {}) {
  const board = o.board ?? new EmulatedBoard({ seed: o.seed ?? 1 });
  const fw = new Firmware(board, () => undefined, { time: 'virtual', tOp_s: 0.002, ...o.fw });
  const lb = loopback(fw, o.faults);
  return { board, fw, lb };
}
const open = (lb: ReturnType<typeof loopback>, o: Parameters<typeof SerialBoard.open>[0] = {}) =>
  SerialBoard.open({ transport: lb.factory, keepAlive_ms: 0, margin_ms: 40, reconnect_ms: 1500, ...o });
const events = (b: SerialBoard) => {
  const ev: LinkEvent[] = [];
  b.linkEvents.subscribe((e) => ev.push(e));
  return ev;
};
const c99 = { array: 0, row: 9, col: 9 };
const FORM = { vte_V: 3.9, vg_V: 1.6, width_s: 1e-5 };
const SETP = { vte_V: 1.2, vg_V: 1.8, width_s: 1e-6 };

test('stale replies: a new host session is never answered from an earlier one (reads and pulse verifies differ, every pulse runs)', async () => {
  const { board, lb } = rig();
  const a = await open(lb);
  await a.form(c99, FORM);
  await a.set(c99, SETP);
  // A first process leaves 40 reads in flight and goes away without waiting for their replies.
  const pristine = { array: 1, row: 0, col: 0 };
  for (let k = 0; k < 40; k++) void a.read(c99).catch(() => undefined);
  const b = await open(lb);
  const reads: number[] = [];
  for (let k = 0; k < 3; k++) reads.push(await b.read(pristine));
  assert.ok(reads.every((i) => i < 1e-6), `a pristine cell reads ~0, not a formed cell's ${reads.map((x) => x * 1e6).join(', ')} uA`);
  // Three "processes" each applying a RESET with --verify: three pulses, three different verify reads.
  const verify: number[] = [];
  for (let k = 0; k < 3; k++) {
    const p = await open(lb);
    await p.reset(c99, { vsl_V: 1.0 + 0.1 * k, vg_V: 2.7, width_s: 1e-6 });
    verify.push(await p.read(c99));
    await p.close();
  }
  assert.equal(board.countersSync(c99).reset, 3, 'every RESET ran');
  assert.equal(new Set(verify).size, 3, `three distinct verify reads ${verify}`);
  assert.ok(b.stats.staleReplies >= 1, 'the first process\'s replies did reach the second one, and were ignored');
});

test('no double pulse after many requests flow: a lost SET reply is answered from the cache within the window', async () => {
  const { board, fw, lb } = rig();
  const drv = await open(lb);
  await drv.form(c99, FORM);
  fw.faults = { dropReplyAt: fw.stats.requests + 1 }; // the next request's reply is lost
  const set = drv.set(c99, SETP);
  const reads = Array.from({ length: 2000 }, (_, k) => drv.read({ array: 1, row: k % 64, col: (k >> 6) % 64 }));
  await Promise.all([set, ...reads]);
  assert.equal(board.countersSync(c99).set, 1, 'applied once');
  assert.ok(drv.stats.retransmits >= 1);
  assert.ok(fw.stats.replays >= 1, 'answered from the replay cache');
  await drv.close();
});

test('timeouts follow the operation: a 3 s WAIT on a real-time board is not retransmitted', async () => {
  const { lb, fw } = rig({ fw: { time: 'real' } });
  const drv = await open(lb, { margin_ms: 100, baudRate: 115200 });
  const t0 = Date.now();
  await drv.wait(3);
  assert.ok(Date.now() - t0 >= 3000);
  assert.equal(drv.stats.retransmits, 0, 'no retransmission of a WAIT still executing');
  assert.equal(fw.stats.executed, 1);
  await drv.close();
});

test('a board that reboots within the retry window is noticed at its first reply: pulses in flight unknown, the rest goes on', async () => {
  const { board, fw, lb } = rig();
  const drv = await open(lb);
  const ev = events(drv);
  const cells = Array.from({ length: 64 }, (_, k) => ({ array: 0, row: k, col: 1 }));
  fw.faults = { replyDelay_ms: 5 };
  const forms = cells.map((c) => drv.form(c, FORM).then(() => 'ok', (e) => e));
  await new Promise((r) => setTimeout(r, 2));
  fw.reboot(); // quick: the very next request already meets the new boot
  fw.faults = {};
  const res = await Promise.all(forms);
  const unknown = res.filter((r) => r instanceof OutcomeUnknownError);
  assert.ok(unknown.length >= 1, 'some pulses were in flight across the reboot');
  assert.ok(unknown.every((e) => /reboot/.test((e as Error).message)));
  assert.ok(ev.some((e) => e.code === 'board-rebooted'), JSON.stringify(ev));
  assert.equal(drv.stats.reboots, 1);
  // Afterwards the link works in a new session; nothing was applied twice.
  for (const c of cells) assert.ok(board.countersSync(c).form <= 1);
  assert.ok((await drv.read(cells[0])) >= 0);
  await drv.close();
});

test('a slow reboot (board silent beyond the retries): pulses unknown, reads re-sent, events tell the story; no "no reply" failure', async () => {
  const { fw, lb } = rig();
  const drv = await open(lb, { margin_ms: 30, reconnect_ms: 3000 });
  const ev = events(drv);
  lb.mute = true; // powered off
  const p = drv.set(c99, SETP).then(() => 'ok', (e) => e);
  const r = drv.read({ array: 0, row: 1, col: 1 });
  await new Promise((res) => setTimeout(res, 400));
  fw.reboot();
  lb.mute = false;
  assert.ok((await p) instanceof OutcomeUnknownError);
  assert.equal(typeof (await r), 'number', 'the read was re-sent in the new session');
  assert.deepEqual(ev.map((e) => e.code), ['link-lost', 'board-rebooted', 'link-restored']);
  await drv.close();
});

test('a lying header (125 bytes claiming 4096) does not stall the host: the request still completes', async () => {
  const { lb } = rig();
  const drv = await open(lb, { baudRate: 921600 });
  let armed = true;
  lb.tamper = (dir, b) => {
    if (dir !== 'to-host' || !armed) return b;
    armed = false;
    const burst = Buffer.alloc(125, 0x11);
    burst.set([0xa5, 0x5a, 2, 0x91, 1, 0, 0x00, 0x10]);
    return Buffer.concat([burst, b]);
  };
  const t0 = Date.now();
  assert.equal(typeof (await drv.read(c99)), 'number');
  assert.ok(Date.now() - t0 < 2000);
  await drv.close();
});

test('a CRC-valid ERROR with a 1-byte payload, a short body and a wrong reply type settle the request with a typed error', async () => {
  const { lb } = rig();
  const drv = await open(lb);
  const dec = new FrameDecoder();
  let mode: 'error1' | 'short' | 'type' | undefined;
  lb.tamper = (dir, b) => {
    if (dir !== 'to-host' || !mode) return b;
    const f = splitBody(dec.push(b)[0])!;
    const m = mode;
    mode = undefined;
    if (m === 'short') return encodeRaw({ version: 2, type: f.type, seq: f.seq, body: Buffer.alloc(3) });
    return encodeFrame({ ...f, type: m === 'error1' ? MsgType.ERROR : MsgType.PING | 0x80, payload: m === 'error1' ? Buffer.from([7]) : Buffer.alloc(0) });
  };
  mode = 'error1';
  await assert.rejects(drv.read(c99), ProtocolError);
  mode = 'error1';
  await assert.rejects(drv.set(c99, SETP), (e: unknown) => e instanceof OutcomeUnknownError && /malformed/.test(e.message));
  mode = 'short';
  await assert.rejects(drv.read(c99), ProtocolError);
  mode = 'type';
  await assert.rejects(drv.read(c99), /reply type 0x82/);
  assert.equal(typeof (await drv.read(c99)), 'number', 'the link is fine afterwards');
  await drv.close();
});

test('keep-alive notices a silent board (link-lost), gives up after the deadline, then every request fails at once', async () => {
  const { lb } = rig();
  const drv = await open(lb, { keepAlive_ms: 100, margin_ms: 30, retries: 1, reconnect_ms: 600 });
  const ev = events(drv);
  lb.mute = true;
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(ev.map((e) => e.code), ['link-lost', 'gave-up']);
  const written = lb.hostBytes;
  const t0 = Date.now();
  await assert.rejects(drv.read(c99), (e: unknown) => e instanceof DisconnectedError && /disconnected/.test(e.message));
  await assert.rejects(drv.set(c99, SETP), DisconnectedError);
  assert.ok(Date.now() - t0 < 50, 'at once');
  assert.equal(lb.hostBytes, written, 'nothing written to a dead port');
  await drv.close();
});

test('the port closing again during re-handshake: one recovery loop, one port open at a time, the link comes back', async () => {
  const { board, fw, lb } = rig();
  const drv = await open(lb, { margin_ms: 30, reconnect_ms: 4000 });
  const ev = events(drv);
  fw.faults = { replyDelay_ms: 3 };
  const cells = Array.from({ length: 32 }, (_, k) => ({ array: 0, row: 20, col: k }));
  const forms = cells.map((c) => drv.form(c, FORM));
  await new Promise((r) => setTimeout(r, 4));
  for (let k = 0; k < 4; k++) {
    lb.unplug();
    await new Promise((r) => setTimeout(r, 230));
  }
  fw.faults = {};
  await Promise.all(forms);
  assert.ok(lb.maxOpen <= 1, `ports open at once: ${lb.maxOpen}`);
  assert.equal(ev.filter((e) => e.code === 'link-restored').length, ev.filter((e) => e.code === 'link-lost').length);
  for (const c of cells) assert.equal(board.countersSync(c).form, 1, 'resumed session: no pulse twice');
  await drv.close();
});

test('handshake errors are clear: version, silent board, unusable HELLO', async () => {
  const { lb, fw } = rig();
  lb.tamper = (dir, b) => (dir === 'to-host' ? encodeRaw({ version: 1, type: MsgType.ERROR, seq: b.readUInt16LE(4), body: Buffer.from([5, 0, 2, 0x76, 0x31]) }) : b);
  await assert.rejects(open(lb), (e: unknown) => e instanceof VersionMismatchError && /v1/.test(e.message));
  lb.tamper = undefined;
  lb.mute = true;
  await assert.rejects(open(lb, { retries: 1 }), /does not answer \(no HELLO reply after 2 attempts\)/);
  lb.mute = false;
  const bad = rig({ fw: { window: 0 } });
  await assert.rejects(open(bad.lb), /unusable HELLO \(docs\/protocol.md, section 4\): window=0 is outside 1\.\.32767/);
  void fw;
});

test('every HELLO field outside its documented range is refused, naming the field and the value (wait_max_ms = 0 would loop for ever)', async () => {
  const hello = spec('HELLO');
  const cases: [string, number][] = [];
  for (const r of HELLO_RANGES) {
    if (r.min > 0) cases.push([r.field, r.min - 1]);
    const t = hello.reply.find((f) => f.name === r.field)!.type;
    const wireMax = t === 'u8' ? 0xff : t === 'u16' ? 0xffff : t === 'u32' || t === 'ns' ? 0xffffffff : 0x7fffffff;
    if (r.max < wireMax) cases.push([r.field, r.max + 1]);
  }
  assert.ok(cases.some(([f, v]) => f === 'wait_max_ms' && v === 999));
  for (const [field, wire] of cases) {
    const { lb } = rig();
    lb.tamper = (dir, b) => {
      if (dir !== 'to-host' || b[3] !== (MsgType.HELLO | 0x80)) return b;
      const f = splitBody({ version: b[2], type: b[3], seq: b.readUInt16LE(4), body: b.subarray(8, b.length - 4) })!;
      const o = decodeReply(hello, f.payload);
      const ft = hello.reply.find((x) => x.name === field)!.type;
      o[field] = ft === 'uV' ? wire / 1e6 : ft === 'ns' ? wire / 1e9 : wire;
      return encodeFrame({ ...f, payload: encodeReply(hello, o) });
    };
    const named = (e: unknown) => (field === 'version' ? e instanceof VersionMismatchError && e.message.includes(`v${wire}`) : e instanceof ProtocolError && e.message.includes(`${field}=`));
    await assert.rejects(open(lb, { retries: 0 }), named, `${field}=${wire} (wire units) must be refused by name`);
  }
});

test('optional capabilities: a board without WRITE_VERIFY or COUNTERS refuses them by name; the host never sends them', async () => {
  const { lb } = rig({ fw: { features: 0 } });
  const drv = await open(lb);
  assert.deepEqual(drv.info().features, { writeVerify: false, counters: false, mvm: false });
  const before = lb.hostBytes;
  await assert.rejects(drv.counters(c99), /does not offer per-cell counters/);
  await assert.rejects(drv.writeVerify(c99, { algo: 'igvva', target_A: 1e-5, fixed_V: 1.2, start_V: 0.5, step_V: 0.01, stop_V: 2, maxPulses: 10, width_s: 1e-6, vread_V: 0.2 }), /does not offer on-board write-verify/);
  assert.equal(lb.hostBytes, before);
  await drv.close();
});

test('limits: off-grid amplitudes are rounded to the DAC step before the check; a board with other limits refuses what ours accepts', async () => {
  const board = new EmulatedBoard({ seed: 2, limits: { vg_max_V: 2.0 }, dacStep_V: 0.005 });
  const { lb } = rig({ board });
  const drv = await open(lb);
  await drv.set(c99, { vte_V: 1.2, vg_V: 2.002, width_s: 1e-6 }); // rounds to 2.000: allowed
  await assert.rejects(drv.set(c99, { vte_V: 1.2, vg_V: 2.003, width_s: 1e-6 }), /vg_V=2.005 is above the maximum 2/);
  await assert.rejects(drv.set(c99, { vte_V: 1.2, vg_V: 2.5, width_s: 1e-6 }), (e: unknown) => !(e instanceof BoardError), 'refused on the host, never sent');
  await drv.close();
});

test('a WAIT above the board maximum is split into several WAITs', async () => {
  const { lb, fw } = rig({ fw: { waitMax_s: 10 } });
  const drv = await open(lb);
  await drv.wait(35);
  assert.equal(fw.stats.executed, 4);
  assert.equal(fw.board.now_s >= 35, true);
  await drv.close();
});
