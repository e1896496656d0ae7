/**
 * Hardware-aware training and fine-tuning (issue 27), below the CLI: the injected weights are what
 * the device model says (levels the mapping gives, per-level distributions, failure shares, read
 * noise); training with them beats plain training under the Monte Carlo on a seeded case; a binary
 * net's training is perturbed on its grid weights; fine-tuning the layers after a programmed layer
 * on its read-back outputs beats not fine-tuning on held-out images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../lib/rng.js';
import { ks } from '../src/calibrate/numeric.js';
import { buildDeviceModel, type MeasuredLevels } from '../src/inference/device-models.js';
import { NoiseInjector } from '../src/inference/hw-noise.js';
import { mapLayer, mapNet, type Scheme } from '../src/inference/mapping.js';
import type { WeightOp } from '../src/inference/crossbar-net.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { loadDataset, type Dataset, type Split } from '../src/inference/datasets.js';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { TrainableNet } from '../src/inference/trainable-net.js';
import { trainLoop } from '../src/inference/train-loop.js';
import { train } from '../src/inference/train.js';
import { trainHwAware, hwAccuracy } from '../src/inference/hw-aware-train.js';
import { loadModel } from '../src/inference/model-io.js';
import { toCrossbarNet, weightOps } from '../src/inference/crossbar-net.js';
import { parseDeviceSpec } from '../src/inference/device-models.js';
import { parseBnn, weightGrid } from '../src/inference/bnn/spec.js';
import { trainBnn } from '../src/inference/bnn/train.js';
import { fineTuneStage, measuredLayerOutput } from '../src/inference/fine-tune.js';
import { monteCarlo } from '../src/inference/monte-carlo.js';
import { tileNet, valuesFromTiles } from '../src/inference/tiling.js';
import { placeTiles } from '../src/inference/placement.js';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { RunContext } from '../src/engine/run-context.js';
import { NetProgrammer } from '../src/procedures/program-net.js';
import { defaultLevels } from '../src/analysis/levels.js';

/** A measured 4-level device: skewed pools, level 2 with 10 % of its cells failed (they read 77 uA). */
function measured(): MeasuredLevels {
  const rng = new Rng(11);
  const centre = [1e-6, 15e-6, 28e-6, 42e-6];
  const pools = centre.map((c, k) => Float32Array.from({ length: 300 }, () => (k === 0 ? c : c * (1 + 0.06 * Math.log(1 / Math.max(1e-9, rng.uniform())) - 0.06))));
  return {
    pools,
    relax: [],
    source: 'synthetic',
    outcomes: { perLevel: [{ n: 300, failed: 0 }, { n: 300, failed: 0 }, { n: 300, failed: 30 }, { n: 300, failed: 0 }], failedValues_A: Array(30).fill(77e-6), source: 'synthetic' },
  };
}

function randomOp(fanIn: number, units: number, seed: number): WeightOp {
  const rng = new Rng(seed);
  return { op: 'dense', name: 'l', fanIn, units, act: 'relu', W: Float32Array.from({ length: (fanIn + 1) * units }, () => (rng.uniform() - 0.5) * (rng.uniform() < 0.1 ? 2 : 0.5)) };
}

test('noise injection draws what the device model says: the mapped levels, each level\'s measured distribution, its failure share, read noise', () => {
  const m = measured();
  const spec = { kind: 'empirical' as const, text: 'synthetic' };
  for (const readNoise_A of [0, 0.4e-6]) {
    const device = buildDeviceModel(spec, 4, { shared: false, stuckHrs: 0, stuckLrs: 0, readNoise_A, vread_V: 0.2, bootstrap: true, failureCounts: [m.outcomes!], failureFallback_A: Float32Array.from([77e-6]) }, m);
    for (const scheme of ['signed', 'diff'] as Scheme[]) {
      const op = randomOp(399, 50, 3);
      const inj = new NoiseInjector({ device, scheme, clip: 0.999 }, 5);
      const byLevel: number[][] = [[], [], [], []];
      const failShare: number[] = [];
      for (let draw = 0; draw < 40; draw++) {
        inj.next();
        const e = inj.effective(op);
        // The targets are exactly the mapping the programming uses (quantization-aware).
        const ref = mapLayer(op, device.nominal, scheme, 0.999);
        assert.deepEqual(e.pos, ref.pos);
        if (scheme !== 'signed') continue;
        let failed = 0;
        let at2 = 0;
        for (let i = 0; i < e.eff.length; i++) {
          const g = e.eff[i] / e.alpha + e.ref!;
          const k = e.pos[i];
          if (k === 2) at2++;
          if (Math.abs(g - 77e-6) < (readNoise_A ? 5 * readNoise_A : 1e-9)) {
            if (k === 2) failed++;
            continue;
          }
          byLevel[k].push(g);
        }
        failShare.push(failed / at2);
      }
      if (scheme !== 'signed') continue;
      // Level 2's failure share: per draw a Beta(30.5, 270.5) posterior draw; over 40 draws its mean is (30.5 / 301) +- 3 sd / sqrt(40).
      const mean = failShare.reduce((a, b) => a + b, 0) / failShare.length;
      const sd = Math.sqrt((30.5 * 270.5) / (301 ** 2 * 302));
      assert.ok(Math.abs(mean - 30.5 / 301) < 3 * sd / Math.sqrt(40) + 0.01, `failure share ${mean} vs ${30.5 / 301}`);
      assert.ok(Math.max(...failShare) - Math.min(...failShare) > 0.02, 'the failure share is drawn per batch (its posterior), not fixed');
      for (let k = 1; k < 4; k++) {
        // Level k's values follow its measured pool (read noise 0: the pool itself).
        if (!readNoise_A) {
          const d = ks(byLevel[k], Array.from(m.pools[k]));
          assert.ok(d < 0.06, `level ${k}: KS distance ${d.toFixed(3)} to its measured pool`);
        }
      }
      // Level 0's pool is one value: what spreads it is the read noise alone.
      const v0 = byLevel[0];
      const mu = v0.reduce((a, b) => a + b, 0) / v0.length;
      const sdev = Math.sqrt(v0.reduce((a, b) => a + (b - mu) ** 2, 0) / v0.length);
      assert.ok(Math.abs(sdev - readNoise_A) < 0.05e-6 + 0.05 * readNoise_A, `level 0: spread ${sdev} vs read noise ${readNoise_A}`);
    }
  }
});

/** The first n images of a split (a small seeded case). */
function head(s: Split, n: number): Split {
  const px = s.rows * s.cols * s.channels;
  return { ...s, n, images: s.images.subarray(0, n * px), labels: s.labels.subarray(0, n) };
}

let mnist: Dataset | undefined;
const small = (trainN: number, testN: number): Dataset => {
  mnist ??= loadDataset('mnist', undefined, false);
  return { ...mnist, train: head(mnist.train, trainN), test: head(mnist.test, testN) };
};

test('hardware-aware training beats plain training under the Monte Carlo (seeded: dense:16, 3 levels, gaussian 20 %, same seed, epochs, optimizer)', { timeout: 300000 }, async () => {
  const backend = await initTf();
  const ds = small(8000, 2000);
  const device = buildDeviceModel(parseDeviceSpec('gaussian:20%'), 3, { shared: false, stuckHrs: 0.01, stuckLrs: 0.01, readNoise_A: 0, vread_V: 0.2 });
  const hw = { device, scheme: 'diff' as const, clip: 0.99 };
  const dir = mkdtempSync(join(tmpdir(), 'hwa-'));
  const o = { arch: parseArch('dense:16'), epochs: 2, seed: 4, learningRate: 0.05, momentum: 0.9, batchSize: 32 };
  await train(tf, backend, ds, { ...o, out: join(dir, 'plain') });
  const rep = await trainHwAware(tf, backend, ds, { ...o, out: join(dir, 'hw') }, { ...hw, info: { device: 'gaussian:20%', levels: 3, mapping: 'diff', clip: 0.99, share: 1 } });
  assert.deepEqual(rep.hwAware, { device: 'gaussian:20%', levels: 3, mapping: 'diff', clip: 0.99, share: 1 });
  const mc = { trials: 40, seed: 9 };
  const plain = await hwAccuracy(tf, backend, toCrossbarNet(await loadModel(tf, join(dir, 'plain'))), ds.test, hw, mc);
  const aware = await hwAccuracy(tf, backend, toCrossbarNet(await loadModel(tf, join(dir, 'hw'))), ds.test, hw, mc);
  assert.ok(aware.monteCarlo.mean > plain.monteCarlo.mean + 0.02, `hardware-aware ${aware.monteCarlo.mean} vs plain ${plain.monteCarlo.mean}`);
  assert.ok(aware.float > 0.5, `the hardware-aware net still classifies with its float weights: ${aware.float} (plain ${plain.float})`);
});

test('a binary net trained hardware-aware is perturbed on its grid weights (bias row 0) by the device model each batch', { timeout: 120000 }, async () => {
  const backend = await initTf();
  const ds = small(2000, 500);
  const spec = parseBnn('bnn:100-16-10', { crop: 10, weightBits: 2, actBits: 1, bn: true });
  const device = buildDeviceModel(parseDeviceSpec('gaussian:10%'), 4, { shared: false, stuckHrs: 0, stuckLrs: 0, readNoise_A: 0, vread_V: 0.2 });
  const inj = new NoiseInjector({ device, scheme: 'diff' }, 1);
  const grid = weightGrid(2);
  let calls = 0;
  const plain = (await trainBnn(tf, backend, ds, { spec, epochs: 1, seed: 2, learningRate: 0.01, batchSize: 100 })).model;
  const aware = (
    await trainBnn(tf, backend, ds, {
      spec,
      epochs: 1,
      seed: 2,
      learningRate: 0.01,
      batchSize: 100,
      perturb: (layer, w, fanIn, units) => {
        calls++;
        assert.equal(w.length, (fanIn + 1) * units);
        for (let i = 0; i < fanIn * units; i++) assert.ok(Number.isInteger(w[i]) && w[i] >= grid.min && w[i] <= grid.max, `layer ${layer}: ${w[i]} is no grid weight`);
        for (let i = fanIn * units; i < w.length; i++) assert.equal(w[i], 0);
        if (layer === 0) inj.next();
        const d = inj.delta({ name: `bnn_${layer + 1}`, op: 'dense', fanIn, units, W: w });
        // The delta is the device model's: what the crossbar makes of the grid weights minus them.
        return d;
      },
    })
  ).model;
  assert.equal(calls, 2 * (2000 / 100), 'once per layer and batch');
  assert.notDeepEqual(aware.layers[0].W, plain.layers[0].W, 'the perturbation changed what was learnt');
});

test('fine-tuning the later layers on a programmed layer\'s read-back outputs beats not fine-tuning on held-out images (seeded, emulated board)', { timeout: 300000 }, async () => {
  const backend = await initTf();
  const ds = small(6000, 2000);
  const dir = mkdtempSync(join(tmpdir(), 'ftl-'));
  await train(tf, backend, ds, { arch: parseArch('cnn:1x4/p3/h8'), epochs: 2, seed: 3, learningRate: 0.02, momentum: 0.9, batchSize: 32, out: dir });
  const net = toCrossbarNet(await loadModel(tf, dir));
  const device = buildDeviceModel(parseDeviceSpec('gaussian:5%'), 3, { shared: false, stuckHrs: 0, stuckLrs: 0, readNoise_A: 0, vread_V: 0.2 });
  // Program the conv layer (3 levels, the published targets) on an emulated board and read it back.
  const mapped = mapNet(weightOps(net), device.nominal, 'diff');
  const { tiles: geometry } = placeTiles(mapped, [0]);
  const tiles = tileNet(mapped, geometry);
  const board = new EmulatedBoard({ seed: 8, arrays: 1 });
  const ctx = new RunContext('ftl');
  const p = new NetProgrammer(board, ctx, { algo: 'igvva', levels: 3, levelSpecs: defaultLevels(3), planned: { tiles: geometry.length, cells: 0 }, arrays: [0], reads: 2, describe: {} });
  p.begin();
  const rb = await p.tile(tiles[0]);
  const known = valuesFromTiles(mapped, [tiles[0]], [rb.readback_A], () => true)[0];
  const x = { x: ds.train.images, shape: net.inputShape, labels: ds.train.labels, n: ds.train.n };
  const h = measuredLayerOutput(tf, net, 0, mapped[0], known, x);
  assert.deepEqual(h.shape, [8 * 8 * 4], 'the conv layer\'s outputs after its pool and the flatten: what the dense layer takes');
  const tuned = await fineTuneStage(tf, net, 1, h, { epochs: 2, lr: 0.003, batchSize: 32, seed: 1, hw: { device, scheme: 'diff' } });
  assert.ok(tuned.after > tuned.before, `on the measured outputs: ${tuned.before} -> ${tuned.after}`);
  // Held out: the test images through the read-back conv layer, the rest drawn from the device model.
  const fixed = (n: typeof net) => mapNet(weightOps(n), device.nominal, 'diff').map((l, li) => (li === 0 ? known : { gp: new Float32Array(l.pos.length).fill(NaN), gn: new Float32Array(l.neg!.length).fill(NaN) }));
  const held = async (n: typeof net) => (await monteCarlo(tf, backend, n, ds.test, { scheme: 'diff', device, trials: 16, seed: 2, engine: 'auto', fixed: fixed(n) })).summary.mean;
  const [before, after] = [await held(net), await held(tuned.net)];
  assert.ok(after > before + 0.01, `held-out accuracy: ${before} without fine-tuning, ${after} with`);
  // The layers before the tuned one are untouched (they are on the board).
  assert.deepEqual(weightOps(tuned.net)[0].W, weightOps(net)[0].W);
  await board.close();
});

test('hardware noise on a seeded share of the batches: as many draws as the share says (binomial bounds), every batch at share 1, the float weights on the others', async () => {
  await initTf();
  const rng = new Rng(3);
  const n = 400;
  const d = { x: Float32Array.from({ length: n * 784 }, () => rng.uniform()), shape: [784], labels: Uint8Array.from({ length: n }, () => Math.floor(rng.uniform() * 10)), n };
  const batches = 2 * (n / 4);
  for (const [share, seed] of [[1, 1], [0.5, 2], [0.5, 3], [0.2, 4], [0.01, 5]] as const) {
    const tn = new TrainableNet(tf, toCrossbarNet(buildModel(tf, parseArch('dense:4'), seed)), { from: 0 });
    let draws = 0;
    let deltas = 0;
    const spy = { next: () => void draws++, delta: (op: WeightOp) => (deltas++, new Float32Array(op.W.length)) } as unknown as NoiseInjector;
    try {
      await trainLoop(tf, tn, d, { epochs: 2, batchSize: 4, seed, optimizer: tf.train.sgd(0.01), noise: spy, noiseShare: share });
    } finally {
      tn.dispose();
    }
    // Every drawn batch perturbs each of the 2 weight layers; no batch draws without perturbing.
    assert.equal(deltas, 2 * draws, `share ${share}`);
    if (share === 1) assert.equal(draws, batches);
    else {
      const sd = Math.sqrt(batches * share * (1 - share));
      assert.ok(Math.abs(draws - batches * share) <= 4 * sd + 1, `share ${share}: ${draws} of ${batches} batches drawn`);
    }
  }
});
