/**
 * `rram program-net --fine-tune progressive` end to end (issue 27): kill -9 at a layer boundary
 * and inside a layer, then --resume: no cell the record had done is pulsed again, a programmed
 * layer is neither pulsed nor re-read, and the board's own counters equal the record; bad inputs
 * (a level CDF with fewer levels than the net was trained for, --fine-tune-images above the
 * training set) refused before the first pulse; the same over `rram emulate --pty` and on the
 * foreign-v2 board (its audit equal to the record).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { parseArch } from '../src/inference/arch-spec.js';
import { loadDataset, type Split } from '../src/inference/datasets.js';
import { trainHwAware } from '../src/inference/hw-aware-train.js';
import { train } from '../src/inference/train.js';
import { buildDeviceModel, parseDeviceSpec } from '../src/inference/device-models.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { needTool } from './helpers/env.js';
import { needForeign, startForeign } from './helpers/foreign-board.js';
import { assertRecordMatchesBoard, audit, events, key, main, recordPulses, rram } from './helpers/record-check.js';

const cwd = mkdtempSync(join(tmpdir(), 'ftc-'));
const sync = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', cwd, timeout: 300000 });
const head = (s: Split, n: number): Split => ({ ...s, n, images: s.images.subarray(0, n * s.rows * s.cols * s.channels), labels: s.labels.subarray(0, n) });

/** A small trained conv net (3 weight layers, 548 cells under diff: 3 tiles) and a 4-level CDF, made once. */
let ready: Promise<void> | undefined;
function setup(): Promise<void> {
  ready ??= (async () => {
    const backend = await initTf();
    const all = loadDataset('mnist', undefined, false);
    const ds = { ...all, train: head(all.train, 4000), test: head(all.test, 1000) };
    await train(tf, backend, ds, { arch: parseArch('cnn:1x2/p5/h4'), epochs: 2, seed: 5, learningRate: 0.03, momentum: 0.9, batchSize: 32, out: join(cwd, 'net') });
    // The same net trained hardware-aware for 4 levels: a 2-level CDF cannot hold it.
    const device = buildDeviceModel(parseDeviceSpec('gaussian:5%'), 4, { shared: false, stuckHrs: 0, stuckLrs: 0, readNoise_A: 0, vread_V: 0.2 });
    await trainHwAware(tf, backend, ds, { arch: parseArch('cnn:1x2/p5/h4'), epochs: 1, seed: 5, learningRate: 0.03, momentum: 0.9, batchSize: 32, out: join(cwd, 'hwnet') }, { device, scheme: 'diff', info: { device: 'gaussian:5%', levels: 4, mapping: 'diff', clip: 1, share: 1 } });
    for (const [n, out] of [[4, 'cdf4.json'], [2, 'cdf2.json']] as const) {
      const c = sync('characterize', '--levels', String(n), '--cells-per-level', '16', '--out', out, '--store', join(cwd, 'cdf-store'), '--json');
      assert.equal(c.status, 0, c.stderr);
    }
  })();
  return ready;
}

// 200 fine-tuning images: each layer's outputs on them are measured through the board's MVM (the
// emulator solves every vector cell by cell), most of a run's time; the checks are about the record.
const FT = ['program-net', '--model', 'net', '--device', 'cdf4.json', '--levels', '4', '--images', '500', '--trials', '8', '--fine-tune', 'progressive', '--fine-tune-images', '200', '--fine-tune-epochs', '1', '--fine-tune-trials', '4', '--baseline', 'none', '--json'];
const lines = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : []);
const exited = (p: ReturnType<typeof spawn>) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));

/** Starts the fine-tuning run and kills it (SIGKILL) as soon as `when` holds for its stored events. */
async function killWhen(store: string, seed: number, when: (evs: string[], runDir: string) => boolean, args = FT): Promise<string> {
  const p = spawn(process.execPath, [main, ...args, '--store', store, '--seed', String(seed), '--new-board'], { cwd, stdio: 'ignore' });
  const t0 = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 20));
    const runs = existsSync(join(store, 'runs')) ? readdirSync(join(store, 'runs')) : [];
    if (runs.length && when(lines(join(store, 'runs', runs[0], 'events.ndjson')), join(store, 'runs', runs[0]))) break;
    if (p.exitCode !== null || Date.now() - t0 > 240000) throw new Error('the run ended before the kill point');
  }
  p.kill('SIGKILL');
  await exited(p);
  return readdirSync(join(store, 'runs'))[0];
}

const step = (l: string) => /"step":"([^"]+)"/.exec(l)?.[1];
const doneIn = (evs: string[], s: string) => evs.filter((l) => l.startsWith('{"type":"cell-done"') && step(l) === s).length;
const readsIn = (evs: string[], s: string) => evs.filter((l) => l.startsWith('{"type":"read"') && l.includes('"phase":"readback"') && step(l) === s).length;

for (const where of ['at a layer boundary', 'inside a layer'] as const) {
  test(`fine-tuning run killed (-9) ${where}, then --resume: no done cell pulsed again, programmed layers untouched, the board's counters equal the record`, { timeout: 420000 }, async () => {
    await setup();
    const store = mkdtempSync(join(tmpdir(), 'ftk-'));
    const seed = where === 'inside a layer' ? 12 : 11;
    // The model copied into the store: its weights are changed in place below.
    const model = join(store, 'model');
    cpSync(join(cwd, 'net'), model, { recursive: true });
    const args = FT.map((a, i) => (FT[i - 1] === '--model' ? model : a));
    // Tile 1 is layer 1 (40 cells), tile 2 layer 2 (408 cells), tile 3 layer 3 (100 cells).
    const id = await killWhen(
      store,
      seed,
      (evs, dir) =>
        where === 'at a layer boundary'
          ? readsIn(evs, 'tile 1') >= 4 * 40 && !existsSync(join(dir, 'fine-tune', 'layer-2.json')) // layer 1 read back, layer 2 being prepared
          : doneIn(evs, 'tile 2') >= 40 && doneIn(evs, 'tile 2') < 408,
      args,
    );
    // The model file changed under the same path (other weights, same shapes): the resume is refused before any pulse.
    const weights = join(model, 'weights.bin');
    const original = readFileSync(weights);
    copyFileSync(join(cwd, 'hwnet', 'weights.bin'), weights);
    const evCount = events(store, id).length;
    const changed = sync(...args, '--store', store, '--seed', String(seed), '--resume', id);
    assert.equal(changed.status, 2, changed.stderr);
    assert.match(changed.stderr, /cannot resume: inputs\.model contents \(--model\): was "[0-9a-f]{16}", now "[0-9a-f]{16}"/);
    assert.equal(events(store, id).length, evCount, 'the refused resume recorded nothing');
    writeFileSync(weights, original);
    const before = events(store, id);
    const doneBefore = new Set(before.filter((e) => e.type === 'cell-done').map((e) => `${(e as { step?: string }).step}|${key((e as { cell: { array: number; row: number; col: number } }).cell)}`));
    if (where === 'at a layer boundary') assert.equal(before.filter((e) => e.type === 'pulse' && e.step === 'tile 2').length, 0, 'killed before layer 2\'s first pulse');
    else assert.ok(before.some((e) => e.type === 'pulse' && e.step === 'tile 2') && !before.some((e) => e.type === 'pulse' && e.step === 'tile 3'), 'killed inside layer 2');
    const r = sync(...args, '--store', store, '--seed', String(seed), '--resume', id);
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    const all = events(store, id);
    const after = all.slice(all.findIndex((e) => e.type === 'run-resume'));
    const repulsed = after.filter((e) => e.type === 'pulse' && !e.recovered && doneBefore.has(`${e.step}|${key(e.cell)}`));
    assert.equal(repulsed.length, 0, `${repulsed.length} pulses on cells the record had done`);
    // Layer 1 was programmed and read back: the resumed process neither pulses nor reads it.
    assert.equal(after.filter((e) => (e.type === 'pulse' || e.type === 'read') && e.step === 'tile 1').length, 0, 'layer 1 untouched');
    assert.equal(res.tiles[0].fromRecord, true);
    assert.equal(res.fineTune.layers.length, 3);
    assert.ok(res.fineTune.layers.every((l: { status: string; prediction?: unknown }) => l.status === 'programmed' && l.prediction), JSON.stringify(res.fineTune.layers));
    assert.ok(existsSync(join(store, 'runs', id, 'fine-tune', 'layer-3.json')));
    // Every cell the net uses is done in its tile, once.
    const dones = all.filter((e) => e.type === 'cell-done').map((e) => `${(e as { step?: string }).step}|${key((e as { cell: { array: number; row: number; col: number } }).cell)}`);
    assert.equal(dones.length, 548);
    assert.equal(new Set(dones).size, 548);
    // The board (its saved state) got what the record says, cell by cell: no pulse twice.
    const board = new EmulatedBoard({ seed });
    board.attachState(join(store, 'boards'));
    const rec = recordPulses(all);
    const fw = new Map([...rec.keys()].map((k) => {
      const [a, row, col] = k.split(':').map(Number);
      const c = board.countersSync({ array: a, row, col });
      return [k, c.form + c.set + c.reset];
    }));
    assertRecordMatchesBoard(rec, fw, where);
    await board.close();
  });
}

test('refused before the first pulse: a level CDF with fewer levels than the net was trained for, --fine-tune-images above the training set', { timeout: 300000 }, async () => {
  await setup();
  const store = mkdtempSync(join(tmpdir(), 'ftr-'));
  const bad: [string[], RegExp][] = [
    [['program-net', '--model', 'hwnet', '--device', 'cdf2.json', '--levels', '2'], /--device="2 levels".*trained hardware-aware for 4 levels.*too few levels/],
    [['program-net', '--model', 'net', '--device', 'cdf4.json', '--levels', '4', '--fine-tune', 'progressive', '--fine-tune-images', '60001'], /--fine-tune-images=60001.*only 60000 images/],
  ];
  for (const [args, re] of bad) {
    const x = sync(...args, '--store', store, '--new-board', '--seed', '4');
    assert.equal(x.status, 2, `${args.join(' ')}: ${x.stderr}`);
    assert.match(x.stderr, re);
  }
  // Nothing reached the board: no run began, and the board's saved state has no pulse.
  assert.ok(!existsSync(join(store, 'runs')) || readdirSync(join(store, 'runs')).length === 0, 'no run stored');
  const board = new EmulatedBoard({ seed: 4 });
  board.attachState(join(store, 'boards'));
  assert.equal(board.totalPulses(), 0);
  await board.close();
});

test('fine-tuning over rram emulate --pty, and on the foreign-v2 board: completes, every layer stored, the board\'s audit equals the record', { timeout: 600000 }, async (t) => {
  await setup();
  if (needTool(t, 'socat', 'socat')) {
    const emu = spawn(process.execPath, [main, 'emulate', '--pty', '--json', '--virtual-time', '--seed', '3'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const path = await new Promise<string>((res) => emu.stdout!.once('data', (d: Buffer) => res(JSON.parse(d.toString().split('\n')[0]).path)));
      const store = mkdtempSync(join(tmpdir(), 'ftp-'));
      const r = await rram([...FT, '--port', path, '--store', store], { cwd });
      assert.equal(r.status, 0, r.stderr);
      const res = JSON.parse(r.stdout);
      assert.equal(res.programming.cells, 548);
      assert.ok(res.fineTune.table.readback > 0.3, JSON.stringify(res.fineTune.table));
      assert.equal(res.fineTune.table.baseline, undefined, 'no twin of a board on --port: the baseline is unknown, not made up');
    } finally {
      emu.kill('SIGTERM');
    }
  }
  if (!needForeign(t)) return;
  const b = startForeign();
  try {
    const store = mkdtempSync(join(tmpdir(), 'ftf-'));
    const r = await rram([...FT, '--port', b.dev, '--store', store], { cwd });
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.equal(res.fineTune.layers.filter((l: { status: string }) => l.status === 'programmed').length, 3);
    assert.ok(res.programming.summary.successRate >= 0.9, JSON.stringify(res.programming.summary));
    b.stop();
    const fw = audit(b);
    assert.equal(fw.duplicates, 0, 'no request executed twice');
    assertRecordMatchesBoard(recordPulses(events(store, res.runId)), fw.pulses, 'foreign-v2');
  } finally {
    b.stop();
  }
});

