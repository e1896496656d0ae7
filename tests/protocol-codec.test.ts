/** Protocol v2 codec and framing: golden bytes, the doc's generated parts, property tests, the decoder's resync and stall. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { encodeFrame, encodeRaw, FrameDecoder, splitBody, linkStall } from '../drivers/protocol/frame.js';
import { decodeFields, decodeRequest, encodeFields, encodeRequest, MESSAGES, MsgType, spec, type Field, type Payload } from '../drivers/protocol/messages.js';
import { decodeHelloReply, encodeHelloReply } from '../drivers/protocol/hello.js';
import { errorTable, helloTable, messageTable, rangeTable, transcripts } from '../drivers/protocol/doc-tables.js';
import { onGrid } from '../drivers/limits.js';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { repoRoot } from '../lib/repo-root.js';

const doc = readFileSync(join(repoRoot(), 'docs/protocol.md'), 'utf8');

test('golden bytes: a SET request frame (docs/protocol.md, transcript 2)', () => {
  const payload = encodeRequest(spec('SET'), { array: 0, row: 3, col: 5, vte: 1.2, vg: 0.51, width: 1e-6 });
  const f = encodeFrame({ version: 2, type: MsgType.SET, seq: 2, session: 0x5e551001, boot: 0xb0071d01, payload });
  assert.equal(f.toString('hex'), 'a55a021102001900011055 5e011d07b000030005 00804f120030c80700e803000010934e62'.replace(/ /g, ''));
  assert.ok(doc.includes(f.toString('hex').replace(/(..)/g, '$1 ').trim()), 'the doc shows these bytes');
});

test('docs/protocol.md contains the message, HELLO and error tables and the transcripts the code produces', async () => {
  for (const [name, t] of [['messages', messageTable()], ['HELLO', helloTable()], ['HELLO ranges', rangeTable()], ['errors', errorTable()], ['transcripts', await transcripts()]] as const)
    assert.ok(doc.includes(t), `docs/protocol.md is out of date (${name}); regenerate with node dist/drivers/protocol/doc-tables.js`);
});

/** An arbitrary value for one field, within its wire range. */
function arbField(f: Field): fc.Arbitrary<number | string | Float64Array> {
  switch (f.type) {
    case 'u8':
      return fc.integer({ min: 0, max: 0xff });
    case 'u16':
      return fc.integer({ min: 0, max: 0xffff });
    case 'u32':
      return fc.integer({ min: 0, max: 0xffffffff });
    case 'i32':
      return fc.integer({ min: -0x80000000, max: 0x7fffffff });
    case 'uV':
      return fc.integer({ min: -2000000000, max: 2000000000 }).map((u) => u / 1e6);
    case 'ns':
      return fc.integer({ min: 0, max: 0xffffffff }).map((n) => n / 1e9);
    case 'f64':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'str':
      return fc.string({ maxLength: 60 });
    case 'uV[u16]':
      return fc.array(fc.integer({ min: -2000000000, max: 2000000000 }), { maxLength: 70 }).map((a) => Float64Array.from(a, (u) => u / 1e6));
    default:
      return fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 70 }).map((a) => Float64Array.from(a));
  }
}

test('property: every message payload (requests and replies) round-trips through the one codec', () => {
  for (const m of MESSAGES)
    for (const fields of [m.request, m.reply]) {
      const rec = fc.record(Object.fromEntries(fields.map((f) => [f.name, arbField(f)])) as Record<string, fc.Arbitrary<number | string | Float64Array>>);
      fc.assert(
        fc.property(rec, (o) => {
          const back = decodeFields(fields, encodeFields(fields, o as Payload));
          for (const f of fields) {
            const a = (o as Payload)[f.name];
            const b = back[f.name];
            if (f.type === 'uV' || f.type === 'ns') assert.ok(Math.abs((a as number) - (b as number)) < 1e-9, `${m.name}.${f.name}`);
            else if (a instanceof Float64Array) assert.deepEqual(Array.from(b as Float64Array), Array.from(a));
            else assert.equal(b, a, `${m.name}.${f.name}`);
          }
        }),
        { numRuns: 60 },
      );
    }
});

test('property: truncated or extended payloads never decode (a typed ProtocolError, never a RangeError)', () => {
  for (const m of MESSAGES) {
    const fields = m.request;
    const rec = fc.record(Object.fromEntries(fields.map((f) => [f.name, arbField(f)])) as Record<string, fc.Arbitrary<number>>);
    fc.assert(
      fc.property(rec, fc.integer({ min: 1, max: 9 }), fc.boolean(), (o, k, cut) => {
        const good = encodeFields(fields, o as Payload);
        if (cut && good.length === 0) return;
        const bad = cut ? good.subarray(0, Math.max(0, good.length - k)) : Buffer.concat([good, Buffer.alloc(k)]);
        assert.throws(() => decodeFields(fields, bad), (e: Error) => e.name === 'ProtocolError');
      }),
      { numRuns: 40 },
    );
  }
});

test('HELLO reply round-trips BoardInfo and the link parameters', () => {
  const info = new EmulatedBoard({ seed: 3, limits: { vg_max_V: 2.0 }, dacStep_V: 0.005 }).info();
  const link = { version: 2, session: 7, resumed: true, window: 16, maxPayload: 128, features: 2, waitMax_s: 60, tOp_s: 0.002, tCell_s: 1e-5 };
  const back = decodeHelloReply(encodeHelloReply(info, link));
  assert.deepEqual(back.link, link);
  assert.deepEqual(back.info.limits, info.limits);
  assert.equal(back.info.dacStep_V, 0.005);
  assert.deepEqual(back.info.features, { writeVerify: false, counters: true, mvm: false });
});

test('property: the decoder finds every frame in any chunking, with garbage and corrupted frames between', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 30 }), { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 2 ** 31 }), (payloads, cuts, salt) => {
      const frames = payloads.map((p, k) => encodeFrame({ version: 2, type: MsgType.PING, seq: k, session: salt, boot: 1, payload: Buffer.from(p) }));
      const parts: Buffer[] = [];
      frames.forEach((f, k) => {
        // garbage without a whole frame start, and a corrupted copy of the frame, before each frame
        parts.push(Buffer.from([0x00, 0xa5, 0x13, 0x5a, k]));
        const bad = Buffer.from(f);
        bad[bad.length - 1] ^= 0x5a;
        parts.push(bad, f);
      });
      const stream = Buffer.concat(parts);
      const dec = new FrameDecoder();
      const got: number[] = [];
      let i = 0;
      let c = 0;
      while (i < stream.length) {
        const n = cuts[c++ % cuts.length];
        for (const r of dec.push(stream.subarray(i, i + n))) got.push(r.seq);
        i += n;
      }
      // A frame start inside a corrupted frame can claim bytes beyond the stream's end; the stall
      // timeout then releases the frames behind it.
      for (const r of dec.expire(Infinity)) got.push(r.seq);
      assert.deepEqual(got, frames.map((_, k) => k));
      assert.equal(dec.pending, 0);
    }),
    { numRuns: 200 },
  );
});

test('decoder: a header that claims more bytes than arrive is dropped after its stall timeout', () => {
  const dec = new FrameDecoder({ maxBody: 8 + 60000, stall_ms: linkStall(115200) });
  const lying = Buffer.alloc(125);
  lying.set([0xa5, 0x5a, 2, 0x91, 1, 0, 0x00, 0x10]); // claims 4096 body bytes
  assert.deepEqual(dec.push(lying, 0), []);
  const ping = encodeFrame({ version: 2, type: MsgType.PING | 0x80, seq: 9, session: 1, boot: 1, payload: Buffer.alloc(0) });
  assert.deepEqual(dec.push(ping, 10), [], 'the good frame is held behind the lying header');
  const d = dec.stallDeadline()!;
  assert.equal(d, 10 + linkStall(115200), 'idle timeout from the last byte (50 ms + 64 bytes at 115200, doubled)');
  assert.equal(dec.receiving(d - 1), true, 'a frame is on its way until the line is quiet');
  assert.deepEqual(dec.expire(d - 1), []);
  assert.deepEqual(dec.expire(d).map((f) => f.seq), [9]);
  assert.equal(dec.receiving(d), false);
  assert.equal(dec.stats.stalls >= 1, true);
  // A long frame arriving slowly is never dropped while its bytes keep coming (idle, not total, time).
  const slow = new FrameDecoder({ maxBody: 8 + 60000, stall_ms: linkStall(921600) });
  const big = encodeFrame({ version: 2, type: 0xa2, seq: 3, session: 1, boot: 1, payload: Buffer.alloc(32772) });
  let t = 0;
  const got: number[] = [];
  for (let k = 0; k < big.length; k += 512, t += 40) {
    for (const f of slow.expire(t)) got.push(f.seq);
    for (const f of slow.push(big.subarray(k, k + 512), t)) got.push(f.seq);
  }
  assert.deepEqual(got, [3], '64 chunks 40 ms apart (2.6 s for a frame a 921600 link moves in 0.36 s)');
  // With a maxBody below the claim, the header is garbage at once.
  const dec2 = new FrameDecoder({ maxBody: 8 + 256 });
  assert.deepEqual(dec2.push(Buffer.concat([lying, ping])).map((f) => f.seq), [9]);
});

test('v2 body: a body shorter than the session header is reported as malformed, not thrown', () => {
  const raw = { version: 2, type: 0x82, seq: 1, body: Buffer.alloc(5) };
  assert.equal(splitBody(raw), undefined);
  const f = splitBody({ ...raw, body: Buffer.from('0100000002000000ff', 'hex') })!;
  assert.deepEqual([f.session, f.boot, f.payload.length], [1, 2, 1]);
  assert.equal(encodeRaw({ version: 1, type: 1, seq: 1, body: Buffer.alloc(0) }).length, 12);
});

test('property: DAC rounding is exact in microvolts and idempotent', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 5_000_000 }), fc.integer({ min: 1, max: 50_000 }), (vUV, stepUV) => {
      const g = onGrid(vUV / 1e6, stepUV / 1e6);
      const gUV = Math.round(g * 1e6);
      assert.equal(gUV % stepUV, 0);
      assert.ok(Math.abs(gUV - vUV) <= stepUV / 2);
      assert.equal(onGrid(g, stepUV / 1e6), g);
    }),
  );
});

test('requests decode to what the host meant (units on the wire)', () => {
  const p = encodeRequest(spec('WRITE_VERIFY'), { array: 1, row: 2, col: 3, algo: 1, target: 2.5e-5, fixed: 1.6, start: 0.3, step: 0.1, stop: 2.5, max_pulses: 60, width: 1e-6, vread: 0.2 });
  const r = decodeRequest(spec('WRITE_VERIFY'), p);
  assert.deepEqual({ ...r }, { array: 1, row: 2, col: 3, algo: 1, target: 2.5e-5, fixed: 1.6, start: 0.3, step: 0.1, stop: 2.5, max_pulses: 60, width: 1e-6, vread: 0.2 });
  assert.throws(() => encodeRequest(spec('SET'), { array: 256, row: 0, col: 0, vte: 1, vg: 1, width: 1e-6 }), /array=256/);
});
