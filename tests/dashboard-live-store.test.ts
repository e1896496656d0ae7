/**
 * Any run written to a store, by any process, appears live on the dashboard (issue 29): with the
 * dashboard open in Chromium on `rram serve`, a CLI run in another process on a board the station
 * does not serve writes into the same store; the page follows it while it runs (its id, its
 * progress, its cells on the map), and shows it completed when the CLI is done.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { needTool } from './helpers/env.js';
import { CHROMIUM_ARGS } from './helpers/browser.js';
import { startServer, waitFor } from './helpers/server.js';
import { cli, queueControl, serveStation } from './helpers/station.js';
import { LiveRun } from '../src/server/live-state.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';

type Page = Awaited<ReturnType<Awaited<ReturnType<typeof chromium.launch>>['newPage']>>;

/** Records every progress text the page draws, with the time it drew it and the run it showed. */
async function recordProgress(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: [number, string, string][] = [];
    (window as unknown as { seen: typeof seen }).seen = seen;
    const node = document.querySelector('#progress-text')!;
    new MutationObserver(() => seen.push([Date.now(), document.querySelector('#run-id')?.textContent ?? '', node.textContent ?? ''])).observe(node, { childList: true, characterData: true, subtree: true });
  });
}

/** The distinct progress steps ("phase: done") the page drew for `runId` before `before` (ms). */
async function progressSteps(page: Page, runId: string, before: number): Promise<Set<string>> {
  const seen = await page.evaluate(() => (window as unknown as { seen: [number, string, string][] }).seen);
  return new Set(seen.filter(([t, id]) => t < before && id === runId).map(([, , text]) => /^([\w-]+: \d+) \/ \d+/.exec(text)?.[1]).filter((x): x is string => x !== undefined));
}

test('a CLI run of another process appears live on the open dashboard', { timeout: 300000 }, async (t) => {
  if (!needTool(t, 'chromium', 'chromium')) return;
  const store = mkdtempSync(join(tmpdir(), 'rram-live-store-'));
  const st = await serveStation(store);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(st.url);
    await page.waitForSelector('body[data-ready="1"]');
    // Another board (seed 7): the station does not serve it, so the CLI drives it itself, into the same store.
    const run = cli(['characterize', '--seed', '7', '--levels', '4', '--cells-per-level', '160', '--store', store]);
    const runId = await waitFor(() => readdirSync(join(store, 'runs'), { withFileTypes: true }).find((d) => d.isDirectory())?.name, 60000, 'the CLI run to begin');
    let exitedAt = Infinity;
    void run.done.then(() => (exitedAt = Date.now()));
    await recordProgress(page);
    await page.waitForFunction((id) => document.querySelector('#run-id')?.textContent === id, runId, { timeout: 30000 });
    assert.equal(await run.done, 0, run.err());
    await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'completed', undefined, { timeout: 30000 });
    // Live: the page drew the run's progress step by step while the other process still ran, before
    // its run-end was written (not all at once when the follower finishes an ended run from its record).
    let endedAt = exitedAt;
    for await (const e of new EmbeddedStore(store).events(runId)) if (e.type === 'run-end') endedAt = Math.min(endedAt, e.t);
    const during = await progressSteps(page, runId, endedAt);
    assert.ok(during.size >= 3, `progress steps drawn while the CLI ran: ${[...during].join(' | ')}`);
    // What the server folded while following is the stored run, each event once: the fold of the record itself.
    const served = (await (await fetch(`${st.url}/api/runs/${runId}/map`)).json()) as { cells: unknown[][] };
    const own = new LiveRun(runId);
    for await (const e of new EmbeddedStore(store).events(runId)) own.apply(e);
    const byCell = (c: unknown[][]) => [...c].sort((a, b) => String(a.slice(0, 3)).localeCompare(String(b.slice(0, 3))));
    assert.deepEqual(byCell(served.cells), byCell(own.delta(-1).cells));
    assert.equal(served.cells.filter((c) => c[5] !== null).length, 4 * 160, 'every cell the CLI finished');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await st.stop();
  }
});

test('two CLI processes and one browser on one station: queued in order, never interleaved, each live in the browser', { timeout: 300000 }, async (t) => {
  if (!needTool(t, 'chromium', 'chromium')) return;
  const store = mkdtempSync(join(tmpdir(), 'rram-two-cli-'));
  const st = await serveStation(store);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(st.url);
    await page.waitForSelector('body[data-ready="1"]');
    await recordProgress(page);
    // Both aimed at the station's own board: each joins its queue (held until both are in it).
    const control = queueControl(store, st.url);
    await control('pause');
    // Runs long enough for several progress ticks (the streaming engine finishes 160 cells in-process within one).
    const a = cli(['characterize', '--levels', '4', '--cells-per-level', '128', '--store', store, '--json']);
    const idA = await waitFor(() => /run (\S+) queued/.exec(a.err())?.[1], 30000, 'the first run queued');
    const b = cli(['characterize', '--levels', '4', '--cells-per-level', '128', '--store', store, '--json']);
    const idB = await waitFor(() => /run (\S+) queued behind 1/.exec(b.err())?.[1], 30000, 'the second run queued behind the first');
    await control('resume');
    const ends: Record<string, number> = {};
    void a.done.then(() => (ends[idA] = Date.now()));
    void b.done.then(() => (ends[idB] = Date.now()));
    assert.deepEqual(await Promise.all([a.done, b.done]), [0, 0], a.err() + b.err());
    const hist = ((await (await fetch(`${st.url}/api/boards/board0/queue/history`)).json()) as { items: { id: string; started: string; ended: string }[] }).items;
    assert.deepEqual(hist.map((h) => h.id), [idA, idB]);
    assert.ok(hist[1].started >= hist[0].ended, 'the second run started after the first ended');
    // The page followed each while it ran.
    for (const id of [idA, idB]) {
      const steps = await progressSteps(page, id, ends[id]);
      // At least two steps drawn before it ended, one of them short of all 512 cells: the page drew
      // the run as it went (how many ticks fit in a run depends on the machine's speed).
      const counts = [...steps].map((x) => Number(x.split(': ')[1]));
      assert.ok(steps.size >= 2 && counts.some((c) => c < 512), `run ${id}: progress steps drawn while it ran: ${[...steps].join(' | ')}`);
    }
  } finally {
    await browser.close();
    await st.stop();
  }
});

test("the page's board queue: the queued runs in order, move up, halt grounds every line", { timeout: 120000 }, async (t) => {
  if (!needTool(t, 'chromium', 'chromium')) return;
  const s = await startServer();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const base = `${s.url}/api/boards/board0/queue`;
    await s.post(`${base}/pause`, {});
    const ids: string[] = [];
    for (const n of [2, 3]) ids.push(((await (await s.post(base, { request: { kind: 'characterize', levels: 2, cellsPerLevel: n }, submitter: `client ${n}` })).json()) as { runId: string }).runId);
    const page = await browser.newPage();
    page.on('dialog', (d) => void d.accept());
    await page.goto(s.url);
    await page.waitForSelector('body[data-ready="1"]');
    const order = () => page.$$eval('#queue-items tr', (rows) => rows.map((r) => (r as HTMLElement).dataset.id));
    assert.deepEqual(await order(), ids);
    await page.click(`#queue-items tr[data-id="${ids[1]}"] button:text("up")`);
    await page.waitForFunction((first) => (document.querySelector('#queue-items tr') as HTMLElement)?.dataset.id === first, ids[1]);
    assert.deepEqual(((await (await fetch(base)).json()) as { queued: { id: string }[] }).queued.map((i) => i.id), [ids[1], ids[0]], 'moved on the station, not only on the page');
    await page.click('#queue-halt');
    await page.waitForFunction(() => (document.querySelector('#queue-state') as HTMLElement).dataset.lines === 'grounded');
    assert.match((await page.textContent('#queue-state')) ?? '', /^halted.*every line grounded/);
  } finally {
    await browser.close();
    await s.close();
  }
});
