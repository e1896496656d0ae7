/** CIFAR-10 from the standard binary batches: a small set in that exact format, generated here, trained on and evaluated end to end. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';
import { CIFAR_RECORD, parseCifarBatch } from '../src/inference/cifar10-binary.js';
import { loadDataset } from '../src/inference/datasets.js';
import { nativeCnnAvailable } from '../src/inference/cnn-kernel.js';
import { Rng } from '../lib/rng.js';
import { smallTraining } from './helpers/small-training.js';

// The MNIST net trained below only has to be a 784-input net to be refused on CIFAR-10: on the first
// 12000 training images (tests/helpers/small-training.ts; the CIFAR-10 set made here has 1000).
smallTraining();

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
// rram infer stores its runs: in a scratch store, never in the working folder.
const rram = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', env: { ...process.env, RRAM_STORE: mkdtempSync(join(tmpdir(), 'infer-store-')) } });

/** Records whose class sets the image's colour (plus noise): learnable, so accuracy says the pixels arrived in order. */
function batch(n: number, rng: Rng): Buffer {
  const b = Buffer.alloc(n * CIFAR_RECORD);
  for (let i = 0; i < n; i++) {
    const label = i % 10;
    const at = i * CIFAR_RECORD;
    b[at] = label;
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < 1024; p++) {
        // Red rises with the class, blue falls, green is noise; the top half of the image is brighter for odd classes.
        const base = c === 0 ? 20 + label * 22 : c === 2 ? 230 - label * 22 : 128;
        const v = base + (label % 2 && p < 512 ? 20 : 0) + Math.round((rng.uniform() - 0.5) * 40);
        b[at + 1 + c * 1024 + p] = Math.max(0, Math.min(255, v));
      }
  }
  return b;
}

function makeSet(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cifar-'));
  const rng = new Rng(5);
  for (let k = 1; k <= 5; k++) writeFileSync(join(dir, `data_batch_${k}.bin`), batch(200, rng));
  writeFileSync(join(dir, 'test_batch.bin'), batch(300, rng));
  return dir;
}

test('CIFAR-10 binary batches: planes become channels-last pixels; bad files are refused by path', () => {
  const rec = Buffer.alloc(CIFAR_RECORD);
  rec[0] = 7;
  rec[1] = 255; // red of pixel 0
  rec[1 + 1024 + 1] = 51; // green of pixel 1
  rec[1 + 2048 + 1023] = 102; // blue of the last pixel
  const { images, labels, n } = parseCifarBatch(rec, 'x.bin');
  assert.equal(n, 1);
  assert.equal(labels[0], 7);
  assert.equal(images[0], 1);
  assert.equal(images[1 * 3 + 1], Math.fround(0.2));
  assert.equal(images[1023 * 3 + 2], Math.fround(0.4));
  assert.throws(() => parseCifarBatch(rec.subarray(0, 3000), 'short.bin'), /short.bin.*whole number/);
  const bad = Buffer.from(rec);
  bad[0] = 12;
  assert.throws(() => parseCifarBatch(bad, 'b.bin'), /b.bin.*label 12/);
  const dir = makeSet();
  const ds = loadDataset('cifar10', dir);
  assert.equal(ds.train.n, 1000);
  assert.equal(ds.test.n, 300);
  assert.deepEqual([ds.test.rows, ds.test.cols, ds.test.channels], [32, 32, 3]);
  assert.match(rram('infer', '--model', dir, '--dataset', 'cifar10', '--device', 'ideal').stderr, /--data DIR/);
  assert.match(rram('infer', '--model', dir, '--dataset', 'cifar10', '--data', join(dir, 'nope'), '--device', 'ideal').stderr, /nope.*does not exist/);
});

test('CIFAR-10: a dense net and a CNN train on 32x32x3 images and run the Monte Carlo; an MNIST net is refused on them', () => {
  const dir = makeSet();
  const out = mkdtempSync(join(tmpdir(), 'cifar-net-'));
  const dense = rram('train', '--arch', 'dense:16', '--dataset', 'cifar10', '--data', dir, '--epochs', '4', '--lr', '0.01', '--out', join(out, 'd'), '--json');
  assert.equal(dense.status, 0, dense.stderr);
  const rep = JSON.parse(dense.stdout);
  assert.equal(rep.synapses, 3072 * 16 + 16 + 16 * 10 + 10);
  assert.ok(rep.testAccuracy > 0.5, `dense on the colour-coded set: ${rep.testAccuracy}`);
  const inf = rram('infer', '--model', join(out, 'd'), '--dataset', 'cifar10', '--data', dir, '--device', 'gaussian:5%', '--levels', '16', '--trials', '8', '--json');
  assert.equal(inf.status, 0, inf.stderr);
  const r = JSON.parse(inf.stdout);
  assert.equal(r.images, 300);
  assert.ok(r.summary.mean > 0.4, `Monte Carlo on CIFAR-10: ${r.summary.mean}`);
  const cnn = rram('train', '--arch', 'cnn:1x4/p4/h8', '--dataset', 'cifar10', '--data', dir, '--epochs', '3', '--lr', '0.01', '--out', join(out, 'c'), '--json');
  assert.equal(cnn.status, 0, cnn.stderr);
  assert.equal(JSON.parse(cnn.stdout).synapses, 9 * 3 * 4 + 4 + 7 * 7 * 4 * 8 + 8 + 8 * 10 + 10);
  const ci = rram('infer', '--model', join(out, 'c'), '--dataset', 'cifar10', '--data', dir, '--device', 'ideal', '--levels', '8', '--trials', '1', '--json');
  assert.equal(ci.status, 0, ci.stderr);
  // 3 input channels run on the native conv kernel wherever it is built (CI builds it), else on tfjs.
  assert.match(JSON.parse(ci.stdout).engine, nativeCnnAvailable() ? /^native-cnn-/ : /^tfjs-/);
  // A 784-input net cannot read 32x32x3 images.
  const mn = rram('train', '--arch', 'dense:4', '--dataset', 'mnist', '--epochs', '1', '--out', join(out, 'm'), '--json');
  assert.equal(mn.status, 0, mn.stderr);
  assert.match(rram('infer', '--model', join(out, 'm'), '--dataset', 'cifar10', '--data', dir, '--device', 'ideal').stderr, /takes 784 inputs; cifar10 images are 32x32x3/);
  assert.match(rram('train', '--arch', 'bnn:400-16-10', '--dataset', 'cifar10', '--data', dir, '--out', join(out, 'b')).stderr, /28x28 grey/);
});
