/**
 * Issue 28: `program-net --fine-tune progressive` fine-tunes the layers not yet programmed on the
 * programmed layer's outputs measured through the board's analog MVM (HELLO bit 2), by the mapping
 * `infer --on-board` uses; a board without MVM falls back to the read-back conductances and the
 * result says so, layer by layer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { toCrossbarNet, weightOps } from '../src/inference/crossbar-net.js';
import { nominalLevels } from '../src/inference/device-models.js';
import { mapNet } from '../src/inference/mapping.js';
import { placeTiles } from '../src/inference/placement.js';
import { tileNet, valuesFromTiles, UNUSED } from '../src/inference/tiling.js';
import { layerOnBoard, predictOnBoard } from '../src/inference/on-board-forward.js';
import { measuredLayerOutput } from '../src/inference/fine-tune.js';
import { keptNet } from '../src/procedures/net-on-arrays.js';
import { loadDataset, type Split } from '../src/inference/datasets.js';
import { train } from '../src/inference/train.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { needTool } from './helpers/env.js';
import { quietCalibration } from './helpers/quiet-calibration.js';
import { emulatePty, MAIN } from './helpers/station.js';
import { assertRecordMatchesBoard, events as storedEvents, recordPulses } from './helpers/record-check.js';

const rmsRel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    s += b[i] ** 2;
  }
  return Math.sqrt(d / s);
};

test('a programmed layer\'s outputs measured through the MVM: the read-back\'s on ideal wires, not with wire resistance, and the on-board forward pass layer by layer', { timeout: 120000 }, async () => {
  await initTf();
  const net = toCrossbarNet(buildModel(tf, parseArch('dense:8'), 3));
  const mapped = mapNet(weightOps(net), nominalLevels(4), 'diff');
  const arrays = Array.from({ length: 14 }, (_, k) => k);
  const tiles = tileNet(mapped, placeTiles(mapped, arrays).tiles);
  // The same cells on two quiet boards (no read noise: the products are deterministic), ideal wires and 2 ohm.
  const make = (wire_ohm: number) => {
    const b = new EmulatedBoard({ seed: 4, arrays: 14, calibration: quietCalibration(), mvm: { wire_ohm } });
    for (const t of tiles)
      for (let i = 0; i < 4096; i++) {
        const level = t.levels[i];
        if (level === UNUSED) continue;
        const c = { array: t.array, row: i >> 6, col: i & 63 };
        b.formSync(c, { vte_V: 3.9, vg_V: 1.6, width_s: 1e-5 });
        b.resetSync(c, { vsl_V: 2.0, vg_V: 3.0, width_s: 1e-5 });
        if (level > 0) b.setSync(c, { vte_V: 1.2, vg_V: 0.6 + 0.25 * level, width_s: 1e-6 });
      }
    return b;
  };
  const ideal = make(0);
  const wired = make(2);
  const readback = tiles.map((t) => Float32Array.from(ideal.readArraySync(t.array, { vread_V: 0.2 })));
  const known = valuesFromTiles(mapped, tiles, readback);
  const train = loadDataset('mnist').train;
  const n = 40;
  const x = { x: train.images.subarray(0, n * 784), shape: net.inputShape, labels: train.labels.subarray(0, n), n };
  const kept = keptNet(mapped, tiles);
  const o = { vIn_V: 0.2, dacStep_V: ideal.info().dacStep_V, vread_V: 0.2 };
  const fromReadback = measuredLayerOutput(tf, net, 0, mapped[0], known[0], x);
  const onIdeal = await layerOnBoard(net, 0, kept.layers, kept.tiles, ideal.mvm.bind(ideal), x.x, x.shape, n, o);
  const onWired = await layerOnBoard(net, 0, kept.layers, kept.tiles, wired.mvm.bind(wired), x.x, x.shape, n, o);
  assert.deepEqual(onIdeal.shape, fromReadback.shape);
  // Ideal wires: the read-back's outputs up to the inputs' DAC rounding and the cells' I-V curvature below 0.2 V.
  const eIdeal = rmsRel(onIdeal.data, fromReadback.x);
  const eWired = rmsRel(onWired.data, fromReadback.x);
  assert.ok(eIdeal < 0.05, `ideal wires: MVM outputs ${(100 * eIdeal).toFixed(2)} % (rms) from the read-back's`);
  assert.ok(eWired > 2 * eIdeal && eWired > 0.05, `2 ohm wires: MVM outputs ${(100 * eWired).toFixed(2)} % from the read-back's, ideal ${(100 * eIdeal).toFixed(2)} %`);
  // Layer by layer through the board is the on-board forward pass (infer --on-board), to rounding.
  const second = await layerOnBoard(net, 1, kept.layers, kept.tiles, wired.mvm.bind(wired), onWired.data, onWired.shape, n, o);
  const whole = await predictOnBoard(net, kept.layers, kept.tiles, wired.mvm.bind(wired), x.x, n, o);
  assert.deepEqual(second.shape, [10]);
  assert.ok(rmsRel(second.data, whole.outputs) < 1e-9, `layer by layer ${rmsRel(second.data, whole.outputs)} from the whole pass`);
});

const head = (s: Split, k: number): Split => ({ ...s, n: k, images: s.images.subarray(0, k * s.rows * s.cols * s.channels), labels: s.labels.subarray(0, k) });

test('program-net --fine-tune progressive: outputs measured through the MVM on a board offering it (marks in the record, no extra pulse); a board without it falls back to the read-back and says so', { timeout: 300000 }, async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const cwd = mkdtempSync(join(tmpdir(), 'ftm-'));
  const backend = await initTf();
  const all = loadDataset('mnist', undefined, false);
  await train(tf, backend, { ...all, train: head(all.train, 3000), test: head(all.test, 500) }, { arch: parseArch('cnn:1x2/p5/h4'), epochs: 1, seed: 5, learningRate: 0.03, momentum: 0.9, batchSize: 32, out: join(cwd, 'net') });
  // 100 images, fine-tuned and evaluated: each goes through the emulator's MVM cell by cell (most of a run's time).
  const FT = ['program-net', '--model', 'net', '--device', 'gaussian:5%', '--levels', '4', '--images', '100', '--trials', '4', '--fine-tune', 'progressive', '--fine-tune-images', '100', '--fine-tune-epochs', '1', '--fine-tune-trials', '2', '--baseline', 'none', '--reads', '1', '--seed', '3', '--json'];
  const run = (store: string, more: string[]) => spawnSync(process.execPath, [MAIN, ...FT, '--store', store, ...more], { encoding: 'utf8', cwd, timeout: 240000 });
  type Layer = { name: string; status: string; outputs?: { source: string; reason?: string } };
  const events = (store: string) => {
    const id = readdirSync(join(store, 'runs'))[0];
    return { id, evs: storedEvents(store, id) as unknown as { type: string; name?: string; code?: string; value?: { layer: number; refit?: boolean } }[] };
  };
  // In process: the emulated board offers the MVM.
  const a = run(join(cwd, 'a'), ['--new-board', '--arrays', '3']); // a tile per array: all still on the board at the end
  assert.equal(a.status, 0, a.stderr);
  const ra = JSON.parse(a.stdout) as { fineTune: { layers: Layer[]; table: { onBoard?: { accuracy: number; images: number } } } };
  assert.equal(ra.fineTune.table.onBoard?.images, 100, 'the final net evaluated through the MVM too');
  assert.deepEqual(ra.fineTune.layers.map((l) => l.outputs?.source), ['mvm', 'mvm', undefined], JSON.stringify(ra.fineTune.layers));
  assert.match(a.stderr, /outputs for the 100 images measured through the board's MVM/);
  const ea = events(join(cwd, 'a'));
  assert.deepEqual(ea.evs.filter((e) => e.type === 'mark' && e.name === 'mvm-read').map((e) => (e.value!.refit ? `refit ${e.value!.layer}` : e.value!.layer ?? 'evaluation')), [0, 1, 'refit 2', 'evaluation'], 'one mvm-read mark per measured layer, one for the re-fit (the last layer), one for the evaluation');
  assert.equal((JSON.parse(a.stdout) as { fineTune: { refit: { outputs: { source: string } } } }).fineTune.refit.outputs.source, 'mvm');
  const pulsesA = ea.evs.filter((e) => e.type === 'pulse').length;
  {
    // The MVM calls pulsed nothing: the board's own counters equal the record's pulses, cell by cell.
    const board = new EmulatedBoard({ seed: 3, arrays: 3 });
    board.attachState(join(cwd, 'a', 'boards'));
    const rec = recordPulses(storedEvents(join(cwd, 'a'), ea.id));
    const fw = new Map(
      [...rec.keys()].map((k) => {
        const [array, row, col] = k.split(':').map(Number);
        const c = board.countersSync({ array, row, col });
        return [k, c.form + c.set + c.reset];
      }),
    );
    assertRecordMatchesBoard(rec, fw, 'mvm fine-tune');
    await board.close();
  }
  // Over a pty, the same board seed with and without MVM: programmed alike, read back alike; the
  // one without measures nothing (read-back outputs, the reason stored and told).
  const emu = await emulatePty(['--no-mvm', '--virtual-time', '--seed', '3']);
  const emuMvm = await emulatePty(['--virtual-time', '--seed', '3']);
  try {
    const c = run(join(cwd, 'c'), ['--port', emuMvm.path]);
    assert.equal(c.status, 0, c.stderr);
    assert.deepEqual((JSON.parse(c.stdout) as { fineTune: { layers: Layer[] } }).fineTune.layers.map((l) => l.outputs?.source), ['mvm', 'mvm', undefined]);
    const ec = events(join(cwd, 'c'));
    const b = run(join(cwd, 'b'), ['--port', emu.path]);
    assert.equal(b.status, 0, b.stderr);
    const rb = JSON.parse(b.stdout) as { fineTune: { layers: Layer[]; table: { onBoard?: unknown } } };
    assert.equal(rb.fineTune.table.onBoard, undefined);
    assert.deepEqual(rb.fineTune.layers.map((l) => l.outputs?.source), ['read-back', 'read-back', undefined]);
    const refitB = (rb as unknown as { fineTune: { refit: { outputs: { source: string; reason: string } } } }).fineTune.refit.outputs;
    assert.equal(refitB.source, 'read-back', 'the final re-fit on the read-back too');
    assert.match(refitB.reason, /does not offer the analog MVM \(HELLO feature bit 2\)/);
    assert.ok(rb.fineTune.layers.slice(0, 2).every((l) => /does not offer the analog MVM \(HELLO feature bit 2\)/.test(l.outputs!.reason!)));
    assert.match(b.stderr, /outputs for the 100 images computed from the read-back \(the board does not offer the analog MVM \(HELLO feature bit 2\)\)/);
    const eb = events(join(cwd, 'b'));
    assert.equal(eb.evs.filter((e) => e.type === 'mark' && e.name === 'mvm-read').length, 0);
    assert.ok(eb.evs.some((e) => e.type === 'warning' && e.code === 'fine-tune-read-back'));
    // The first layer's stage (tuned on the images) is the same on both; the second was tuned on other outputs.
    const stage = (store: string, id: string, k: number) => JSON.stringify((JSON.parse(readFileSync(join(store, 'runs', id, 'fine-tune', `layer-${k}.json`), 'utf8')) as { weights: unknown }).weights);
    assert.ok(existsSync(join(cwd, 'a', 'runs', ea.id, 'fine-tune', 'layer-2.json')));
    // (Only layer 1: the MVM's reads draw read noise, so the later read-backs differ.)
    const readsOf = (evs: typeof eb.evs) => JSON.stringify(evs.filter((e) => e.type === 'read' && (e as { step?: string }).step === 'tile 1').map((e) => (e as { current_A?: number }).current_A));
    assert.equal(readsOf(ec.evs), readsOf(eb.evs), 'the two pty boards read layer 1 back alike');
    assert.equal(stage(join(cwd, 'c'), ec.id, 1), stage(join(cwd, 'b'), eb.id, 1), 'layer 1: tuned on the images alike');
    assert.notEqual(stage(join(cwd, 'c'), ec.id, 2), stage(join(cwd, 'b'), eb.id, 2), 'layer 2 fine-tuned on the MVM outputs differs from the one tuned on the read-back');
    assert.ok(pulsesA > 0 && eb.evs.filter((e) => e.type === 'pulse').length > 0);
  } finally {
    emu.proc.kill();
    emuMvm.proc.kill();
  }
});
