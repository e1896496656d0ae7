/**
 * The protocol's corner cases (issue 24, docs/protocol.md revision 2.1), each as a test that
 * failed on the 2.0 host: the seq wrap with any W (also against a board with the 2.0 cache
 * flaws), a refusal of a later copy after an earlier one ran (NO_SESSION after a second client
 * opened a session, STALE_SEQ), non-finite and damaged replies, a board slower than the configured
 * baud, byte noise at 1e-4 and 1e-3: no pulse applied twice, every value returned one the board
 * really measured, every array read completes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { Firmware, type FirmwareOptions } from '../drivers/emulated/firmware.js';
import { loopback, type LinkFaults } from '../drivers/emulated/loopback.js';
import { PtyServer } from '../drivers/emulated/pty-server.js';
import { SerialBoard } from '../drivers/serial/serial-board.js';
import { OutcomeUnknownError, ProtocolError } from '../drivers/errors.js';
import { encodeFrame, splitBody } from '../drivers/protocol/frame.js';
import { encodeError, encodeRequest, ErrCode, MsgType, spec, VERSIONS } from '../drivers/protocol/messages.js';
import { needTool } from './helpers/env.js';

function rig(fw: FirmwareOptions = {}, faults?: LinkFaults, board = new EmulatedBoard({ seed: 1 })) {
  const f = new Firmware(board, () => undefined, { time: 'virtual', tOp_s: 0.002, ...fw });
  return { board, fw: f, lb: loopback(f, faults) };
}
const open = (lb: ReturnType<typeof loopback>, o: Parameters<typeof SerialBoard.open>[0] = {}) => SerialBoard.open({ transport: lb.factory, keepAlive_ms: 0, margin_ms: 40, reconnect_ms: 2000, ...o });
const cell = { array: 0, row: 5, col: 6 };
const SETP = { vte_V: 1.2, vg_V: 0.6, width_s: 1e-6 };
const frameOf = (b: Buffer) => splitBody({ version: b[2], type: b[3], seq: b.readUInt16LE(4), body: b.subarray(8, b.length - 4) })!;

for (const [W, bug] of [[1, false], [7, false], [100, false], [256, false], [1024, false], [100, true]] as const) {
  test(`seq wrap, W = ${W}${bug ? ' (a board with the 2.0 slot-mod-W cache flaw)' : ''}: 70,000 requests, identical SETs among them; each applied exactly once`, { timeout: 120000 }, async () => {
    const { board, fw, lb } = rig({ window: W, bugs: bug ? ['slot-mod-w'] : [], tOp_s: 2e-4 }, { seed: W, drop: 3e-4 });
    const drv = await open(lb);
    let sets = 0;
    let unknown = 0;
    const applied = () => board.countersSync(cell).set;
    const set = () => drv.set(cell, SETP).then(() => sets++, (e) => (e instanceof OutcomeUnknownError ? unknown++ : Promise.reject(e)));
    // The same SET, then exactly 65535 other requests (reads: no cache entry), then the same SET:
    // it meets its own seq again, which a cache that never forgets answers unexecuted.
    await set();
    for (let n = 0; n < 65535; ) {
      const k = Math.min(1000, 65535 - n);
      await Promise.all(Array.from({ length: k }, (_, j) => drv.read({ array: 1, row: (n + j) % 64, col: 7 })));
      n += k;
    }
    await set();
    for (let batch = 0; batch < 4; batch++) await Promise.all([set(), ...Array.from({ length: 999 }, (_, k) => drv.read({ array: 1, row: k % 64, col: batch }))]);
    assert.ok(applied() >= sets && applied() <= sets + unknown, `board applied ${applied()}, host confirmed ${sets} (+${unknown} unknown)`);
    assert.ok(drv.stats.rotations >= 1, 'the session was renewed before the seq wrapped');
    void fw;
    await drv.close();
  });
}

test('the board-level cache at the wrap (BoardSession): an identical pulse 65,536 seqs on runs; two live seqs sharing seq mod W keep their own replies', async () => {
  const { BoardSession } = await import('../drivers/protocol/board-session.js');
  const set = spec('SET');
  const pay = encodeRequest(set, { ...cell, ...{ vte: 1.2, vg: 0.6, width: 1e-6 } });
  for (const W of [1, 7, 100, 256, 1024]) {
    const s = new BoardSession(W, 1, () => 77, VERSIONS);
    s.hello({ min_version: 2, max_version: 2, resume_session: 0 }, 0);
    const first = s.admit(set, 10, 77, 1, pay);
    assert.equal(first.kind, 'execute');
    s.complete((first as { slot?: never }).slot, Buffer.from('reply-10'));
    for (let k = 11; k < 10 + 65536; k++) s.admit(spec('READ'), k & 0xffff, 77, 1, Buffer.alloc(9));
    assert.equal(s.admit(set, 10, 77, 1, pay).kind, 'execute', `W=${W}: 65536 seqs later the same bytes are a new request`);
    // Across the wrap: x at 65535 and y at (65535 + 65536 mod W) share seq mod W when W does not divide 65536.
    const t = new BoardSession(W, 1, () => 88, VERSIONS);
    t.hello({ min_version: 2, max_version: 2, resume_session: 0 }, 0);
    for (let k = 65535 - W; k < 65535; k++) t.admit(spec('PING'), k, 88, 1, Buffer.alloc(0));
    const x = t.admit(set, 65535, 88, 1, pay);
    t.complete((x as { slot?: never }).slot, Buffer.from('reply-x'));
    const d = 65536 % W;
    if (!d) continue;
    const pay2 = encodeRequest(set, { ...cell, vte: 1.3, vg: 0.6, width: 1e-6 });
    const y = t.admit(set, (65535 + d) & 0xffff, 88, 1, pay2);
    t.complete((y as { slot?: never }).slot, Buffer.from('reply-y'));
    const again = t.admit(set, 65535, 88, 1, pay);
    assert.equal(again.kind, 'replay', `W=${W}: the retransmission of seq 65535 is answered from the cache`);
    assert.equal((again as { reply: Buffer }).reply.toString(), 'reply-x');
  }
});

test('NO_SESSION to a copy re-sent after a resumed recovery (a second client opened a session): the pulse is unknown, never sent again', async () => {
  const { board, fw, lb } = rig();
  const drv = await open(lb, { retries: 1 });
  let setSeq = -1;
  let resumed = false;
  let injected = false;
  lb.tamper = (dir, b) => {
    if (dir === 'to-board' && b[3] === MsgType.SET && setSeq < 0) setSeq = b.readUInt16LE(4);
    if (dir === 'to-host' && b[3] === (MsgType.SET | 0x80) && b.readUInt16LE(4) === setSeq && !resumed) return Buffer.alloc(0); // its replies are lost until the recovery
    if (dir === 'to-board' && b[3] === MsgType.HELLO && frameOf(b).session !== 0) resumed = true;
    if (dir === 'to-board' && b[3] === MsgType.SET && resumed && !injected) {
      injected = true; // another host opens a session at this very moment
      fw.onData(encodeFrame({ version: 2, type: MsgType.HELLO, seq: 1, session: 0, boot: 0, payload: encodeRequest(spec('HELLO'), { min_version: 2, max_version: 2, resume_session: 0 }) }));
    }
    return b;
  };
  const r = await drv.set(cell, SETP).then(() => 'applied', (e) => e);
  assert.ok(injected, 'the scenario happened');
  assert.ok(r instanceof OutcomeUnknownError, `the SET is reported unknown, not ${String(r)}`);
  assert.equal(board.countersSync(cell).set, 1, 'applied once: the first copy ran, nothing was sent again');
  await drv.close();
});

test('STALE_SEQ (or SEQ_CONFLICT) to a retransmitted copy: unknown outcome, not "refused"', async () => {
  for (const code of [ErrCode.STALE_SEQ, ErrCode.SEQ_CONFLICT]) {
    const { board, lb } = rig();
    const drv = await open(lb);
    let seen = 0;
    lb.tamper = (dir, b) => {
      if (dir !== 'to-host' || b[3] !== (MsgType.SET | 0x80)) return b;
      const f = frameOf(b);
      if (++seen === 1) return Buffer.alloc(0); // the first reply is lost: the host sends the same bytes again
      return encodeFrame({ version: 2, type: MsgType.ERROR, seq: f.seq, session: f.session, boot: f.boot, payload: encodeError(code, 'refused copy') });
    };
    const r = await drv.set(cell, SETP).then(() => 'applied', (e) => e);
    assert.ok(r instanceof OutcomeUnknownError, `code ${code}: ${String(r)}`);
    assert.equal(board.countersSync(cell).set, 1);
    await drv.close();
  }
});

test('non-finite replies are malformed: a read is asked again and fails by name; an array read marks exactly the unreadable cells NaN', async () => {
  const { board, lb } = rig({ bugs: ['nan-read'] });
  const drv = await open(lb);
  await assert.rejects(drv.read({ array: 0, row: 1, col: 3 }), (e: unknown) => e instanceof ProtocolError && /current is NaN/.test(e.message));
  assert.ok(Number.isFinite(await drv.read({ array: 0, row: 1, col: 2 })));
  const a = await drv.readArray(0);
  for (let k = 0; k < a.length; k++) {
    const odd = Math.floor(k / 64) % 2 === 1 && (k % 64) % 2 === 1;
    assert.equal(Number.isNaN(a[k]), odd, `cell ${k}`);
  }
  assert.deepEqual([drv.readStats.arrayFallbacks, drv.readStats.rowFallbacks, drv.readStats.unreadable], [1, 32, 32 * 32]);
  // Infinity and a huge negative number: the first is malformed, the second a (nonsense) measurement the engine judges.
  lb.tamper = (dir, b) => {
    if (dir !== 'to-host' || b[3] !== (MsgType.READ | 0x80)) return b;
    const f = frameOf(b);
    const p = Buffer.alloc(8);
    p.writeDoubleLE(f.seq % 2 ? Infinity : -1e-3);
    return encodeFrame({ ...f, payload: p });
  };
  const got = await Promise.all([0, 1, 2, 3].map((k) => drv.read({ array: 0, row: 0, col: 2 * k }).then((x) => x, (e) => e)));
  assert.ok(got.every((g) => g === -1e-3 || (g instanceof ProtocolError && /Infinity/.test(g.message))), String(got));
  void board;
  await drv.close();
});

for (const rate of [1e-4, 1e-3]) {
  test(`byte noise ${rate} both ways: every array read completes, every value is one the board measured, no pulse twice`, { timeout: 120000 }, async () => {
    const board = new EmulatedBoard({ seed: 3 });
    const seen = new Map<number, Set<number>>();
    const row = board.readRowSync.bind(board);
    board.readRowSync = (a, r, o) => {
      const v = row(a, r, o);
      v.forEach((x, c) => (seen.get(a * 4096 + r * 64 + c) ?? seen.set(a * 4096 + r * 64 + c, new Set()).get(a * 4096 + r * 64 + c)!).add(x));
      return v;
    };
    const one = board.readSync.bind(board);
    board.readSync = (c, o) => {
      const v = one(c, o);
      const k = c.array * 4096 + c.row * 64 + c.col;
      (seen.get(k) ?? seen.set(k, new Set()).get(k)!).add(v);
      return v;
    };
    const { lb } = rig({}, { seed: 9, byteNoise: { toBoard: rate, toHost: rate } }, board);
    const drv = await open(lb, { margin_ms: 60 });
    // A few formed cells so that the array is not all alike.
    let confirmed = 0;
    let unknown = 0;
    for (let k = 0; k < 16; k++)
      await drv.form({ array: 0, row: k, col: k }, { vte_V: 3.9, vg_V: 1.6, width_s: 1e-5 }).then(
        () => confirmed++,
        (e) => (e instanceof OutcomeUnknownError ? unknown++ : Promise.reject(e)),
      );
    let forms = 0;
    for (let k = 0; k < 16; k++) forms += board.countersSync({ array: 0, row: k, col: k }).form;
    assert.ok(forms >= confirmed && forms <= confirmed + unknown, `forms applied ${forms}, confirmed ${confirmed} + ${unknown} unknown`);
    for (let r = 0; r < 3; r++) {
      const a = await drv.readArray(0);
      for (let k = 0; k < a.length; k++) assert.ok(seen.get(k)?.has(a[k]), `read ${r}, cell ${k}: ${a[k]} is not a value the board measured`);
    }
    assert.ok(lb.noise.toHost.flipped + lb.noise.toHost.dropped > 0, 'the noise happened');
    if (rate >= 1e-4) assert.ok(drv.readStats.rows > 0, `a 32 KB frame rarely crosses this line: read in rows (${JSON.stringify(drv.readStats)})`);
    await drv.close();
  });
}

test('a board paced at 115200 baud behind a host configured for 921600: array reads complete, the deadline waits for the bytes', { timeout: 120000 }, async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const srv = new PtyServer(new EmulatedBoard({ seed: 1 }), { baud: 115200, firmware: { time: 'virtual' } });
  await srv.start();
  try {
    const drv = await SerialBoard.open({ path: srv.hostPath, baudRate: 921600, keepAlive_ms: 0, margin_ms: 100 });
    const t0 = performance.now();
    for (let k = 0; k < 3; k++) {
      const a = await drv.readArray(k % 2);
      assert.equal(a.filter(Number.isFinite).length, 4096);
    }
    const s = (performance.now() - t0) / 1000;
    assert.ok(s >= 3 * 2.5, `3 arrays at 115200 baud take >= 7.5 s (${s.toFixed(1)} s): the pacing is real`);
    assert.equal(drv.stats.recoveries, 0, 'no recovery: the host waited while the bytes arrived');
    assert.ok(drv.stats.extensions >= 1, 'the deadline was extended');
    await drv.close();
  } finally {
    await srv.stop();
  }
});

test('another host opening sessions: the link gives up as contended, and a station may not re-probe it by itself (only a user asks)', async () => {
  const { fw, lb } = rig();
  const drv = await open(lb, { retries: 1 });
  assert.equal(drv.reprobeAllowed(), true, 'an up link');
  const other = () => fw.onData(encodeFrame({ version: 2, type: MsgType.HELLO, seq: 1, session: 0, boot: 0, payload: encodeRequest(spec('HELLO'), { min_version: 2, max_version: 2, resume_session: 0 }) }));
  for (let k = 0; k < 6 && !drv.linkDown(); k++) {
    other(); // another host opens a session: ours ends
    await drv.read(cell).catch(() => undefined);
  }
  assert.match(drv.linkDown() ?? '', /another host .* is probably using it/);
  assert.equal(drv.reprobeAllowed(), false, 'a timer would end the other host session');
  await drv.close();
});

test('a frame whose header lies about its length, then silence: recovery HELLOs leave the board a stall timeout of quiet, so it drops the damaged frame and answers (a tight margin)', { timeout: 30000 }, async () => {
  const { board, lb } = rig();
  const drv = await SerialBoard.open({ transport: lb.factory, keepAlive_ms: 0, margin_ms: 20, reconnect_ms: 5000, retries: 0 });
  let lied = false;
  lb.tamper = (dir, b) => {
    if (dir !== 'to-board' || lied || b[3] !== MsgType.SET) return b;
    lied = true;
    // Only the header arrives, and it claims 16000 bytes follow: every later byte is taken as its body.
    const h = Buffer.from(b.subarray(0, 8));
    h.writeUInt16LE(16000, 6);
    return h;
  };
  const r = await drv.set(cell, SETP).then(() => 'applied', (e) => e);
  assert.ok(lied, 'the scenario happened');
  // Same boot, session resumed: the SET goes again with its seq and runs once (its damaged copy never ran).
  assert.equal(r, 'applied', `the link came back and the SET ran; it was ${String(r)}`);
  assert.equal(board.countersSync(cell).set, 1);
  // The link is up: the next pulse goes through.
  await drv.set(cell, SETP);
  await drv.close();
});
