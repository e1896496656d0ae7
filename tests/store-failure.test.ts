/**
 * A full disk is a run outcome (issue 25), on a real (small) tmpfs filled to different points: the
 * CLI prints one line and exits 1, the run is `failed` with the error in run.json, every line
 * written before is whole and readable, `--resume` after freeing space finishes it without pulsing
 * a done cell again (the board got exactly what the record says); `rram serve` stays up and serving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import type { RunEvent } from '../src/engine/events.js';
import { eventsTextSync } from '../src/store/event-files.js';
import { repoRoot } from '../lib/repo-root.js';
import { StoreWriteError } from '../drivers/errors.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { runJob } from '../src/jobs/run-job.js';
import { mountTmpfs } from './helpers/tmpfs.js';
import { waitFor } from './helpers/server.js';

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const key = (c: { array: number; row: number; col: number }) => `${c.array}:${c.row}:${c.col}`;
const MB = 1 << 20;

/** Every line of a run's events, each one required to parse (a torn line in the middle would be lost data). */
function allEvents(dir: string): RunEvent[] {
  const text = eventsTextSync(dir);
  return text
    .split('\n')
    .filter(Boolean)
    .map((l, k) => {
      try {
        return JSON.parse(l) as RunEvent;
      } catch {
        throw new Error(`${dir}: line ${k + 1} is not whole: ${l.slice(0, 80)}`);
      }
    });
}

test('ENOSPC at four points of a CLI characterize run: one line, exit 1, run failed with its error, readable, resumable without double pulses', { timeout: 600000 }, () => {
  const fs = mountTmpfs(28 * MB);
  try {
    // From no room for the run's reserve to running out near the end (the events take ~9 MB plain).
    for (const [k, leave] of [0.3 * MB, 1.6 * MB, 3.5 * MB, 6 * MB].entries()) {
      const store = join(fs.dir, `s${k}`);
      mkdirSync(store);
      const seed = 40 + k;
      const args = [main, 'characterize', '--levels', '4', '--cells-per-level', '48', '--reads', '2', '--store', store, '--seed', String(seed)];
      fs.fill(leave);
      const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120000 });
      const what = `leave ${(leave / MB).toFixed(1)} MB`;
      assert.equal(r.status, 1, `${what}: exit ${r.status}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at |Uncaught|Error: /, `${what}: no stack trace:\n${r.stderr}`);
      const lines = r.stderr.split('\n').filter((l) => /^rram: /.test(l));
      assert.equal(lines.length, 1, `${what}: one line:\n${r.stderr}`);
      const m = /^rram: run (\S+) failed: cannot write \S+: no space left on the device \(ENOSPC\); everything written before is in the store; free space and resume with --resume (\S+)$/.exec(lines[0]);
      assert.ok(m && m[1] === m[2], `${what}: ${lines[0]}`);
      const id = m[1];
      const dir = join(store, 'runs', id);
      const rec = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
      assert.equal(rec.status, 'failed', what);
      assert.match(rec.error, /ENOSPC/);
      assert.ok(!existsSync(join(dir, '.reserve')), 'the reserve is given back');
      const before = allEvents(dir);
      assert.deepEqual(before.map((e) => e.seq), before.map((_, i) => i), `${what}: seq contiguous from 0`);
      const doneBefore = new Set(before.filter((e) => e.type === 'cell-done' && !(e as { step?: string }).step).map((e) => key((e as { cell: { array: number; row: number; col: number } }).cell)));

      fs.drain();
      const again = spawnSync(process.execPath, [...args, '--resume', id, '--json'], { encoding: 'utf8', timeout: 120000 });
      assert.equal(again.status, 0, `${what}: resume: ${again.stderr}`);
      const all = allEvents(dir);
      assert.deepEqual(all.map((e) => e.seq), all.map((_, i) => i), `${what}: seq contiguous across the failure and the resume`);
      const from = all.findIndex((e) => e.type === 'run-resume');
      assert.ok(from >= 0);
      const repulsed = all.slice(from).filter((e) => e.type === 'pulse' && !(e as { recovered?: boolean }).recovered && doneBefore.has(key(e.cell)));
      assert.equal(repulsed.length, 0, `${what}: cells done before the failure pulsed again`);
      // The result counts every pulse of both attempts; the board got what the record says.
      const pulses = new Map<string, number>();
      const unknown = new Map<string, number>();
      for (const e of all) {
        if (e.type !== 'pulse') continue;
        pulses.set(key(e.cell), (pulses.get(key(e.cell)) ?? 0) + 1);
        if (e.outcome === 'unknown') unknown.set(key(e.cell), (unknown.get(key(e.cell)) ?? 0) + 1);
      }
      const d = JSON.parse(readFileSync(join(dir, 'level-cdf.json'), 'utf8'));
      const cells: { array: number; row: number; col: number; pulses: number }[] = d.levels.flatMap((l: { cells: unknown[] }) => l.cells);
      assert.equal(cells.length, 192);
      const board = new EmulatedBoard({ seed });
      board.attachState(join(store, 'boards'));
      for (const c of cells) {
        assert.equal(c.pulses, pulses.get(key(c)) ?? 0, `${what}: cell ${key(c)} pulses in the result vs the record`);
        const n = board.countersSync(c);
        const got = n.form + n.set + n.reset;
        const rec2 = pulses.get(key(c)) ?? 0;
        assert.ok(got >= rec2 - (unknown.get(key(c)) ?? 0) && got <= rec2, `${what}: cell ${key(c)}: board ${got}, record ${rec2}`);
      }
      void board.close();
      assert.ok(JSON.parse(again.stdout).summary.successRate >= 0.9, what);
    }
  } finally {
    fs.drain();
    fs.unmount();
  }
});

test('ENOSPC under `rram serve`: the job ends failed with the error, the server keeps serving and runs the next job once space is back', { timeout: 300000 }, async () => {
  const fs = mountTmpfs(24 * MB);
  const store = join(fs.dir, 'srv');
  mkdirSync(store);
  const token = 'full-disk-test';
  const p = spawn(process.execPath, [main, 'serve', '--listen', '127.0.0.1:0', '--store', store, '--token', token, '--seed', '9'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  p.stderr.on('data', (b: Buffer) => (err += b.toString()));
  try {
    const url = await waitFor(() => /http:\/\/(127\.0\.0\.1:\d+)\//.exec(out)?.[1], 30000, 'the server to listen');
    const api = (path: string, body?: unknown) =>
      fetch(`http://${url}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json', 'x-rram-token': token }, body: JSON.stringify(body) });
    fs.fill(2 * MB);
    const started = (await (await api('/api/jobs', { kind: 'characterize', levels: 8, cellsPerLevel: 64 })).json()) as { runId: string };
    assert.ok(started.runId);
    const rec = await waitFor(
      async () => {
        const r = (await (await api(`/api/runs/${started.runId}`)).json()) as { status: string; error?: string };
        return ['completed', 'failed', 'aborted'].includes(r.status) ? r : undefined;
      },
      120000,
      'the job to end',
    );
    assert.equal(rec.status, 'failed');
    assert.match(rec.error ?? '', /no space left on the device \(ENOSPC\)/);
    assert.equal(p.exitCode, null, `the server is still running\n${err}`);
    assert.doesNotMatch(err, /Uncaught|\n\s+at /, err);
    assert.equal((await api('/api/runs')).status, 200);
    assert.equal(((await (await api('/api/jobs')).json()) as unknown[]).length, 0, 'no job left behind as running');
    fs.drain();
    const res = await api('/api/jobs', { kind: 'characterize', levels: 4, cellsPerLevel: 8 });
    const next = (await res.json()) as { runId: string };
    assert.equal(res.status, 202, JSON.stringify(next));
    const done = await waitFor(
      async () => {
        const r = (await (await api(`/api/runs/${next.runId}`)).json()) as { status: string };
        return ['completed', 'failed', 'aborted'].includes(r.status) ? r : undefined;
      },
      120000,
      'the second job',
    );
    assert.equal(done.status, 'completed');
    assert.ok(readdirSync(join(store, 'runs')).length >= 2);
  } finally {
    p.kill('SIGTERM');
    await new Promise((r) => p.once('exit', r));
    fs.drain();
    fs.unmount();
  }
});

test('a write that fails between commits (the sink\'s timer, a result file) fails the run in process: no uncaught exception, the error kept', { timeout: 120000 }, async () => {
  const fs = mountTmpfs(8 * MB);
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    for (const where of ['timer', 'result'] as const) {
      const store = new EmbeddedStore(join(fs.dir, where));
      const out = await runJob(
        { store },
        async (ctx) => {
          ctx.begin({ kind: 'read', params: { where }, board: new EmulatedBoard({ seed: 1 }).info() });
          fs.fill(where === 'timer' ? 64 << 10 : 0);
          // Events without a commit: only the sink's 200 ms timer writes them.
          for (let k = 0; k < (where === 'timer' ? 4000 : 10); k++) ctx.emit({ type: 'warning', code: 'filler', message: 'x'.repeat(200) });
          await new Promise((r) => setTimeout(r, 600));
          return { big: 'y'.repeat(where === 'result' ? 2 * MB : 10) };
        },
        { resultName: 'read' },
      );
      assert.equal(out.status, 'failed', where);
      assert.ok(out.error instanceof StoreWriteError && out.error.errno === 'ENOSPC', `${where}: ${String(out.error)}`);
      fs.drain();
      const rec = store.getRun(out.runId);
      assert.equal(rec.status, 'failed', where);
      assert.match(rec.error ?? '', /ENOSPC/);
      assert.ok(!readdirSync(store.runDir(out.runId)).some((f) => f.endsWith('.tmp')), `${where}: no temporary file left`);
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(uncaught, []);
  } finally {
    process.off('uncaughtException', onUncaught);
    fs.drain();
    fs.unmount();
  }
});
