/**
 * `rram wv-bench` through a station (issue 29). Invariants:
 * - two benchmarks submitted at once by two CLI processes run as consecutive queue items, one
 *   characterize item per algorithm, never interleaved with the other's;
 * - the benchmark that ran first on a pristine board prints the table and writes the wv-bench.json
 *   the direct command does on an identical pristine board (apart from run ids and wall times);
 * - an entry whose predecessor did not complete is not run (the station refuses it before any pulse).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, queueControl, serveStation } from './helpers/station.js';
import { waitFor } from './helpers/server.js';

const RUN = /[0-9]{8}-[0-9]{6}-[0-9a-f]{4}/g;
const WALL = new Set(['runId', 'wall_s', 'wallPerCell_s', 'state']);
const strip = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (k: string, v: unknown) => (WALL.has(k) ? undefined : typeof v === 'string' ? v.replace(RUN, 'RUN') : v)));

const ARGS = ['wv-bench', '--algos', 'igvva,igvva-predict', '--levels', '2', '--cells-per-level', '3', '--relax', '1s', '--max-pulses', '200'];

test('wv-bench through a station: two at once never interleave; the first equals the direct run', { timeout: 240000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'rram-station-wvb-'));
  const viaStore = join(root, 'station');
  const directStore = join(root, 'direct');
  const st = await serveStation(viaStore);
  try {
    await waitFor(() => existsSync(join(viaStore, 'stations')) && readdirSync(join(viaStore, 'stations')).some((n) => n.endsWith('.json')), 10000, 'the station file');
    const control = queueControl(viaStore, st.url);
    assert.equal((await control('pause')).status, 200);
    // Both submitted at once while the queue waits: their items land in the queue together.
    const a = cli([...ARGS, '--store', viaStore, '--out', join(root, 'a')]);
    const b = cli([...ARGS, '--store', viaStore, '--out', join(root, 'b')]);
    await waitFor(() => (a.err().match(/queued/g) ?? []).length >= 1 && (b.err().match(/queued/g) ?? []).length >= 1, 60000, 'both benchmarks queued');
    assert.equal((await control('resume')).status, 200);
    const direct = cli([...ARGS, '--store', directStore, '--out', join(root, 'direct')]);
    const [ca, cb, cd] = await Promise.all([a.done, b.done, direct.done]);
    assert.equal(ca, 0, a.err());
    assert.equal(cb, 0, b.err());
    assert.equal(cd, 0, direct.err());
    const hist = ((await (await fetch(`${st.url}/api/boards/board0/queue/history`)).json()) as { items: { id: string; kind: string; state: string; submitter?: string }[] }).items;
    assert.equal(hist.length, 4);
    assert.ok(hist.every((h) => h.kind === 'characterize' && h.state === 'completed'), JSON.stringify(hist));
    // Never interleaved: each benchmark's items are neighbours in the order they ran.
    const who = hist.map((h) => h.submitter);
    assert.equal(who[0], who[1], `the first benchmark's two entries ran back to back: ${who.join(' | ')}`);
    assert.equal(who[2], who[3], `the second benchmark's two entries ran back to back: ${who.join(' | ')}`);
    assert.notEqual(who[1], who[2]);
    // The one that ran first met the pristine board the direct run met: the same comparison, printed and written.
    const [first, second] = hist[0].id === (JSON.parse(readFileSync(join(root, 'a', 'wv-bench.json'), 'utf8')) as { algos: { runId: string }[] }).algos[0].runId ? [a, b] : [b, a];
    const dirOf = (c: typeof a) => (c === a ? 'a' : 'b');
    const read = (d: string) => JSON.parse(readFileSync(join(root, d, 'wv-bench.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(strip(read(dirOf(first))), strip(read('direct')), 'wv-bench.json through the station is the direct one');
    const table = (out: string) => out.replace(RUN, 'RUN').replace(new RegExp(root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g'), 'ROOT').replace(/ROOT\/(a|b|direct)\//g, 'ROOT/X/');
    assert.equal(table(first.out()), table(direct.out()), 'the printed comparison is the direct one');
    assert.match(first.err(), /served by the station at http:\/\/127\.0\.0\.1:\d+: run \S+ queued/);
    // The second benchmark's cells are other fresh cells: none of the first's.
    assert.notDeepEqual(strip(read(dirOf(second))), strip(read(dirOf(first))));
  } finally {
    await st.stop();
  }
});

test('a wv-bench entry whose predecessor did not complete is refused before any pulse', { timeout: 120000 }, async () => {
  const store = mkdtempSync(join(tmpdir(), 'rram-station-wvb-prev-'));
  const st = await serveStation(store);
  try {
    await waitFor(() => existsSync(join(store, 'stations')) && readdirSync(join(store, 'stations')).some((n) => n.endsWith('.json')), 10000, 'the station file');
    const dir = join(store, 'stations');
    const token = (JSON.parse(readFileSync(join(dir, readdirSync(dir).find((n) => n.endsWith('.json'))!), 'utf8')) as { token: string }).token;
    const post = (path: string, body: unknown) => fetch(`${st.url}${path}`, { method: 'POST', headers: { 'x-rram-token': token, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const control = queueControl(store, st.url);
    await control('pause');
    // Entry 0 asks for more fresh cells than the board has (its cells and entry 1's: twice the board): it fails before any pulse; entry 1 must not run.
    const arrays = ((await (await fetch(`${st.url}/api/boards`)).json()) as { info: { arrays: number; rows: number; cols: number } }[])[0].info;
    const all = (arrays.arrays * arrays.rows * arrays.cols) / 2;
    const entry = (k: number, cellsPerLevel: number) => ({ kind: 'characterize', levels: 2, cellsPerLevel, wvBench: { label: `e${k}`, entry: k, of: 2 } });
    // A batch whose entries differ, or that names the item before one itself, or a lone entry, is refused by name.
    const uneven = await post('/api/boards/board0/queue/batch', { requests: [entry(0, all), entry(1, 2)] });
    assert.match(((await uneven.json()) as { error: string }).error, /^requests\[1\]\.cellsPerLevel=2: must equal the first entry's/);
    const named = await post('/api/boards/board0/queue/batch', { requests: [{ ...entry(0, 2), wvBench: { label: 'e0', entry: 0, of: 1, first: '20261202-000000-abcd' } }] });
    assert.match(((await named.json()) as { error: string }).error, /^wvBench\.first=.*is set by the station/);
    const lone = await post('/api/boards/board0/queue', { request: entry(0, 2) });
    assert.match(((await lone.json()) as { error: string }).error, /^wvBench=.*added with its whole benchmark/);
    const res = await post('/api/boards/board0/queue/batch', { requests: [entry(0, all), entry(1, all)] });
    assert.equal(res.status, 202, await res.clone().text());
    const ids = ((await res.json()) as { items: { runId: string }[] }).items.map((i) => i.runId);
    // One bad request adds none.
    const bad = await post('/api/boards/board0/queue/batch', { requests: [entry(0, 2), { kind: 'characterize', bogus: 1 }] });
    assert.equal(bad.status, 400);
    await control('resume');
    const item = async (id: string) => (await (await fetch(`${st.url}/api/boards/board0/queue/${id}`)).json()) as { state: string; error?: string };
    await waitFor(async () => ['completed', 'failed'].includes((await item(ids[1])).state), 60000, 'the second entry ended');
    assert.equal((await item(ids[0])).state, 'failed');
    const second = await item(ids[1]);
    assert.equal(second.state, 'failed');
    assert.match(second.error ?? '', /entry before this one ended/);
    const hist = ((await (await fetch(`${st.url}/api/boards/board0/queue/history`)).json()) as { items: unknown[] }).items;
    assert.equal(hist.length, 2, 'the refused batch added nothing');
  } finally {
    await st.stop();
  }
});
