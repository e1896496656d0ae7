/**
 * What a command prints when its reader goes away or what it is asked for is gone (issue 25):
 * `rram ... | head` ends quietly (no EPIPE stack trace, exit 0, the run still stored whole); an
 * export of a pruned run is refused saying so and what is left (CLI exit 2, HTTP 410), never a
 * bare header with exit 0; an unknown event type in a filter is refused by name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { pruneRuns } from '../src/store/retention.js';
import { startServer } from './helpers/server.js';

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const store = mkdtempSync(join(tmpdir(), 'rram-out-'));
const rram = (...a: string[]) => spawnSync(process.execPath, [main, ...a], { encoding: 'utf8', timeout: 120000, maxBuffer: 256 << 20 });

/** Runs `rram ARGS | head -c BYTES` in bash; returns rram's exit status and its stderr. */
function intoHead(args: string[], bytes = 100): { status: number; stderr: string; shown: string } {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const errFile = join(store, `err-${Math.random().toString(36).slice(2)}`);
  const r = spawnSync('bash', ['-c', `${q(process.execPath)} ${q(main)} ${args.map(q).join(' ')} 2>${q(errFile)} | head -c ${bytes}; echo " ${'$'}{PIPESTATUS[0]}"`], { encoding: 'utf8', timeout: 180000 });
  const status = Number(/ (\d+)\s*$/.exec(r.stdout)?.[1]);
  return { status, stderr: readFileSync(errFile, 'utf8'), shown: r.stdout };
}

let runId = '';
test('setup: one stored characterize run', () => {
  const r = rram('characterize', '--levels', '4', '--cells-per-level', '32', '--store', store, '--seed', '5');
  assert.equal(r.status, 0, r.stderr);
  runId = readdirSync(join(store, 'runs'))[0];
});

test('a closed stdout (| head) ends every kind of output quietly: exit 0, no EPIPE trace; a run piped into head still finishes and is stored', () => {
  const cases: string[][] = [
    ['export', '--run', runId, '--format', 'csv', '--store', store],
    ['export', '--run', runId, '--format', 'json', '--store', store],
    ['runs', '--store', store],
    ['--help'],
    ['characterize', '--levels', '2', '--cells-per-level', '16', '--store', store, '--seed', '6', '--json'],
  ];
  for (const args of cases) {
    const r = intoHead(args, 40);
    assert.equal(r.status, 0, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /EPIPE|\n\s+at |Error/, `${args.join(' ')}: ${r.stderr}`);
  }
  // The piped run completed and is stored with its result.
  const runs = new EmbeddedStore(store).listRuns();
  const piped = runs.find((x) => x.params && (x.params as { seed?: number }).seed === 6);
  assert.ok(piped, 'the run piped into head is in the store');
  assert.equal(piped.status, 'completed');
  assert.ok(piped.results.includes('level-cdf'));
});

test('an unknown event type in a filter is refused, naming the types', async () => {
  const r = rram('export', '--run', runId, '--type', 'pulses', '--store', store);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--type="pulses": must be one of run-start, .*pulse, read, cell-done/);
  const s = await startServer({ storeDir: store });
  try {
    const a = await fetch(`${s.url}/api/runs/${runId}/events?type=pulses`);
    assert.equal(a.status, 400);
    assert.match(((await a.json()) as { error: string }).error, /type="pulses"/);
    const b = (await (await fetch(`${s.url}/api/runs/${runId}/events?type=pulse&limit=5`)).json()) as { events: { type: string }[] };
    assert.equal(b.events.length, 5);
    assert.ok(b.events.every((e) => e.type === 'pulse'));
  } finally {
    await s.close();
  }
});

test('export of a pruned run is refused, saying it was pruned and what is left (CLI exit 2, HTTP 410)', async () => {
  const st = new EmbeddedStore(store);
  const before = rram('export', '--run', runId, '--format', 'csv', '--store', store);
  assert.equal(before.status, 0);
  assert.ok(before.stdout.split('\n').length > 1000, 'a whole run exports its events');
  pruneRuns(st, { olderThan_s: 0 });
  assert.ok(st.getRun(runId).pruned);
  for (const fmt of ['csv', 'json']) {
    const r = rram('export', '--run', runId, '--format', fmt, '--store', store);
    assert.equal(r.status, 2, `${fmt}: ${r.stderr}`);
    assert.equal(r.stdout, '', `${fmt}: nothing on stdout`);
    assert.match(r.stderr, new RegExp(`run ${runId}: its events were pruned on \\S+ \\(rram runs prune\\): there are none to export; what is left: run.json and the results level-cdf`));
  }
  const h = rram('export', '--run', runId, '--format', 'hdf5', '--out', join(store, 'x.h5'), '--store', store);
  assert.equal(h.status, 2);
  assert.match(h.stderr, /pruned/);
  const s = await startServer({ storeDir: store });
  try {
    for (const fmt of ['csv', 'json', 'hdf5']) {
      const r = await fetch(`${s.url}/api/runs/${runId}/export?format=${fmt}`);
      assert.equal(r.status, 410, fmt);
      assert.match(((await r.json()) as { error: string }).error, /pruned.*what is left: run.json and the results level-cdf/);
    }
    // The results themselves are still served.
    assert.equal((await fetch(`${s.url}/api/runs/${runId}/results/level-cdf`)).status, 200);
  } finally {
    await s.close();
  }
});
