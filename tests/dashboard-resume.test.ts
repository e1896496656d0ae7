/**
 * Resuming an interrupted run through the station (issue 29), in real Chromium and from the CLI:
 * the history's Resume button, and `rram characterize --resume RUN` aimed at the station, queue
 * the run's job again on the board's queue; the run goes on in its own folder (no new run), its
 * record gets one run-resume, every cell is done exactly once and no cell is pulsed after its
 * cell-done. Runs that cannot go on say why (completed; another board), and a resume whose job
 * differs from the run's is refused naming what changed, the run left as it was. A station killed
 * (kill -9) mid-run: the next station on the store resumes the run, the CLI finding it by the store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { needTool } from './helpers/env.js';
import { startServer, waitFor, type TestServer } from './helpers/server.js';
import { CHROMIUM_ARGS } from './helpers/browser.js';
import { cli as spawnCli, queueControl, serveStation } from './helpers/station.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import type { RunEvent } from '../src/engine/events.js';

const JOB = { kind: 'characterize', levels: 8, cellsPerLevel: 48, algo: 'igvva' };
const CELLS = JOB.levels * JOB.cellsPerLevel;

/** A characterize job aborted once `done` of its cells are done: an interrupted run. */
async function interrupted(s: TestServer, seed: number, done: number): Promise<string> {
  const r = (await (await s.post(`${s.url}/api/jobs`, { ...JOB, seed })).json()) as { runId: string };
  let n = 0;
  const sub = s.jobs.bus.subscribe((e) => e.runId === r.runId && e.type === 'cell-done' && n++);
  await waitFor(() => n >= done, 60000, `${done} cells of run ${r.runId} done`);
  sub.unsubscribe();
  assert.equal((await s.post(`${s.url}/api/jobs/${r.runId}/abort`, {})).status, 200);
  await waitFor(() => s.jobs.store.getRun(r.runId).status === 'aborted', 30000, `run ${r.runId} aborted`);
  return r.runId;
}

/** The resumed run's record: one folder, one run-resume, every cell done once, none pulsed after its cell-done. */
async function checkResumed(s: { jobs: { store: EmbeddedStore } }, id: string, doneBefore: number, cells = CELLS): Promise<void> {
  const rec = s.jobs.store.getRun(id);
  assert.equal(rec.status, 'completed', `run ${id}: ${rec.error ?? ''}`);
  assert.equal(rec.resumes, 1);
  const events: RunEvent[] = [];
  for await (const e of s.jobs.store.events(id)) events.push(e);
  assert.deepEqual(events.map((e) => e.seq), events.map((_, k) => k), 'one sequence, continued');
  assert.equal(events.filter((e) => e.type === 'run-start').length, 1);
  const resumeAt = events.findIndex((e) => e.type === 'run-resume');
  assert.ok(resumeAt > 0 && events.slice(resumeAt + 1).every((e) => e.type !== 'run-resume'));
  const doneAt = new Map<string, number>();
  const key = (c: { array: number; row: number; col: number }) => `${c.array}:${c.row}:${c.col}`;
  for (const e of events) {
    if (e.type === 'cell-done') {
      assert.ok(!doneAt.has(key(e.cell)), `cell ${key(e.cell)} done twice`);
      doneAt.set(key(e.cell), e.seq);
    }
    if (e.type === 'pulse' && doneAt.has(key(e.cell))) assert.fail(`cell ${key(e.cell)} pulsed (seq ${e.seq}) after its cell-done (seq ${doneAt.get(key(e.cell))})`);
  }
  assert.equal(doneAt.size, cells);
  const before = events.slice(0, resumeAt).filter((e) => e.type === 'cell-done').length;
  assert.ok(before >= doneBefore && before < cells, `${before} cells done before the resume`);
}

test('resume: the history button and the CLI through the station continue an interrupted run in its folder; refusals say why', { timeout: 180000 }, async (t) => {
  if (!needTool(t, 'chromium', 'chromium')) return;
  const s = await startServer({ savedBoard: true });
  const runsDir = join(s.storeDir, 'runs');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const a = await interrupted(s, 11, 40);
    const b = await interrupted(s, 12, 40);
    // A completed run, and an aborted one recorded on another board.
    const small = (await (await s.post(`${s.url}/api/jobs`, { kind: 'characterize', levels: 2, cellsPerLevel: 2 })).json()) as { runId: string };
    await waitFor(() => s.jobs.store.getRun(small.runId).status === 'completed', 30000, 'the small run');
    const other = '20260101-000000-abcd';
    s.jobs.store.createRun(other, 'characterize', s.jobs.store.getRun(a).params);
    s.jobs.store.writeRun({ ...s.jobs.store.getRun(other), status: 'aborted', board: { ...s.jobs.board.info(), id: 'emulated-other' } });
    const folders = readdirSync(runsDir).sort();

    const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${s.url}/#history`);
    await page.waitForSelector('body[data-ready="1"]');
    const why = (id: string) => page.waitForFunction((x) => document.querySelector(`#runs button[data-action=resume][data-run="${x}"]`)?.getAttribute('data-checked') === '1', id).then(() => page.textContent(`.resume-why[data-run="${id}"]`));
    assert.match((await why(small.runId))!, /completed: there is nothing to resume/);
    assert.ok(await page.isDisabled(`#runs button[data-action=resume][data-run="${small.runId}"]`));
    assert.match((await why(other))!, /board is not the one served here \(board: was emulated-other/);
    assert.ok(await page.isDisabled(`#runs button[data-action=resume][data-run="${other}"]`));
    assert.equal(await why(a), '');
    // The button: the run goes back on the board's queue and completes in its own folder.
    await page.click(`#runs button[data-action=resume][data-run="${a}"]`);
    await page.waitForFunction((x) => (document.querySelector('#hist-message')?.textContent ?? '').includes(`run ${x} queued to resume`), a);
    await waitFor(() => s.jobs.store.getRun(a).status === 'completed', 60000, `run ${a} resumed to its end`);
    await checkResumed(s, a, 40);

    // The CLI aimed at the station: a job that differs from the run's is refused naming what changed (nothing queued, the run as it was) ...
    // (spawned, not spawnSync: the station answers from this process)
    const cli = async (...extra: string[]) => {
      const c = spawnCli(['characterize', '--station', s.url, '--token', s.token, '--store', s.storeDir, '--levels', String(JOB.levels), '--cells-per-level', String(JOB.cellsPerLevel), '--resume', b, ...extra]);
      return { status: await c.done, stdout: c.out(), stderr: c.err() };
    };
    const bad = await cli('--seed', '13');
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /--resume="[^"]+": an input changed: .*seed: was 12, now 13/);
    assert.equal(s.jobs.store.getRun(b).status, 'aborted');
    // ... and the same job continues it, followed in the terminal from its resume on.
    const ok = await cli('--seed', '12', '--json');
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, new RegExp(`run ${b} queued to resume`));
    assert.equal((JSON.parse(ok.stdout) as { runId: string }).runId, b);
    await checkResumed(s, b, 40);
    assert.deepEqual(readdirSync(runsDir).sort(), folders, 'no new run folder');

    // The API: a completed run and a body that is not a request are refused, naming the field.
    const done = await s.post(`${s.url}/api/runs/${a}/resume`, {});
    assert.equal(done.status, 400);
    assert.match(((await done.json()) as { error: string }).error, /completed: there is nothing to resume/);
    const body = await s.post(`${s.url}/api/runs/${b}/resume`, { request: 5 });
    assert.equal(body.status, 400);
    assert.match(((await body.json()) as { error: string }).error, /request/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await s.close();
  }
});

test('resume after kill -9 of the station mid-run: the next station on the store resumes it through its queue, the CLI following', { timeout: 120000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rram-resume-killed-'));
  const store = new EmbeddedStore(dir);
  const args = ['characterize', '--levels', '4', '--cells-per-level', '64', '--store', dir];
  const first = await serveStation(dir);
  let second: Awaited<ReturnType<typeof serveStation>> | undefined;
  try {
    const c = spawnCli(args);
    const id = await waitFor(() => store.listRuns()[0]?.id, 30000, 'the run to start');
    const doneCells = async () => {
      let n = 0;
      for await (const e of store.events(id)) if (e.type === 'cell-done') n++;
      return n;
    };
    await waitFor(async () => (await doneCells()) >= 20, 60000, '20 cells done');
    // Held at a checkpoint, so that the kill surely falls inside the run; then killed as a power cut would.
    assert.equal((await queueControl(dir, first.url)('pause')).status, 200);
    await waitFor(async () => ((await (await fetch(`${first.url}/api/boards/board0/queue`)).json()) as { running: { pausedAt?: string } | null }).running?.pausedAt, 30000, 'the run held');
    first.proc.kill('SIGKILL');
    await new Promise((r) => (first.proc.exitCode !== null || first.proc.signalCode !== null ? r(null) : first.proc.once('exit', r)));
    c.proc.kill('SIGKILL'); // its station is gone (what it then says is station-cli.test.ts's)
    await c.done;
    assert.equal(store.getRun(id).status, 'running', 'killed: its record says it did not end');
    const before = await doneCells();
    second = await serveStation(dir);
    const check = (await (await fetch(`${second.url}/api/runs/${id}/resume`)).json()) as { resumable: boolean; reason?: string };
    assert.deepEqual(check, { runId: id, resumable: true });
    const r = spawnCli([...args, '--resume', id]);
    // The station came back from a run it was killed in: its queue is paused until a user resumes it, and the CLI says so.
    await waitFor(() => /the station's queue is paused/.test(r.err()) || undefined, 30000, 'the CLI to say the queue is paused');
    assert.equal((await queueControl(dir, second.url)('resume')).status, 200);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([r.done, new Promise<string>((res) => (timer = setTimeout(() => res('still running'), 60000)))]);
    clearTimeout(timer);
    if (code === 'still running') r.proc.kill('SIGKILL');
    assert.equal(code, 0, `${r.err()}\n${r.out()}\nstation: ${second.err()}`);
    assert.match(r.err(), new RegExp(`run ${id} queued to resume`));
    await checkResumed({ jobs: { store } }, id, before, 4 * 64);
    assert.equal(store.listRuns().length, 1, 'one run folder');
  } finally {
    await first.stop();
    await second?.stop();
  }
});
