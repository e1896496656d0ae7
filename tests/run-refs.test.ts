/**
 * `run:latest` names the newest completed characterize run of its own (issue 25: it picked
 * write-verify bench sub-runs and unfinished runs), filters narrow it, and a dashboard job that
 * uses it stores the run's id, never a server path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { resolveRunRef } from '../src/store/run-refs.js';
import { InvalidArgumentError } from '../drivers/errors.js';
import { NotFoundError } from '../src/store/embedded-store.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { saveModel } from '../src/inference/model-io.js';
import { startServer, waitFor } from './helpers/server.js';

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'rram-refs-'));
const rram = (...a: string[]) => {
  const r = spawnSync(process.execPath, [main, ...a, '--store', dir], { encoding: 'utf8', timeout: 180000 });
  assert.equal(r.status, 0, `${a.join(' ')}: ${r.stderr}`);
  return r;
};
const store = new EmbeddedStore(dir);
const newest = () => store.listRuns()[0];

test('run:latest: newest completed standalone characterize run; filters by levels, cells, algo, board; nonsense refused', async () => {
  rram('characterize', '--levels', '4', '--cells-per-level', '16', '--seed', '1');
  const big = newest().id;
  rram('characterize', '--levels', '2', '--cells-per-level', '4', '--algo', 'ispva', '--seed', '2');
  const tiny = newest().id;
  // A write-verify bench: its sub-runs are characterize runs, newer than both.
  rram('wv-bench', '--levels', '2', '--cells-per-level', '4', '--algos', 'igvva,ispva', '--seed', '3');
  assert.ok(store.listRuns().filter((r) => (r.params as { partOf?: string }).partOf === 'wv-bench').length >= 2);
  // And an interrupted characterize run, the newest of all.
  rram('characterize', '--levels', '4', '--cells-per-level', '16', '--seed', '4');
  const cut = newest();
  writeFileSync(join(store.runDir(cut.id), 'run.json'), JSON.stringify({ ...cut, status: 'aborted' }));

  assert.equal(resolveRunRef(store, 'run:latest').runId, tiny, 'not a bench part, not the aborted run');
  assert.equal(resolveRunRef(store, 'run:latest:levels=4').runId, big);
  assert.equal(resolveRunRef(store, 'run:latest:cells=10').runId, big);
  assert.equal(resolveRunRef(store, 'run:latest:algo=ispva,levels=2').runId, tiny);
  // Each --seed is its own emulated board.
  assert.equal(resolveRunRef(store, `run:latest:board=${(store.getRun(big).board as { id: string }).id}`).runId, big);
  assert.equal(resolveRunRef(store, `run:latest:board=${(store.getRun(tiny).board as { id: string }).id}`).runId, tiny);
  assert.equal(resolveRunRef(store, `run:${big}`).file, join(store.runDir(big), 'level-cdf.json'));
  assert.throws(() => resolveRunRef(store, 'run:latest:levels=8'), (e: unknown) => e instanceof NotFoundError && /levels=8/.test(e.message));
  for (const bad of ['run:latest:levels=x', 'run:latest:color=red', 'run:latest:levels=0', 'run:../etc', 'latest']) assert.throws(() => resolveRunRef(store, bad), InvalidArgumentError, bad);

  // A dashboard job with run:latest stores the run's id; no server path in its record or result.
  await initTf();
  await saveModel(tf, buildModel(tf, parseArch('dense:8'), 4), join(dir, 'models', 'd8'));
  const s = await startServer({ storeDir: dir });
  try {
    const r = await s.post(`${s.url}/api/jobs`, { kind: 'infer', model: 'd8', device: 'run:latest:levels=4', levels: 4, trials: 8, images: 100 });
    const { runId } = (await r.json()) as { runId: string };
    assert.equal(r.status, 202);
    await waitFor(
      () => {
        try {
          return store.getRun(runId).status === 'completed' ? true : undefined;
        } catch {
          return undefined; // not begun yet
        }
      },
      120000,
      'the inference job',
    );
    const text = readFileSync(join(store.runDir(runId), 'run.json'), 'utf8') + readFileSync(join(store.runDir(runId), 'infer.json'), 'utf8');
    assert.ok(!text.includes(dir), 'no store path in the run record or its result');
    assert.equal((store.getRun(runId).params as { levelCdf?: string }).levelCdf, `run:${big}`);
    assert.equal((JSON.parse(readFileSync(join(store.runDir(runId), 'infer.json'), 'utf8')) as { device: { text: string } }).device.text, `run:${big}`);
    const bad = await s.post(`${s.url}/api/jobs`, { kind: 'infer', model: 'd8', device: 'run:latest:levels=x' });
    assert.equal(bad.status, 400);
  } finally {
    await s.close();
  }
});
