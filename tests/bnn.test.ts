/**
 * Binary and low-precision nets with batch-norm merging (issue 16, seed 003): the estimators'
 * gradients, each merge against the net with batch norm in software on random layers, crop, bit
 * grids, training end to end, and a binary net programmed onto the emulated board.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { steOps } from '../src/inference/bnn/train.js';
import { cropBinarize, parseBnn, quantizeAct, quantizeWeight, synapseBits, weightGrid } from '../src/inference/bnn/spec.js';
import { bnnCrossbarNet, forwardBnn, loadBnn, mergeBn, mergedAccuracy, type BnnModel, type MergedBnn } from '../src/inference/bnn/model.js';
import { loadDataset } from '../src/inference/datasets.js';
import { hiddenForBudget } from '../src/inference/bnn/study.js';
import { randomNet } from './helpers/bnn-random.js';
import { Rng } from '../lib/rng.js';
import { repoRoot } from '../lib/repo-root.js';

test('straight-through estimators: values on the grid, gradients through the window', async () => {
  await initTf();
  for (const [wb, ab] of [[1, 1], [3, 2], [8, 8]]) {
    const { quantW, quantA } = steOps(tf, wb, ab);
    const g = weightGrid(wb);
    const w = tf.tensor1d([-300, g.min - 0.6, g.min - 0.4, -0.7, -0.2, 0, 0.2, 0.7, g.max + 0.4, g.max + 0.6, 300]);
    const q = Array.from(quantW(w).dataSync());
    assert.deepEqual(q, Array.from(w.dataSync()).map((x) => quantizeWeight(x, wb)), `weights on the ${wb}-bit grid`);
    const dw = Array.from(tf.grad((x: import('@tensorflow/tfjs').Tensor) => quantW(x).sum())(w).dataSync());
    assert.deepEqual(dw, Array.from(w.dataSync()).map((x) => (x >= g.min - 0.5 && x <= g.max + 0.5 ? 1 : 0)), `weight gradient window (${wb} bits)`);
    const z = tf.tensor1d([-3, -1.5, -1, -0.3, 0, 0.3, 1, 1.5, 3]);
    assert.deepEqual(Array.from(quantA(z).dataSync()), Array.from(z.dataSync()).map((x) => quantizeAct(x, ab)), `activations on the ${ab}-bit grid`);
    const dz = Array.from(tf.grad((x: import('@tensorflow/tfjs').Tensor) => quantA(x).sum())(z).dataSync());
    assert.deepEqual(dz, Array.from(z.dataSync()).map((x) => (Math.abs(x) <= 1 ? (2 ** ab - 1) / 2 : 0)), `hard-tanh window (${ab} bits)`);
  }
});

test('bit grids, synapse bits as the paper counts them, the constant-budget widths of Table 3, the crop', () => {
  assert.deepEqual(weightGrid(1), { min: -1, max: 1 });
  assert.deepEqual(weightGrid(3), { min: -4, max: 3 });
  assert.deepEqual(weightGrid(8), { min: -128, max: 127 });
  assert.equal(synapseBits(parseBnn('bnn:400-128-128-10')), 68864);
  assert.equal(synapseBits(parseBnn('bnn:784-128-128-10')), 118016);
  assert.equal(synapseBits(parseBnn('bnn:144-128-128-10')), 36096);
  assert.equal(hiddenForBudget(1), 128);
  for (const b of [2, 3, 4, 6, 8]) assert.ok(synapseBits(parseBnn(`bnn:400-${hiddenForBudget(b)}-${hiddenForBudget(b)}-10`, { weightBits: b })) <= 68864 * 1.02);
  fc.assert(fc.property(fc.double({ min: -500, max: 500, noNaN: true }), fc.constantFrom(1, 2, 3, 4, 6, 8), (w, b) => {
    const q = quantizeWeight(w, b);
    const g = weightGrid(b);
    assert.ok(Number.isInteger(q) && q >= g.min && q <= g.max && (b > 1 || q !== 0));
  }));
  fc.assert(fc.property(fc.double({ min: -5, max: 5, noNaN: true }), fc.constantFrom(1, 2, 3, 6, 8), (z, a) => {
    const q = quantizeAct(z, a);
    assert.ok(Number.isInteger(q) && q >= 0 && q <= 2 ** a - 1);
  }));
  // Centre crop: a 28x28 image whose pixel value is its row index / 27, cropped to 20x20 and binarized at 0.5.
  const img = Float32Array.from({ length: 784 }, (_, i) => Math.floor(i / 28) / 27);
  const c = cropBinarize(img, 1, 20);
  assert.equal(c.length, 400);
  for (let r = 0; r < 20; r++) assert.equal(c[r * 20], (r + 4) / 27 >= 0.5 ? 1 : 0, `row ${r}`);
  assert.throws(() => parseBnn('bnn:401-128-10'), /input size 401 must be crop\^2/);
  assert.throws(() => parseBnn('bnn:400-128-10', { weightBits: 5 }), /weight-bits=5.*1, 2, 3, 4, 6, 8/);
  assert.throws(() => parseBnn('bnn:400-128-7'), /10 units/);
});

/** A random binary net: grid weights, batch norm with any sign of gamma. */

/** Hidden activations and final pre-activations of one input, layer by layer. */
function layers(n: MergedBnn, x: Float32Array): Float32Array[] {
  const out: Float32Array[] = [];
  let a = x;
  for (let k = 0; k < n.layers.length; k++) {
    const one: MergedBnn = { ...n, layers: [{ ...n.layers[k] }] };
    const z = forwardBnn({ ...one, layers: [{ ...n.layers[k], act: k < n.layers.length - 1 ? 'quant' : 'linear' }] }, a);
    out.push(z);
    a = z;
  }
  return out;
}

test('merges on random layers: signed is exact before sign activations, arithmetic exact before re-quantization, SBN exact with one scale', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1e6 }), fc.constantFrom(1, 2, 3), (seed, wb) => {
      const m = randomNet(seed, [16, 12, 8, 10], wb, 1);
      const rng = new Rng(seed + 1);
      const x = Float32Array.from({ length: 16 }, () => (rng.uniform() < 0.5 ? 1 : 0));
      const ref = layers(mergeBn(m, 'none'), x);
      const signed = layers(mergeBn(m, 'signed'), x);
      // Every hidden layer's binary activations are the same (the sign of z is kept exactly).
      for (let k = 0; k < ref.length - 1; k++) assert.deepEqual(Array.from(signed[k]), Array.from(ref[k]), `signed merge, layer ${k}`);
      // The last layer's outputs are z / |gamma / sigma|: same signs.
      ref[ref.length - 1].forEach((z, j) => assert.equal(Math.sign(signed[ref.length - 1][j]) || 1, Math.sign(z) || 1));
      // Arithmetic without re-quantization: z itself (eqs. 4-5), to rounding.
      const ar = layers(mergeBn(m, 'arithmetic', { requantize: false }), x);
      ar.forEach((l, k) => l.forEach((v, j) => assert.ok(Math.abs(v - ref[k][j]) < 1e-3 * (1 + Math.abs(ref[k][j])), `arithmetic layer ${k} unit ${j}: ${v} vs ${ref[k][j]}`)));
      // Re-quantized, the weights are back on the grid.
      const g = weightGrid(wb);
      for (const l of mergeBn(m, 'arithmetic').layers) for (const w of l.W) assert.ok(Number.isInteger(w) && w >= g.min && w <= g.max);
      // SBN equals batch norm when every channel has the same scale.
      const eq = randomNet(seed, [16, 12, 8, 10], wb, 1, true);
      const refEq = layers(mergeBn(eq, 'none'), x);
      layers(mergeBn(eq, 'sbn'), x).forEach((l, k) => l.forEach((v, j) => assert.ok(Math.abs(v - refEq[k][j]) < 1e-4 * (1 + Math.abs(v)))));
    }),
    { numRuns: 60 },
  );
});

test('the merged net as a crossbar net: bias row 0, scale and shift after, comparator between layers, cropped input', () => {
  const m = randomNet(3, [16, 8, 10], 1, 1);
  const net = bnnCrossbarNet(mergeBn(m, 'signed'));
  assert.deepEqual(net.input, { crop: 4 });
  assert.deepEqual(net.inputShape, [16]);
  const ops = net.ops as import('../src/inference/crossbar-net.js').WeightOp[];
  assert.equal(ops[0].act, 'step');
  assert.equal(ops[1].act, 'linear');
  assert.ok(ops.every((o) => o.W.subarray(o.fanIn * o.units).every((v) => v === 0) && o.post));
  assert.equal(bnnCrossbarNet(mergeBn(randomNet(3, [16, 8, 10], 1, 3), 'none')).ops[0].op === 'dense' && (bnnCrossbarNet(mergeBn(randomNet(3, [16, 8, 10], 1, 3), 'none')).ops[0] as { act: string }).act, 'quant:3');
});

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
test('rram train bnn, infer and program-net with --bn-merge on the emulated board', { timeout: 600000 }, () => {
  const cwd = mkdtempSync(join(tmpdir(), 'bnn-'));
  const rram = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', cwd, maxBuffer: 1 << 26 });
  const tr = rram('train', '--arch', 'bnn:144-64-10', '--crop', '12', '--dataset', 'mnist', '--epochs', '2', '--out', 'bnn', '--json');
  assert.equal(tr.status, 0, tr.stderr);
  const rep = JSON.parse(tr.stdout);
  assert.equal(rep.synapseBits, 144 * 64 + 64 * 10);
  assert.ok(rep.testAccuracy > 0.75, `2 epochs of bnn:144-64-10: ${rep.testAccuracy}`);
  const bad: [string[], RegExp][] = [
    [['train', '--arch', 'bnn:144-64-10', '--weight-bits', '5', '--dataset', 'mnist', '--out', 'x'], /weight-bits=5/],
    [['train', '--arch', 'dense:8', '--crop', '20', '--dataset', 'mnist', '--out', 'x'], /--crop=20.*bnn: architectures only/],
    [['infer', '--model', 'bnn', '--dataset', 'mnist', '--device', 'ideal', '--bn-merge', 'magic'], /--bn-merge="magic"/],
  ];
  for (const [args, re] of bad) {
    const x = rram(...args);
    assert.equal(x.status, 2, `${args.join(' ')}: ${x.stderr}`);
    assert.match(x.stderr, re);
  }
  // The Monte Carlo of the merged net on two levels: one device per weight, HRS for -1, LRS for +1,
  // against a reference current (I_HRS + I_LRS) / 2 per row (the paper's Fig. 2: the signed mapping).
  const inf = rram('infer', '--model', 'bnn', '--dataset', 'mnist', '--levels', '2', '--mapping', 'signed', '--device', 'gaussian:3%', '--trials', '10', '--images', '1000', '--bn-merge', 'signed', '--json');
  assert.equal(inf.status, 0, inf.stderr);
  const ir = JSON.parse(inf.stdout);
  assert.equal(ir.bnMerge.method, 'signed');
  assert.ok(Math.abs(ir.bnMerge.accuracyAfter - ir.bnMerge.accuracyBefore) < 0.02, JSON.stringify(ir.bnMerge));
  assert.ok(Math.abs(ir.quantizedAccuracy - ir.bnMerge.accuracyAfter) < 0.01, `noise-free crossbar ${ir.quantizedAccuracy} vs digital merged ${ir.bnMerge.accuracyAfter}`);
  // Onto the emulated board: 2 levels measured, programmed, read back.
  assert.equal(rram('characterize', '--levels', '2', '--cells-per-level', '64', '--algo', 'igvva-predict', '--out', 'cdf.json').status, 0);
  const pn = rram('program-net', '--model', 'bnn', '--device', 'cdf.json', '--levels', '2', '--mapping', 'signed', '--algo', 'igvva-predict', '--images', '500', '--trials', '20', '--bn-merge', 'signed', '--json', '--out', 'pn');
  assert.equal(pn.status, 0, pn.stderr);
  const r = JSON.parse(pn.stdout);
  assert.equal(r.bnMerge.method, 'signed');
  assert.ok(r.readbackAccuracy > r.bnMerge.accuracyAfter - 0.1, `read-back ${r.readbackAccuracy} vs digital ${r.bnMerge.accuracyAfter}`);
  assert.equal(r.programming.cells, (144 + 1) * 64 + (64 + 1) * 10, 'one device per weight, and the bias row (programmed, driven with 0: the bias is digital)');
  const stored = JSON.parse(readFileSync(join(cwd, 'pn', 'result.json'), 'utf8'));
  assert.equal(stored.bnMerge.method, 'signed');
});

test('rram study bnn end to end on nets already in its folder: rows beside the paper, study.json and study.md, nothing retrained', () => {
  // Table 1's five nets, as a finished earlier run would have left them (random weights: the
  // command's plumbing is under test, not the accuracy, which tests above and docs/studies.md cover).
  const out = mkdtempSync(join(tmpdir(), 'study-'));
  for (const crop of [28, 24, 20, 16, 12]) {
    const m = randomNet(crop, [crop * crop, 128, 128, 10], 1, 1);
    const dir = join(out, 'nets', `bnn-${crop * crop}-128-128-10_c${crop}_w1_a1`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'bnn.json'), JSON.stringify(m));
  }
  const r = spawnSync(process.execPath, [join(repoRoot(), 'dist', 'src', 'cli', 'main.js'), 'study', 'bnn', '--tables', '1', '--out', out, '--json'], { encoding: 'utf8', timeout: 300000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal((r.stderr.match(/kept from an earlier run/g) ?? []).length, 5, 'every net loaded, none trained');
  const rows = JSON.parse(r.stdout) as { table: number; row: string; column: string; ours: number; paper: number; synapseBits: number; epochs?: number }[];
  assert.deepEqual(rows.map((x) => [x.table, x.row, x.paper, x.synapseBits]), [
    [1, '28x28', 96.08, 118016],
    [1, '24x24', 96.16, 91392],
    [1, '20x20', 96.23, 68864],
    [1, '16x16', 95.46, 50432],
    [1, '12x12', 90.38, 36096],
  ]);
  // Each row's `ours` is that net's accuracy on the MNIST test set, computed here independently.
  const test10k = loadDataset('mnist').test;
  for (const [k, crop] of [28, 24, 20, 16, 12].entries()) {
    const m = loadBnn(join(out, 'nets', `bnn-${crop * crop}-128-128-10_c${crop}_w1_a1`));
    const want = 100 * mergedAccuracy(mergeBn(m, 'none'), test10k);
    assert.ok(Math.abs(rows[k].ours - want) <= 0.005, `${crop}x${crop}: study says ${rows[k].ours}, the net scores ${want.toFixed(3)}`);
  }
  const saved = JSON.parse(readFileSync(join(out, 'study.json'), 'utf8'));
  assert.equal(saved.format, 'rram-hil/study-bnn');
  assert.deepEqual(saved.rows, rows);
  const md = readFileSync(join(out, 'study.md'), 'utf8');
  assert.match(md, /### Table 1: input crop/);
  assert.match(md, /nets trained unknown epochs with Adam, seed unknown/, 'nets without a report: their training is not claimed');
  assert.ok(rows.every((x) => x.epochs === undefined));
  assert.match(md, new RegExp(`\\| 20x20 \\| ${rows[2].ours.toFixed(2)} / 96\\.23 \\| 68864 \\|`));
  const bad = spawnSync(process.execPath, [join(repoRoot(), 'dist', 'src', 'cli', 'main.js'), 'study', 'bnn', '--tables', '6', '--out', out], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--tables="6"/);
});
