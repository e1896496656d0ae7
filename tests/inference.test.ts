/** Inference pipeline: specs and synapse counts, data sets, mapping round trips, device models, kernels, CLI. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';
import { buildModel, parseArch, synapses } from '../src/inference/arch-spec.js';
import { toCrossbarNet, weightOps, synapseCount, type WeightOp } from '../src/inference/crossbar-net.js';
import { FASHION_DEFAULT_DIR, loadDataset, parseIdxImages } from '../src/inference/datasets.js';
import { buildDeviceModel, CellSampler, dynamicRangeLevels, nominalLevels, parseDeviceSpec, TrialRng, loadMeasuredLevels } from '../src/inference/device-models.js';
import { effective, levelUse, mapLayer, mapNet, mappingReport, parseQuantizer, SCHEMES } from '../src/inference/mapping.js';
import { jsKernel, loadKernel, padCols, toCsr } from '../src/inference/mc-kernel.js';
import { monteCarlo } from '../src/inference/monte-carlo.js';
import { predictAll } from '../src/inference/forward-tf.js';
import { fractionOf, parseSweep, sweepPoints } from '../src/inference/sweep.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { saveModel, loadModel } from '../src/inference/model-io.js';
import { Rng } from '../lib/rng.js';

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
// rram infer stores its runs: in a scratch store, never in the working folder.
const rram = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', env: { ...process.env, RRAM_STORE: mkdtempSync(join(tmpdir(), 'infer-store-')) } });
const noExtras = { shared: false, stuckHrs: 0, stuckLrs: 0, readNoise_A: 0, vread_V: 0.2 };

test('synapse counts match seed 000 exactly, from the spec and from the built tfjs model', async () => {
  await initTf();
  const want: [string, number][] = [['cnn:2x8/p2/h16', 4050], ['cnn:2x16/p3/h8', 3090], ['cnn:1x8/p5/h8', 1778], ['dense:4', 3190], ['dense:8', 6370], ['dense:32,32', 26506]];
  for (const [spec, n] of want) {
    const a = parseArch(spec);
    assert.equal(synapses(a), n, spec);
    const m = buildModel(tf, a, 1);
    assert.equal(m.countParams(), n, `${spec} tfjs`);
    assert.equal(synapseCount(toCrossbarNet(m)), n, `${spec} crossbar`);
    m.dispose();
  }
  assert.throws(() => parseArch('cnn:3x8/p5/h8'), /arch="cnn:3x8\/p5\/h8".*vanishes/);
  assert.throws(() => parseArch('mlp:4'), /arch="mlp:4".*expected dense/);
});

test('MNIST and Fashion-MNIST load and validate; a bad file is refused by path', (t) => {
  const m = loadDataset('mnist');
  assert.equal(m.train.n, 60000);
  assert.equal(m.test.n, 10000);
  assert.equal(m.test.images.length, 10000 * 784);
  assert.equal(m.test.labels[0], 7); // the first MNIST test digit is a 7
  if (!existsSync(FASHION_DEFAULT_DIR)) {
    if (process.env.CI === 'true') throw new Error('dataset-fashion-mnist is missing under CI=true');
    t.diagnostic('fashion-mnist not installed locally; skipping that half');
  } else {
    const f = loadDataset('fashion', undefined, true);
    assert.equal(f.test.n, 10000);
    assert.equal(f.test.labels[0], 9); // ankle boot
  }
  const bad = Buffer.alloc(32);
  bad.writeUInt32BE(0x0801, 0);
  assert.throws(() => parseIdxImages(bad, '/x/t10k-images'), /\/x\/t10k-images: magic 0x801 is not an IDX image file/);
  const dir = mkdtempSync(join(tmpdir(), 'idx-'));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), readFileSync(join(m.dir, 't10k-images-idx3-ubyte')).subarray(0, 5000));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), readFileSync(join(m.dir, 't10k-labels-idx1-ubyte')));
  assert.throws(() => loadDataset('mnist', dir, true), /5000 bytes, header says 7840016/);
});

function randomOp(rows: number, cols: number, seed: number): WeightOp {
  const r = new Rng(seed);
  const W = Float32Array.from({ length: (rows + 1) * cols }, () => r.normal() * 0.3);
  return { op: 'dense', name: 'd', fanIn: rows, units: cols, W, act: 'relu' };
}

test('mapping: noise-free round trip is exact, quantization is nearest, and levels matter', () => {
  const op = randomOp(50, 20, 3);
  for (const scheme of SCHEMES) {
    let prev: Float32Array | undefined;
    for (let n = 2; n <= 8; n++) {
      const levels = nominalLevels(n);
      const l = mapLayer(op, levels, scheme);
      const gp = Float32Array.from(l.pos, (k) => levels[k]);
      const gn = l.neg ? Float32Array.from(l.neg, (k) => levels[k]) : undefined;
      assert.deepEqual(effective(l, gp, gn, new Float32Array(l.quantized.length)), l.quantized, `${scheme} L${n} round trip`);
      // Every representable weight of the scheme: the quantized one must be the nearest.
      const reps: number[] = [];
      if (scheme === 'diff') for (const v of levels) reps.push(l.alpha * (v - levels[0]), -l.alpha * (v - levels[0]));
      if (scheme === 'offset') for (const v of levels) reps.push(l.alpha * (v - levels[l.neg![0]]));
      if (scheme === 'signed') for (const v of levels) reps.push(l.alpha * (v - l.ref!));
      for (let i = 0; i < op.W.length; i++) {
        const best = Math.min(...reps.map((r) => Math.abs(r - op.W[i])));
        assert.ok(Math.abs(l.quantized[i] - op.W[i]) <= best + 1e-6, `${scheme} L${n} weight ${i} not nearest`);
      }
      if (prev) assert.notDeepEqual(l.quantized, prev, `${scheme}: ${n} levels gave the same weights as ${n - 1}`);
      prev = l.quantized;
      assert.equal(l.physCols, scheme === 'diff' ? 40 : scheme === 'offset' ? 21 : 20);
    }
  }
});

test('level sets a study can set: on/off ratio, explicit values, up to 128 levels; signed mapping keeps a zero; the mapping report counts zeros and levels used', () => {
  // Evenly spaced in conductance from G_on / R to G_on (45 uA top).
  assert.deepEqual(dynamicRangeLevels(4, 10).map((v) => +(v * 1e6).toFixed(6)), [4.5, 18, 31.5, 45]);
  const none = { shared: false, stuckHrs: 0, stuckLrs: 0, readNoise_A: 0, vread_V: 0.2 };
  const dr = buildDeviceModel(parseDeviceSpec('gaussian:5%'), 4, { ...none, dynamicRange: 100 });
  assert.deepEqual(dr.nominal, dynamicRangeLevels(4, 100));
  assert.match(dr.text, /gaussian:5% on\/off 100/);
  const lv = buildDeviceModel(parseDeviceSpec('ideal'), 3, { ...none, levelValues_A: [1e-6, 2e-5, 4e-5] });
  assert.deepEqual(lv.nominal, [1e-6, 2e-5, 4e-5]);
  assert.throws(() => buildDeviceModel(parseDeviceSpec('ideal'), 4, { ...none, levelValues_A: [1e-6, 2e-5, 4e-5] }), /level-values=3: gives 3 values for 4 levels/);
  assert.throws(() => dynamicRangeLevels(4, 1), /dynamic-range=1: must be an on\/off ratio above 1/);
  assert.throws(() => buildDeviceModel(parseDeviceSpec('gaussian:5%'), 4, { ...none, levelValues_A: [3e-6, 2e-6, 4e-6, 5e-6] }).nominal && mapLayer(randomOp(4, 4, 1), [3e-6, 2e-6, 4e-6, 5e-6], 'diff'), /level values must increase/);
  assert.equal(nominalLevels(128).length, 128);
  assert.throws(() => nominalLevels(129), /levels=129: must be an integer in 2..128/);
  // 128 levels through the mapping (level indices are bytes).
  const op = randomOp(40, 10, 9);
  const l128 = mapLayer(op, nominalLevels(128), 'diff');
  assert.ok(Math.max(...l128.pos, ...l128.neg!) <= 127);
  // Signed: weight 0 is representable at 3..8 levels (the reference is a level's value), and
  // the small weights a trained layer is made of no longer all round to +-1 step.
  const W = Float32Array.from({ length: 400 }, (_, i) => (i % 4 === 0 ? 0 : Math.sin(i) * 0.05 * (1 + (i % 7))));
  const zop = { ...op, W, fanIn: 39, units: 10 };
  for (let n = 3; n <= 8; n++) {
    const l = mapLayer(zop, nominalLevels(n), 'signed');
    for (let i = 0; i < W.length; i += 4) assert.equal(l.quantized[i], 0, `signed L${n}: weight 0 maps to 0`);
    const use = levelUse(l);
    assert.ok(use.zeroShare >= 0.25 && use.zeroShare < 1, `signed L${n}: zero share ${use.zeroShare}`);
    assert.ok(use.levelsUsed.length >= Math.min(n, 3), `signed L${n}: levels used ${use.levelsUsed}`);
  }
  const r = mappingReport([mapLayer(zop, nominalLevels(8), 'diff')]);
  assert.equal(r.layers[0].zeroShare, levelUse(mapLayer(zop, nominalLevels(8), 'diff')).zeroShare);
  assert.ok(r.layers[0].levelsUsed.includes(0) && r.layers[0].levelsUsed.includes(7));
  // Sweep keys for the new knobs, and their value checks.
  const pts = sweepPoints(parseSweep('stuck-lrs=0,1%,adc-bits=4,8,dynamic-range=10,1000,relax=1h'));
  assert.equal(pts.length, 2 * 2 * 2);
  assert.deepEqual(pts[0], { 'stuck-lrs': '0', 'adc-bits': '4', 'dynamic-range': '10', relax: '1h' });
  assert.equal(fractionOf('stuck-lrs', '1%'), 0.01);
  assert.throws(() => fractionOf('stuck-lrs', '150%'), /stuck-lrs=150%.*fraction/);
  assert.deepEqual(parseSweep('tiles=64,128,adc-bits=4').tiles, ['64', '128']);
  assert.throws(() => parseSweep('tile-size=64'), /unknown key tile-size/);
});

test('seed 001 quantizer: histogram bins over each layer (or the whole net), weights to their bin centres; refused where it has no meaning', () => {
  const op = randomOp(30, 8, 4);
  const levels = dynamicRangeLevels(8, 10);
  const l = mapLayer(op, levels, 'signed', 1, { quantizer: 'histogram-bins' });
  const wmin = Math.min(...op.W);
  const wmax = Math.max(...op.W);
  const delta = (wmax - wmin) / 8;
  for (let i = 0; i < op.W.length; i++) {
    const k = Math.min(7, Math.floor((op.W[i] - wmin) / delta));
    assert.equal(l.pos[i], k);
    assert.ok(Math.abs(l.quantized[i] - (wmin + (k + 0.5) * delta)) < 1e-5, `weight ${i} at its bin centre`);
  }
  // Whole-network scope: one range for all layers (a layer with small weights uses few bins).
  const small = { ...randomOp(30, 8, 5), name: 'small' };
  small.W = small.W.map((w) => w * 0.1);
  const [, perLayer] = mapNet([op, small], levels, 'signed', { quantizer: 'histogram-bins', scope: 'layer' });
  const [, whole] = mapNet([op, small], levels, 'signed', { quantizer: 'histogram-bins', scope: 'network' });
  assert.equal(new Set(perLayer.pos).size, 8);
  assert.ok(new Set(whole.pos).size <= 3, `the small layer spans ${new Set(whole.pos).size} of the network's bins`);
  assert.throws(() => mapLayer(op, levels, 'diff', 1, { quantizer: 'histogram-bins' }), /quantizer="histogram-bins".*--mapping signed/);
  assert.throws(() => parseQuantizer('kmeans'), /quantizer="kmeans"/);
  assert.deepEqual(mappingReport([l], { quantizer: 'histogram-bins', scope: 'network' }).quantizer, 'histogram-bins');
});

test('mapping --clip: the levels span a quantile of the weights, outliers clip to the extreme levels', () => {
  const op = randomOp(100, 20, 5);
  op.W[7] = 50; // one training outlier, far beyond every other weight
  const levels = nominalLevels(4);
  for (const scheme of SCHEMES) {
    const full = mapLayer(op, levels, scheme);
    const clipped = mapLayer(op, levels, scheme, 0.99);
    assert.equal(clipped.clip, 0.99);
    // Weights on the representable value(s) nearest 0 (signed has no exact 0 with an even level count).
    const zeros = (l: typeof full) => {
      const z = Math.min(...Array.from(l.quantized, Math.abs));
      return l.quantized.filter((w) => Math.abs(Math.abs(w) - z) < 1e-6).length;
    };
    // With the outlier setting the scale, nearly every weight rounds to 0; clipped, far fewer do.
    assert.ok(zeros(full) > 0.9 * op.W.length, `${scheme}: ${zeros(full)} zeros at full range`);
    assert.ok(zeros(clipped) < 0.75 * zeros(full), `${scheme}: ${zeros(clipped)} zeros clipped vs ${zeros(full)}`);
    // The outlier lands on the largest representable weight; the clipped error elsewhere is smaller.
    assert.equal(clipped.quantized[7], Math.max(...clipped.quantized));
    const err = (l: typeof full) => op.W.reduce((s, w, i) => (i === 7 ? s : s + (w - l.quantized[i]) ** 2), 0);
    assert.ok(err(clipped) < err(full), `${scheme}: clipped error ${err(clipped)} vs ${err(full)}`);
  }
  assert.throws(() => mapLayer(op, levels, 'diff', 0.3), /clip=0.3/);
});

test('device models: empirical draws come from the pools, shared mode, stuck faults, gaussian and truncnorm spread', () => {
  const pools = [Float32Array.from([1e-6, 1.5e-6]), Float32Array.from([20e-6, 21e-6, 22e-6]), Float32Array.from([40e-6])];
  const measured = { pools, relax: [{ t_s: 60, pools: [Float32Array.from([1e-6]), Float32Array.from([19e-6]), Float32Array.from([39e-6])] }], source: 'mem' };
  const targets = Uint8Array.from({ length: 3000 }, (_, i) => i % 3);
  const out = new Float32Array(3000);
  const emp = new CellSampler(buildDeviceModel(parseDeviceSpec('/nonexistent-cdf.json'), 3, noExtras, measured), 7);
  emp.beginTrial(0);
  emp.sample(targets, out);
  out.forEach((v, i) => assert.ok(pools[targets[i]].includes(v), `value ${v} not from pool ${targets[i]}`));
  const relaxed = new CellSampler(buildDeviceModel(parseDeviceSpec('/nonexistent-cdf.json'), 3, { ...noExtras, relax_s: 60 }, measured), 7);
  relaxed.beginTrial(0);
  relaxed.sample(targets, out);
  assert.ok(out[1] === Math.fround(19e-6) && out[2] === Math.fround(39e-6), 'relax samples at 60 s are used');
  const shared = new CellSampler(buildDeviceModel(parseDeviceSpec('gaussian:10%'), 3, { ...noExtras, shared: true }), 7);
  shared.beginTrial(4);
  shared.sample(targets, out);
  assert.equal(new Set(Array.from(out.filter((_, i) => targets[i] === 1))).size, 1, 'one shared value per level');
  const stuck = new CellSampler(buildDeviceModel(parseDeviceSpec('ideal'), 3, { ...noExtras, stuckHrs: 0.1, stuckLrs: 0.05 }), 7);
  stuck.beginTrial(0);
  const big = Uint8Array.from({ length: 100000 }, () => 1);
  const o2 = new Float32Array(big.length);
  stuck.sample(big, o2);
  const nom = nominalLevels(3);
  const hrs = o2.filter((v) => v === Math.fround(nom[0])).length / big.length;
  const lrs = o2.filter((v) => v === Math.fround(nom[2])).length / big.length;
  assert.ok(Math.abs(hrs - 0.1) < 0.005 && Math.abs(lrs - 0.05) < 0.004, `stuck fractions ${hrs} ${lrs}`);
  for (const [spec, lo, hi] of [['gaussian:5%', 0.048, 0.052], ['truncnorm:5%', 0.025, 0.028]] as const) {
    const s = new CellSampler(buildDeviceModel(parseDeviceSpec(spec), 3, noExtras), 9);
    s.beginTrial(0);
    s.sample(big, o2);
    const mu = nom[1];
    const m = o2.reduce((a, b) => a + b, 0) / o2.length;
    const sd = Math.sqrt(o2.reduce((a, b) => a + (b - m) ** 2, 0) / o2.length) / mu;
    assert.ok(Math.abs(m / mu - 1) < 0.002 && sd > lo && sd < hi, `${spec}: mean ${m / mu}, relative sd ${sd}`);
    if (spec.startsWith('trunc')) assert.ok(o2.every((v) => Math.abs(v - mu) <= 0.05 * mu * 1.0001), 'truncnorm stays within mu +- s mu');
  }
  // The inlined fast path draws exactly what the general path does.
  const r = new TrialRng();
  r.reseed(5, 3);
  const gm = buildDeviceModel(parseDeviceSpec('gaussian:5%'), 3, noExtras);
  const fast = new CellSampler(gm, 5);
  fast.beginTrial(3);
  const o3 = fast.sample(targets, new Float32Array(3000));
  o3.forEach((v, i) => assert.equal(v, Math.fround(Math.max(0, gm.nominal[targets[i]] + gm.sigma_A[targets[i]] * r.normal()))));
  assert.throws(() => parseDeviceSpec('weird:5'), /device="weird:5"/);
  assert.throws(() => buildDeviceModel(parseDeviceSpec('ideal'), 3, { ...noExtras, stuckHrs: 0.7, stuckLrs: 0.5 }), /stuck-lrs=0.5.*must not exceed 1/);
});

test('level-CDF CSV loads; bad rows are refused with the line number', () => {
  const dir = mkdtempSync(join(tmpdir(), 'csv-'));
  writeFileSync(join(dir, 'ok.csv'), 'level,current_A\n0,1e-6\n1,2e-5\n1,2.1e-5\n');
  assert.equal(loadMeasuredLevels(join(dir, 'ok.csv')).pools[1].length, 2);
  writeFileSync(join(dir, 'bad.csv'), 'level,current_A\n0,1e-6\nx,2\n');
  assert.throws(() => loadMeasuredLevels(join(dir, 'bad.csv')), /bad.csv: line 3, field 1 \(level\) is not a number: "x"/);
});

test('sweep grammar: ranges, lists, unknown keys', () => {
  assert.deepEqual(parseSweep('levels=2..4,sigma=1%,5%'), { levels: ['2', '3', '4'], sigma: ['1%', '5%'] });
  assert.equal(sweepPoints(parseSweep('levels=2..4,sigma=1%,5%')).length, 6);
  assert.deepEqual(sweepPoints(parseSweep('clip=1,0.99,levels=4')), [{ levels: '4', clip: '1' }, { levels: '4', clip: '0.99' }]);
  assert.throws(() => parseSweep('colour=red'), /sweep="colour=red".*unknown key colour/);
});

test('kernels: native, JavaScript and tfjs paths agree; ideal devices reproduce the noise-free accuracy', async () => {
  const backend = await initTf();
  const ds = loadDataset('mnist', undefined, true);
  const model = buildModel(tf, parseArch('dense:32,16'), 5);
  const net = toCrossbarNet(model);
  const native = loadKernel('auto');
  if (process.env.CI === 'true') assert.match(native.name, /^native-/, 'CI machines have a C compiler: the native kernel must be built');
  // Raw kernel equivalence on random weights.
  const n = 500;
  const csr = toCsr(ds.test.images, n, 784);
  const rng = new Rng(1);
  const layers = weightOps(net).map((op, i) => {
    const cp = padCols(op.units, i === 0);
    const w = new Float32Array(8 * (op.fanIn + 1) * cp);
    for (let t = 0; t < 8; t++) for (let r = 0; r <= op.fanIn; r++) for (let c = 0; c < op.units; c++) w[(t * (op.fanIn + 1) + r) * cp + c] = rng.normal() * 0.2;
    return { w, rows: op.fanIn + 1, cols: op.units, cp };
  });
  const a = new Uint8Array(8 * n);
  const b = new Uint8Array(8 * n);
  native.forward(csr.idx, csr.ptr, csr.val, layers, a);
  jsKernel.forward(csr.idx, csr.ptr, csr.val, layers, b);
  const agree = a.reduce((s, v, i) => s + (v === b[i] ? 1 : 0), 0) / a.length;
  assert.ok(agree >= 0.998, `native vs js agreement ${agree}`);

  const dev = buildDeviceModel(parseDeviceSpec('gaussian:5%'), 8, noExtras);
  const opts = { scheme: 'diff' as const, device: dev, trials: 12, seed: 3, images: 1000 };
  const fast = await monteCarlo(tf, backend, net, ds.test, { ...opts, engine: 'auto', workers: 2 });
  const one = await monteCarlo(tf, backend, net, ds.test, { ...opts, engine: 'auto', workers: 1 });
  const slow = await monteCarlo(tf, backend, net, ds.test, { ...opts, engine: 'tfjs' });
  assert.deepEqual(fast.accuracies, one.accuracies, 'results do not depend on the worker count');
  fast.accuracies.forEach((acc, i) => assert.ok(Math.abs(acc - slow.accuracies[i]) <= 0.003, `trial ${i}: kernel ${acc} vs tfjs ${slow.accuracies[i]}`));
  assert.equal(fast.confusion.flat().reduce((s, v) => s + v, 0), 12 * 1000);
  const ideal = await monteCarlo(tf, backend, net, ds.test, { ...opts, device: buildDeviceModel(parseDeviceSpec('ideal'), 8, noExtras), engine: 'auto' });
  ideal.accuracies.forEach((acc) => assert.ok(Math.abs(acc - ideal.quantizedAccuracy) <= 0.002, `ideal trial ${acc} vs noise-free ${ideal.quantizedAccuracy}`));
  // ADC runs on the tfjs path; a 1-bit ADC must cost accuracy against 12 bits.
  const adc12 = await monteCarlo(tf, backend, net, ds.test, { ...opts, trials: 2, adcBits: 12, engine: 'auto' });
  assert.match(adc12.engine, /^tfjs-/);
  assert.ok(Math.abs(adc12.quantizedAccuracy - ideal.quantizedAccuracy) < 0.01);
  model.dispose();
});

test('model save / load round trip keeps the weights; a manifest cannot escape its folder', async () => {
  await initTf();
  const dir = mkdtempSync(join(tmpdir(), 'model-'));
  const m = buildModel(tf, parseArch('cnn:1x8/p5/h8'), 2);
  await saveModel(tf, m, dir);
  const back = await loadModel(tf, dir);
  assert.deepEqual(weightOps(toCrossbarNet(back)).map((o) => Array.from(o.W.slice(0, 20))), weightOps(toCrossbarNet(m)).map((o) => Array.from(o.W.slice(0, 20))));
  const j = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  j.weightsManifest[0].paths = ['../../etc/passwd'];
  mkdirSync(join(dir, 'evil'));
  writeFileSync(join(dir, 'evil', 'model.json'), JSON.stringify(j));
  await assert.rejects(loadModel(tf, join(dir, 'evil')), /points outside the model directory/);
});

test('rram train and rram infer end to end, with bad input named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'train-'));
  const tr = rram('train', '--arch', 'dense:4', '--dataset', 'mnist', '--epochs', '1', '--out', join(dir, 'm'), '--json');
  assert.equal(tr.status, 0, tr.stderr);
  const rep = JSON.parse(tr.stdout);
  assert.equal(rep.synapses, 3190);
  assert.ok(rep.testAccuracy > 0.8, `dense:4 after one epoch: ${rep.testAccuracy}`);
  assert.deepEqual(rep.optimizer, { kind: 'sgd-momentum', learningRate: 0.01, momentum: 0.9, batchSize: 32 });
  assert.ok(existsSync(join(dir, 'm', 'model.json')) && existsSync(join(dir, 'm', 'report.json')));
  const inf = rram('infer', '--model', join(dir, 'm'), '--dataset', 'mnist', '--levels', '4', '--mapping', 'offset', '--device', 'gaussian:5%', '--trials', '16', '--json', '--out', join(dir, 'inf'));
  assert.equal(inf.status, 0, inf.stderr);
  const r = JSON.parse(inf.stdout);
  assert.equal(r.accuracies.length, 16);
  assert.equal(r.levels, 4);
  assert.equal(r.mapping.scheme, 'offset');
  assert.ok(r.summary.min <= r.summary.p50 && r.summary.p50 <= r.summary.max);
  assert.equal(r.confusion.length, 10);
  for (const f of ['result.json', 'accuracies.csv', 'histogram.csv', 'cdf.csv', 'confusion.csv']) assert.ok(existsSync(join(dir, 'inf', f)), f);
  assert.match(inf.stderr, /wrote .*inf: result\.json, accuracies\.csv, histogram\.csv, cdf\.csv, confusion\.csv/, '--out says what it wrote');
  assert.doesNotMatch(inf.stderr, /warning/, 'trained on mnist, evaluated on mnist: no warning');
  // A model trained on MNIST evaluated on Fashion-MNIST runs, and says so.
  const fash = rram('infer', '--model', join(dir, 'm'), '--dataset', 'fashion', '--device', 'ideal', '--trials', '1', '--images', '200', '--json');
  assert.equal(fash.status, 0, fash.stderr);
  assert.match(fash.stderr, /warning: the model in .* was trained on mnist; it is evaluated on fashion/);
  const bad: [string[], RegExp][] = [
    [['infer', '--model', join(dir, 'm'), '--dataset', 'mnist', '--device', 'gaussian:500%'], /device="gaussian:500%": a relative spread must be within \(0, 100 %\]/],
    [['infer', '--model', join(dir, 'm'), '--dataset', 'mnist', '--device', 'ideal', '--mapping', 'triple'], /mapping="triple"/],
    [['infer', '--model', join(dir, 'm'), '--dataset', 'cifar', '--device', 'ideal'], /dataset="cifar"/],
    [['infer', '--model', join(dir, 'nope'), '--dataset', 'mnist', '--device', 'ideal'], /nope: model folder not found/],
    [['infer', '--model', join(dir, 'm'), '--dataset', 'mnist', '--device', 'gaussian:-3%'], /device="gaussian:-3%"/],
    [['train', '--arch', 'dense:x', '--dataset', 'mnist', '--out', join(dir, 'z')], /arch="dense:x"/],
    [['infer', '--model', join(dir, 'm'), '--dataset', 'mnist', '--device', 'ideal', '--clip', '0.3'], /--clip="0.3".*quantile/],
  ];
  for (const [args, re] of bad) {
    const x = rram(...args);
    assert.notEqual(x.status, 0, args.join(' '));
    assert.match(x.stderr, re);
  }
});

test('batch norm (seed 003) folds into the preceding Dense/Conv2D: same predictions; BN after a nonlinearity is refused', async () => {
  await initTf();
  const ds = loadDataset('mnist', undefined, true);
  const n = 1000;
  const rng = new Rng(7);
  // Give every BN layer non-trivial statistics, as after training.
  const randomizeBn = (m: import('@tensorflow/tfjs').LayersModel) => {
    for (const l of m.layers) {
      if (l.getClassName() !== 'BatchNormalization') continue;
      l.setWeights(l.getWeights().map((w, k) => tf.tensor(Float32Array.from({ length: w.size }, () => (k === 3 ? 0.2 + rng.uniform() : 0.5 * rng.normal() + (k === 0 ? 1 : 0))), w.shape)));
    }
  };
  const dense = tf.sequential({
    layers: [
      tf.layers.dense({ units: 24, inputShape: [784], useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.batchNormalization({}),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  const conv = tf.sequential({
    layers: [
      tf.layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [28, 28, 1], kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
      tf.layers.batchNormalization({ epsilon: 1e-5 }),
      tf.layers.reLU(),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
    ],
  });
  for (const [m, shape] of [[dense, [n, 784]], [conv, [n, 28, 28, 1]]] as const) {
    randomizeBn(m);
    const net = toCrossbarNet(m);
    assert.equal(weightOps(net).length, 2, 'BN adds no weight layer');
    const want = tf.tidy(() => (m.predict(tf.tensor(ds.test.images.subarray(0, n * 784), [...shape])) as import('@tensorflow/tfjs').Tensor).argMax(-1).dataSync());
    const mapped = weightOps(net).map((op) => mapLayer(op, nominalLevels(64), 'diff'));
    const got = predictAll(tf, net, mapped, weightOps(net).map((op) => ({ eff: op.W })), ds.test.images, n);
    const agree = got.reduce((s, p, i) => s + (p === want[i] ? 1 : 0), 0) / n;
    assert.ok(agree >= 0.998, `folded BN agrees on ${agree} of the predictions`);
  }
  const after = tf.sequential({ layers: [tf.layers.dense({ units: 8, inputShape: [784], activation: 'relu' }), tf.layers.batchNormalization({ name: 'bn_after_relu' }), tf.layers.dense({ units: 10 })] });
  assert.throws(() => toCrossbarNet(after), /bn_after_relu.*directly preceding Dense or Conv2D layer without activation/);
});

test('tfjs path on worker threads: same trials as one thread, and an abort stops the workers', async () => {
  const backend = await initTf();
  const ds = loadDataset('mnist', undefined, true);
  const net = toCrossbarNet(buildModel(tf, parseArch('cnn:1x8/p5/h8'), 3));
  const device = buildDeviceModel(parseDeviceSpec('gaussian:5%'), 6, noExtras);
  const opts = { scheme: 'diff' as const, device, trials: 8, seed: 11, images: 300, engine: 'tfjs' as const };
  const one = await monteCarlo(tf, backend, net, ds.test, { ...opts, workers: 1 });
  const two = await monteCarlo(tf, backend, net, ds.test, { ...opts, workers: 2 });
  assert.equal(one.workers, 1);
  assert.equal(two.workers, backend === 'wasm' ? 2 : 1);
  assert.deepEqual(two.accuracies, one.accuracies);
  assert.deepEqual(two.confusion, one.confusion);
  assert.ok(new Set(one.accuracies).size > 1, 'trials differ from each other');
  const ac = new AbortController();
  let seen = 0;
  await assert.rejects(
    monteCarlo(tf, backend, net, ds.test, { ...opts, trials: 400, workers: 2, signal: ac.signal, onProgress: () => ++seen === 2 && ac.abort() }),
    (e: Error) => e.name === 'AbortedError' || /aborted/.test(e.message),
  );
  assert.ok(seen < 400, `stopped after ${seen} trials`);
});
