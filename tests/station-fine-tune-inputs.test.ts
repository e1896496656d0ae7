/**
 * A fine-tuning program-net through a station is checked when it arrives, as the direct command
 * checks it (src/procedures/fine-tune-inputs.ts). Invariants:
 * - `fineTune.baseline` is accepted exactly when it names a completed program-net run of the same
 *   net (model, data set, levels, mapping scheme) without fine-tuning; any other is 400 naming the
 *   field and the run, and nothing is queued;
 * - `fineTune.images` left out is 10 % of the station's training set (the direct default); more
 *   than the set holds is 400 naming the field and the set's size;
 * - `rram program-net` through a station exits 2 on either, nothing queued.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import type { RunKind } from '../src/engine/events.js';
import { startServer } from './helpers/server.js';
import { cli, serveStation } from './helpers/station.js';

const NET = { model: 'm', dataset: 'mnist', levels: 2, scheme: 'diff' };

/** A stored run of `kind` that ended `status`, with a program-net result for `net` (fine-tuned or not). */
function storedRun(store: EmbeddedStore, id: string, kind: RunKind, status: 'completed' | 'failed' | 'aborted', net = NET, fineTuned = false): string {
  store.writeRun({ ...store.createRun(id, kind, {}), status });
  if (kind === 'program-net') store.saveResult(id, 'program-net', { model: net.model, dataset: net.dataset, levels: net.levels, mapping: { scheme: net.scheme }, readbackAccuracy: 0.5, ...(fineTuned ? { fineTune: { layers: [] } } : {}) });
  return id;
}

const request = (fineTune: Record<string, unknown>) => ({ kind: 'program-net', model: NET.model, dataset: NET.dataset, levels: NET.levels, mapping: NET.scheme, device: 'gaussian:5%', trials: 2, fineTune });

test('a station refuses a bad fineTune.baseline and too many fineTune.images at POST, and defaults images to 10 % of its training set', async () => {
  const before = process.env.RRAM_TRAIN_IMAGES;
  process.env.RRAM_TRAIN_IMAGES = '500';
  const s = await startServer();
  try {
    s.station.queue.pause(); // nothing runs: the answers alone are under test
    mkdirSync(join(s.storeDir, 'models', 'm'), { recursive: true });
    writeFileSync(join(s.storeDir, 'models', 'm', 'model.json'), '{}');
    const store = new EmbeddedStore(s.storeDir);
    let k = 0;
    const id = () => `20260101-000000-${(k++).toString(16).padStart(4, '0')}`;
    const bad: [string, string][] = [
      [id(), 'no such run'],
      [storedRun(store, id(), 'characterize', 'completed'), 'is a characterize run'],
      [storedRun(store, id(), 'program-net', 'failed'), 'ended failed'],
      [storedRun(store, id(), 'program-net', 'aborted'), 'ended aborted'],
      [storedRun(store, id(), 'program-net', 'completed', { ...NET, model: 'other' }), 'not the same net'],
      [storedRun(store, id(), 'program-net', 'completed', { ...NET, dataset: 'fashion' }), 'not the same net'],
      [storedRun(store, id(), 'program-net', 'completed', { ...NET, levels: 4 }), 'not the same net'],
      [storedRun(store, id(), 'program-net', 'completed', { ...NET, scheme: 'offset' }), 'not the same net'],
      [storedRun(store, id(), 'program-net', 'completed', NET, true), 'was fine-tuned'],
    ];
    for (const [run, why] of bad) {
      const r = await s.post(`${s.url}/api/boards/board0/queue`, { request: request({ baseline: run }) });
      const body = (await r.json()) as { error: string; field?: string };
      assert.equal(r.status, 400, `${why}: ${JSON.stringify(body)}`);
      assert.equal(body.field, 'fineTune.baseline');
      assert.ok(body.error.includes(run) && body.error.includes(why), body.error);
    }
    assert.equal(s.station.queue.view().queued.length, 0, 'nothing queued');
    const good = storedRun(store, id(), 'program-net', 'completed');
    const ok = await s.post(`${s.url}/api/boards/board0/queue`, { request: request({ baseline: good }) });
    const okBody = (await ok.json()) as { params: { fineTune: { images: number } } };
    assert.equal(ok.status, 202, JSON.stringify(okBody));
    assert.equal(okBody.params.fineTune.images, 50, "left out: 10 % of the training set's 500 images, as directly");
    assert.equal((await s.post(`${s.url}/api/boards/board0/queue`, { request: request({ images: 500 }) })).status, 202, 'the whole set is allowed');
    const over = await s.post(`${s.url}/api/boards/board0/queue`, { request: request({ images: 501 }) });
    const overBody = (await over.json()) as { error: string; field?: string };
    assert.equal(over.status, 400);
    assert.equal(overBody.field, 'fineTune.images');
    assert.match(overBody.error, /501.*only 500 images/);
    assert.equal(s.station.queue.view().queued.length, 2, 'only the two good requests queued');
  } finally {
    await s.close();
    if (before === undefined) delete process.env.RRAM_TRAIN_IMAGES;
    else process.env.RRAM_TRAIN_IMAGES = before;
  }
});

test('rram program-net through a station exits 2 on a bad --baseline and on too many --fine-tune-images, nothing queued', { timeout: 60000 }, async () => {
  const store = mkdtempSync(join(tmpdir(), 'rram-ft-inputs-'));
  const model = mkdtempSync(join(tmpdir(), 'rram-ft-model-'));
  writeFileSync(join(model, 'model.json'), '{}');
  const characterized = storedRun(new EmbeddedStore(store), '20260101-000000-00aa', 'characterize', 'completed');
  const st = await serveStation(store);
  try {
    const base = ['program-net', '--model', model, '--store', store, '--device', 'gaussian:5%', '--levels', '2', '--fine-tune', 'progressive'];
    for (const [args, re] of [
      [['--baseline', characterized], /fineTune\.baseline.*is a characterize run/],
      [['--fine-tune-images', '60001'], /fineTune\.images=60001.*only 60000 images/],
    ] as const) {
      const c = cli([...base, ...args]);
      assert.equal(await c.done, 2, c.err());
      assert.match(c.err(), re);
    }
    const q = (await (await fetch(`${st.url}/api/boards/board0/queue`)).json()) as { queued: unknown[]; running: unknown };
    const history = (await (await fetch(`${st.url}/api/boards/board0/queue/history`)).json()) as { items: unknown[] };
    assert.deepEqual([q.queued.length, q.running, history.items.length], [0, null, 0], 'nothing queued or run');
  } finally {
    await st.stop();
  }
});

test('a baseline of the same net under another name (a direct run\'s path, a station\'s cli-<hash> folder) is the same net by its recorded digest; another digest is refused; a path without a digest to compare is left to the run\'s start', async () => {
  const { storedBaseline } = await import('../src/procedures/fine-tune-inputs.js');
  const store = new EmbeddedStore(mkdtempSync(join(tmpdir(), 'ft-digest-')));
  const run = (id: string, model: string, digest?: string) => {
    store.writeRun({ ...store.createRun(id, 'program-net', digest ? { inputs: { 'model contents (--model)': digest } } : {}), status: 'completed' });
    store.saveResult(id, 'program-net', { model, dataset: 'mnist', levels: 2, mapping: { scheme: 'diff' }, readbackAccuracy: 0.5 });
    return id;
  };
  const direct = run('20260101-000000-0001', '/lab/nets/d32', 'abc');
  const net = { model: 'cli-0123456789abcdef', dataset: 'mnist', levels: 2, scheme: 'diff' };
  assert.equal(storedBaseline(store, direct, { ...net, digest: 'abc' }, 'f').readbackAccuracy, 0.5, 'same contents, another name: the same net');
  assert.throws(() => storedBaseline(store, direct, { ...net, digest: 'def' }, 'f'), /not the same net/);
  assert.ok(storedBaseline(store, direct, net, 'f'), 'at POST (no digest yet) a path is left to the check at the start');
  // A store name is compared by name even at POST: its folder name is its contents' hash.
  const station = run('20260101-000000-0002', 'cli-fedcba9876543210', 'abc');
  assert.throws(() => storedBaseline(store, station, net, 'f'), /not the same net/);
  assert.ok(storedBaseline(store, station, { ...net, digest: 'abc' }, 'f'));
});
