/**
 * The conv filter gradient registered for the wasm backend (tf-backend.ts: tfjs-backend-wasm has
 * none): on every shape, stride and padding a conv net trains with, it equals the cpu backend's
 * own kernel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type * as TF from '@tensorflow/tfjs';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { Rng } from '../lib/rng.js';

type Pad = 'valid' | 'same';
interface Case { n: number; h: number; w: number; ci: number; co: number; fh: number; fw: number; sh: number; sw: number; pad: Pad; seed: number }

/** d(sum(conv2d(x, f) * dy))/df on the current backend. */
function filterGrad(c: Case, x: Float32Array, f: Float32Array): { grad: Float32Array; shape: number[] } {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, [c.n, c.h, c.w, c.ci]);
    const probe = tf.conv2d(xt, tf.tensor4d(f, [c.fh, c.fw, c.ci, c.co]), [c.sh, c.sw], c.pad);
    const dy = tf.tensor(Float32Array.from({ length: probe.size }, (_, i) => Math.sin(1.7 * i + c.seed)), probe.shape);
    const g = tf.grad((ft: TF.Tensor) => tf.sum(tf.mul(tf.conv2d(xt, ft as TF.Tensor4D, [c.sh, c.sw], c.pad), dy)))(tf.tensor4d(f, [c.fh, c.fw, c.ci, c.co]));
    return { grad: g.dataSync() as Float32Array, shape: g.shape };
  });
}

test('wasm conv filter gradient equals the cpu backend\'s for every shape, stride and padding', async () => {
  assert.equal(await initTf(), 'wasm', 'the tests run on the default backend, wasm');
  assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'), 'the kernel is registered');
  const cases = fc.record({
    n: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 3, max: 11 }),
    w: fc.integer({ min: 3, max: 11 }),
    ci: fc.integer({ min: 1, max: 4 }),
    co: fc.integer({ min: 1, max: 4 }),
    fh: fc.integer({ min: 1, max: 3 }),
    fw: fc.integer({ min: 1, max: 3 }),
    sh: fc.integer({ min: 1, max: 3 }),
    sw: fc.integer({ min: 1, max: 3 }),
    pad: fc.constantFrom<Pad>('valid', 'same'),
    seed: fc.integer({ min: 0, max: 1e6 }),
  });
  try {
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        const rng = new Rng(c.seed);
        const x = Float32Array.from({ length: c.n * c.h * c.w * c.ci }, () => rng.normal());
        const f = Float32Array.from({ length: c.fh * c.fw * c.ci * c.co }, () => rng.normal());
        await tf.setBackend('wasm');
        const got = filterGrad(c, x, f);
        await tf.setBackend('cpu');
        const want = filterGrad(c, x, f);
        assert.deepEqual(got.shape, want.shape);
        for (let i = 0; i < want.grad.length; i++) assert.ok(Math.abs(got.grad[i] - want.grad[i]) <= 1e-4 * (1 + Math.abs(want.grad[i])), `element ${i}: ${got.grad[i]} against ${want.grad[i]}`);
      }),
      { numRuns: 150, seed: 20261204 },
    );
  } finally {
    await tf.setBackend('wasm');
  }
});

test('wasm conv filter gradient refuses the layout and paddings it does not implement', async () => {
  await initTf();
  const k = tf.getKernel('Conv2DBackpropFilter', 'wasm')!;
  assert.throws(
    () => k.kernelFunc({ inputs: { x: tf.zeros([1, 4, 4, 2]), dy: tf.zeros([1, 5, 5, 2]) }, attrs: { strides: 1, pad: 1, filterShape: [2, 2, 2, 2] }, backend: tf.backend() }),
    /padding 1 is not supported/,
  );
  assert.throws(
    () => k.kernelFunc({ inputs: { x: tf.zeros([1, 4, 4, 2]), dy: tf.zeros([1, 3, 3, 2]) }, attrs: { strides: 1, pad: 'valid', dataFormat: 'NCHW', filterShape: [2, 2, 2, 2] }, backend: tf.backend() }),
    /data format NCHW is not supported/,
  );
});
