/**
 * Issue 28: the shared crossbar solver (lib/crossbar-solver.ts) - Kirchhoff's solution of the
 * array with resistive row and column wires, for any row voltages. Checked against networks
 * solved by hand, against the node-by-node equations solved by elimination, and by its
 * invariants: no wires = the ideal product exactly, more resistance never more current.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { solveCrossbar, wireDrops } from '../lib/crossbar-solver.js';
import { nodalCrossbar } from './helpers/nodal-crossbar.js';

const close = (got: number, want: number, rel: number, what: string) => assert.ok(Math.abs(got - want) <= rel * Math.abs(want), `${what}: ${got} vs ${want}`);

test('2x2 by hand: four equal cells, both rows at 1 V, 100 ohm segments', () => {
  // g = 1 mS, r = 100 ohm (k = g r = 0.1), V = 1 V; currents a = I00, b = I01, c = I10, d = I11 (mA).
  // Row 0: u00 = V - r(a+b), u01 = u00 - r b.  Row 1: u10 = V - r(c+d), u11 = u10 - r d.
  // Column 0 (sense amplifier below row 1): w10 = r(a+c), w00 = w10 + r a.  Column 1: w11 = r(b+d), w01 = w11 + r b.
  // a = g(u00 - w00) = g(V - r(3a + b + c));  b = g(V - r(a + 4b + d));
  // c = g(V - r(a + 2c + d));                 d = g(V - r(b + c + 3d)).
  // The mirror (i,j) -> (1-j, 1-i) maps the network onto itself: a = d. With gV = 1 mA:
  //   1.3a + 0.1b + 0.1c = 1,   0.2a + 1.4b = 1,   0.2a + 1.2c = 1
  //   b = (1 - 0.2a) 5/7, c = (1 - 0.2a) 5/6  ->  1.3a + (13/84)(1 - 0.2a) = 1  ->  a (533/420) = 71/84
  //   a = 355/533, b = 330/533, c = 385/533, d = 355/533 mA; columns a + c = 740/533, b + d = 685/533 mA.
  const s = solveCrossbar({ rows: 2, cols: 2, G: [1e-3, 1e-3, 1e-3, 1e-3], V: [1, 1], r_ohm: 100 });
  assert.ok(s.converged);
  [355, 330, 385, 355].forEach((n, k) => close(s.cells[k], (n / 533) * 1e-3, 1e-12, `cell ${k}`));
  close(s.columns[0], (740 / 533) * 1e-3, 1e-12, 'column 0');
  close(s.columns[1], (685 / 533) * 1e-3, 1e-12, 'column 1');
});

test('4x4 by hand: only row 0 conducts (a ladder), 1 mS cells, 250 ohm segments, row 0 at 1 V', () => {
  // Row 0 is the farthest from the sense amplifiers: each of its cells reaches 0 V through its
  // 1000 ohm and 4 column segments (1000 ohm): four 2000 ohm rungs on a ladder of 250 ohm row
  // segments. Reduced from the far end: R3 = 2000; R2 = 2000 || (250 + R3) = 18000/17;
  // R1 = 2000 || (250 + R2) = 7120/9; R0 = 2000 || (250 + R1) = 18740000/27370.
  // From the driver: I = 1 / (250 + R0); the node voltages step down by 250 x the current beyond.
  const R = [2000];
  for (let k = 0; k < 3; k++) R.unshift((2000 * (250 + R[0])) / (2000 + 250 + R[0]));
  close(R[2], 18000 / 17, 1e-14, 'R2');
  close(R[1], 7120 / 9, 1e-14, 'R1');
  close(R[0], 18740000 / 27370, 1e-14, 'R0');
  const rung: number[] = [];
  let u = 1;
  let through = 1 / (250 + R[0]); // current in the row segment ahead of node k
  for (let k = 0; k < 4; k++) {
    u -= 250 * through; // voltage of row node k
    rung.push(u / 2000);
    through -= u / 2000;
  }
  close(through + 1, 1, 1e-12, 'every current reaches a column');
  const G = new Array<number>(16).fill(0);
  for (let j = 0; j < 4; j++) G[j] = 1e-3;
  const s = solveCrossbar({ rows: 4, cols: 4, G, V: [1, 0, 0, 0], r_ohm: 250 });
  assert.ok(s.converged);
  rung.forEach((i, j) => close(s.columns[j], i, 1e-10, `column ${j}`));
  // Numbers: 0.3663, 0.2783, 0.2252, 0.2001 mA (the far cells see the least).
  assert.deepEqual(rung.map((i) => +(i * 1e3).toFixed(4)), [0.3663, 0.2783, 0.2252, 0.2001]);
});

const netArb = fc
  .record({ R: fc.integer({ min: 1, max: 4 }), C: fc.integer({ min: 1, max: 4 }), extra: fc.integer({ min: 0, max: 3 }), r: fc.double({ min: 0.01, max: 300, noNaN: true }) })
  .chain((d) =>
    fc.record({
      d: fc.constant(d),
      G: fc.array(fc.oneof(fc.constant(0), fc.double({ min: 1e-7, max: 1e-3, noNaN: true })), { minLength: d.R * d.C, maxLength: d.R * d.C }),
      V: fc.array(fc.oneof(fc.constant(0), fc.double({ min: 0.001, max: 0.5, noNaN: true })), { minLength: d.R, maxLength: d.R }),
    }),
  );

test('any small network with any row voltages (0 V rows: sneak currents) equals the node-by-node equations solved by elimination', () => {
  fc.assert(
    fc.property(netArb, ({ d, G, V }) => {
      const s = solveCrossbar({ rows: d.R, cols: d.C, G, V, r_ohm: d.r, extraBelow: d.extra });
      assert.ok(s.converged, `residual ${s.residual}`);
      const rows = Array.from({ length: d.R }, (_, i) => G.slice(i * d.C, (i + 1) * d.C));
      const ref = nodalCrossbar(rows, V, d.R + d.extra, d.r).flat();
      const scale = Math.max(...V) * Math.max(...G, 1e-12);
      ref.forEach((v, k) => assert.ok(Math.abs(s.cells[k] - v) <= 1e-8 * scale, `cell ${k}: ${s.cells[k]} vs ${v}`));
    }),
    { numRuns: 200 },
  );
});

test('no wires: the ideal product sum_i V_i G_ij, bit for bit', () => {
  fc.assert(
    fc.property(netArb, ({ d, G, V }) => {
      const s = solveCrossbar({ rows: d.R, cols: d.C, G, V, r_ohm: 0 });
      for (let j = 0; j < d.C; j++) {
        let want = 0;
        for (let i = 0; i < d.R; i++) want += V[i] * G[i * d.C + j];
        assert.equal(s.columns[j], want);
      }
    }),
    { numRuns: 200 },
  );
});

// Not every column: with a row at 0 V (or lower than the others) a sneak path through its wire can
// feed a column that has no ideal current, and that column's current grows with r (fast-check's
// counterexample: 3x3, row 0 at 0 V, a 754 uS cell at (0, 2) lifts row 0's wire and pushes 4e-20 A
// into column 0 at 1 ohm). What holds for any non-negative drive is Rayleigh's monotonicity: the
// power the drivers deliver, sum_i V_i x (row i's current), never grows as a resistance grows; with
// every row at one voltage that is the total current, and then every column falls.
const rowCurrents = (cells: Float64Array, R: number, C: number) => Array.from({ length: R }, (_, i) => cells.subarray(i * C, (i + 1) * C).reduce((a, b) => a + b, 0));

test('more wire resistance never more power: sum_i V_i I_i falls as r grows, for any drive >= 0 (Rayleigh)', () => {
  fc.assert(
    fc.property(netArb, fc.double({ min: 1.01, max: 10, noNaN: true }), ({ d, G, V }, k) => {
      const power = (r: number) => rowCurrents(solveCrossbar({ rows: d.R, cols: d.C, G, V, r_ohm: r, extraBelow: d.extra }).cells, d.R, d.C).reduce((a, i, row) => a + V[row] * i, 0);
      const [p0, p1, p2] = [power(0), power(d.r), power(d.r * k)];
      const eps = 1e-12 * p0;
      assert.ok(p1 <= p0 + eps && p2 <= p1 + eps, `power: ideal ${p0}, ${d.r} ohm ${p1}, ${d.r * k} ohm ${p2}`);
      if (p0 > 0) assert.ok(p2 < p0, 'a network carrying current loses some of it to the wires');
    }),
    { numRuns: 200 },
  );
});

test('every row at one voltage (the reference read): every column current falls as r grows', () => {
  fc.assert(
    fc.property(netArb, fc.double({ min: 0.001, max: 0.5, noNaN: true }), fc.double({ min: 1.01, max: 10, noNaN: true }), ({ d, G }, v, k) => {
      const V = new Array<number>(d.R).fill(v);
      const col = (r: number) => solveCrossbar({ rows: d.R, cols: d.C, G, V, r_ohm: r, extraBelow: d.extra }).columns;
      const [c0, c1, c2] = [col(0), col(d.r), col(d.r * k)];
      for (let j = 0; j < d.C; j++) {
        const eps = 1e-12 * Math.max(c0[j], 1e-18);
        assert.ok(c1[j] <= c0[j] + eps && c2[j] <= c1[j] + eps, `column ${j}: ideal ${c0[j]}, ${d.r} ohm ${c1[j]}, ${d.r * k} ohm ${c2[j]}`);
        if (c0[j] > 0) assert.ok(c2[j] < c0[j], `column ${j} loses current to the wires`);
      }
    }),
    { numRuns: 200 },
  );
});

test('64x64 converges to the stated tolerance up to 100 ohm with 300 uS cells, and the solution satisfies I = G (V - r A I)', () => {
  let x = 7;
  const rnd = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const n = 64;
  const G = Float64Array.from({ length: n * n }, () => 1e-6 + 299e-6 * rnd());
  const V = Float64Array.from({ length: n }, () => (rnd() < 0.2 ? 0 : 0.2 * rnd()));
  for (const r of [0.1, 1, 10, 100]) {
    const s = solveCrossbar({ rows: n, cols: n, G, V, r_ohm: r });
    assert.ok(s.converged, `r ${r}: residual ${s.residual} after ${s.steps} steps`);
    const drop = new Float64Array(n * n);
    wireDrops(s.cells, n, n, 0, r, drop);
    let worst = 0;
    let top = 0;
    for (let a = 0; a < n * n; a++) {
      worst = Math.max(worst, Math.abs(s.cells[a] - G[a] * (V[Math.floor(a / n)] - drop[a])));
      top = Math.max(top, Math.abs(s.cells[a]));
    }
    assert.ok(worst <= 1e-9 * top, `r ${r}: Kirchhoff residual ${worst} of ${top} (${s.steps} steps)`);
  }
});
