/**
 * Issue 27: a fine-tuning run's stored stages (runs/<id>/fine-tune/layer-N.json) are what a resume
 * programs the remaining layers with, so a stage is read back exactly as written or refused naming
 * the file: every weight bit for bit (property over random nets), and no byte of it altered,
 * truncated, mis-encoded, non-finite or half a digital scale/shift pair accepted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { CrossbarNet, WeightOp } from '../src/inference/crossbar-net.js';
import type { FineTuneLayerReport } from '../src/inference/fine-tune.js';
import { loadStage, saveStage, stageFile } from '../src/procedures/fine-tune-stages.js';

const f32 = fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });

/** A dense chain of 1..3 layers with random sizes and weights, some with a digital scale and shift. */
const arbNet: fc.Arbitrary<CrossbarNet> = fc
  .array(fc.record({ fanIn: fc.integer({ min: 1, max: 6 }), units: fc.integer({ min: 1, max: 5 }), post: fc.boolean(), seed: fc.integer() }), { minLength: 1, maxLength: 3 })
  .chain((ls) =>
    fc.tuple(...ls.map((l) => fc.tuple(fc.array(f32, { minLength: (l.fanIn + 1) * l.units, maxLength: (l.fanIn + 1) * l.units }), fc.array(f32, { minLength: 2 * l.units, maxLength: 2 * l.units })))).map((ws) => ({
      inputShape: [ls[0].fanIn],
      ops: ls.map((l, k): WeightOp => ({
        op: 'dense',
        name: `dense_${k}`,
        fanIn: l.fanIn,
        units: l.units,
        W: Float32Array.from(ws[k][0]),
        act: 'relu',
        ...(l.post ? { post: { scale: Float32Array.from(ws[k][1].slice(0, l.units)), shift: Float32Array.from(ws[k][1].slice(l.units)) } } : {}),
      })),
    })),
  );

/** The same net with every weight zeroed (what a stage is applied to: the model file's net). */
const zeroed = (net: CrossbarNet): CrossbarNet => ({ ...net, ops: net.ops.map((o) => (o.op === 'dense' ? { ...o, W: new Float32Array(o.W.length), post: undefined } : o)) });
const report = { layer: 0 } as unknown as FineTuneLayerReport;

test('a stored stage reads back bit for bit: every layer from the stage on, the digital scale and shift with them (property)', () => {
  fc.assert(
    fc.property(arbNet, fc.nat(), (net, at) => {
      const dir = mkdtempSync(join(tmpdir(), 'stage-'));
      const layer = at % net.ops.length;
      saveStage(dir, { layer, net, report });
      const got = loadStage(dir, layer, zeroed(net))!;
      net.ops.forEach((o, k) => {
        const g = got.net.ops[k] as WeightOp;
        const w = o as WeightOp;
        if (k < layer) return assert.ok(g.W.every((v) => v === 0), 'a layer before the stage keeps the net\'s own weights');
        assert.deepEqual(Array.from(g.W), Array.from(w.W));
        assert.deepEqual(g.post && [Array.from(g.post.scale), Array.from(g.post.shift)], w.post && [Array.from(w.post.scale), Array.from(w.post.shift)]);
      });
    }),
    { numRuns: 60 },
  );
});

test('a stage file altered after it was written is refused naming the file: a changed weight, bad base64, a cut float, NaN, half a scale/shift pair (property)', () => {
  const net: CrossbarNet = { inputShape: [3], ops: [{ op: 'dense', name: 'd0', fanIn: 3, units: 2, W: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), act: 'relu', post: { scale: Float32Array.from([1, 1]), shift: Float32Array.from([0, 0]) } }] };
  const dir = mkdtempSync(join(tmpdir(), 'stage-bad-'));
  saveStage(dir, { layer: 0, net, report });
  const f = stageFile(dir, 0);
  const good = JSON.parse(readFileSync(f, 'utf8'));
  const w0 = good.weights[0];
  const nan = Buffer.from(Float32Array.from([NaN, 1, 2, 3, 4, 5, 6, 7]).buffer).toString('base64');
  const cases: [string, (d: typeof good) => void, RegExp][] = [
    ['a character outside base64', (d) => (d.weights[0].W = '*' + w0.W.slice(1)), /\.W = .*: must be base64/],
    ['a length that is not whole float32 values', (d) => (d.weights[0].W = Buffer.from(Buffer.from(w0.W, 'base64').subarray(0, 30)).toString('base64')), /\.W = .*: must be float32 values/],
    ['a NaN weight (digest made again)', (d) => (d.weights[0].W = nan), /\.W = .*: must hold finite values only/],
    ['a scale without its shift', (d) => delete d.weights[0].shift, /\.scale.*: a digital scale needs its shift/],
    ['a shift without its scale', (d) => delete d.weights[0].scale, /\.scale.*: a digital scale needs its shift/],
    ['no digest (weights edited, the digest dropped)', (d) => delete d.digest, /digest = missing: a stage without its weights' digest is not trusted/],
  ];
  for (const [what, change, msg] of cases) {
    const d = structuredClone(good);
    change(d);
    writeFileSync(f, JSON.stringify(d));
    assert.throws(() => loadStage(dir, 0, net), (e: Error) => e.message.includes(f) && msg.test(e.message), what);
  }
  // Any one weight changed to any other finite value, the file otherwise valid: refused by its digest.
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 7 }), f32, (k, v) => {
      const W = new Float32Array(net.ops[0].op === 'dense' ? (net.ops[0] as WeightOp).W : []);
      fc.pre(!Object.is(W[k], Math.fround(v)));
      W[k] = v;
      const d = structuredClone(good);
      d.weights[0].W = Buffer.from(W.buffer).toString('base64');
      writeFileSync(f, JSON.stringify(d));
      assert.throws(() => loadStage(dir, 0, net), /do not match their digest: the stage was altered/);
    }),
    { numRuns: 50 },
  );
  // The file as written loads.
  writeFileSync(f, JSON.stringify(good));
  assert.ok(loadStage(dir, 0, net));
});
