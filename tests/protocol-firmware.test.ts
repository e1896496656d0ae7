/** The emulator firmware against docs/protocol.md's board rules, frame by frame; a fuzz that reaches every command handler. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { Firmware, type AppliedOp } from '../drivers/emulated/firmware.js';
import { encodeFrame, encodeRaw, FrameDecoder, splitBody, type Frame } from '../drivers/protocol/frame.js';
import { decodeError, decodeFields, decodeReply, decodeRequest, encodeRequest, ErrCode, errName, MESSAGES, MsgType, REPLY, spec, type Payload } from '../drivers/protocol/messages.js';
import { decodeHelloReply } from '../drivers/protocol/hello.js';
import { onGrid } from '../drivers/limits.js';

/** A firmware on a board, fed whole frames; replies decoded as they come. */
function rig(o: { time?: 'real' | 'virtual'; limits?: ConstructorParameters<typeof EmulatedBoard>[0] } = {}) {
  const board = new EmulatedBoard({ seed: 1, ...o.limits });
  const dec = new FrameDecoder();
  const replies: Frame[] = [];
  const raws: { version: number; type: number; seq: number; body: Buffer }[] = [];
  const fw = new Firmware(board, (b) => {
    for (const r of dec.push(b)) {
      raws.push(r);
      const f = splitBody(r);
      if (f && r.version === 2) replies.push(f);
    }
  }, { time: o.time ?? 'virtual' });
  let seq = 1;
  let session = 0;
  const send = (type: number, payload: Buffer, over: Partial<Frame> = {}) => {
    const s = over.seq ?? seq++;
    fw.onData(encodeFrame({ version: 2, type, seq: s, session: over.session ?? session, boot: over.boot ?? fw.bootId, payload, ...over }));
    return s;
  };
  // The firmware lets the line in between queued requests (one event-loop turn each): a few turns drain its queue.
  const tick = async () => {
    for (let k = 0; k < 16; k++) await new Promise((r) => setImmediate(r));
  };
  const hello = async (resume = 0) => {
    const s = send(MsgType.HELLO, encodeRequest(spec('HELLO'), { min_version: 2, max_version: 2, resume_session: resume }), { session: resume, boot: resume ? fw.bootId : 0 });
    await tick();
    const r = replies.filter((x) => x.seq === s).at(-1)!;
    const h = decodeHelloReply(r.payload);
    session = h.link.session;
    return { r, h };
  };
  const reply = (s: number) => replies.filter((x) => x.seq === s);
  const outcome = (f: Frame | undefined) => (!f ? 'none' : f.type === MsgType.ERROR ? `ERROR ${errName(decodeError(f.payload).code)}` : 'ok');
  return { board, fw, send, hello, reply, outcome, tick, raws, replies, get session() { return session; } };
}

const SET = (vg = 1.0, width = 1e-6) => encodeRequest(spec('SET'), { array: 0, row: 2, col: 2, vte: 1.2, vg, width });
const cell = { array: 0, row: 2, col: 2 };

test('firmware: nothing but HELLO before a session; a new HELLO ends the old session; resume keeps it', async () => {
  const r = rig();
  const s0 = r.send(MsgType.SET, SET());
  await r.tick();
  assert.equal(r.outcome(r.reply(s0)[0]), 'ERROR NO_SESSION');
  const { r: h1 } = await r.hello();
  const first = r.session;
  assert.equal(h1.session, first, 'the HELLO reply header carries the granted session');
  assert.equal(h1.boot, r.fw.bootId);
  const s1 = r.send(MsgType.SET, SET());
  await r.tick();
  assert.equal(r.outcome(r.reply(s1)[0]), 'ok');
  await r.hello();
  assert.notEqual(r.session, first);
  const s2 = r.send(MsgType.SET, SET(), { session: first });
  const s3 = r.send(MsgType.PING, Buffer.alloc(0), { boot: r.fw.bootId ^ 1 });
  await r.tick();
  assert.equal(r.outcome(r.reply(s2)[0]), 'ERROR NO_SESSION');
  assert.equal(r.reply(s2)[0].session, first, 'the reply echoes the request session');
  assert.equal(r.outcome(r.reply(s3)[0]), 'ERROR NO_SESSION');
  assert.equal(r.board.countersSync(cell).set, 1, 'refused requests never ran');
  const now = r.session;
  const { h } = await r.hello(now);
  assert.equal(h.link.resumed, true);
  assert.equal(h.link.session, now);
});

test('firmware: a retransmitted pulse is answered from the cache (identical bytes), a read is executed again', async () => {
  const r = rig();
  await r.hello();
  const s = r.send(MsgType.SET, SET());
  await r.tick();
  r.send(MsgType.SET, SET(), { seq: s });
  r.send(MsgType.SET, SET(), { seq: s });
  await r.tick();
  assert.equal(r.board.countersSync(cell).set, 1);
  const rs = r.reply(s);
  assert.equal(rs.length, 3);
  assert.ok(rs.every((x) => x.type === (MsgType.SET | REPLY)));
  assert.equal(r.fw.stats.replays, 2);
  const rd = r.send(MsgType.READ, encodeRequest(spec('READ'), { ...cell, vread: 0.2 }));
  r.send(MsgType.READ, encodeRequest(spec('READ'), { ...cell, vread: 0.2 }), { seq: rd });
  await r.tick();
  assert.equal(r.reply(rd).length, 2);
  assert.equal(r.board.countersSync(cell).read, 2, 'reads re-executed, never cached');
  const c1 = r.send(MsgType.SET, SET(1.1), { seq: s });
  await r.tick();
  assert.equal(r.outcome(r.reply(c1).at(-1)), 'ERROR SEQ_CONFLICT');
  assert.equal(r.board.countersSync(cell).set, 1);
});

test('firmware: a refused pulse (LIMIT) is cached like any reply and never applied', async () => {
  const r = rig();
  await r.hello();
  const s = r.send(MsgType.SET, SET(3.4));
  await r.tick();
  r.send(MsgType.SET, SET(3.4), { seq: s });
  await r.tick();
  assert.deepEqual(r.reply(s).map(r.outcome), ['ERROR LIMIT', 'ERROR LIMIT']);
  assert.equal(r.board.countersSync(cell).set, 0);
});

test('firmware: the window: a seq W behind the newest is STALE_SEQ, W-1 behind still answered from the cache', async () => {
  const r = rig();
  await r.hello();
  const W = r.fw.o.window;
  const s = r.send(MsgType.SET, SET());
  for (let k = 0; k < W - 1; k++) r.send(MsgType.PING, Buffer.alloc(0));
  await r.tick();
  r.send(MsgType.SET, SET(), { seq: s });
  await r.tick();
  assert.equal(r.outcome(r.reply(s).at(-1)), 'ok', `${W - 1} behind: still in the window`);
  r.send(MsgType.PING, Buffer.alloc(0));
  r.send(MsgType.SET, SET(), { seq: s });
  await r.tick();
  assert.equal(r.outcome(r.reply(s).at(-1)), 'ERROR STALE_SEQ');
  assert.equal(r.board.countersSync(cell).set, 1);
  // Sequence numbers wrap (modulo 2^16): in a new session, seqs 65533 .. 2 are consecutive.
  await r.hello();
  const wrapSet = r.send(MsgType.SET, SET(1.1), { seq: 65533 });
  const after = [65534, 65535, 0, 1, 2].map((q) => r.send(MsgType.PING, Buffer.alloc(0), { seq: q }));
  await r.tick();
  assert.ok(after.every((q) => r.outcome(r.reply(q).at(-1)) === 'ok'), 'seqs after the wrap are ahead, not stale');
  r.send(MsgType.SET, SET(1.1), { seq: wrapSet });
  await r.tick();
  assert.equal(r.reply(wrapSet).length, 2);
  assert.equal(r.outcome(r.reply(wrapSet).at(-1)), 'ok', 'a retransmission across the wrap is answered from the cache');
  assert.equal(r.board.countersSync(cell).set, 2);
});

test('firmware: a retransmission arriving while its request executes is answered once, when done', async () => {
  const r = rig({ time: 'real' });
  await r.hello();
  const t0 = performance.now();
  const s = r.send(MsgType.WAIT, encodeRequest(spec('WAIT'), { seconds: 0.3 }));
  await new Promise((res) => setTimeout(res, 80));
  r.send(MsgType.WAIT, encodeRequest(spec('WAIT'), { seconds: 0.3 }), { seq: s });
  const p = r.send(MsgType.PING, Buffer.alloc(0));
  await new Promise((res) => setTimeout(res, 600));
  assert.equal(r.reply(s).length, 1, 'one reply');
  assert.equal(r.reply(p).length, 1);
  assert.equal(r.fw.stats.dropped, 1);
  const wIdx = r.replies.findIndex((x) => x.seq === s);
  const pIdx = r.replies.findIndex((x) => x.seq === p);
  assert.ok(wIdx < pIdx, 'in arrival order: the WAIT reply before the PING reply');
  assert.ok(performance.now() - t0 >= 300);
  // Done now: a retransmission is answered at once from the cache.
  const t1 = performance.now();
  r.send(MsgType.WAIT, encodeRequest(spec('WAIT'), { seconds: 0.3 }), { seq: s });
  await r.tick();
  assert.equal(r.reply(s).length, 2);
  assert.ok(performance.now() - t1 < 100);
  r.fw.stop();
});

test('firmware: WAIT with NaN, a negative or an infinite value is refused, nothing crashes', async () => {
  const r = rig();
  await r.hello();
  const bad = [NaN, -1, -Infinity, Infinity].map((s) => r.send(MsgType.WAIT, encodeRequest(spec('WAIT'), { seconds: s }, { raw: true })));
  const big = r.send(MsgType.WAIT, encodeRequest(spec('WAIT'), { seconds: 1e9 }));
  await r.tick();
  assert.deepEqual(bad.map((s) => r.outcome(r.reply(s)[0])), ['ERROR BAD_PAYLOAD', 'ERROR BAD_PAYLOAD', 'ERROR BAD_PAYLOAD', 'ERROR BAD_PAYLOAD']);
  assert.equal(r.outcome(r.reply(big)[0]), 'ERROR LIMIT');
});

test('firmware: versions: a v1 frame gets a v1 ERROR, v3 a v2 ERROR VERSION, an unsupported HELLO range leaves the session alone', async () => {
  const r = rig();
  await r.hello();
  const before = r.session;
  r.fw.onData(encodeRaw({ version: 1, type: MsgType.HELLO, seq: 77, body: Buffer.alloc(0) }));
  const v1 = r.raws.find((x) => x.seq === 77)!;
  assert.equal(v1.version, 1);
  assert.equal(v1.type, MsgType.ERROR);
  assert.equal(decodeFields(spec('ERROR').reply, v1.body).code, ErrCode.VERSION);
  const v3 = r.send(MsgType.PING, Buffer.alloc(0), { version: 3 });
  const h = r.send(MsgType.HELLO, encodeRequest(spec('HELLO'), { min_version: 3, max_version: 9, resume_session: 0 }), { session: 0, boot: 0 });
  await r.tick();
  assert.equal(r.outcome(r.reply(v3)[0]), 'ERROR VERSION');
  assert.equal(r.outcome(r.reply(h)[0]), 'ERROR VERSION');
  const p = r.send(MsgType.PING, Buffer.alloc(0));
  await r.tick();
  assert.equal(r.outcome(r.reply(p)[0]), 'ok');
  assert.equal(r.session, before);
});

test('firmware: a reboot forgets the session; the first reply after it carries the new boot id', async () => {
  const r = rig();
  await r.hello();
  const oldBoot = r.fw.bootId;
  const s = r.send(MsgType.SET, SET());
  await r.tick();
  r.fw.reboot();
  const s2 = r.send(MsgType.SET, SET(), { seq: s, boot: oldBoot });
  await r.tick();
  const f = r.reply(s2).at(-1)!;
  assert.equal(r.outcome(f), 'ERROR NO_SESSION');
  assert.notEqual(f.boot, oldBoot);
  assert.equal(f.boot, r.fw.bootId);
  assert.equal(r.board.countersSync(cell).set, 1);
});

test('fuzz: CRC-valid frames with mutated payloads of every type reach the handlers; every one is answered, nothing beyond the limits is applied', async () => {
  const limits = { limits: { vte_max_V: 3.0, vsl_max_V: 2.4, vg_max_V: 2.0, vread_max_V: 0.3, width_min_s: 1e-7, width_max_s: 1e-4 }, dacStep_V: 0.005 };
  const r = rig({ limits });
  await r.hello();
  const applied: AppliedOp[] = [];
  r.fw.onApplied = (op) => applied.push(op);
  const sent = new Map<number, { type: number; payload: Buffer }>();
  const types = MESSAGES.filter((m) => m.type !== MsgType.HELLO && m.type !== MsgType.ERROR);
  const sample = (m: (typeof types)[number]): Payload => {
    const o: Payload = {};
    // A list field (MVM's voltages: V vectors of rows voltages, rows = 1 here) gets one grid voltage.
    for (const f of m.request) o[f.name] = f.type === 'u8' ? 0 : f.type === 'u16' ? 1 : f.type === 'f64' ? 1e-6 : f.type === 'uV' ? 0.5 : f.type === 'ns' ? 1e-6 : f.type === 'uV[u16]' ? Float64Array.of(0.1) : 0;
    return o;
  };
  let n = 0;
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...types), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.integer({ min: -3, max: 3 }), async (m, flips, dlen) => {
      let p = Buffer.from(encodeRequest(m, sample(m)));
      for (const [i, v] of flips) if (p.length) p[i % p.length] = v;
      if (dlen < 0) p = p.subarray(0, Math.max(0, p.length + dlen));
      else if (dlen > 0) p = Buffer.concat([p, Buffer.alloc(dlen, 0xa5)]);
      const s = r.send(m.type, p);
      sent.set(s, { type: m.type, payload: p });
      n++;
      await r.tick();
      const rep = r.reply(s).at(-1);
      assert.ok(rep, `${m.name} with a mutated payload got no reply`);
      if (rep.type === MsgType.ERROR) assert.ok(decodeError(rep.payload).code > 0);
      else decodeReply(m, rep.payload); // a success reply must decode exactly
    }),
    { numRuns: 3000 },
  );
  // Every pulse the firmware applied was a well-formed request within the board's limits (after rounding).
  const l = limits.limits;
  for (const op of applied) {
    const q = sent.get(op.seq)!;
    const m = MESSAGES.find((x) => x.type === q.type)!;
    const o = decodeRequest(m, q.payload);
    const g = (v: unknown) => onGrid(v as number, 0.005);
    if (m.type === MsgType.SET || m.type === MsgType.FORM) assert.ok(g(o.vte) <= l.vte_max_V && g(o.vte) >= 0 && g(o.vg) <= l.vg_max_V && (o.width as number) <= l.width_max_s, `${m.name} ${JSON.stringify(o)}`);
    if (m.type === MsgType.RESET) assert.ok(g(o.vsl) <= l.vsl_max_V && g(o.vg) <= l.vg_max_V);
  }
  assert.ok(n >= 3000);
  assert.ok(applied.length > 0, 'some mutated requests were valid and ran');
});

test('fuzz: random bytes, truncated and spliced frames never crash or wedge the firmware', async () => {
  const r = rig();
  await r.hello();
  const valid = [SET(), encodeRequest(spec('READ_ARRAY'), { array: 0, vread: 0.2 })].map((p, k) => encodeFrame({ version: 2, type: k ? MsgType.READ_ARRAY : MsgType.SET, seq: 1000 + k, session: r.session, boot: r.fw.bootId, payload: p }));
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a)), fc.constantFrom(...valid).map((b) => b.subarray(0, 5 + (b[6] % 20)))), { maxLength: 20 }), (chunks) => {
      for (const c of chunks) r.fw.onData(c);
    }),
    { numRuns: 500 },
  );
  // Still alive and in order: after a stall timeout's worth of silence a PING is answered.
  await new Promise((res) => setTimeout(res, 200));
  const p = r.send(MsgType.PING, Buffer.alloc(0));
  await new Promise((res) => setTimeout(res, 20));
  assert.equal(r.outcome(r.reply(p).at(-1)), 'ok');
});
