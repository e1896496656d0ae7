/** The conv-net Monte Carlo kernel: native and JavaScript give the tfjs path's predictions on every net shape it takes, and it refuses the rest. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { convChain, jsCnnKernel, loadCnnKernel } from '../src/inference/cnn-kernel.js';
import { toCrossbarNet, weightOps } from '../src/inference/crossbar-net.js';
import { loadDataset } from '../src/inference/datasets.js';
import { buildDeviceModel, parseDeviceSpec } from '../src/inference/device-models.js';
import { predictAll } from '../src/inference/forward-tf.js';
import { monteCarlo } from '../src/inference/monte-carlo.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { Rng } from '../lib/rng.js';

test('conv kernel: native and JavaScript predict what tfjs predicts, for filters 5/8/16/32, pools 1-5, 1 and 3 channels', async () => {
  await initTf();
  const native = loadCnnKernel('auto');
  if (process.env.CI === 'true') assert.match(native.name, /^native-cnn-/, 'CI machines have a C compiler: the native conv kernel must be built');
  const rng = new Rng(3);
  for (const [arch, side, ch] of [
    ['cnn:2x8/p2/h16', 28, 1],
    ['cnn:1x16/p4/h8', 28, 1],
    ['cnn:2x16/p3/h32', 28, 1],
    ['cnn:1x32/p5/h8', 28, 1],
    ['cnn:1x5/p1/h12', 12, 1],
    ['cnn:2x8/p2/h16', 32, 3],
  ] as [string, number, number][]) {
    const net = toCrossbarNet(buildModel(tf, parseArch(arch), 7, { side, channels: ch }));
    const chain = convChain(net);
    assert.ok(chain, `${arch} runs on the conv kernel`);
    const n = 300;
    // MNIST digits where the net takes them; else images with zeros and a brightness and density of their own.
    const px = side * side * ch;
    const images =
      side === 28 && ch === 1
        ? loadDataset('mnist', undefined, true).test.images.slice(0, n * px)
        : Float32Array.from({ length: n * px }, (_, k) => {
            const r = new Rng(Math.floor(k / px) + 1);
            const density = r.uniform();
            const bright = r.uniform();
            return rng.uniform() < density ? 0 : bright * rng.uniform();
          });
    const ops = weightOps(net);
    // He-scaled random weights, zero biases: outputs that differ from image to image.
    const stages = chain.stages.map((s, i) => ({ ...s, w: Float32Array.from(ops[i].W, (_, k) => (k < ops[i].fanIn * ops[i].units ? rng.normal() * Math.sqrt(2 / ops[i].fanIn) : 0)) }));
    const want = predictAll(tf, net, ops.map((o) => ({ scheme: 'diff' as const, cols: o.units, alpha: 1 })), stages.map((s) => ({ eff: s.w })), images, n);
    assert.ok(new Set(want).size >= 3, `${arch}: the random net must tell images apart (classes ${[...new Set(want)]})`);
    for (const k of [native, jsCnnKernel]) {
      const out = new Uint8Array(n);
      k.forwardCnn(images, n, side, side, ch, stages, out);
      const agree = out.reduce((c, v, i) => c + (v === want[i] ? 1 : 0), 0);
      assert.ok(agree >= n - 1, `${arch} ${side}x${side}x${ch} on ${k.name}: ${agree}/${n} agree with tfjs`);
    }
  }
  assert.throws(() => native.forwardCnn(new Float32Array(10), 1, 28, 28, 1, [], new Uint8Array(1)), /images must hold|stages must/);
});

test('conv kernel: the nets it does not take stay on the tfjs path; Monte Carlo results do not depend on the path', async () => {
  const backend = await initTf();
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
  assert.equal(convChain(toCrossbarNet(m)), undefined, 'same padding');
  const m2 = tf.sequential();
  m2.add(tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'tanh', inputShape: [28, 28, 1] }));
  m2.add(tf.layers.flatten());
  m2.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
  assert.equal(convChain(toCrossbarNet(m2)), undefined, 'tanh conv');
  assert.equal(convChain(toCrossbarNet(buildModel(tf, parseArch('dense:16'), 1))), undefined, 'dense nets have their own kernel');
  const ds = loadDataset('mnist', undefined, true);
  const net = toCrossbarNet(buildModel(tf, parseArch('cnn:2x8/p2/h16'), 2));
  const device = buildDeviceModel(parseDeviceSpec('gaussian:10%'), 4, { shared: false, stuckHrs: 0.01, stuckLrs: 0, readNoise_A: 0, vread_V: 0.2 });
  const o = { scheme: 'diff' as const, device, trials: 6, seed: 4, images: 500 };
  const k = await monteCarlo(tf, backend, net, ds.test, { ...o, engine: 'auto', workers: 2 });
  const one = await monteCarlo(tf, backend, net, ds.test, { ...o, engine: 'auto', workers: 1 });
  const t = await monteCarlo(tf, backend, net, ds.test, { ...o, engine: 'tfjs' });
  assert.match(k.engine, /cnn/);
  assert.match(t.engine, /^tfjs-/);
  assert.deepEqual(k.accuracies, one.accuracies, 'worker count does not change results');
  k.accuracies.forEach((a, i) => assert.ok(Math.abs(a - t.accuracies[i]) <= 0.004, `trial ${i}: kernel ${a} vs tfjs ${t.accuracies[i]}`));
  // With an ADC the tfjs path runs (the kernel has no ADC).
  const adc = await monteCarlo(tf, backend, net, ds.test, { ...o, trials: 1, adcBits: 6, engine: 'auto' });
  assert.match(adc.engine, /^tfjs-/);
});
