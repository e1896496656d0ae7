/**
 * Issue 28: `rram calibrate` fits `wire_resistance_ohm` (ohm per cell segment of the row and column
 * wires) from a characterize run's MVM probe: on emulated boards with a hidden wire resistance the
 * fit recovers it within twice its stated error (a small error: the probe tells it), and a board without the analog MVM has no probe and reports the
 * parameter not identifiable, naming the feature. Each board: 256 cells of 4 levels on one array.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCalibration, type Calibration } from '../calibration/calibration.js';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { Firmware } from '../drivers/emulated/firmware.js';
import { loopback } from '../drivers/emulated/loopback.js';
import { Feature } from '../drivers/protocol/messages.js';
import { SerialBoard } from '../drivers/serial/serial-board.js';
import type { Board } from '../drivers/board.js';
import fc from 'fast-check';
import { wireRecord } from '../src/calibrate/fit.js';
import { fitWireResistance } from '../src/calibrate/fit-wire.js';
import type { MvmProbe } from '../src/procedures/mvm-probe.js';
import { solveCrossbar } from '../lib/crossbar-solver.js';
import { Rng } from '../lib/rng.js';
import { RunContext } from '../src/engine/run-context.js';
import { characterize, type LevelCdfDataset } from '../src/procedures/characterize.js';

const withWire = (ohm: number): Calibration => {
  const c = structuredClone(loadCalibration());
  c.params.wire_resistance_ohm = { ...(c.params.wire_resistance_ohm ?? { unit: 'ohm', source: 'test' }), value: ohm };
  return c;
};

const run = (board: Board, cal: Calibration, id: string): Promise<LevelCdfDataset> => characterize(board, new RunContext(id), { algo: 'igvva', levels: 4, cellsPerLevel: 64, reads: 1, relax_s: [], seed: 5, calibration: cal });

for (const [ohm, seed] of [[0, 21], [2, 22], [5, 23]] as const) {
  test(`a board with ${ohm} ohm wires (hidden): the characterize run's MVM probe gives it back within its stated error`, async () => {
    const cal = withWire(ohm);
    const board = new EmulatedBoard({ seed, arrays: 1, calibration: cal });
    try {
      const d = await run(board, cal, `wire-${ohm}`);
      assert.equal(d.mvmProbe?.length, 1, 'one probed array');
      assert.equal(d.mvmProbe![0].currents_A.length, 4);
      // The fit starts from another base value: what it says must come from the probe.
      const w = wireRecord([{ runId: `wire-${ohm}`, data: d }], 1);
      process.stdout.write(`# hidden ${ohm} ohm: ${w.record.status} ${w.record.value.toFixed(4)} +- ${w.fit?.se.toFixed(4)} ohm (${w.fit?.columns} columns; mean column current measured ${(1e6 * w.fit!.meanMeasured_A).toFixed(3)} uA, model ${(1e6 * w.fit!.meanModel_A).toFixed(3)}, ideal wires ${(1e6 * w.fit!.meanIdeal_A).toFixed(3)}; chi2/dof ${w.fit?.chi2PerDof?.toFixed(2)})\n`);
      // 0 ohm on this seed: a value 0.6 of its error from 0, so fitted by the status rule (at-bound within a quarter of it), and tight.
      assert.equal(w.record.status, 'fitted', w.record.method);
      const se = w.record.uncertainty!;
      assert.ok(se > 0 && se < Math.max(0.05, 0.1 * ohm), `error ${se} ohm: the probe must tell ${ohm} ohm apart from its neighbours`);
      assert.ok(Math.abs(w.record.value - ohm) <= 2 * se, `fitted ${w.record.value} +- ${se}, hidden ${ohm}`);
      assert.equal(w.record.evidence?.length, 1);
    } finally {
      await board.close();
    }
  });
}

test('a board without the analog MVM (HELLO bit 2 clear): no probe, wire_resistance_ohm not identifiable, naming the feature', async () => {
  const cal = withWire(3);
  const fw = new Firmware(new EmulatedBoard({ seed: 24, arrays: 1, calibration: cal }), () => undefined, { time: 'virtual', features: Feature.WRITE_VERIFY | Feature.COUNTERS });
  const b = await SerialBoard.open({ transport: loopback(fw).factory, keepAlive_ms: 0, margin_ms: 40 });
  try {
    const d = await run(b, cal, 'wire-no-mvm');
    assert.equal(d.mvmProbe, undefined);
    const w = wireRecord([{ runId: 'wire-no-mvm', data: d }], 0);
    assert.equal(w.record.status, 'not-identifiable');
    assert.equal(w.record.value, 0, 'kept at the base value');
    assert.match(w.record.method, /does not offer the analog MVM \(HELLO feature bit 2\)/);
    // No characterize run at all: not identifiable either, saying so.
    assert.match(wireRecord([], 0).record.method, /no characterize run/);
  } finally {
    await b.close();
  }
});

/** A probe of a synthetic array: conductances G, currents solved at `ohm` with relative noise `noise` (seeded). */
function synthetic(G: Float64Array, ohm: number, noise: number, seed: number): MvmProbe {
  const rng = new Rng(seed);
  const cols = solveCrossbar({ rows: 64, cols: 64, G, V: new Float64Array(64).fill(0.2), r_ohm: ohm }).columns;
  return { array: 0, rows: 64, cols: 64, vread_V: 0.2, reads: 3, readback_A: Array.from(G, (g) => g * 0.2), readbackColumnVar_A2: new Array(64).fill(0), currents_A: Array.from({ length: 4 }, () => Array.from(cols, (c) => c * (1 + noise * rng.normal()))) };
}

test('the fit on synthetic probes: any wire resistance of an exact probe comes back; exact ideal wires at the bound; cells too dim for the wires: not identifiable', async () => {
  await fc.assert(
    fc.property(fc.double({ min: 0.3, max: 30, noNaN: true }), fc.integer({ min: 1, max: 1e6 }), fc.double({ min: 0.02, max: 0.5, noNaN: true }), (ohm, seed, share) => {
      const rng = new Rng(seed);
      const G = Float64Array.from({ length: 4096 }, () => (rng.uniform() < share ? 20e-6 + 180e-6 * rng.uniform() : 1e-8));
      const w = fitWireResistance([{ runId: 'x', probe: synthetic(G, ohm, 0, seed) }], 0, '');
      assert.equal(w.record.status, 'fitted', w.record.method);
      assert.ok(Math.abs(w.record.value - ohm) <= 1e-3 * ohm, `${w.record.value} vs ${ohm}`);
    }),
    { numRuns: 12 },
  );
  const G = Float64Array.from({ length: 4096 }, (_, i) => (i % 7 ? 1e-8 : 100e-6));
  const ideal = fitWireResistance([{ runId: 'x', probe: synthetic(G, 0, 0, 1) }], 0, '');
  assert.equal(ideal.record.status, 'at-bound', ideal.record.method);
  assert.ok(ideal.record.value < 1e-3);
  const dim = fitWireResistance([{ runId: 'x', probe: synthetic(new Float64Array(4096).fill(1e-10), 2, 1e-3, 2) }], 0.5, '');
  assert.equal(dim.record.status, 'not-identifiable', dim.record.method);
  assert.equal(dim.record.value, 0.5, 'kept at the base value');
  assert.match(dim.record.method, /narrows the prior .* by less than 30 %/);
});

test('goodness of fit: a board whose MVM is not the solver\'s network (a 5 % ADC gain, rows driven from the other end) is never called fitted; the right network with noise is (property)', async () => {
  const G = (seed: number) => {
    const rng = new Rng(seed);
    return Float64Array.from({ length: 4096 }, () => (rng.uniform() < 0.3 ? 20e-6 + 180e-6 * rng.uniform() : 1e-8));
  };
  fc.assert(
    fc.property(fc.double({ min: 1, max: 20, noNaN: true }), fc.integer({ min: 1, max: 1e6 }), (ohm, seed) => {
      // The solver's own network, 0.2 % read noise per repeat: fitted, the halves agree.
      const ok = fitWireResistance([{ runId: 'x', probe: synthetic(G(seed), ohm, 2e-3, seed) }], 0, '');
      assert.equal(ok.record.status, 'fitted', ok.record.method);
      // An ADC reading 5 % low: no wire resistance makes near and far columns fall alike.
      const p = synthetic(G(seed), ohm, 0, seed);
      const gain = { ...p, currents_A: p.currents_A.map((c) => c.map((v) => 0.95 * v)) };
      const g = fitWireResistance([{ runId: 'x', probe: gain }], 0.5, '');
      assert.equal(g.record.status, 'not-identifiable', g.record.method);
      assert.equal(g.record.value, 0.5, 'kept at the base value');
      assert.match(g.record.method, /the residuals are .*x the noise the probe measured .* does not describe this board's MVM/);
      // Rows driven from the right end: the far columns lose least.
      const flipped = (a: ArrayLike<number>) => Array.from({ length: 4096 }, (_, k) => a[Math.floor(k / 64) * 64 + 63 - (k % 64)]);
      const Gf = Float64Array.from(flipped(G(seed)));
      const cols = solveCrossbar({ rows: 64, cols: 64, G: Gf, V: new Float64Array(64).fill(0.2), r_ohm: ohm }).columns;
      const mirror = { ...p, currents_A: p.currents_A.map(() => Array.from({ length: 64 }, (_, j) => cols[63 - j])) };
      const m = fitWireResistance([{ runId: 'x', probe: mirror }], 0.5, '');
      assert.notEqual(m.record.status, 'fitted', m.record.method);
    }),
    { numRuns: 8 },
  );
});

test('a stored probe that makes no sense is refused naming the run and the field, never fitted', () => {
  const p = synthetic(Float64Array.from({ length: 4096 }, (_, i) => (i % 5 ? 1e-8 : 80e-6)), 3, 1e-3, 7);
  const cases: [string, unknown, RegExp][] = [
    ['a NaN current', { ...p, currents_A: [p.currents_A[0].map((v, j) => (j === 3 ? NaN : v))] }, /currents_A\[0\]\[3\] = null: /],
    ['a short repeat', { ...p, currents_A: [p.currents_A[0].slice(1)] }, /currents_A.*every repeat must hold 64 column currents/],
    ['a read-back of the wrong size', { ...p, readback_A: p.readback_A.slice(0, 100) }, /readback_A.*must hold rows x cols = 4096 currents, not 100/],
    ['a negative variance', { ...p, readbackColumnVar_A2: p.readbackColumnVar_A2!.map((v, j) => (j ? v : -1)) }, /readbackColumnVar_A2\[0\] = -1/],
  ];
  for (const [what, probe, msg] of cases)
    assert.throws(() => fitWireResistance([{ runId: 'r7', probe: probe as MvmProbe }], 0, ''), (e: Error) => /run r7 level-cdf result: mvmProbe\[0\]/.test(e.message) && msg.test(e.message), what);
});

test('the probe is in the record: every whole-array read a read event (phase probe), the MVM currents in its mark, and the dataset is exactly what they hold', async () => {
  const cal = withWire(2);
  const board = new EmulatedBoard({ seed: 31, arrays: 1, calibration: cal });
  try {
    const ctx = new RunContext('wire-record');
    const reads = new Map<number, number[]>();
    let mark: { currents_A: number[][][]; reads: number } | undefined;
    ctx.events$.subscribe((e) => {
      if (e.type === 'read' && e.phase === 'probe') {
        assert.equal(e.step, 'mvm-probe');
        const i = e.cell.row * 64 + e.cell.col;
        reads.set(i, [...(reads.get(i) ?? []), e.current_A!]);
      }
      if (e.type === 'mark' && e.name === 'mvm-probe') mark = e.value as typeof mark;
    });
    const d = await characterize(board, ctx, { algo: 'igvva', levels: 4, cellsPerLevel: 16, reads: 1, relax_s: [], seed: 5, calibration: cal });
    const p = d.mvmProbe![0];
    assert.equal(reads.size, 4096, 'every cell of the array read');
    for (const [i, v] of reads) {
      assert.equal(v.length, p.reads, `cell ${i}: ${v.length} probe reads, the probe says ${p.reads}`);
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      assert.ok(Math.abs(m - p.readback_A[i]) <= 1e-12 * Math.max(1e-6, Math.abs(m)), `cell ${i}: the dataset's read-back ${p.readback_A[i]} is not the mean of its recorded reads ${m}`);
    }
    assert.deepEqual(mark?.currents_A, [p.currents_A], 'the MVM currents in the mark are the dataset\'s');
  } finally {
    await board.close();
  }
});
