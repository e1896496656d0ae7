/** Issue 28: drift compensation (reference reads at t = 0 and at t scale the column currents). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';
import type { RelaxationTable } from '../calibration/calibration.js';
import { loadDataset } from '../src/inference/datasets.js';
import { buildDeviceModel, CellSampler, parseDeviceSpec, type DeviceOptions } from '../src/inference/device-models.js';
import { compensateDrift } from '../src/inference/drift-compensation.js';
import { monteCarlo } from '../src/inference/monte-carlo.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { templateNet } from './helpers/template-net.js';

const noExtras = { shared: false, stuckHrs: 0, stuckLrs: 0, readNoise_A: 0, vread_V: 0.2 };

/** A seeded relaxation: after 1e4 s every cell has lost `loss` of its conductance (+-1 %). */
const proportionalDrift = (loss: number): RelaxationTable => {
  const g0_S = [1e-6, 3e-4];
  const t_s = [1, 1e4];
  return { g0_S, t_s, mean_S: g0_S.map((g) => [0, -loss * g]), sigma_S: g0_S.map((g) => [0, 0.01 * g]), source: 'test: proportional drift' };
};

test('compensateDrift: a drift that scales every cell (global) or every column (column) by any factor is undone exactly; none changes nothing', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('diff', 'offset', 'signed'),
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1, max: 7 }),
      fc.double({ min: 0.05, max: 3, noNaN: true }),
      fc.integer({ min: 0, max: 2 ** 31 }),
      (scheme, rows, cols, s, seed) => {
        let x = seed;
        const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32) * 4e-5 + 1e-6;
        const l = { scheme, rows, cols };
        const g0 = Float32Array.from({ length: rows * cols }, rnd);
        const gn0 = scheme === 'signed' ? undefined : Float32Array.from({ length: scheme === 'diff' ? rows * cols : rows }, rnd);
        const near = (a: Float32Array, b: Float32Array) => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1e-5 * b[i], `${v} vs ${b[i]}`));
        // global: every cell scaled by s.
        const g = g0.map((v) => v * s);
        const gn = gn0?.map((v) => v * s);
        compensateDrift('global', l, g, gn, g0, gn0);
        near(g, g0);
        if (gn) near(gn, gn0!);
        // column: each physical column scaled by its own factor.
        const f = (c: number) => s * (1 + 0.3 * c);
        const gc = g0.map((v, i) => v * f(i % cols));
        const gnc = gn0?.map((v, i) => v * (scheme === 'diff' ? f(i % cols) + 0.1 : s));
        compensateDrift('column', l, gc, gnc, g0, gn0);
        near(gc, g0);
        if (gnc) near(gnc, gn0!);
        const untouched = g0.map((v) => v * s);
        compensateDrift('none', l, untouched, undefined, g0, undefined);
        assert.deepEqual(untouched, g0.map((v) => v * s));
      },
    ),
    { numRuns: 200 },
  );
});

test('asking for the read at programming does not change what a trial draws; it is the value before relaxation and drift', () => {
  const table = proportionalDrift(0.3);
  fc.assert(
    fc.property(
      fc.constantFrom('ideal', 'gaussian:5%', 'lognormal:5%', 'truncnorm:5%'),
      fc.record({ stuckHrs: fc.constantFrom(0, 0.05), readNoise_A: fc.constantFrom(0, 1e-7), shared: fc.boolean(), retention: fc.boolean(), relax: fc.boolean() }),
      fc.integer({ min: 0, max: 2 ** 31 }),
      (spec, k, seed) => {
        const o: DeviceOptions = { ...noExtras, stuckHrs: k.stuckHrs, readNoise_A: k.readNoise_A, shared: k.shared, relax_s: k.relax ? 1e4 : undefined, relaxTable: table, retention: k.retention ? { t_s: 1e4, nu: 0.05, nuSigma: 0.01 } : undefined };
        const dev = buildDeviceModel(parseDeviceSpec(spec), 8, o);
        const targets = Uint8Array.from({ length: 300 }, (_, i) => (i * 7 + seed) % 8);
        const a = new CellSampler(dev, seed);
        const b = new CellSampler(dev, seed);
        const plain = new Float32Array(300);
        const withRef = new Float32Array(300);
        const at0 = new Float32Array(300);
        for (const trial of [0, 5]) {
          a.beginTrial(trial);
          b.beginTrial(trial);
          a.sample(targets, plain);
          b.sample(targets, withRef, at0);
          assert.deepEqual(withRef, plain);
          // Without read noise, stuck cells and draws at t = 0 sit on their level; with neither relaxation nor retention t = 0 is now.
          if (!k.relax && !k.retention && !k.readNoise_A) assert.deepEqual(at0, plain);
        }
      },
    ),
    { numRuns: 60 },
  );
});

test('a level-CDF with its own re-reads: the trial reads a re-read, the reference read at t = 0 the same draw from the t = 0 pool', () => {
  const pools = [0, 1, 2].map((k) => Float32Array.from({ length: 5 + k }, (_, i) => (1 + 10 * k + i) * 1e-6));
  const relaxed = pools.map((p) => p.map((v) => v * 0.8));
  const dev = buildDeviceModel(parseDeviceSpec('levels.json'), 3, { ...noExtras, relax_s: 1e4 }, { pools, relax: [{ t_s: 1e4, pools: relaxed }], source: 'test' });
  const s = new CellSampler(dev, 3);
  s.beginTrial(0);
  const targets = Uint8Array.from({ length: 200 }, (_, i) => i % 3);
  const out = new Float32Array(200);
  const at0 = new Float32Array(200);
  s.sample(targets, out, at0);
  targets.forEach((k, i) => {
    assert.ok(relaxed[k].includes(out[i]), `cell ${i}: ${out[i]} is a re-read of level ${k}`);
    assert.ok(Math.abs(at0[i] - out[i] / 0.8) <= 1e-12, `cell ${i}: the same draw at t = 0 (${at0[i]} vs ${out[i]})`);
  });
});

test('global drift compensation wins back what a seeded proportional relaxation at 1e4 s loses; none does not (every seed)', async () => {
  const backend = await initTf();
  const test = loadDataset('mnist', undefined, true).test;
  const net = templateNet();
  const run = (seed: number, relax: boolean, driftCompensation: 'none' | 'global' | 'column') =>
    monteCarlo(tf, backend, net, test, {
      scheme: 'signed',
      device: buildDeviceModel(parseDeviceSpec('gaussian:2%'), 8, { ...noExtras, relax_s: relax ? 1e4 : undefined, relaxTable: proportionalDrift(0.3) }),
      trials: 8,
      seed,
      images: 1000,
      engine: 'js',
      driftCompensation: relax ? driftCompensation : undefined,
    });
  for (const seed of [1, 2, 3]) {
    const fresh = (await run(seed, false, 'none')).summary.mean;
    const none = (await run(seed, true, 'none')).summary.mean;
    const global = await run(seed, true, 'global');
    const column = (await run(seed, true, 'column')).summary.mean;
    assert.ok(fresh > 0.5, `seed ${seed}: the net works at t = 0 (${fresh})`);
    assert.ok(none < fresh - 0.1, `seed ${seed}: relaxation costs accuracy without compensation (${none} vs ${fresh})`);
    assert.ok(Math.abs(global.summary.mean - fresh) <= 0.01, `seed ${seed}: global compensation is back within 1 point (${global.summary.mean} vs ${fresh})`);
    assert.ok(Math.abs(column - fresh) <= 0.01, `seed ${seed}: column compensation too (${column} vs ${fresh})`);
    assert.equal(global.driftCompensation, 'global');
  }
  // Nothing drifts: nothing to compensate, said so.
  await assert.rejects(run(1, false, 'none').then(() => monteCarlo(tf, backend, net, test, { scheme: 'signed', device: buildDeviceModel(parseDeviceSpec('ideal'), 8, noExtras), trials: 1, seed: 1, images: 10, engine: 'js', driftCompensation: 'global' })), /drift-compensation="global".*--relax/);
});

test('rram infer --drift-compensation: a bad mode is refused by name', () => {
  const r = spawnSync(process.execPath, [join(repoRoot(), 'dist', 'src', 'cli', 'main.js'), 'infer', '--model', '/nonexistent', '--dataset', 'mnist', '--device', 'ideal', '--drift-compensation', 'both'], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /drift-compensation="both".*none, global, column/);
});
