/**
 * Issues 27 and 28: a fine-tuned net kept on the board (`program-net --fine-tune progressive
 * --keep`) is the net `infer --on-board` evaluates: its stored weights and re-fitted scale and bias
 * give, from the stored read-back, exactly the accuracy program-net printed, and through the MVM
 * exactly the on-board accuracy it printed (a quiet board: no read noise, so MVMs repeat); altered
 * weights are refused or show. The final re-fit after the last crossbar is made on the last
 * layer's outputs measured through the board's MVM: on a board with wire resistance (MVM and
 * read-back differ) its scale and bias fit the MVM outputs better than a re-fit on the read-back
 * product does, and the read-back re-fit fits the read-back product better (each minimises its own).
 */
import { test } from 'node:test';
import fc from 'fast-check';
import { buildModel } from '../src/inference/arch-spec.js';
import { toCrossbarNet } from '../src/inference/crossbar-net.js';
import { nominalLevels } from '../src/inference/device-models.js';
import { mapNet, SCHEMES } from '../src/inference/mapping.js';
import { placeTiles } from '../src/inference/placement.js';
import { tileNet } from '../src/inference/tiling.js';
import { keptNet } from '../src/procedures/net-on-arrays.js';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { parseArch } from '../src/inference/arch-spec.js';
import { weightOps, type CrossbarNet } from '../src/inference/crossbar-net.js';
import { loadDataset, type Split } from '../src/inference/datasets.js';
import { bareLayer, measuredLayerOutput, refitDigital } from '../src/inference/fine-tune.js';
import { loadNet } from '../src/inference/load-net.js';
import { ARRAY_SIDE, type MappedLayer } from '../src/inference/mapping.js';
import { layerOnBoard, predictOnBoard } from '../src/inference/on-board-forward.js';
import { valuesFromTiles } from '../src/inference/tiling.js';
import { train } from '../src/inference/train.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import type { LoopData } from '../src/inference/train-loop.js';
import { applyWeights, encodeWeights } from '../src/procedures/fine-tune-stages.js';
import type { KeptNet } from '../src/procedures/infer-on-board.js';
import { sampleImages } from '../src/procedures/program-net-progressive.js';
import { netDigest } from '../src/procedures/net-on-arrays.js';
import { quietCalibration } from './helpers/quiet-calibration.js';
import type { Calibration } from '../calibration/calibration.js';
import { MAIN } from './helpers/station.js';
import { exactMvm } from './helpers/exact-mvm.js';

const head = (s: Split, k: number): Split => ({ ...s, n: k, images: s.images.subarray(0, k * s.rows * s.cols * s.channels), labels: s.labels.subarray(0, k) });

/** Mean softmax cross-entropy of z = a y + b over the items (the re-fit's loss). */
function crossEntropy(y: LoopData, post: { scale: Float32Array; shift: Float32Array }): number {
  const u = post.scale.length;
  let loss = 0;
  for (let k = 0; k < y.n; k++) {
    const z = Array.from({ length: u }, (_, j) => post.scale[j] * y.x[k * u + j] + post.shift[j]);
    const m = Math.max(...z);
    const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
    loss += lse - z[y.labels[k]];
  }
  return loss / y.n;
}

test('on-board forward pass of layers with a digital scale and shift (a re-fitted net): the bias row is driven at 0, the shift replaces it, as the read-back evaluation computes', async () => {
  await initTf();
  const x = loadDataset('mnist').test.images.subarray(0, 6 * 784);
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 1000 }), fc.constantFrom(...SCHEMES), async (seed, scheme) => {
      const model = buildModel(tf, parseArch('dense:6'), seed);
      for (const l of model.layers) {
        const [k, b] = l.getWeights();
        l.setWeights([k, tf.randomUniform(b.shape, -0.5, 0.5, 'float32', seed)]);
      }
      const base = toCrossbarNet(model);
      const rng = (k: number) => Float32Array.from({ length: k }, (_, i) => Math.sin(seed * 7.1 + i * 3.3));
      const net: CrossbarNet = { ...base, ops: base.ops.map((op) => (op.op === 'dense' ? { ...op, post: { scale: rng(op.units).map((v) => 1 + 0.5 * v), shift: rng(op.units).map((v) => 0.3 * v) } } : op)) };
      const levels = nominalLevels(5);
      const mapped = mapNet(weightOps(net), levels, scheme);
      const tiles = tileNet(mapped, placeTiles(mapped, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]).tiles);
      const mvm = exactMvm(tiles, levels, 14);
      const kept = keptNet(mapped, tiles);
      const got = await predictOnBoard(net, kept.layers, kept.tiles, mvm, x, 6, { vIn_V: 0.2, dacStep_V: 1e-6, vread_V: 0.2 });
      // By hand: y = (x . W_quantized without its bias row) * scale + shift, relu then softmax.
      let h: number[][] = Array.from({ length: 6 }, (_, k) => Array.from(x.subarray(k * 784, (k + 1) * 784)));
      weightOps(net).forEach((op, li) => {
        const q = mapped[li].quantized;
        h = h.map((v) => {
          const y = Array.from({ length: op.units }, (_, c) => v.reduce((s, xi, i) => s + xi * q[i * op.units + c], 0) * op.post!.scale[c] + op.post!.shift[c]);
          if (op.act === 'relu') return y.map((z) => Math.max(0, z));
          const m = Math.max(...y);
          const e = y.map((z) => Math.exp(z - m));
          return e.map((z) => z / e.reduce((a, b) => a + b, 0));
        });
      });
      h.flat().forEach((want, i) => assert.ok(Math.abs(got.outputs[i] - want) <= 2e-5, `${scheme} output ${i}: ${got.outputs[i]} vs ${want}`));
    }),
    { numRuns: 8 },
  );
});

const WIRE_OHM = 10;
const SEED = 3;

/** The trained net and the quiet calibration with wires, made once for the file's tests. */
let ready: Promise<{ cwd: string; cal: Calibration; all: ReturnType<typeof loadDataset> }> | undefined;
function setup() {
  ready ??= (async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'ftkeep-'));
    const backend = await initTf();
    const all = loadDataset('mnist', undefined, false);
    // Dense layers only (a conv layer's every output position is an MVM vector, each a solve of the
    // resistive array: minutes); 785 x 4 cells in 13 tiles, then 3 x 32 and a last layer of 17 crossbar
    // rows (16 -> 10), long enough lines for 10 ohm segments to move its MVM outputs.
    await train(tf, backend, { ...all, train: head(all.train, 3000), test: head(all.test, 500) }, { arch: parseArch('dense:2,16'), epochs: 1, seed: 5, learningRate: 0.03, momentum: 0.9, batchSize: 32, out: join(cwd, 'net') });
    const cal = quietCalibration();
    cal.params.wire_resistance_ohm = { ...(cal.params.wire_resistance_ohm ?? { unit: 'ohm', source: 'test' }), value: WIRE_OHM };
    writeFileSync(join(cwd, 'cal.json'), JSON.stringify(cal));
    return { cwd, cal, all };
  })();
  return ready;
}

const FT = (store: string) => ['program-net', '--model', 'net', '--calibration', 'cal.json', '--store', store, '--arrays', '15', '--seed', String(SEED), '--device', 'gaussian:5%', '--levels', '4', '--images', '200', '--trials', '4', '--fine-tune', 'progressive', '--fine-tune-images', '100', '--fine-tune-epochs', '1', '--fine-tune-trials', '2', '--baseline', 'none', '--reads', '1', '--keep', '--json'];
const inferArgs = (store: string, runId: string) => ['infer', '--model', 'net', '--dataset', 'mnist', '--on-board', `run:${runId}`, '--store', store, '--calibration', 'cal.json', '--board-arrays', '15', '--board-seed', String(SEED), '--images', '200'];

test('program-net --fine-tune progressive --keep: infer --on-board evaluates the fine-tuned net (read-back and MVM accuracies equal to the run\'s); the final re-fit minimises the loss on the MVM outputs', { timeout: 420000 }, async () => {
  const { cwd, cal, all } = await setup();
  const store = join(cwd, 'store');
  const rram = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', cwd, timeout: 300000 });
  const p = rram(...FT(store), '--new-board');
  assert.equal(p.status, 0, p.stderr);
  const res = JSON.parse(p.stdout) as { runId: string; readbackAccuracy: number; images: number; onBoard: KeptNet; readback: [number, number, number, number, number, number][]; fineTune: { refit: { kept: boolean; outputs: { source: string } }; table: { onBoard: { accuracy: number; images: number } } } };
  assert.equal(res.fineTune.refit.outputs.source, 'mvm', JSON.stringify(res.fineTune.refit));
  assert.equal(res.fineTune.refit.kept, true, 'the seeded case keeps its re-fit (else nothing to compare)');
  assert.ok(res.onBoard.tuned, 'the kept result holds the fine-tuned net');
  const onBoard = (...more: string[]) => rram(...inferArgs(store, res.runId), ...more);
  const r = onBoard('--json');
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout) as { fineTuned: boolean; readbackRecomputed: number; onBoard: { accuracy: number } };
  assert.equal(o.fineTuned, true);
  assert.equal(o.readbackRecomputed, res.readbackAccuracy, 'the kept net on the stored read-back is the net program-net evaluated');
  assert.equal(o.onBoard.accuracy, res.fineTune.table.onBoard.accuracy, 'through the MVM: the accuracy program-net measured for the fine-tuned net');
  const text = onBoard();
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /from the read-back \(program-net, fine-tuned\)[\s\S]*recomputed here/);

  // Altered weights: refused by their digest; altered with a matching digest, the recomputed read-back shows it.
  const resultFile = join(store, 'runs', res.runId, 'program-net.json');
  const original = readFileSync(resultFile, 'utf8');
  const stored = JSON.parse(original) as typeof res;
  const { net: fromFile } = await loadNet(tf, join(cwd, 'net'), {});
  const tuned = applyWeights(fromFile, stored.onBoard.tuned!.weights, 0, 'test');
  const last = weightOps(tuned).length - 1;
  const flipped: CrossbarNet = { ...tuned, ops: tuned.ops.map((op) => (op === weightOps(tuned)[last] && op.post ? { ...op, post: { scale: op.post.scale.map((x) => -x), shift: op.post.shift } } : op)) };
  writeFileSync(resultFile, JSON.stringify({ ...stored, onBoard: { ...stored.onBoard, tuned: { weights: encodeWeights(flipped), digest: stored.onBoard.tuned!.digest } } }));
  const bad = onBoard('--json');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /do not match their digest/);
  writeFileSync(resultFile, JSON.stringify({ ...stored, onBoard: { ...stored.onBoard, tuned: { weights: encodeWeights(flipped), digest: netDigest(flipped) } } }));
  // Refused before the board is opened (no MVM spent on another net), saying what the recomputation gave.
  const wrong = onBoard('--json');
  assert.equal(wrong.status, 2, wrong.stderr);
  const recomputed = /recomputed from the kept net \(([0-9.]+) %\) differs from the .* program-net computed/.exec(wrong.stderr);
  assert.ok(recomputed && Number(recomputed[1]) / 100 < res.readbackAccuracy - 0.05, `a net not the one evaluated gives another read-back accuracy: ${wrong.stderr}`);
  assert.equal(wrong.stdout, '', 'nothing evaluated, nothing printed');
  writeFileSync(resultFile, original);

  // The re-fit: its scale and bias against the last layer's outputs measured again through the MVM (a quiet board repeats them).
  const board = new EmulatedBoard({ seed: SEED, arrays: 15, calibration: cal });
  board.attachState(join(store, 'boards'));
  try {
    const kept = res.onBoard;
    const mvm = board.mvm.bind(board);
    const opt = { vIn_V: 0.2, dacStep_V: board.info().dacStep_V, vread_V: kept.vread_V };
    let h = sampleImages(tuned, all.train, 100, SEED);
    for (let li = 0; li < last; li++) {
      const y = await layerOnBoard(tuned, li, kept.layers, kept.tiles, mvm, h.x, h.shape, h.n, opt);
      h = { x: Float32Array.from(y.data), shape: y.shape, labels: h.labels, n: h.n };
    }
    const yMvm = await layerOnBoard(bareLayer(tuned, last), last, kept.layers, kept.tiles, mvm, h.x, h.shape, h.n, opt);
    const Ymvm: LoopData = { x: Float32Array.from(yMvm.data), shape: yMvm.shape, labels: h.labels, n: h.n };
    const readback = kept.tiles.map(() => new Float32Array(ARRAY_SIDE * ARRAY_SIDE).fill(NaN));
    for (const [t, row, col, , i] of stored.readback) readback[t][row * ARRAY_SIDE + col] = i;
    const values = valuesFromTiles(kept.layers, kept.tiles, readback);
    const layer = kept.layers[last] as unknown as MappedLayer;
    const pre: CrossbarNet = { ...tuned, ops: tuned.ops.map((op) => (op === weightOps(tuned)[last] ? (({ post: _p, ...rest }) => rest)(op) : op)) };
    const rb = refitDigital(tf, pre, last, layer, values[last], h);
    assert.equal(rb.kept, true);
    const Yrb = measuredLayerOutput(tf, bareLayer(pre, last), last, layer, values[last], h);
    const postOf = (n: CrossbarNet) => weightOps(n)[last].post!;
    const lMvm = [crossEntropy(Ymvm, postOf(tuned)), crossEntropy(Ymvm, postOf(rb.net))];
    const lRb = [crossEntropy(Yrb, postOf(tuned)), crossEntropy(Yrb, postOf(rb.net))];
    assert.ok(lMvm[0] < lMvm[1], `on the MVM outputs: the run's re-fit ${lMvm[0]}, the read-back re-fit ${lMvm[1]}`);
    assert.ok(lRb[1] < lRb[0], `on the read-back product: the read-back re-fit ${lRb[1]}, the run's ${lRb[0]}`);
    // On the board (the test images through the MVM): the MVM re-fit against the read-back one.
    const n = res.images;
    const acc = async (net: CrossbarNet) => {
      const { classes } = await predictOnBoard(net, kept.layers, kept.tiles, mvm, all.test.images.subarray(0, n * 784), n, opt);
      return classes.reduce((c, k, i) => c + (k === all.test.labels[i] ? 1 : 0), 0) / n;
    };
    const [aMvm, aRb] = [await acc(tuned), await acc(rb.net)];
    assert.equal(aMvm, res.fineTune.table.onBoard.accuracy);
    process.stdout.write(`# ${WIRE_OHM} ohm: loss on MVM outputs ${lMvm.map((x) => x.toFixed(4)).join(' (mvm re-fit) vs ')} (read-back re-fit); on the read-back ${lRb.map((x) => x.toFixed(4)).join(' vs ')}; on-board accuracy ${aMvm} (mvm re-fit) vs ${aRb} (read-back re-fit), ${n} images\n`);
    assert.ok(aMvm >= aRb, `on-board accuracy with the MVM re-fit ${aMvm}, with the read-back re-fit ${aRb}`);
  } finally {
    await board.close();
  }
});

test('a kept fine-tuned run killed (-9) inside layer 1, then --resume: completes, and infer --on-board evaluates the net the resumed run evaluated', { timeout: 420000 }, async () => {
  const { cwd } = await setup();
  const store = join(cwd, 'store-resume');
  const p = spawn(process.execPath, [MAIN, ...FT(store), '--new-board'], { cwd, stdio: 'ignore' });
  const t0 = Date.now();
  const evFile = () => (existsSync(join(store, 'runs')) ? readdirSync(join(store, 'runs')).map((id) => join(store, 'runs', id, 'events.ndjson'))[0] : undefined);
  // Inside layer 1 (13 tiles): once tile 3 has cells done.
  for (;;) {
    await new Promise((r) => setTimeout(r, 20));
    const f = evFile();
    if (f && existsSync(f) && readFileSync(f, 'utf8').split('\n').some((l) => l.startsWith('{"type":"cell-done"') && l.includes('"step":"tile 3"'))) break;
    assert.ok(p.exitCode === null && Date.now() - t0 < 240000, 'the run ended before the kill point');
  }
  p.kill('SIGKILL');
  await new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));
  const id = readdirSync(join(store, 'runs'))[0];
  const r = spawnSync(process.execPath, [MAIN, ...FT(store), '--resume', id], { encoding: 'utf8', cwd, timeout: 300000 });
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { runId: string; readbackAccuracy: number; tiles: { fromRecord: boolean }[]; onBoard: KeptNet; fineTune: { refit: { outputs: { source: string } }; table: { onBoard: { accuracy: number } } } };
  assert.equal(res.runId, id);
  assert.equal(res.tiles[0].fromRecord, true, 'tile 1 taken from the record');
  assert.ok(res.onBoard.tuned);
  assert.equal(res.fineTune.refit.outputs.source, 'mvm');
  const o = spawnSync(process.execPath, [MAIN, ...inferArgs(store, id), '--json'], { encoding: 'utf8', cwd, timeout: 300000 });
  assert.equal(o.status, 0, o.stderr);
  const out = JSON.parse(o.stdout) as { readbackRecomputed: number; onBoard: { accuracy: number } };
  assert.equal(out.readbackRecomputed, res.readbackAccuracy);
  assert.equal(out.onBoard.accuracy, res.fineTune.table.onBoard.accuracy);
});
