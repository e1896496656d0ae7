/**
 * Issue 28: a net evaluated through the board's analog MVM (`rram infer --on-board`). The forward
 * pass's periphery arithmetic (input scaling onto the DAC grid, tiles with gaps in their rows and
 * columns, pair / offset / reference subtraction, conv patches, pooling) against tfjs running the
 * same quantized weights; and end to end: program-net --keep, then infer --on-board on the
 * in-process emulated board beside the read-back accuracy; a board without the feature refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { toCrossbarNet, weightOps } from '../src/inference/crossbar-net.js';
import { nominalLevels } from '../src/inference/device-models.js';
import { mapNet, SCHEMES } from '../src/inference/mapping.js';
import { placeTiles } from '../src/inference/placement.js';
import { tileNet } from '../src/inference/tiling.js';
import { predictOnBoard } from '../src/inference/on-board-forward.js';
import { keptNet } from '../src/procedures/net-on-arrays.js';
import { inferOnBoard } from '../src/procedures/infer-on-board.js';
import { loadDataset } from '../src/inference/datasets.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { PtyServer } from '../drivers/emulated/pty-server.js';
import { Feature } from '../drivers/protocol/messages.js';
import { repoRoot } from '../lib/repo-root.js';
import { smallTraining } from './helpers/small-training.js';
import { exactMvm } from './helpers/exact-mvm.js';

// The conv net trained below: on the first 12000 training images (tests/helpers/small-training.ts).
smallTraining();

test('the on-board forward pass with an exact MVM equals tfjs on the quantized weights: every scheme, conv and dense, tiles placed around bad cells', async () => {
  await initTf();
  const test_ = loadDataset('mnist').test;
  const n = 12;
  const x = test_.images.subarray(0, n * 784);
  await fc.assert(
    // Bad cells where the tiles go (rows and columns of the first arrays): placement leaves gaps the forward pass must skip.
    fc.asyncProperty(fc.constantFrom(...SCHEMES), fc.integer({ min: 1, max: 1000 }), fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 12 })), { minLength: 1, maxLength: 6 }), fc.constantFrom(1e-6, 1e-3), fc.boolean(), async (scheme, seed, bad, dac, spread) => {
      const model = buildModel(tf, parseArch('cnn:1x4/p5/h6'), seed);
      // Biases not 0 (a fresh model's are), so the bias row counts.
      for (const l of model.layers.filter((x) => x.getWeights().length === 2)) {
        const [k, b] = l.getWeights();
        l.setWeights([k, tf.randomUniform(b.shape, -0.3, 0.3, 'float32', seed)]);
      }
      const net = toCrossbarNet(model);
      const levels = nominalLevels(6);
      const mapped = mapNet(weightOps(net), levels, scheme);
      const avoid = new Set(bad.map(([a, r, c]) => `${a}:${r}:${c}`));
      const { tiles: placed } = placeTiles(mapped, [0, 1, 2, 3, 4, 5, 6, 7], avoid);
      // Spread: small tiles on every other row and column (odd ones), as a placement around many bad lines would leave them.
      const odd = (n: number, at: number[]) => (n <= 32 ? at.map((_, i) => 2 * i + 1) : at);
      const tiles = tileNet(mapped, spread ? placed.map((g) => ({ ...g, rowAt: odd(g.rows, g.rowAt), colAt: odd(g.cols, g.colAt) })) : placed);
      const mvm = exactMvm(tiles, levels, 8);
      const kept = keptNet(mapped, tiles);
      const got = await predictOnBoard(net, kept.layers, kept.tiles, mvm, x, n, { vIn_V: 0.2, dacStep_V: dac, vread_V: 0.2 });
      // Reference: tfjs with the quantized weights (bias = the last row).
      weightOps(net).forEach((op, li) => {
        const layer = model.layers.filter((l) => l.getWeights().length === 2)[li];
        const [k, b] = layer.getWeights();
        const q = mapped[li].quantized;
        layer.setWeights([tf.tensor(q.subarray(0, op.fanIn * op.units), k.shape), tf.tensor(q.subarray(op.fanIn * op.units), b.shape)]);
      });
      const logits = tf.tidy(() => (model.predict(tf.tensor4d(x, [n, 28, 28, 1])) as ReturnType<typeof tf.tensor>).dataSync());
      // A 1 uV grid leaves float rounding; a 1 mV grid quantizes each input by up to 2.5e-3 of the vector's largest (class probabilities move by < 1e-2).
      const tol = dac === 1e-6 ? 2e-5 : 1e-2;
      for (let i = 0; i < logits.length; i++) assert.ok(Math.abs(got.outputs[i] - logits[i]) <= tol, `${scheme} dac ${dac} output ${i}: ${got.outputs[i]} vs tfjs ${logits[i]}`);
    }),
    { numRuns: 16 },
  );
});

test('rram program-net --keep, then rram infer --on-board on the in-process emulated board: beside the read-back accuracy, within a few points', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'onboard-'));
  const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const rram = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', cwd });
  // Any trained conv net will do (the checks compare the board's MVM with the read-back of the same
  // net): one epoch over the first 12000 training images at lr 0.03 (~68 % on the test set; lr 0.1
  // diverges on this subset).
  assert.equal(rram('train', '--arch', 'cnn:1x4/p5/h6', '--dataset', 'mnist', '--epochs', '1', '--lr', '0.03', '--batch-size', '32', '--out', 'net').status, 0);
  const noKeep = rram('program-net', '--model', 'net', '--levels', '4', '--images', '300', '--trials', '10', '--keep', '--json');
  assert.equal(noKeep.status, 2, noKeep.stderr);
  assert.match(noKeep.stderr, /keep.*4 tiles and the run 2 arrays/);
  const p = rram('program-net', '--model', 'net', '--levels', '4', '--device', 'gaussian:5%', '--images', '300', '--trials', '10', '--keep', '--arrays', '4', '--json');
  assert.equal(p.status, 0, p.stderr);
  const res = JSON.parse(p.stdout);
  assert.equal(res.onBoard.tiles.length, 4);
  assert.deepEqual(res.onBoard.tiles.map((t: { array: number }) => t.array).sort(), [0, 1, 2, 3]);
  const r = rram('infer', '--model', 'net', '--dataset', 'mnist', '--on-board', `run:${res.runId}`, '--board-arrays', '4', '--images', '300', '--json');
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.onBoard.images, 300);
  assert.equal(o.onBoard.confusion.flat().reduce((a: number, b: number) => a + b, 0), 300);
  assert.equal(o.readbackAccuracy, res.readbackAccuracy);
  assert.deepEqual(o.prediction, { mean: res.prediction.summary.mean, interval: res.prediction.interval });
  // The text output puts the three side by side.
  const text = rram('infer', '--model', 'net', '--dataset', 'mnist', '--on-board', `run:${res.runId}`, '--board-arrays', '4', '--images', '20');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /on the board \(analog MVM\)[\s\S]*from the read-back \(program-net\)[\s\S]*Monte Carlo prediction, mean \[5\.\.95 %\]/);
  assert.ok(res.readbackAccuracy > 0.3, `read-back ${res.readbackAccuracy}`);
  assert.ok(Math.abs(o.onBoard.accuracy - res.readbackAccuracy) <= 0.05, `on board ${o.onBoard.accuracy} vs read-back ${res.readbackAccuracy}`);
  // Another board (another seed) is not the one the run programmed: refused, naming both.
  const other = rram('infer', '--model', 'net', '--dataset', 'mnist', '--on-board', `run:${res.runId}`, '--board-arrays', '4', '--board-seed', '2', '--images', '10');
  assert.equal(other.status, 2);
  assert.match(other.stderr, /board="emu-2".*programmed another board \(board: was emu-1, now emu-2/);
  // The same id with another saved state (a fresh store: the board forgot what was programmed): refused too.
  const fresh = rram('infer', '--model', 'net', '--dataset', 'mnist', '--on-board', `run:${res.runId}`, '--board-arrays', '4', '--images', '10', '--store', copyRuns(join(cwd, 'rram-data')));
  assert.equal(fresh.status, 2, fresh.stderr);
  assert.match(fresh.stderr, /board state: .*it does not hold what was programmed/);
  // A kept record altered after the run (its read-back accuracy no longer what the kept net gives):
  // refused before the board is opened (a port that does not exist is never reached).
  {
    const f = join(cwd, 'rram-data', 'runs', res.runId, 'program-net.json');
    const was = readFileSync(f, 'utf8');
    writeFileSync(f, JSON.stringify({ ...JSON.parse(was), readbackAccuracy: res.readbackAccuracy + 0.01 }));
    const alt = rram('infer', '--model', 'net', '--dataset', 'mnist', '--on-board', `run:${res.runId}`, '--port', join(cwd, 'no-such-port'), '--images', '10');
    writeFileSync(f, was);
    assert.equal(alt.status, 2, alt.stderr);
    assert.match(alt.stderr, /recomputed from the kept net .* differs from the .* program-net computed: the kept net is not the net the run evaluated/);
  }
  // Over a real pty, the same board with MVM switched off: refused, naming the feature. (MVMs over
  // a pty, answered and equal to the in-process board's: tests/mvm-pty.test.ts.)
  {
    const board = new EmulatedBoard({ seed: 1, arrays: 4 });
    board.attachState(join(cwd, 'rram-data', 'boards'));
    const srv = new PtyServer(board, { firmware: { time: 'virtual', features: Feature.WRITE_VERIFY | Feature.COUNTERS } });
    await srv.start();
    try {
      const q = await new Promise<{ code: number | null; stderr: string }>((done) => {
        const c = execFile(process.execPath, [main, 'infer', '--model', 'net', '--dataset', 'mnist', '--on-board', `run:${res.runId}`, '--port', srv.hostPath, '--images', '10'], { encoding: 'utf8', cwd }, (_e, _stdout, stderr) => done({ code: c.exitCode, stderr }));
      });
      assert.equal(q.code, 1, q.stderr);
      assert.match(q.stderr, /does not offer the analog MVM \(MVM, HELLO feature bit 2\)/);
    } finally {
      await srv.stop();
      await board.close();
    }
  }
  // A run without --keep is refused, naming the flag.
  const plain = JSON.parse(rram('program-net', '--model', 'net', '--levels', '4', '--images', '100', '--trials', '5', '--arrays', '4', '--json').stdout);
  const nk = rram('infer', '--model', 'net', '--dataset', 'mnist', '--on-board', plain.runId, '--board-arrays', '4');
  assert.equal(nk.status, 2);
  assert.match(nk.stderr, /onBoard.*--keep/);
  // run:latest is the newest run kept with --keep, not the newer plain one.
  const latest = rram('infer', '--model', 'net', '--dataset', 'mnist', '--on-board', 'run:latest', '--board-arrays', '4', '--images', '10', '--json');
  assert.equal(latest.status, 0, latest.stderr);
  assert.equal(JSON.parse(latest.stdout).runId, res.runId);
});

/** A store holding only the runs of another (its boards' saved states left behind). */
function copyRuns(store: string): string {
  const to = mkdtempSync(join(tmpdir(), 'onboard-runs-'));
  cpSync(join(store, 'runs'), join(to, 'runs'), { recursive: true });
  return to;
}

test('a board without the analog MVM (HELLO bit 2 clear) is refused, naming the feature', async () => {
  const { Firmware } = await import('../drivers/emulated/firmware.js');
  const { loopback } = await import('../drivers/emulated/loopback.js');
  const { SerialBoard } = await import('../drivers/serial/serial-board.js');
  const fw = new Firmware(new EmulatedBoard({ seed: 1 }), () => undefined, { time: 'virtual', features: Feature.WRITE_VERIFY | Feature.COUNTERS });
  const b = await SerialBoard.open({ transport: loopback(fw).factory, keepAlive_ms: 0, margin_ms: 40 });
  try {
    await initTf();
    const net = toCrossbarNet(buildModel(tf, parseArch('cnn:1x4/p5/h6'), 1));
    const kept = keptNet(mapNet(weightOps(net), nominalLevels(4), 'diff'), []);
    await assert.rejects(inferOnBoard(b, net, kept, loadDataset('mnist').test, { images: 1, batch: 1, vIn_V: 0.2 }), (e: Error & { code?: string }) => e.code === 'UNSUPPORTED' && /analog MVM \(MVM, HELLO feature bit 2\)/.test(e.message));
  } finally {
    await b.close();
  }
});
