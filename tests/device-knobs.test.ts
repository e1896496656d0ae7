/** Issue 17's device and crossbar knobs on small nets: tile size, maximum input voltage, endurance, retention, one layer quantized. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { toCrossbarNet, weightOps } from '../src/inference/crossbar-net.js';
import { loadDataset } from '../src/inference/datasets.js';
import { buildDeviceModel, CellSampler, parseDeviceSpec } from '../src/inference/device-models.js';
import { rowTiles } from '../src/inference/forward-tf.js';
import { mapNet, tilesFor } from '../src/inference/mapping.js';
import { monteCarlo } from '../src/inference/monte-carlo.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { train } from '../src/inference/train.js';
import { loadNet } from '../src/inference/load-net.js';
import type { CrossbarNet } from '../src/inference/crossbar-net.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../lib/rng.js';
import { robustSigma } from '../src/analysis/stats.js';
import { smallTraining } from './helpers/small-training.js';

// The net trained here only needs to be off chance (each knob is checked against a reference on the
// same net): on the first 12000 training images (tests/helpers/small-training.ts).
smallTraining();

const noExtras = { shared: false, stuckHrs: 0, stuckLrs: 0, readNoise_A: 0, vread_V: 0.2 };

/** A dense:32 trained for one epoch (a random net sits at chance, where no knob can show). */
let trained: Promise<CrossbarNet> | undefined;
function trainedNet(): Promise<CrossbarNet> {
  trained ??= (async () => {
    const backend = await initTf();
    const out = mkdtempSync(join(tmpdir(), 'knobs-'));
    await train(tf, backend, loadDataset('mnist'), { arch: parseArch('dense:32'), epochs: 1, seed: 1, learningRate: 0.1, momentum: 0.9, batchSize: 64, out });
    return (await loadNet(tf, out)).net;
  })();
  return trained;
}

test('tiles: arrays counted in the tile side; dense rows and conv channel groups cut per tile', async () => {
  await initTf();
  const net = toCrossbarNet(buildModel(tf, parseArch('cnn:2x8/p2/h16'), 1));
  const ops = weightOps(net);
  const lv = [1e-6, 2e-5, 4e-5, 4.5e-5];
  for (const tile of [32, 64, 128, 256]) {
    const m = mapNet(ops, lv, 'diff', { tile });
    m.forEach((l) => assert.equal(l.arrays, Math.ceil(l.rows / tile) * Math.ceil(l.physCols / tile), `tile ${tile} layer ${l.name}`));
  }
  assert.equal(tilesFor(785, 64, 64), 13);
  // conv2: 3x3 kernels over 8 channels = 72 rows + bias; tile 64 holds 7 channels' windows.
  assert.deepEqual(rowTiles(ops[1], 64), [[0, 7], [7, 8]]);
  assert.deepEqual(rowTiles(ops[1], 128), [[0, 8]]);
  // dense 200 -> 16: 201 rows (bias last) in tiles of 64.
  assert.deepEqual(rowTiles(ops[2], 64), [[0, 64], [64, 128], [128, 192], [192, 201]]);
});

test('tile x ADC: per-tile digitization changes a coarse ADC, not a fine one; an aged or noisy device is what the trials draw', async () => {
  const backend = await initTf();
  const ds = loadDataset('mnist', undefined, true);
  const net = await trainedNet();
  const dev = buildDeviceModel(parseDeviceSpec('ideal'), 16, noExtras);
  const run = (o: { adcBits?: number; tile?: number }) => monteCarlo(tf, backend, net, ds.test, { scheme: 'diff', device: dev, trials: 1, seed: 1, images: 1000, engine: 'auto', ...o });
  const free = await run({});
  const fine = await Promise.all([32, 64, 256].map((tile) => run({ adcBits: 14, tile })));
  fine.forEach((r) => assert.ok(Math.abs(r.accuracies[0] - free.accuracies[0]) <= 0.003, `14-bit ADC at tile ${r.tile}: ${r.accuracies[0]} vs ${free.accuracies[0]}`));
  const coarse = await Promise.all([32, 1024].map((tile) => run({ adcBits: 2, tile })));
  assert.notEqual(coarse[0].accuracies[0], coarse[1].accuracies[0], 'a 2-bit ADC per 32-row tile and per whole column give different nets');
  assert.equal(coarse[0].mapping.arrays, mapNet(weightOps(net), dev.nominal, 'diff', { tile: 32 }).reduce((s, l) => s + l.arrays, 0));
  await assert.rejects(run({ tile: 4 }), /tile=4/);
});

test('max input voltage: without read noise nothing changes; with it, low voltages lose to the noise', async () => {
  const backend = await initTf();
  const ds = loadDataset('mnist', undefined, true);
  const net = await trainedNet();
  const mc = (o: Partial<typeof noExtras> & { maxInput_V?: number }) =>
    monteCarlo(tf, backend, net, ds.test, { scheme: 'diff', device: buildDeviceModel(parseDeviceSpec('ideal'), 8, { ...noExtras, ...o }), trials: 8, seed: 2, images: 1000, engine: 'auto' });
  const plain = await mc({});
  const v = await mc({ maxInput_V: 0.01 });
  assert.deepEqual(v.accuracies, plain.accuracies, 'without read noise the input voltage cancels');
  const low = await mc({ readNoise_A: 1e-6, maxInput_V: 0.01 });
  const high = await mc({ readNoise_A: 1e-6, maxInput_V: 2 });
  assert.ok(low.summary.mean < high.summary.mean - 0.05, `0.01 V ${low.summary.mean} vs 2 V ${high.summary.mean}`);
  assert.equal(buildDeviceModel(parseDeviceSpec('ideal'), 8, { ...noExtras, readNoise_A: 1e-6, maxInput_V: 0.4 }).readNoise_A, 0.5e-6);
  assert.throws(() => buildDeviceModel(parseDeviceSpec('ideal'), 8, { ...noExtras, maxInput_V: -1 }), /max-input-V=-1/);
});

test('endurance shrinks the window toward its middle; retention drifts every device by (t / 1 s)^-nu', () => {
  const lv = 4;
  const base = buildDeviceModel(parseDeviceSpec('ideal'), lv, noExtras);
  const targets = Uint8Array.from({ length: 4000 }, (_, i) => i % lv);
  const draw = (o: object) => {
    const s = new CellSampler(buildDeviceModel(parseDeviceSpec('ideal'), lv, { ...noExtras, ...o }), 7);
    s.beginTrial(0);
    return s.sample(targets, new Float32Array(targets.length));
  };
  const mid = (base.nominal[0] + base.nominal[lv - 1]) / 2;
  const w = Math.exp(-0.5);
  draw({ endurance: { cycles: 5000, tau: 10000 } }).forEach((v, i) => assert.ok(Math.abs(v - (mid + (base.nominal[targets[i]] - mid) * w)) < 1e-12, `cell ${i}`));
  draw({ endurance: { cycles: 0, tau: 10000 } }).forEach((v, i) => assert.ok(Math.abs(v - base.nominal[targets[i]]) < 1e-12));
  const f = Math.pow(1e4, -0.1);
  draw({ retention: { t_s: 1e4, nu: 0.1, nuSigma: 0 } }).forEach((v, i) => assert.ok(Math.abs(v / base.nominal[targets[i]] - f) < 1e-6, `cell ${i}: ${v / base.nominal[targets[i]]}`));
  // A spread of nu spreads the drift: the top level's ratios vary, around f.
  const spread = Array.from(draw({ retention: { t_s: 1e4, nu: 0.1, nuSigma: 0.05 } })).filter((_, i) => targets[i] === lv - 1).map((v) => v / base.nominal[lv - 1]);
  const med = spread.sort((a, b) => a - b)[spread.length >> 1];
  assert.ok(Math.max(...spread) - Math.min(...spread) > 0.2 && Math.abs(Math.log(med / f)) < 0.05, `ratios ${Math.min(...spread)}..${Math.max(...spread)}, median ${med} vs ${f}`);
  assert.throws(() => draw({ retention: { t_s: 0.5, nu: 0.1, nuSigma: 0 } }), /retention=0.5/);
  assert.throws(() => draw({ endurance: { cycles: 10, tau: 0 } }), /endurance/);
});

test('one layer quantized: the other layers keep their trained weights', async () => {
  const backend = await initTf();
  const ds = loadDataset('mnist', undefined, true);
  const net = await trainedNet();
  const dev = buildDeviceModel(parseDeviceSpec('ideal'), 2, noExtras);
  const o = { scheme: 'diff' as const, device: dev, trials: 1, seed: 1, images: 1000, engine: 'auto' as const };
  const all = await monteCarlo(tf, backend, net, ds.test, o);
  const first = await monteCarlo(tf, backend, net, ds.test, { ...o, onlyLayer: 0 });
  const second = await monteCarlo(tf, backend, net, ds.test, { ...o, onlyLayer: 1 });
  // At 2 levels every layer loses; a net with only one layer quantized keeps more than the fully quantized one.
  assert.ok(first.quantizedAccuracy !== all.quantizedAccuracy && second.quantizedAccuracy !== all.quantizedAccuracy);
  assert.equal(first.accuracies[0], first.quantizedAccuracy, 'ideal devices: the trial is the noise-free net');
  // Which layer: an independent forward pass with exactly that layer's weights quantized, the other's trained.
  const ops = weightOps(net);
  const q = mapNet(ops, dev.nominal, 'diff');
  const reference = (quantize: number) => {
    let ok = 0;
    for (let i = 0; i < 1000; i++) {
      let h: Float32Array = ds.test.images.subarray(i * 784, (i + 1) * 784);
      ops.forEach((op, li) => {
        const W = li === quantize ? q[li].quantized : op.W;
        const out = new Float32Array(op.units);
        for (let u = 0; u < op.units; u++) {
          let z = W[op.fanIn * op.units + u];
          for (let k = 0; k < op.fanIn; k++) z += h[k] * W[k * op.units + u];
          out[u] = op.act === 'relu' ? Math.max(0, z) : z;
        }
        h = out;
      });
      let best = 0;
      for (let u = 1; u < h.length; u++) if (h[u] > h[best]) best = u;
      if (best === ds.test.labels[i]) ok++;
    }
    return ok / 1000;
  };
  assert.ok(Math.abs(first.quantizedAccuracy - reference(0)) <= 0.002, `only layer 0: ${first.quantizedAccuracy} vs the reference ${reference(0)}`);
  assert.ok(Math.abs(second.quantizedAccuracy - reference(1)) <= 0.002, `only layer 1: ${second.quantizedAccuracy} vs the reference ${reference(1)}`);
  assert.ok(Math.abs(reference(0) - reference(1)) > 0.01, 'the two layers lose differently (else the check above could not tell them apart)');
  await assert.rejects(monteCarlo(tf, backend, net, ds.test, { ...o, onlyLayer: 2 }), /only-layer=2/);
  await assert.rejects(monteCarlo(tf, backend, net, ds.test, { ...o, onlyLayer: 0, adcBits: 4 }), /only-layer/);
});

test('a measured level-CDF with its spread scaled (seed 001\'s variation on our distributions): each level keeps its median, its robust sigma becomes the asked share', () => {
  const rng = new Rng(4);
  // Two levels with skewed, different spreads.
  const pools = [Float32Array.from({ length: 400 }, () => 1e-6 * (1 + 0.3 * Math.abs(rng.normal()))), Float32Array.from({ length: 400 }, () => 40e-6 * (1 + 0.02 * rng.normal()))];
  const measured = { pools, relax: [], source: 'test' };
  for (const v of [0, 0.05, 0.2]) {
    const m = buildDeviceModel(parseDeviceSpec('cdf.json'), 2, { ...noExtras, spreadTo: v }, measured);
    m.pools!.forEach((p, k) => {
      const med = m.nominal[k];
      assert.ok(Math.abs(robustSigma(p) / med - v) < 1e-3, `level ${k} at ${v}: ${robustSigma(p) / med}`);
    });
    assert.match(m.text, new RegExp(`spread scaled to ${v * 100}%`));
  }
  assert.throws(() => buildDeviceModel(parseDeviceSpec('cdf.json'), 2, { ...noExtras, spreadTo: 2 }, measured), /variation=2/);
});
