/**
 * Predictions that contain the measurement (issue 19): the Monte Carlo's own parts (Beta draws,
 * per-trial bootstrap, the failure model, known cells), then program-net repeated on fresh
 * emulated boards: coverage reported, counts accumulated over the repeats, a board with a hidden
 * stuck rate below what its level CDF resolves covered once the programming runs' counts enter,
 * and the posterior recomputed from the stored run alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { betaDraw, buildDeviceModel, CellSampler, countsForModel, defectReads, failureModel, PRIOR_FAILED_READS, withMoreCounts, loadMeasuredLevels, parseDeviceSpec, TrialRng, type DeviceModel } from '../src/inference/device-models.js';
import { fixedFromRun, meanRates, report, runCounts, sourceModels } from '../src/inference/prediction.js';
import { mapLayer } from '../src/inference/mapping.js';
import { tileNet, UNUSED, valuesFromTiles } from '../src/inference/tiling.js';
import { toCrossbarNet, weightOps } from '../src/inference/crossbar-net.js';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { loadModel } from '../src/inference/model-io.js';
import { loadDataset } from '../src/inference/datasets.js';
import { monteCarlo } from '../src/inference/monte-carlo.js';
import type { NetOnArraysResult } from '../src/procedures/net-on-arrays.js';
import { loadCalibration, values } from '../calibration/calibration.js';
import { withValues } from '../src/calibrate/fit.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { repoRoot } from '../lib/repo-root.js';
import { smallTraining } from './helpers/small-training.js';

// The net trained here only needs to be a trained net (the checks are about programming it, reading
// it back and what the record says; accuracy bounds are loose): on the first 12000 training images
// (tests/helpers/small-training.ts).
smallTraining();

const uA = 1e-6;

test('Beta draws: mean a/(a+b) and variance ab/((a+b)^2(a+b+1)) for any shape, small ones included', () => {
  fc.assert(
    fc.property(fc.double({ min: 0.3, max: 300, noNaN: true }), fc.double({ min: 0.3, max: 3000, noNaN: true }), fc.integer({ min: 1, max: 1000 }), (a, b, seed) => {
      const rng = new TrialRng();
      rng.reseed(seed, 0);
      const n = 4000;
      let s = 0;
      let s2 = 0;
      for (let i = 0; i < n; i++) {
        const x = betaDraw(rng, a, b);
        assert.ok(x >= 0 && x <= 1);
        s += x;
        s2 += x * x;
      }
      const m = s / n;
      const v = s2 / n - m * m;
      const mu = a / (a + b);
      const vv = (a * b) / ((a + b) ** 2 * (a + b + 1));
      assert.ok(Math.abs(m - mu) < 5 * Math.sqrt(vv / n) + 1e-9, `mean ${m} vs ${mu}`);
      assert.ok(Math.abs(v - vv) < 0.25 * vv + 1e-12, `variance ${v} vs ${vv}`);
    }),
    { numRuns: 25 },
  );
});

const model = (o: Partial<DeviceModel> = {}): DeviceModel => ({
  kind: 'empirical',
  text: 't',
  nominal: [1 * uA, 10 * uA, 20 * uA],
  pools: [Float32Array.from([1, 1.5, 0.5].map((x) => x * uA)), Float32Array.from([9, 10, 11, 12].map((x) => x * uA)), Float32Array.from([19, 20, 21].map((x) => x * uA))],
  sigma_A: [0, 0, 0],
  relaxMean_A: [0, 0, 0],
  relaxSigma_A: [0, 0, 0],
  shared: false,
  stuckHrs: 0,
  stuckLrs: 0,
  readNoise_A: 0,
  ...o,
});
const draw = (m: DeviceModel, trial: number, targets: Uint8Array) => {
  const s = new CellSampler(m, 5);
  s.beginTrial(trial);
  return Array.from(s.sample(targets, new Float32Array(targets.length)));
};

test('bootstrap: each trial draws from a resample of the measured cells; the same (seed, trial) draws the same', () => {
  const targets = new Uint8Array(3000).fill(1);
  const m = model({ bootstrap: true });
  const a = draw(m, 1, targets);
  assert.deepEqual(draw(m, 1, targets), a, 'reproducible per trial');
  const pool = new Set(Array.from(m.pools![1]));
  assert.ok(a.every((x) => pool.has(x)), 'only measured values');
  // Per trial the resample weights the measured values differently: the trial means differ more than without bootstrap.
  const meanOf = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const spread = (mm: DeviceModel) => {
    const ms = Array.from({ length: 40 }, (_, t) => meanOf(draw(mm, t, targets)));
    const mu = meanOf(ms);
    return Math.sqrt(meanOf(ms.map((x) => (x - mu) ** 2)));
  };
  assert.ok(spread(m) > 3 * spread(model()), `bootstrap ${spread(m)} vs plain ${spread(model())}`);
});

test('failure model: Jeffreys posterior from counts; failed cells read from the pool; without failed reads, the fallback (the calibration\'s defects)', () => {
  const f = failureModel([{ perLevel: [{ n: 100, failed: 2 }, { n: 50, failed: 0 }, { n: 10, failed: 1 }], failedValues_A: [30 * uA], source: 'a' }, { perLevel: [{ n: 100, failed: 0 }, { n: 50, failed: 0 }, { n: 10, failed: 0 }], failedValues_A: [], source: 'b' }], 3, Float32Array.of(1e-6, 2e-5));
  assert.deepEqual(f.alpha, [2.5, 0.5, 1.5]);
  assert.deepEqual(f.beta, [198.5, 100.5, 19.5]);
  // One seen failed read (30 uA) beside the fallback's two values, which weigh PRIOR_FAILED_READS reads.
  f.pools.forEach((pool) => assert.equal(pool.length, 1 + 2));
  f.pools.forEach((pool) => assert.equal(pool.filter((x) => x === Math.fround(30 * uA)).length, 1, 'a read of unknown level counts for every level'));
  assert.deepEqual(f.sources, ['a', 'b']);
  const fb = failureModel([{ perLevel: [{ n: 5, failed: 0 }], failedValues_A: [], source: 'c' }], 1, Float32Array.of(1e-6, 2e-5));
  assert.deepEqual(Array.from(fb.pools[0]), [Math.fround(1e-6), Math.fround(2e-5)]);
  const many = failureModel([{ perLevel: [{ n: 1000, failed: 100 }], failedValues_A: Array.from({ length: 100 }, () => 5e-6), source: 'd' }], 1, Float32Array.from({ length: 100 }, () => 4e-5));
  const seenShare = many.pools[0].filter((x) => x === Math.fround(5e-6)).length / many.pools[0].length;
  assert.ok(Math.abs(seenShare - 100 / (100 + PRIOR_FAILED_READS)) < 1e-9, `100 seen reads against ${PRIOR_FAILED_READS} prior ones: ${seenShare}`);
  const d = defectReads(0.01 * uA, 49 * uA, 0.001, 0.003);
  assert.equal(d.length, 100);
  assert.equal(d.filter((x) => x === Math.fround(49 * uA)).length, 75, 'stuck share 3 of 4');
  // Drawn: about the posterior mean share of cells take a pool value.
  const m = model({ failure: { ...f, alpha: [1, 20, 1], beta: [1e6, 80, 1e6], pools: [0, 1, 2].map(() => Float32Array.of(30 * uA)) } });
  const xs = draw(m, 3, new Uint8Array(20000).fill(1));
  const failed = xs.filter((x) => Math.abs(x - 30 * uA) < 1e-9).length / xs.length;
  assert.ok(failed > 0.1 && failed < 0.3, `failed share ${failed}`);
  // Rates fixed at their means keep the mean, lose the variance.
  const mr = meanRates(f);
  mr.alpha.forEach((a, k) => assert.ok(Math.abs(a / (a + mr.beta[k]) - f.alpha[k] / (f.alpha[k] + f.beta[k])) < 1e-12));
  const [devices, plusBootstrap, full] = sourceModels(model({ bootstrap: true, failure: f }));
  assert.equal(devices.bootstrap, false);
  assert.equal(plusBootstrap.bootstrap, true);
  assert.equal(full.failure, f);
});

test('failure pools per level: a range failure reads near its own target, a defect read joins every level, a read of unknown level too', () => {
  const nominal = [1 * uA, 10 * uA, 20 * uA, 30 * uA];
  const fallback = Float32Array.of(0.5 * uA, 0.5 * uA, 31 * uA, 31 * uA);
  // Level 3: two range failures (27, 33 uA: within half a step of the top); level 1: one (12 uA);
  // level 2: a cell stuck off (0.2 uA) and one stuck on (45 uA, beyond the top by more than half a step).
  const f = failureModel([{ perLevel: nominal.map(() => ({ n: 100, failed: 2 })), failedValues_A: [27 * uA, 33 * uA, 12 * uA, 0.2 * uA, 45 * uA], failedLevels: [3, 3, 1, 2, 2], source: 'a' }], 4, fallback, nominal);
  const has = (k: number, v: number) => f.pools[k].includes(Math.fround(v * uA));
  for (const k of [0, 1, 2, 3]) {
    assert.ok(has(k, 0.2) && has(k, 45), `level ${k}: the defects (stuck off, stuck on) are in its pool`);
    assert.equal(has(k, 27) || has(k, 33), k === 3, `level ${k}: the top level's range failures are in its pool only if it is the top level`);
    assert.equal(has(k, 12), k === 1, `level ${k}: level 1's range failure`);
  }
  // What a failing HRS cell reads: never a top-level range failure (the prior's pessimism, docs/benchmarks.md).
  const z = [0, 0, 0, 0];
  const m = model({ nominal, pools: nominal.map((v) => Float32Array.of(v)), sigma_A: z, relaxMean_A: z, relaxSigma_A: z, failure: { ...f, alpha: [1e6, 1, 1, 1], beta: [1, 1e6, 1e6, 1e6] } });
  const xs = draw(m, 0, new Uint8Array(5000).fill(0));
  const others = [27, 33, 12].map((v) => Math.fround(v * uA));
  assert.ok(xs.length === 5000 && xs.every((x) => !others.includes(Math.fround(x))), 'no failed HRS cell reads another level\'s range failure');
  assert.ok(xs.filter((x) => x === Math.fround(0.2 * uA)).length > 100, 'the defects are drawn');
  // The same counts from a record that did not keep the levels: every read for every level (as before).
  const old = failureModel([{ perLevel: nominal.map(() => ({ n: 100, failed: 2 })), failedValues_A: [27 * uA], source: 'old' }], 4, fallback, nominal);
  old.pools.forEach((p) => assert.ok(p.includes(Math.fround(27 * uA))));
  // withMoreCounts keeps the rule: a run's range failure at level 1 stays at level 1.
  const more = withMoreCounts({ ...m, failure: f }, { perLevel: nominal.map(() => ({ n: 10, failed: 0 })), failedValues_A: [11 * uA], failedLevels: [1], source: 'run' });
  assert.ok(more.failure!.pools[1].includes(Math.fround(11 * uA)) && !more.failure!.pools[0].includes(Math.fround(11 * uA)));
  // ... also for a model that had no failure model yet (its fallback kept, not the run's reads as one).
  const first = withMoreCounts({ ...m, failure: undefined, failureFallback_A: fallback }, { perLevel: nominal.map(() => ({ n: 10, failed: 1 })), failedValues_A: [29 * uA], failedLevels: [3], source: 'run' });
  assert.ok(first.failure!.pools[3].includes(Math.fround(29 * uA)) && !first.failure!.pools[0].includes(Math.fround(29 * uA)), 'a top-level range failure of the first run stays at the top level');
  assert.ok(first.failure!.pools.every((p) => p.length > 0));
  // A level CDF's levels renumbered as the model's (levels 0, 2, 7 of 8): a read of an unused level joins only as a defect.
  const cdf = { perLevel: Array.from({ length: 8 }, () => ({ n: 10, failed: 1 })), failedValues_A: [15 * uA, 44 * uA, 25 * uA, 0.1 * uA], failedLevels: [2, 7, 5, 5], source: 'cdf' };
  assert.deepEqual(countsForModel(cdf, [0, 2, 7]).failedLevels, [1, 2, 3, 3]);
  const three = failureModel([countsForModel(cdf, [0, 2, 7])], 3, fallback, [1 * uA, 15 * uA, 40 * uA]);
  assert.ok(three.pools[1].includes(Math.fround(15 * uA)) && !three.pools[0].includes(Math.fround(15 * uA)));
  assert.ok(three.pools[2].includes(Math.fround(44 * uA)) && !three.pools[2].includes(Math.fround(25 * uA)), 'file level 7 is model level 2; file level 5 is none');
  assert.ok(three.pools.every((p) => p.includes(Math.fround(0.1 * uA))), "an unused level's defect-like read joins every level");
});

test('known cells: a run\'s unprogrammed cells land at their own weights, the rest stay drawn', async () => {
  await initTf();
  const net = toCrossbarNet(buildModel(tf, parseArch('dense:5'), 3));
  const levels = [1 * uA, 10 * uA, 20 * uA, 30 * uA];
  for (const scheme of ['diff', 'offset', 'signed'] as const) {
    const mapped = weightOps(net).map((op) => mapLayer(op, levels, scheme));
    const tiles = tileNet(mapped);
    // Every 7th used cell failed and reads its tile index + position / 1e9.
    const notOk = tiles.map((t) => Uint8Array.from(t.levels, (lv, i) => (lv !== UNUSED && i % 7 === 0 ? 1 : 0)));
    const rb = tiles.map((t, k) => Float32Array.from(t.levels, (_, i) => k + i / 1e9));
    const fixed = fixedFromRun(mapped, tiles, rb, notOk);
    const counts = runCounts(tiles, rb, notOk, levels.length, 'r');
    const nFixed = fixed.reduce((s, f) => s + f.gp.filter((x) => x === x).length + (f.gn ? f.gn.filter((x) => x === x).length : 0), 0);
    assert.equal(nFixed, counts.perLevel.reduce((s, c) => s + c.failed, 0), `${scheme}: every failed cell fixed once`);
    // ... at its own read-back value (each encodes its tile and position), nowhere else.
    const own = valuesFromTiles(mapped, tiles, rb);
    fixed.forEach((f, li) => {
      f.gp.forEach((x, j) => x === x && assert.equal(x, own[li].gp[j], `${scheme}: layer ${li} cell ${j} fixed at ${x}, read back ${own[li].gp[j]}`));
      f.gn?.forEach((x, j) => x === x && assert.equal(x, own[li].gn![j], `${scheme}: layer ${li} partner ${j}`));
    });
    assert.equal(counts.perLevel.reduce((s, c) => s + c.n, 0), mapped.reduce((s, l) => s + l.cells, 0));
  }
});

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

test('program-net --repeat: coverage of the read-backs, counts accumulated over repeats, posterior reproducible from the stored run', { timeout: 400000 }, async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'cov-'));
  const rram = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', cwd, maxBuffer: 1 << 26 });
  assert.equal(rram('train', '--arch', 'dense:8', '--dataset', 'mnist', '--epochs', '1', '--out', 'net').status, 0);
  // A board with a hidden stuck rate of 1 %: a 24-cell-per-level CDF sees none or one.
  const base = loadCalibration();
  writeFileSync(join(cwd, 'stuck.json'), JSON.stringify({ ...withValues(base, { ...values(base), fraction_stuck_lrs: 0.01 }), id: 'stuck-board' }));
  const ch = rram('characterize', '--levels', '4', '--cells-per-level', '24', '--algo', 'igvva-predict', '--calibration', 'stuck.json', '--out', 'cdf.json', '--min-success', '0.5');
  assert.equal(ch.status, 0, ch.stderr);
  const r = rram('program-net', '--model', 'net', '--device', 'cdf.json', '--levels', '4', '--algo', 'igvva-predict', '--calibration', 'stuck.json', '--images', '500', '--trials', '60', '--repeat', '3', '--min-success', '0.5', '--json', '--out', 'out');
  assert.equal(r.status, 0, r.stderr);
  const c = JSON.parse(r.stdout);
  assert.equal(c.repeats.length, 3);
  for (const x of c.repeats) assert.equal(x.inside, x.readback >= x.interval[0] && x.readback <= x.interval[1]);
  assert.equal(c.coverage, c.repeats.filter((x: { inside: boolean }) => x.inside).length / 3);
  const results = [1, 2, 3].map((k) => JSON.parse(readFileSync(join(cwd, 'out', `repeat-${k}`, 'result.json'), 'utf8')) as NetOnArraysResult);
  // Each repeat's prediction counts the CDF's cells and every earlier repeat's.
  results.forEach((x, k) => assert.equal(x.prediction!.model.failures!.sources.length, 1 + k));
  const cdfCount = results[0].prediction!.model.failures!.counts.reduce((s, q) => s + q.n, 0);
  const third = results[2].prediction!.model.failures!.counts;
  assert.equal(third.reduce((s, q) => s + q.n, 0), cdfCount + results[0].programming.cells + results[1].programming.cells);
  // The hidden 1 % is found by the counts (the CDF alone could not resolve it) ...
  const share = third.reduce((s, q) => s + q.failed, 0) / third.reduce((s, q) => s + q.n, 0);
  assert.ok(share > 0.008 && share < 0.04, `share not programmed after two repeats ${share}`);
  // ... and with the run's own outcomes the posterior is narrower: which cells failed, and how
  // they read, is no longer a guess.
  for (const x of results) {
    assert.equal(x.posterior!.fixedCells, x.programming.failed);
    assert.ok(x.programming.failed > 0);
    assert.ok(x.posterior!.width < x.prediction!.width, `posterior ${x.posterior!.interval} vs prediction ${x.prediction!.interval}`);
    const s = x.prediction!.sources!;
    assert.ok(Math.abs(s.devices + s.measuredDistributions + s.failureRates - 1) < 1e-9);
    assert.ok(s.widths.every((w) => w >= 0));
  }
  // The posterior again, from the stored run alone: its result, the CDF file, the model.
  const stored = new EmbeddedStore(join(cwd, 'rram-data')).loadResult(results[2].runId, 'program-net') as NetOnArraysResult;
  await initTf();
  const net = toCrossbarNet(await loadModel(tf, join(cwd, 'net')));
  const measured = loadMeasuredLevels(join(cwd, 'cdf.json'));
  const device = buildDeviceModel(parseDeviceSpec(join(cwd, 'cdf.json')), stored.levels, { shared: false, stuckHrs: 0, stuckLrs: 0, readNoise_A: 0, vread_V: 0.2, bootstrap: true }, measured);
  assert.ok(countsForModel(measured.outcomes!, device.levelsUsed!).perLevel.length === stored.levels);
  const mapped = weightOps(net).map((op) => mapLayer(op, device.nominal, stored.mapping.scheme, stored.clip));
  const tiles = tileNet(mapped);
  const rb = tiles.map(() => new Float32Array(4096));
  const bad = tiles.map(() => new Uint8Array(4096));
  for (const [t, row, col, , i, nok] of stored.readback) {
    rb[t][row * 64 + col] = i;
    bad[t][row * 64 + col] = nok;
  }
  const ds = loadDataset('mnist', undefined, true);
  const post = await monteCarlo(tf, 'wasm', net, ds.test, { scheme: stored.mapping.scheme, clip: stored.clip, device, trials: stored.posterior!.trials, seed: stored.seed, engine: 'auto', images: stored.images, fixed: fixedFromRun(mapped, tiles, rb, bad) });
  const { fixedCells, ...storedPosterior } = stored.posterior!;
  assert.equal(fixedCells, stored.programming.failed);
  assert.deepEqual(report(post, stored.readbackAccuracy), storedPosterior, 'the posterior from the stored run');
});
