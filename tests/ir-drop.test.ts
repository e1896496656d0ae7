/** Issue 28: IR drop - wire resistance along rows and columns, the network solved per tile. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyIrDrop, solveTile } from '../src/inference/ir-drop.js';
import { buildDeviceModel, parseDeviceSpec } from '../src/inference/device-models.js';
import { loadDataset } from '../src/inference/datasets.js';
import { monteCarlo } from '../src/inference/monte-carlo.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { templateNet } from './helpers/template-net.js';
import { nodalCrossbar } from './helpers/nodal-crossbar.js';
import { smallTraining } from './helpers/small-training.js';

// The net trained here only needs to be a trained net (the checks are about programming it, reading
// it back and what the record says; accuracy bounds are loose): on the first 12000 training images
// (tests/helpers/small-training.ts).
smallTraining();

const V = 0.2;

/** The crossbar's nodal equations by elimination (tests/helpers/nodal-crossbar.ts), every row at V. */
const nodal = (G: number[][], tile: number, r: number) => nodalCrossbar(G, new Array<number>(G.length).fill(V), tile, r);

const tileOf = (G: number[][]) => Float64Array.from(G.flat(), (g) => g * V);

test('2x2 by hand: first order, cell (i,j) loses r x the currents through its path; the nodal solution matches a hand elimination', () => {
  const g = 1e-4;
  const r = 10;
  const I = tileOf([[g, g], [g, g]]);
  solveTile(I, 2, 2, 2, r, V, true);
  // Currents I = gV per cell. Cell (0,0): row segment 0 carries 2I, column segments below rows 0, 1 carry I and 2I: 5 r I.
  // (0,1): row 2I + I, column 3I: 6 r I. (1,0): row 2I, column 2I: 4 r I. (1,1): 3I + 2I: 5 r I.
  const first = [5, 6, 4, 5].map((k) => g * V * (1 - k * r * g));
  first.forEach((v, i) => assert.ok(Math.abs(I[i] - v) < 1e-15, `cell ${i}: ${I[i]} vs ${v}`));
  // One cell: G in series with 2r (one row segment, one column segment to the sense amplifier) - exact.
  const one = Float64Array.of(g * V);
  solveTile(one, 1, 1, 1, r, V);
  assert.ok(Math.abs(one[0] - V / (1 / g + 2 * r)) < 1e-15, `${one[0]} vs ${V / (1 / g + 2 * r)}`);
  const exact = Float64Array.of(g * V, g * V, g * V, g * V);
  solveTile(exact, 2, 2, 2, r, V);
  nodal([[g, g], [g, g]], 2, r).flat().forEach((v, i) => assert.ok(Math.abs(exact[i] - v) <= 1e-9 * v, `cell ${i}: ${exact[i]} vs nodal ${v}`));
});

test('4x4 and other small tiles: the solver equals the nodal equations solved by elimination, for any conductances and wires', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 0, max: 4 }),
      fc.double({ min: 0.01, max: 200, noNaN: true }),
      fc.array(fc.double({ min: 1e-6, max: 3e-4, noNaN: true }), { minLength: 16, maxLength: 16 }),
      (R, C, extra, r, gs) => {
        const G = Array.from({ length: R }, (_, i) => gs.slice(i * C, i * C + C));
        const I = tileOf(G);
        solveTile(I, R, C, R + extra, r, V);
        nodal(G, R + extra, r).flat().forEach((v, i) => assert.ok(Math.abs(I[i] - v) <= 1e-7 * Math.max(v, 1e-9), `R${R} C${C} r${r}: cell ${i} ${I[i]} vs ${v}`));
      },
    ),
    { numRuns: 150 },
  );
});

const layerArb = fc.record({
  scheme: fc.constantFrom('diff' as const, 'offset' as const, 'signed' as const),
  rows: fc.integer({ min: 1, max: 12 }),
  cols: fc.integer({ min: 1, max: 6 }),
  tile: fc.integer({ min: 8, max: 10 }),
  seed: fc.integer({ min: 0, max: 2 ** 31 }),
});
function cellsOf(l: { scheme: string; rows: number; cols: number; seed: number }) {
  let x = l.seed;
  const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32) * 45e-6 + 0.5e-6;
  const gp = Float32Array.from({ length: l.rows * l.cols }, rnd);
  const gn = l.scheme === 'signed' ? undefined : Float32Array.from({ length: l.scheme === 'diff' ? l.rows * l.cols : l.rows }, rnd);
  return { gp, gn };
}

test('0 ohm is the ideal crossbar; more resistance never lets a cell deliver more', () => {
  fc.assert(
    fc.property(layerArb, fc.double({ min: 0.1, max: 50, noNaN: true }), fc.double({ min: 1.01, max: 5, noNaN: true }), (l, r, k) => {
      const ideal = cellsOf(l);
      const zero = cellsOf(l);
      applyIrDrop(l, zero.gp, zero.gn, { resistance_ohm: 0, vread_V: V, tile: l.tile });
      assert.deepEqual(zero, ideal);
      const lo = cellsOf(l);
      const hi = cellsOf(l);
      applyIrDrop(l, lo.gp, lo.gn, { resistance_ohm: r, vread_V: V, tile: l.tile });
      applyIrDrop(l, hi.gp, hi.gn, { resistance_ohm: r * k, vread_V: V, tile: l.tile });
      for (const [a, b, c] of [[ideal.gp, lo.gp, hi.gp], [ideal.gn, lo.gn, hi.gn]] as const) {
        if (!a) continue;
        a.forEach((v, i) => assert.ok(b![i] < v && c![i] < b![i], `cell ${i}: ideal ${v}, ${r} ohm ${b![i]}, ${r * k} ohm ${c![i]}`));
      }
    }),
    { numRuns: 120 },
  );
});

test('far cells lose more: on a uniform tile the loss grows away from the row driver and away from the sense amplifier', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 2, max: 8 }), fc.double({ min: 0.1, max: 20, noNaN: true }), fc.double({ min: 1e-6, max: 2.5e-4, noNaN: true }), (R, C, r, g) => {
      const I = new Float64Array(R * C).fill(g * V);
      solveTile(I, R, C, R, r, V);
      for (let i = 0; i < R; i++)
        for (let j = 0; j < C; j++) {
          if (j > 0) assert.ok(I[i * C + j] < I[i * C + j - 1], `row ${i}: cell ${j} (farther from the driver) delivers less`);
          if (i > 0) assert.ok(I[(i - 1) * C + j] < I[i * C + j], `column ${j}: row ${i - 1} (farther from the sense amplifier) delivers less`);
        }
    }),
    { numRuns: 100 },
  );
});

test('Monte Carlo with wires: on a signed mapping (fixed reference current) accuracy falls as the wires get worse (every seed); 0 ohm is the run without wires', async () => {
  const backend = await initTf();
  const test = loadDataset('mnist', undefined, true).test;
  const net = templateNet();
  const run = (seed: number, wireResistance_ohm?: number) =>
    monteCarlo(tf, backend, net, test, { scheme: 'signed', device: buildDeviceModel(parseDeviceSpec('gaussian:2%'), 8, { shared: false, stuckHrs: 0, stuckLrs: 0, readNoise_A: 0, vread_V: V }), trials: 8, seed, images: 1000, engine: 'js', wireResistance_ohm });
  for (const seed of [1, 2]) {
    const none = await run(seed);
    const zero = await run(seed, 0);
    assert.deepEqual(zero.accuracies, none.accuracies, `seed ${seed}: 0 ohm`);
    const acc = [none.summary.mean];
    for (const r of [1, 2, 5]) {
      const m = await run(seed, r);
      assert.ok(m.wire && m.wire.resistance_ohm === r && m.wire.worstDrop > 0 && m.wire.worstDrop < 1, `worst cell loss ${m.wire?.worstDrop}`);
      acc.push(m.summary.mean);
    }
    for (let k = 1; k < acc.length; k++) assert.ok(acc[k] <= acc[k - 1] + 0.01, `seed ${seed}: accuracy ${acc.join(' -> ')} at 0, 1, 2, 5 ohm`);
    assert.ok(acc[acc.length - 1] < acc[0] - 0.2, `seed ${seed}: 5 ohm costs accuracy (${acc.join(' -> ')})`);
  }
  await assert.rejects(run(1, -1), /wire-resistance=-1/);
});

test("rram infer takes the wire resistance from --calibration's wire_resistance_ohm, exactly as --wire-resistance; the flag overrides it", async () => {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, writeFileSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { repoRoot } = await import('../lib/repo-root.js');
  const cwd = mkdtempSync(join(tmpdir(), 'wire-cal-'));
  const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const rram = (...a: string[]) => spawnSync(process.execPath, [main, ...a], { encoding: 'utf8', cwd });
  assert.equal(rram('train', '--arch', 'dense:4', '--dataset', 'mnist', '--epochs', '1', '--out', 'net').status, 0);
  const cal = JSON.parse(readFileSync(join(repoRoot(), 'calibration', 'ihp-hfo2-4kbit.json'), 'utf8'));
  cal.params.wire_resistance_ohm = { value: 2, unit: 'ohm', source: 'test: 2 ohm per segment' };
  writeFileSync(join(cwd, 'cal.json'), JSON.stringify(cal));
  const args = ['infer', '--model', 'net', '--dataset', 'mnist', '--device', 'gaussian:2%', '--levels', '8', '--mapping', 'signed', '--trials', '4', '--images', '300', '--no-record', '--json'];
  const run = (...extra: string[]) => {
    const r = rram(...args, ...extra);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { accuracies: number[]; wire?: { resistance_ohm: number } };
  };
  const fromCal = run('--calibration', 'cal.json');
  const fromFlag = run('--wire-resistance', '2');
  const none = run('--calibration', 'cal.json', '--wire-resistance', '0');
  assert.equal(fromCal.wire?.resistance_ohm, 2);
  assert.deepEqual(fromCal.accuracies, fromFlag.accuracies);
  assert.notDeepEqual(none.accuracies, fromCal.accuracies);
});
