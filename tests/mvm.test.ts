/**
 * Issue 28: the analog MVM (docs/protocol.md "MVM", HELLO feature bit 2): the one codec, the
 * emulated board's product (against its own reads, the shared crossbar solver and its ADC), the
 * refusals in the document's order, the serial driver batching vectors into requests (equal to
 * the in-process board bit for bit), and `rram conformance` on boards with and without it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import fc from 'fast-check';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { Firmware } from '../drivers/emulated/firmware.js';
import { loopback } from '../drivers/emulated/loopback.js';
import { SerialBoard } from '../drivers/serial/serial-board.js';
import { decodeReply, decodeRequest, encodeReply, encodeRequest, Feature, spec } from '../drivers/protocol/messages.js';
import { loadCalibration } from '../calibration/calibration.js';
import { solveCrossbar } from '../lib/crossbar-solver.js';
import { AbortedError, RramError } from '../drivers/errors.js';
import type { MvmTile } from '../drivers/board.js';
import { runConformance, type CheckResult } from '../src/conformance/checks.js';
import { Probe } from '../src/conformance/probe.js';
import { repoRoot } from '../lib/repo-root.js';
import { needForeign, startForeign } from './helpers/foreign-board.js';
import { quietCalibration } from './helpers/quiet-calibration.js';

/** A board with a 10 x 16 tile at (2, 3) of array 0 programmed to spread conductances. */
function programmed(o: ConstructorParameters<typeof EmulatedBoard>[0] = {}): EmulatedBoard {
  const b = new EmulatedBoard({ seed: 5, ...o });
  for (let i = 0; i < 10; i++)
    for (let j = 0; j < 16; j++) {
      const c = { array: 0, row: 2 + i, col: 3 + j };
      b.formSync(c, { vte_V: 3.9, vg_V: 1.6, width_s: 1e-5 });
      b.resetSync(c, { vsl_V: 2.0, vg_V: 3.0, width_s: 1e-5 });
      if ((i + j) % 3) b.setSync(c, { vte_V: 1.2, vg_V: 0.6 + 0.05 * ((i * 7 + j) % 20), width_s: 1e-6 });
    }
  return b;
}
const TILE: MvmTile = { array: 0, row0: 2, col0: 3, rows: 10, cols: 16 };
/** Vectors of DAC-grid voltages (1 mV steps) in 0..vmax. */
const vectorsArb = (rows: number, n: number, vmax = 0.5) => fc.array(fc.integer({ min: 0, max: Math.round(vmax * 1000) }), { minLength: rows * n, maxLength: rows * n }).map((a) => Float64Array.from(a, (m) => m / 1000));

test('the MVM payloads through the one codec: every tile and grid voltage round-trips exactly', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 255 }), (rows, cols, n, array) => {
      const voltages = Float64Array.from({ length: rows * n }, (_, k) => ((k * 7919) % 500001) / 1e6);
      const req = { array, row0: 64 - rows, col0: 64 - cols, rows, cols, voltages };
      const back = decodeRequest(spec('MVM'), encodeRequest(spec('MVM'), req));
      assert.deepEqual(back, req);
      const currents = Float64Array.from({ length: cols * n }, (_, k) => k * 1.25e-6 - 3e-9);
      assert.deepEqual(decodeReply(spec('MVM'), encodeReply(spec('MVM'), { currents })).currents, currents);
    }),
    { numRuns: 100 },
  );
});

test('refusals in the document order: malformed (count, off the grid) before the address, the address before the limit', () => {
  const b = new EmulatedBoard({ seed: 1 });
  const code = (t: MvmTile, v: number[]) => {
    try {
      b.mvmSync(t, v);
      return 'ok';
    } catch (e) {
      return (e as RramError).code;
    }
  };
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 499 }), fc.integer({ min: 1, max: 999 }), (rows, cols, mv, uv) => {
      const t = { array: 1, row0: 64 - rows, col0: 64 - cols, rows, cols };
      const good = new Array<number>(rows).fill(mv / 1000);
      assert.equal(code(t, good), 'ok');
      const offGrid = [...good];
      offGrid[rows - 1] = mv / 1000 + uv / 1e6;
      assert.equal(code(t, offGrid), 'INVALID_ARGUMENT');
      assert.equal(code(t, rows > 1 ? [...good, 0.1] : []), 'INVALID_ARGUMENT');
      assert.equal(code({ ...t, row0: t.row0 + 1 }, good), 'ADDRESS');
      assert.equal(code({ ...t, col0: t.col0 + 1 }, good), 'ADDRESS');
      assert.equal(code({ ...t, array: 2 }, good), 'ADDRESS');
      const over = [...good];
      over[0] = 0.501;
      assert.equal(code(t, over), 'LIMIT');
      assert.equal(code({ ...t, row0: t.row0 + 1 }, over), 'ADDRESS');
      assert.equal(code({ ...t, row0: t.row0 + 1 }, [...offGrid, 0]), 'INVALID_ARGUMENT');
    }),
    { numRuns: 60 },
  );
});

test('ideal board, no noise: the MVM equals sum_i V_i G_ij from the cells read one by one at their rows voltages', () => {
  const b = programmed({ calibration: quietCalibration() });
  fc.assert(
    fc.property(vectorsArb(10, 3), (v) => {
      const out = b.mvmSync(TILE, v);
      for (let k = 0; k < 3; k++)
        for (let j = 0; j < 16; j++) {
          let want = 0;
          for (let i = 0; i < 10; i++) if (v[k * 10 + i] > 0) want += b.readSync({ array: 0, row: 2 + i, col: 3 + j }, { vread_V: v[k * 10 + i] });
          assert.ok(Math.abs(out[k * 16 + j] - want) <= 1e-12 * Math.max(want, 1e-12), `vector ${k} column ${j}: ${out[k * 16 + j]} vs ${want}`);
        }
    }),
    { numRuns: 40 },
  );
});

test('ideal board with read noise: the MVM is the read-back product within the read noise', () => {
  const b = programmed();
  const sigma = loadCalibration().params.read_noise_S.value; // read_noise_rel is 0 in the shipped file
  assert.equal(loadCalibration().params.read_noise_rel.value, 0);
  fc.assert(
    fc.property(vectorsArb(10, 1, 0.3), (v) => {
      const out = b.mvmSync(TILE, v);
      for (let j = 0; j < 16; j++) {
        let want = 0;
        let var_ = 0;
        for (let i = 0; i < 10; i++) {
          if (!(v[i] > 0)) continue;
          want += b.readSync({ array: 0, row: 2 + i, col: 3 + j }, { vread_V: v[i] });
          var_ += 2 * (sigma * v[i]) ** 2; // the read-back's noise and the MVM's
        }
        assert.ok(Math.abs(out[j] - want) <= 6 * Math.sqrt(var_) + 1e-15, `column ${j}: ${out[j]} vs ${want} (sd ${Math.sqrt(var_)})`);
      }
    }),
    { numRuns: 40 },
  );
});

test('with wires: the board solves the whole array (other rows at 0 V) with the shared solver; every column delivers less than without', () => {
  const quiet = quietCalibration();
  const ideal = programmed({ calibration: quiet });
  const wired = programmed({ calibration: quiet, mvm: { wire_ohm: 2 } });
  const v = Float64Array.from({ length: 10 }, (_, i) => 0.05 + 0.02 * i);
  const a = ideal.mvmSync(TILE, v);
  const w = wired.mvmSync(TILE, v);
  const m = wired.arrayModel(0);
  const V = new Float64Array(64);
  V.set(v, 2);
  const G = Float64Array.from({ length: 4096 }, (_, k) => m.readConductance(k, V[Math.floor(k / 64)], wired.now_s));
  const ref = solveCrossbar({ rows: 64, cols: 64, G, V, r_ohm: 2 }).columns;
  for (let j = 0; j < 16; j++) {
    assert.ok(Math.abs(w[j] - ref[3 + j]) <= 1e-12 * ref[3 + j], `column ${j}: ${w[j]} vs solver ${ref[3 + j]}`);
    assert.ok(w[j] < a[j], `column ${j}: ${w[j]} with wires vs ${a[j]} without`);
  }
});

test('the ADC: codes of full scale / (2^bits - 1), within half an LSB of the currents, clipped at 0 and full scale', () => {
  const quiet = quietCalibration();
  const exact = programmed({ calibration: quiet });
  const fs = 2e-4;
  const adc = programmed({ calibration: quiet, mvm: { adcBits: 6, adcFullScale_A: fs } });
  const lsb = fs / 63;
  fc.assert(
    fc.property(vectorsArb(10, 2), (v) => {
      const e = exact.mvmSync(TILE, v);
      const q = adc.mvmSync(TILE, v);
      q.forEach((x, k) => {
        assert.ok(Math.abs(x / lsb - Math.round(x / lsb)) < 1e-9, `${x} is a code`);
        assert.ok(Math.abs(x - Math.min(fs, e[k])) <= lsb / 2 + 1e-18, `${x} vs ${e[k]}`);
      });
    }),
    { numRuns: 30 },
  );
});

const rig = (features?: number) => {
  const fw = new Firmware(programmed(), () => undefined, { time: 'virtual', tOp_s: 0.002, ...(features === undefined ? {} : { features }) });
  return SerialBoard.open({ transport: loopback(fw).factory, keepAlive_ms: 0, margin_ms: 40 });
};

test('over the link: vectors batched into requests give the in-process board bit for bit; a board without bit 2 is refused before anything is sent', async () => {
  const s = await rig();
  try {
    assert.equal(s.info().features?.mvm, true);
    const inProcess = programmed();
    const n = 700; // 700 x 16 results: more than one request's 4096 (replies no larger than READ_ARRAY's)
    const v = Float64Array.from({ length: 10 * n }, (_, k) => ((k * 37) % 301) / 1000);
    const before = s.stats.sent;
    const got = await s.mvm(TILE, v);
    const want = inProcess.mvmSync(TILE, v);
    assert.deepEqual(got, want);
    assert.ok((s.stats.sent) - before >= 3, `${(s.stats.sent) - before} requests`);
    await assert.rejects(s.mvm(TILE, Float64Array.of(0.6, ...new Array(9).fill(0))), /vread_max|above the maximum/);
  } finally {
    await s.close();
  }
  const off = await rig(Feature.WRITE_VERIFY | Feature.COUNTERS);
  try {
    assert.equal(off.info().features?.mvm, false);
    await assert.rejects(off.mvm(TILE, new Float64Array(10)), (e: RramError) => e.code === 'UNSUPPORTED' && /MVM, HELLO feature bit 2/.test(e.message));
  } finally {
    await off.close();
  }
});

test('an abort drops the MVM requests not yet sent: the call settles after at most a window of them, nothing of it goes later, the link goes on', async () => {
  const fw = new Firmware(programmed(), () => undefined, { time: 'virtual', tOp_s: 0.002, window: 8 });
  const lb = loopback(fw);
  const s = await SerialBoard.open({ transport: lb.factory, keepAlive_ms: 0, margin_ms: 40 });
  try {
    const n = 12000;
    const v = Float64Array.from({ length: 10 * n }, (_, k) => ((k * 37) % 301) / 1000);
    // The whole call: how many requests it takes.
    let before = fw.stats.requests;
    assert.equal((await s.mvm(TILE, v)).length, 16 * n);
    const whole = fw.stats.requests - before;
    assert.ok(whole > 3 * 8, `${whole} requests: more than three windows`);
    // Again, aborted when the first reply comes back.
    before = fw.stats.requests;
    const ac = new AbortController();
    lb.tamper = (dir, b) => {
      if (dir === 'to-host' && fw.stats.requests > before) ac.abort();
      return b;
    };
    await assert.rejects(s.mvm(TILE, v, { signal: ac.signal }), (e: RramError) => e instanceof AbortedError && /not sent: aborted/.test(e.message));
    lb.tamper = undefined;
    const sent = fw.stats.requests - before;
    assert.ok(sent >= 1 && sent <= 8 + 1, `${sent} of ${whole} requests reached the board (window 8)`);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(fw.stats.requests - before, sent, 'nothing of the aborted call is sent after it settled');
    // An abort before the call sends nothing; the link serves the next call whole.
    await assert.rejects(s.mvm(TILE, v, { signal: ac.signal }), AbortedError);
    assert.equal(fw.stats.requests - before, sent);
    const again = await s.mvm(TILE, v.subarray(0, 10 * 700));
    assert.equal(again.length, 16 * 700);
    assert.ok(again.every(Number.isFinite));
    // In process: an aborted signal refuses the call before it is applied.
    await assert.rejects(programmed().mvm(TILE, v.subarray(0, 10), { signal: ac.signal }), AbortedError);
  } finally {
    await s.close();
  }
});

async function conformance(fw: Firmware): Promise<CheckResult[]> {
  const p = await Probe.open(loopback(fw).factory, 921600);
  try {
    return await runConformance(p, { margin_ms: 150 });
  } finally {
    await p.close();
    fw.stop();
  }
}
const mvmCheck = (r: CheckResult[]) => r.find((c) => c.name.startsWith('MVM'))!;

test('rram conformance: the MVM passes on the emulator; with bit 2 off it is absent (UNSUPPORTED) and the suite passes; a firmware not refusing bad voltages fails it', { timeout: 120000 }, async () => {
  // The suite drives rows 0..7 of the last array: programmed there, so linearity is measured on
  // currents well above the read noise (on pristine cells the noise would hide a nonlinearity).
  const board = new EmulatedBoard({ seed: 1 });
  for (let r = 0; r < 8; r++)
    for (let c = 0; c < 8; c++) {
      board.formSync({ array: 1, row: r, col: c }, { vte_V: 3.9, vg_V: 1.6, width_s: 1e-5 });
      board.setSync({ array: 1, row: r, col: c }, { vte_V: 1.2, vg_V: 0.8 + 0.05 * c, width_s: 1e-6 });
    }
  const [on, off, bug] = await Promise.all([
    conformance(new Firmware(board, () => undefined)),
    conformance(new Firmware(new EmulatedBoard({ seed: 1 }), () => undefined, { features: Feature.WRITE_VERIFY | Feature.COUNTERS })),
    conformance(new Firmware(new EmulatedBoard({ seed: 1 }), () => undefined, { bugs: ['mvm-unchecked'] })),
  ]);
  assert.ok(mvmCheck(on).pass, JSON.stringify(mvmCheck(on)));
  assert.ok(mvmCheck(on).evidence.some((e) => /LIMIT \(expected ERROR LIMIT\)/.test(e)));
  const col0 = Number(/column 0 ([\d.e+-]+) A/.exec(mvmCheck(on).evidence.join('\n'))![1]);
  assert.ok(col0 > 5e-6, `the linearity check saw ${col0} A in column 0`);
  assert.deepEqual(off.filter((c) => !c.pass).map((c) => c.name), []);
  assert.match(mvmCheck(off).evidence.join('\n'), /MVM absent .* -> ERROR UNSUPPORTED/);
  assert.equal(mvmCheck(bug).pass, false);
  assert.deepEqual(bug.filter((c) => !c.pass).map((c) => c.name), [mvmCheck(bug).name]);
});

test('rram conformance on the foreign-v2 board (no MVM): the MVM check reports it absent and passes', { timeout: 120000 }, async (t) => {
  if (!needForeign(t)) return;
  const b = startForeign();
  try {
    const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
    const out = await new Promise<string>((res) => execFile(process.execPath, [main, 'conformance', '--port', b.dev, '--json'], { encoding: 'utf8', timeout: 110000 }, (_e, stdout) => res(stdout)));
    const r = JSON.parse(out).checks as CheckResult[];
    const m = mvmCheck(r);
    assert.ok(m.pass, JSON.stringify(m));
    assert.match(m.evidence.join('\n'), /MVM absent \(HELLO features bit 2 clear\); an MVM request -> ERROR UNKNOWN_TYPE/);
  } finally {
    b.stop();
  }
});

test('an MVM row at 0 V is counted as read and carries nothing; many sensings within milliseconds leave the relaxation where reads at the same times would (same distribution)', () => {
  // Rows at 0 V: every cell of the tile counted once per vector, the currents those of the driven rows alone.
  const a = programmed();
  const before = a.countersSync({ array: 0, row: 2, col: 3 }).read;
  const v = new Float64Array(3 * TILE.rows);
  for (let k = 0; k < 3; k++) v[k * TILE.rows + (k % TILE.rows)] = 0.2; // one driven row per vector
  const out = a.mvmSync(TILE, v);
  assert.equal(a.countersSync({ array: 0, row: 2, col: 3 }).read - before, 3, 'a cell is counted in every vector, driven or not');
  assert.deepEqual(Array.from(a.mvmSync(TILE, new Float64Array(TILE.rows))), new Array(TILE.cols).fill(0), 'nothing driven: no current');
  assert.ok(out.every((x) => x > 0));
  // Relaxation, made deterministic (no read noise, no spread; a fast and a slow mean drift): board
  // A senses a tile 3000 times through the MVM in its first 0.4 s after programming (the lazy
  // advance skips most of the clock's steps), its twin B is left alone; 60 s later both read every
  // cell. Relaxation increments add up, so a cell ends where it would have without being looked
  // at: equal to rounding. (Dropping the skipped steps' increments instead fails this.)
  const cal = quietCalibration();
  cal.params.relax_fast_drift_rel.value = -0.05;
  cal.params.relaxation_drift_rel.value = -0.02;
  const tile: MvmTile = { array: 0, row0: 0, col0: 0, rows: 8, cols: 16 };
  const cells = Array.from({ length: 8 * 16 }, (_, n) => ({ array: 0, row: Math.floor(n / 16), col: n % 16 }));
  const twin = () => {
    const b = new EmulatedBoard({ seed: 9, calibration: cal });
    for (const c of cells) {
      b.formSync(c, { vte_V: 3.9, vg_V: 1.6, width_s: 1e-5 });
      b.resetSync(c, { vsl_V: 2.0, vg_V: 3.0, width_s: 1e-5 });
      b.setSync(c, { vte_V: 1.2, vg_V: 0.6 + 0.05 * (c.row % 8), width_s: 1e-6 });
    }
    return b;
  };
  const A = twin();
  const B = twin();
  const r0 = cells.map((c) => A.readSync(c));
  cells.forEach((c) => B.readSync(c));
  for (let k = 0; k < 20; k++) {
    const t0 = A.clock_s();
    A.mvmSync(tile, new Float64Array(150 * tile.rows).fill(0.1));
    A.waitSync(0.02);
    B.waitSync(A.clock_s() - t0);
  }
  A.waitSync(60);
  B.waitSync(60);
  assert.ok(Math.abs(A.clock_s() - B.clock_s()) < 1e-9);
  const [ra, rb] = [cells.map((c) => A.readSync(c)), cells.map((c) => B.readSync(c))];
  assert.ok(ra.some((x, n) => Math.abs(x - r0[n]) > 0.01 * r0[n]), 'the cells did relax');
  ra.forEach((x, n) => assert.ok(Math.abs(x - rb[n]) <= 1e-9 * rb[n], `cell ${n}: ${x} A after the MVMs, ${rb[n]} A without`));
});
