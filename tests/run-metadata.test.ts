/**
 * Run metadata (sample, wafer, die, device, operator, temperature, notes, tags): every valid set
 * of flags is stored exactly, every invalid one refused naming its flag; an edit made while a run
 * is being written survives the writer's own updates; a run is deleted only when no process
 * writes it; `rram infer` results are stored runs (with their metadata) unless --no-record.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Subject } from 'rxjs';
import fc from 'fast-check';
import { metadataFromFlags } from '../src/cli/metadata-flags.js';
import { EmbeddedStore, StoreSink } from '../src/store/embedded-store.js';
import { deleteRun, setArchived, setMetadata } from '../src/store/run-admin.js';
import { exportRun } from '../src/store/export.js';
import { exportHdf5 } from '../src/store/export-hdf5.js';
import type { RunEvent } from '../src/engine/events.js';
import { repoRoot } from '../lib/repo-root.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { saveModel } from '../src/inference/model-io.js';

const word = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,30}[A-Za-z0-9]$/);
const tag = fc.stringMatching(/^[a-z0-9_.:+/-]{1,12}$/);

test('metadata flags: every valid combination is stored as given; control characters, blanks and bad tags are refused naming the flag', () => {
  fc.assert(fc.property(fc.record({ sample: word, wafer: word, die: word, deviceId: word, operator: word, temperature: fc.double({ min: -273.15, max: 1000, noNaN: true }), note: fc.array(word, { minLength: 1, maxLength: 3 }), tag: fc.uniqueArray(tag, { maxLength: 8 }) }, { requiredKeys: [] }), (f) => {
    const m = metadataFromFlags(f);
    assert.equal(m.sample, f.sample);
    assert.equal(m.device, f.deviceId);
    assert.equal(m.temperature_C, f.temperature === undefined ? undefined : f.temperature + 0, '-0 stored as 0, else as given');
    assert.equal(m.notes, f.note?.join('\n'));
    assert.deepEqual(m.tags, f.tag);
    assert.equal(Object.keys(m).length, Object.keys(f).length, 'no field invented or dropped');
  }));
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ sample: 'a\u0007b' }, /^--sample: .*control characters/],
    [{ operator: '   ' }, /^--operator: .*must not be empty/],
    [{ deviceId: 'x'.repeat(121) }, /^--device-id: .*at most 120/],
    [{ tag: ['ok', 'not ok'] }, /^--tag: tags\[1\]="not ok"/],
    [{ note: ['line\u0000'] }, /^--note: /],
  ];
  for (const [f, re] of bad) assert.throws(() => metadataFromFlags(f), (e: Error) => re.test(e.message), JSON.stringify(f));
});

function startRun(store: EmbeddedStore, id: string, metadata = {}) {
  const e$ = new Subject<RunEvent>();
  const sink = new StoreSink(store, id, { metadata }).attach(e$);
  let seq = 0;
  const emit = (b: Record<string, unknown>) => e$.next({ ...b, runId: id, seq: seq++, t: Date.now() } as RunEvent);
  emit({ type: 'run-start', kind: 'read', params: {} });
  return { emit, sink };
}

test('store: an edit during the run survives the writer; a live run is never deleted, an interrupted or ended one is', async () => {
  const store = new EmbeddedStore(mkdtempSync(join(tmpdir(), 'meta-store-')));
  const r = startRun(store, 'run-a', { sample: 'S1' });
  assert.deepEqual(store.getRun('run-a').metadata, { sample: 'S1' });
  setMetadata(store, 'run-a', { sample: 'S2', tags: ['edited'] });
  setArchived(store, 'run-a', true);
  for (let k = 0; k < 50; k++) r.emit({ type: 'warning', code: 'x', message: 'm' });
  r.sink.flushSync();
  assert.throws(() => deleteRun(store, 'run-a'), /run run-a is being written by process \d+/);
  assert.throws(() => setMetadata(store, 'run-a', { waffer: 'W1' }), /waffer/);
  r.emit({ type: 'run-end', status: 'completed' });
  await r.sink.close();
  const rec = store.getRun('run-a');
  assert.deepEqual(rec.metadata, { sample: 'S2', tags: ['edited'] });
  assert.ok(rec.archived);
  assert.equal(rec.events, 52);
  // An interrupted run: status running, its writer gone.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const r2 = startRun(store, 'run-b');
  r2.sink.flushSync();
  store.writeRun({ ...store.getRun('run-b'), writer: { pid: Number(dead.stdout), host: store.getRun('run-b').writer!.host } });
  assert.throws(() => deleteRun(store, 'run-b', (id) => id === 'run-b'), /active job of this server/);
  deleteRun(store, 'run-b');
  deleteRun(store, 'run-a');
  assert.deepEqual(readdirSync(join(store.root, 'runs')), []);
});

test('rram infer stores each point as a run of kind infer with its metadata; --no-record stores none', { timeout: 180000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'infer-run-'));
  await initTf();
  await saveModel(tf, buildModel(tf, parseArch('dense:4'), 4), join(dir, 'm'));
  const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const rram = (...a: string[]) => spawnSync(process.execPath, [main, 'infer', '--model', join(dir, 'm'), '--dataset', 'mnist', '--device', 'gaussian:5%', '--trials', '4', '--images', '200', '--store', join(dir, 'store'), ...a], { encoding: 'utf8', cwd: dir });
  const one = rram('--levels', '4', '--json', '--sample', 'S9', '--tag', 'mc');
  assert.equal(one.status, 0, one.stderr);
  const out = JSON.parse(one.stdout);
  const store = new EmbeddedStore(join(dir, 'store'));
  const [run] = store.listRuns();
  assert.match(one.stderr, new RegExp(`stored as run ${run.id}`));
  assert.equal(run.kind, 'infer');
  assert.equal(run.status, 'completed');
  assert.deepEqual(run.metadata, { sample: 'S9', tags: ['mc'] });
  assert.equal(run.board, undefined, 'no board is claimed for a run that used none');
  const saved = store.loadResult<{ summary: unknown; accuracies: number[]; levels: number }>(run.id, 'infer');
  assert.deepEqual(saved.summary, out.summary);
  assert.deepEqual(saved.accuracies, out.accuracies);
  const sweep = rram('--sweep', 'levels=2,3', '--json');
  assert.equal(sweep.status, 0, sweep.stderr);
  const levels = store.listRuns().filter((r) => r.id !== run.id).map((r) => store.loadResult<{ levels: number }>(r.id, 'infer').levels).sort();
  assert.deepEqual(levels, [2, 3], 'one run per sweep point');
  const before = store.listRuns().length;
  assert.equal(rram('--no-record').status, 0);
  assert.equal(store.listRuns().length, before);
  assert.ok(!existsSync(join(dir, 'rram-data')), 'nothing written beside the model');
});

test('exports carry the metadata: JSON run record, CSV comment header, HDF5 root attributes (read back by the HDF Group library), for random metadata', { timeout: 120000 }, async () => {
  const h5wasm = await import('h5wasm/node');
  await h5wasm.ready;
  const store = new EmbeddedStore(mkdtempSync(join(tmpdir(), 'meta-export-')));
  let k = 0;
  // -0 °C (which JSON writes as 0) is stored as 0: found by this property, made certain here.
  assert.ok(Object.is(metadataFromFlags({ sample: 'x', temperature: -0 }).temperature_C, 0));
  await fc.assert(fc.asyncProperty(fc.record({ sample: word, operator: word, temperature: fc.double({ min: -273.15, max: 1000, noNaN: true }), note: fc.array(word, { minLength: 1, maxLength: 2 }), tag: fc.uniqueArray(tag, { minLength: 1, maxLength: 4 }) }, { requiredKeys: ['sample'] }), async (f) => {
    const m = metadataFromFlags(f);
    const id = `exp-${k++}`;
    const r = startRun(store, id, m);
    r.emit({ type: 'read', cell: { array: 0, row: 1, col: 2 }, vread_V: 0.2, current_A: 1e-5, phase: 'final', level: 0 });
    r.emit({ type: 'run-end', status: 'completed' });
    await r.sink.close();
    const dir = mkdtempSync(join(tmpdir(), 'meta-out-'));
    await exportRun(store, id, 'json', join(dir, 'r.json'));
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')).run.metadata, m);
    await exportRun(store, id, 'csv', join(dir, 'r.csv'));
    const head = readFileSync(join(dir, 'r.csv'), 'utf8').split('\n').filter((l) => l.startsWith('# metadata.'));
    assert.deepEqual(Object.fromEntries(head.map((l) => { const [, key, v] = /^# metadata\.(\w+) = (.*)$/.exec(l)!; return [key, JSON.parse(v)]; })), m);
    await exportHdf5(store, id, join(dir, 'r.h5'));
    const h5 = new h5wasm.File(join(dir, 'r.h5'), 'r');
    const a = Object.fromEntries(Object.entries(h5.attrs).map(([key, v]) => [key, v.value])) as Record<string, string & number>;
    h5.close();
    assert.deepEqual(JSON.parse(a.rram_metadata), m);
    assert.equal(a.rram_sample, m.sample);
    if (m.temperature_C !== undefined) assert.equal(a.rram_temperature_C, m.temperature_C);
    if (m.tags) assert.equal(a.rram_tags, m.tags.join(','));
  }), { numRuns: 12 });
});
