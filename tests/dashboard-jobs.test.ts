/**
 * Dashboard inference jobs on a freshly started `rram serve` (issue 25): the first job after the
 * start works (tfjs ready, no "reading 'loadLayersModel'"); every engine (native, JavaScript,
 * tfjs) reports progress per batch while it runs and stops on Abort; an aborted job is stored
 * `aborted` with the trials it ran as its result. In real Chromium for the page's side.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { repoRoot } from '../lib/repo-root.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { saveModel } from '../src/inference/model-io.js';
import { needTool } from './helpers/env.js';
import { CHROMIUM_ARGS } from './helpers/browser.js';
import { waitFor } from './helpers/server.js';

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const TOKEN = 'jobs-test-token';

interface Served {
  url: string;
  proc: ChildProcess;
  err: () => string;
  api: (path: string, body?: unknown) => Promise<Response>;
  stop: () => Promise<void>;
}

async function serve(store: string): Promise<Served> {
  const proc = spawn(process.execPath, [main, 'serve', '--listen', '127.0.0.1:0', '--store', store, '--token', TOKEN, '--max-trials', '100000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const host = await waitFor(() => /http:\/\/(127\.0\.0\.1:\d+)\//.exec(out)?.[1], 30000, 'rram serve to listen');
  const url = `http://${host}`;
  return {
    url,
    proc,
    err: () => err,
    api: (path, body) => fetch(`${url}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json', 'x-rram-token': TOKEN }, body: JSON.stringify(body) }),
    stop: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

async function modelStore(): Promise<string> {
  const store = mkdtempSync(join(tmpdir(), 'rram-jobs-'));
  await initTf();
  await saveModel(tf, buildModel(tf, parseArch('dense:8'), 4), join(store, 'models', 'd8'));
  return store;
}

type Ev = { type: string; done?: number; total?: number; status?: string; error?: string };
async function events(s: Served, id: string, type?: string): Promise<Ev[]> {
  const r = (await (await s.api(`/api/runs/${id}/events?limit=10000${type ? `&type=${type}` : ''}`)).json()) as { events?: Ev[] };
  return r.events ?? [];
}

test('the first inference job after a server start works, from the page; Abort from the page stops a native-kernel job and keeps its trials', { timeout: 300000 }, async (t) => {
  if (!needTool(t, 'chromium', 'chromium')) return;
  const s = await serve(await modelStore());
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(s.url);
    await page.waitForSelector('body[data-ready="1"]');
    await page.fill('#token', TOKEN);
    await page.click('nav a[data-view=inference]');
    await page.fill('#form-infer input[name=model]', 'd8');
    await page.fill('#form-infer input[name=device]', 'gaussian:5%');
    await page.fill('#form-infer input[name=trials]', '16');
    await page.click('#start-infer');
    await page.waitForFunction(() => /d8 on mnist, \d+ levels/.test(document.querySelector('#infer-summary')?.textContent ?? '') || /failed/.test(document.querySelector('#infer-progress-text')?.textContent ?? ''), null, { timeout: 120000 });
    assert.match((await page.textContent('#infer-summary')) ?? '', /d8 on mnist, \d+ levels.*16 trials/, `first job: ${await page.textContent('#infer-progress-text')}`);

    // A long job: its progress moves in steps before the end, then Abort.
    await page.fill('#form-infer input[name=trials]', '60000');
    await page.click('#start-infer');
    const seen = await page.waitForFunction(
      () => {
        const m = /monte-carlo: (\d+) \/ 60000/.exec(document.querySelector('#infer-progress-text')?.textContent ?? '');
        return m && Number(m[1]) > 0 && Number(m[1]) < 60000 ? Number(m[1]) : false;
      },
      null,
      { timeout: 120000 },
    );
    assert.ok(Number(await seen.jsonValue()) > 0);
    await page.click('#infer-abort');
    await page.waitForFunction(() => /aborted after \d+ of 60000 trials/.test(document.querySelector('#infer-summary')?.textContent ?? ''), null, { timeout: 60000 });
    const runs = (await (await s.api('/api/runs')).json()) as { id: string; status: string; kind: string; results: string[] }[];
    const aborted = runs.find((r) => r.kind === 'infer' && r.status === 'aborted');
    assert.ok(aborted, 'stored aborted');
    const res = (await (await s.api(`/api/runs/${aborted.id}/results/infer`)).json()) as { trials: number; accuracies: number[]; aborted: { trialsDone: number; trialsAsked: number }; engine: string };
    assert.match(res.engine, /native|js/);
    assert.equal(res.aborted.trialsAsked, 60000);
    assert.ok(res.trials > 0 && res.trials < 60000);
    assert.equal(res.accuracies.length, res.trials);
    assert.deepEqual(errors, []);
    assert.doesNotMatch(s.err(), /loadLayersModel|\n\s+at /);
  } finally {
    await browser.close();
    await s.stop();
  }
});

test('every engine (native, js, tfjs) reports progress per batch and stops on abort with its trials stored', { timeout: 400000 }, async () => {
  const s = await serve(await modelStore());
  try {
    for (const engine of ['native', 'js', 'tfjs'] as const) {
      const trials = engine === 'tfjs' ? 20000 : 60000;
      const r = await s.api('/api/jobs', { kind: 'infer', model: 'd8', trials, images: 200, engine, device: 'gaussian:5%' });
      const { runId } = (await r.json()) as { runId: string };
      assert.equal(r.status, 202, runId);
      // Progress events with done strictly between 0 and the total, increasing, before the end.
      const progress = await waitFor(
        async () => {
          const p = (await events(s, runId, 'progress')).filter((e) => e.done! > 0 && e.done! < trials);
          return p.length >= 3 ? p : undefined;
        },
        120000,
        `${engine}: progress before the end`,
      );
      for (let k = 1; k < progress.length; k++) assert.ok(progress[k].done! > progress[k - 1].done!, `${engine}: progress increases`);
      assert.equal((await s.api(`/api/jobs/${runId}/abort`, {})).status, 200);
      const end = await waitFor(async () => (await events(s, runId, 'run-end'))[0], 60000, `${engine}: the job to end after abort`);
      assert.equal(end.status, 'aborted', `${engine}: ${end.error}`);
      assert.match(end.error ?? '', new RegExp(`aborted after \\d+ of ${trials} trials`));
      const run = (await (await s.api(`/api/runs/${runId}`)).json()) as { status: string; results: string[] };
      assert.equal(run.status, 'aborted');
      assert.ok(run.results.includes('infer'), `${engine}: the trials done are stored`);
      const res = (await (await s.api(`/api/runs/${runId}/results/infer`)).json()) as { trials: number; accuracies: number[]; aborted: { trialsDone: number; trialsAsked: number }; engine: string };
      assert.ok(res.engine.startsWith(engine === 'tfjs' ? 'tfjs' : engine), `${engine}: ran on ${res.engine}`);
      assert.ok(res.trials >= progress.at(-1)!.done! && res.trials < trials, `${engine}: ${res.trials} trials kept`);
      assert.equal(res.accuracies.length, res.trials);
      assert.deepEqual(res.aborted, { trialsDone: res.trials, trialsAsked: trials });
      assert.equal(((await (await s.api('/api/jobs')).json()) as unknown[]).length, 0, `${engine}: nothing left running`);
    }
    assert.doesNotMatch(s.err(), /\n\s+at /);
  } finally {
    await s.stop();
  }
});
