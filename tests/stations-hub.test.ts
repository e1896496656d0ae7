/**
 * Several stations, one view (issue 29): two `rram serve` stations, each its own board and store,
 * write to one real influxd, and a third `rram serve --stations FILE` shows both on its Stations
 * page in Chromium. probe-1's network is cut twice (a blackhole: connections accepted and
 * never answered, the harder case for the sink's timeouts; then refused connections) while a run
 * is under way and another is queued: it keeps running its jobs on its local board, its sink spills, the page marks it
 * unreachable (never "up") while probe-2's runs stay on the page; after the restore its spill
 * replays, and for every run of both stations InfluxDB holds exactly one point per stored event
 * (none lost, none twice, each tagged with its station) and the page shows nothing missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { needTool } from './helpers/env.js';
import { CHROMIUM_ARGS } from './helpers/browser.js';
import { waitFor } from './helpers/server.js';
import { checkEveryRun, ended, influxPoints, queueCharacterize, spilledFiles, startScene } from './helpers/stations-scenario.js';

test('two stations on one InfluxDB, one page; a network cut loses and duplicates nothing', { timeout: 240000 }, async (t) => {
  if (!needTool(t, 'influxd', 'influxdb') || !needTool(t, 'chromium', 'chromium')) return;
  const t0 = Date.now();
  const step = (what: string) => t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const scene = await startScene();
  step('influxd, two stations and the hub up');
  const { a, b, hub } = scene;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${hub.url}/#stations`);
    await page.waitForSelector('body[data-ready="1"]');
    // Every state the page draws for probe-1, with the time it drew it.
    await page.evaluate(() => {
      const seen: [number, string][] = [];
      (window as unknown as { seen: typeof seen }).seen = seen;
      new MutationObserver(() => seen.push([Date.now(), document.querySelector('[data-station="probe-1"]')?.getAttribute('data-state') ?? ''])).observe(document.querySelector('#stations-list')!, { childList: true, subtree: true });
    });
    const row = (station: string, run: string) => `[data-station="${station}"] tr[data-run="${run}"]`;
    const upAndComplete = async (station: string, runs: string[]) => {
      await page.waitForSelector(`[data-station="${station}"][data-state="up"]`, { timeout: 30000 });
      for (const r of runs) await page.waitForSelector(`${row(station, r)}[data-missing="0"]`, { timeout: 60000 });
    };

    const r1 = [await queueCharacterize(a, 16), await queueCharacterize(b, 16)];
    await Promise.all([ended(a, r1[0]), ended(b, r1[1])]);
    await Promise.all([upAndComplete('probe-1', [r1[0]]), upAndComplete('probe-2', [r1[1]])]);
    step('first runs of both stations complete on the page');

    const runsOf: Record<string, string[]> = { 'probe-1': [r1[0]], 'probe-2': [r1[1]] };
    for (const mode of ['blackhole', 'refuse'] as const) {
      // A run under way when the network goes: cut once InfluxDB holds some of its points.
      const during = await queueCharacterize(a, 64);
      await waitFor(async () => ((await influxPoints(scene.influxd.port, during)).length > 0 ? true : undefined), 60000, 'the first points of the run');
      const swallowed = scene.cutInflux.stats.swallowed;
      await Promise.all([scene.cutInflux.cut(mode), scene.cutHttp.cut(mode)]);
      const cutAt = Date.now();
      step(`probe-1 cut off (${mode})`);
      const queuedInCut = await queueCharacterize(a, 16);
      const bInCut = await queueCharacterize(b, 16);
      // probe-1 keeps working on its own board: both runs end while it is cut off.
      assert.equal(await ended(a, during), 'completed');
      assert.equal(await ended(a, queuedInCut), 'completed');
      await page.waitForSelector('[data-station="probe-1"][data-state="unreachable"]', { timeout: 30000 });
      // probe-2's runs reach the page meanwhile; probe-1's points wait on its disk (its writes failed).
      assert.equal(await ended(b, bInCut), 'completed');
      await upAndComplete('probe-2', [bInCut]);
      await waitFor(() => (spilledFiles(a) > 0 ? true : undefined), 60000, "probe-1's sink to spill");
      step(`${mode}: probe-1's runs ended in the cut, ${spilledFiles(a)} spill file(s)`);
      assert.equal((await influxPoints(scene.influxd.port, queuedInCut)).length, 0, 'no point of a run made during the cut reached InfluxDB');
      if (mode === 'blackhole') assert.ok(scene.cutInflux.stats.swallowed > swallowed, 'bytes of the sink\'s writes (or their answers) were lost in the blackhole');
      const restoreAt = Date.now();
      await Promise.all([scene.cutInflux.restore(), scene.cutHttp.restore()]);

      // The catch-up: probe-1 up again, every run of both stations complete on the page.
      runsOf['probe-1'].push(during, queuedInCut);
      runsOf['probe-2'].push(bInCut);
      await upAndComplete('probe-1', runsOf['probe-1']);
      await upAndComplete('probe-2', runsOf['probe-2']);
      step(`${mode}: restored; every run complete on the page`);
      const seen = await page.evaluate(() => (window as unknown as { seen: [number, string][] }).seen);
      // Once the page said "unreachable" (within 10 s of the cut: polls every 1.5 s, 1.5 s timeout), it never said "up" until the restore.
      const first = seen.find(([tm, st]) => tm > cutAt && st === 'unreachable');
      assert.ok(first && first[0] - cutAt < 10000, `probe-1 shown unreachable ${first ? first[0] - cutAt : '(never)'} ms after the cut`);
      assert.deepEqual([...new Set(seen.filter(([tm]) => tm >= first[0] && tm < restoreAt).map(([, st]) => st))], ['unreachable'], 'probe-1 never shown up while cut off');
    }

    // Exactly one point per stored event, for every run of both stations.
    for (const m of [a, b]) {
      const runs = await checkEveryRun(scene.influxd.port, m);
      assert.deepEqual(runs.map((r) => r.run).sort(), [...runsOf[m.name]].sort(), `${m.name}'s runs`);
      for (const r of runs) {
        assert.ok(r.stored > 100, `${m.name} run ${r.run} stored ${r.stored} points`);
        assert.deepEqual({ ...r, run: undefined }, { run: undefined, stored: r.stored, inInflux: r.stored, lost: 0, duplicated: 0, wrongTag: 0 }, `${m.name} run ${r.run}`);
      }
    }
    assert.equal(spilledFiles(a), 0, 'the spill replayed and removed');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await scene.close();
  }
});
