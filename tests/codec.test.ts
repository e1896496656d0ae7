import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame, FrameDecoder } from '../drivers/protocol/frame.js';
import { decodeHello, encodeHello, MsgType, Writer, writeCell } from '../drivers/protocol/messages.js';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { Firmware } from '../drivers/protocol/firmware.js';
import { Rng } from '../src/util/rng.js';

test('golden bytes: a SET request frame', () => {
  const payload = writeCell(new Writer(), { array: 0, row: 3, col: 5 }).volts(1.2).volts(0.51).seconds(1e-6).done();
  const f = encodeFrame({ version: 1, type: MsgType.SET, seq: 0x1234, payload });
  // docs/protocol.md shows this exact frame (SET cell 0:3,5, VTE 1.2 V, VG 0.51 V, 1 us, seq 0x1234).
  assert.equal(f.toString('hex'), 'a55a0111341211000003000500804f120030c80700e803000041d981aa');
});

test('golden transcript: HELLO and READ through the firmware', () => {
  const b = new EmulatedBoard({ seed: 1, id: 'golden' });
  const out: Buffer[] = [];
  const fw = new Firmware(b, (x) => out.push(x));
  fw.onData(encodeFrame({ version: 1, type: MsgType.HELLO, seq: 1, payload: Buffer.alloc(0) }));
  const dec = new FrameDecoder();
  const [hello] = dec.push(out[0]);
  assert.equal(hello.type, MsgType.HELLO | 0x80);
  assert.equal(hello.seq, 1);
  const h = decodeHello(hello.payload);
  assert.equal(h.info.id, 'golden');
  assert.equal(h.info.rows, 64);
  assert.deepEqual(decodeHello(encodeHello(h)).info, h.info);
});

test('decoder resynchronises after garbage, split chunks and a corrupted CRC', () => {
  const frames = [1, 2, 3].map((seq) => encodeFrame({ version: 1, type: MsgType.PING, seq, payload: Buffer.from([seq]) }));
  const bad = Buffer.from(frames[1]);
  bad[bad.length - 2] ^= 0x55;
  const stream = Buffer.concat([Buffer.from([0xa5, 0x00, 0x5a, 0xa5, 0xff, 0x13]), frames[0], Buffer.from('junk'), bad, Buffer.from([0xa5]), frames[2]]);
  const dec = new FrameDecoder();
  const got = [];
  for (let i = 0; i < stream.length; i += 3) got.push(...dec.push(stream.subarray(i, i + 3)));
  assert.deepEqual(got.map((f) => f.seq), [1, 3]);
  assert.equal(dec.stats.crcErrors >= 1, true);
});

test('fuzz: random and mutated frames never crash or hang the decoder or the firmware', () => {
  const rng = new Rng(42);
  const b = new EmulatedBoard({ seed: 1 });
  const fw = new Firmware(b, () => undefined);
  const dec = new FrameDecoder();
  const valid = [
    encodeFrame({ version: 1, type: MsgType.READ, seq: 9, payload: writeCell(new Writer(), { array: 0, row: 1, col: 1 }).volts(0.2).done() }),
    encodeFrame({ version: 1, type: MsgType.SET, seq: 10, payload: writeCell(new Writer(), { array: 0, row: 1, col: 1 }).volts(1.2).volts(1).seconds(1e-6).done() }),
    encodeFrame({ version: 1, type: MsgType.READ_ARRAY, seq: 11, payload: new Writer().u8(0).volts(0.2).done() }),
  ];
  const t0 = Date.now();
  for (let it = 0; it < 20000; it++) {
    let chunk: Buffer;
    if (it % 2) {
      chunk = Buffer.alloc(1 + rng.int(64));
      for (let k = 0; k < chunk.length; k++) chunk[k] = rng.int(256);
    } else {
      chunk = Buffer.from(valid[rng.int(valid.length)]);
      const flips = rng.int(4);
      for (let k = 0; k < flips; k++) chunk[rng.int(chunk.length)] = rng.int(256);
      if (rng.uniform() < 0.2) chunk = chunk.subarray(0, rng.int(chunk.length));
    }
    dec.push(chunk);
    fw.onData(chunk);
  }
  assert.ok(dec.pending < 70000, 'buffer stays bounded');
  assert.ok(Date.now() - t0 < 60000);
});

test('firmware answers a repeated sequence number from its cache: a retried pulse is applied once', () => {
  const b = new EmulatedBoard({ seed: 1 });
  const replies: Buffer[] = [];
  const fw = new Firmware(b, (x) => replies.push(x));
  const c = { array: 0, row: 2, col: 2 };
  const req = encodeFrame({ version: 1, type: MsgType.FORM, seq: 77, payload: writeCell(new Writer(), c).volts(3.5).volts(1.6).seconds(1e-5).done() });
  fw.onData(req);
  fw.onData(req);
  fw.onData(req);
  assert.equal(b.counters(c).form, 1);
  assert.equal(replies.length, 3);
  assert.equal(fw.replays, 2);
});
