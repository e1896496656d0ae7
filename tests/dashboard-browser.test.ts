/**
 * The dashboard in a real headless Chromium (Debian `chromium` driven by playwright-core): start
 * runs from the page, watch progress, traces and heat maps move, hover a cell, export a plot as PNG
 * and its data as CSV, switch the CDF axis, abort, run ISPVA, inference with progress and sorted
 * accuracy-vs-levels, program-net with the read-back marker, a job that fails before its first event,
 * history, HDF5 export and run comparison. Screenshots go to test-artifacts/dashboard/.
 */
import { test } from 'node:test';
import type { NetOnArraysResult } from '../src/procedures/net-on-arrays.js';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { needTool } from './helpers/env.js';
import { startServer } from './helpers/server.js';
import { CHROMIUM_ARGS } from './helpers/browser.js';
import { repoRoot } from '../lib/repo-root.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { saveModel } from '../src/inference/model-io.js';

interface EChartsLike {
  getOption(): Record<string, unknown[]>;
  convertToPixel(finder: unknown, value: unknown): number[];
}
declare global {
  interface Window {
    echarts: { getInstanceByDom(el: Element): EChartsLike | undefined };
  }
}

/** Toolbox icons are drawn on the chart's canvas: click one by its position (right-aligned, 15 px icons, 10 px gaps). */
async function clickTool(page: Page, sel: string, fromRight: number) {
  const box = (await page.locator(sel).boundingBox())!;
  // toolbox right: 8, padding 5, itemSize 15, itemGap 10; the icons are placed left to right: ... PNG, SVG, CSV.
  await page.mouse.click(box.x + box.width - 8 - 5 - 7.5 - fromRight * 25, box.y + 5 + 7.5);
}
const TOOL = { csv: 0, svg: 1, png: 2 };

/** waitForFunction that says what the page showed when it times out (a function: the page's CSP forbids evaluating strings). */
async function until(page: Page, fn: () => unknown, timeout = 30000) {
  try {
    await page.waitForFunction(fn, null, { timeout });
  } catch (e) {
    const state = await page.evaluate(() => ['#status', '#progress-text', '#message', '#infer-progress-text', '#infer-message', '#infer-summary'].map((s) => `${s}=${document.querySelector(s)?.textContent}`).join(' | '));
    throw new Error(`${(e as Error).message.split('\n')[0]}: waiting for ${fn}; page: ${state}`);
  }
}

/**
 * Clicks a toolbox icon and returns the download. The chart must have settled first (a view just
 * shown is resized after it draws, moving the icons); a click that still lands during a redraw is
 * lost, so it is retried (at most 3 times) before the test fails.
 */
async function downloaded(page: Page, sel: string, tool: keyof typeof TOOL): Promise<{ name: string; data: Buffer }> {
  await page.locator(sel).scrollIntoViewIfNeeded();
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const box0 = await page.locator(sel).boundingBox();
    await page.waitForTimeout(150);
    const box1 = await page.locator(sel).boundingBox();
    if (JSON.stringify(box0) !== JSON.stringify(box1)) continue; // still moving
    try {
      const [d] = await Promise.all([page.waitForEvent('download', { timeout: 5000 }), clickTool(page, sel, TOOL[tool])]);
      const path = await d.path();
      return { name: d.suggestedFilename(), data: readFileSync(path!) };
    } catch (e) {
      last = e;
    }
  }
  throw last ?? new Error(`${sel}: the chart kept moving; no ${tool} download`);
}

test('dashboard in headless Chromium: charts with tooltips and exports, live traces, failures visible, inference progress', { timeout: 420000 }, async (t) => {
  if (!needTool(t, 'chromium', 'chromium')) return;
  const shots = join(repoRoot(), 'test-artifacts', 'dashboard');
  mkdirSync(shots, { recursive: true });
  const s = await startServer();
  await initTf();
  const m = buildModel(tf, parseArch('dense:8'), 4);
  await saveModel(tf, m, join(s.storeDir, 'models', 'd8'));
  // A model folder whose model.json is corrupt: its program-net job fails before its first event.
  mkdirSync(join(s.storeDir, 'models', 'broken'), { recursive: true });
  writeFileSync(join(s.storeDir, 'models', 'broken', 'model.json'), '{"not a model');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(s.url);
    await page.waitForSelector('body[data-ready="1"]');
    assert.match((await page.textContent('#board-info')) ?? '', /emu-3/);

    // A characterize run from the form: progress moves, no "NaN" ETA, and the traces follow one cell per level.
    await page.fill('#form-characterize input[name=levels]', '8');
    await page.fill('#form-characterize input[name=cellsPerLevel]', '256');
    await page.click('#start-characterize');
    await page.waitForFunction(() => /\d+ \/ \d+/.test(document.querySelector('#progress-text')!.textContent ?? ''));
    assert.doesNotMatch((await page.textContent('#progress-text')) ?? '', /NaN|Infinity/);
    await page.waitForFunction(() => Number((document.querySelector('#traces') as HTMLElement).dataset.points ?? 0) >= 40, null, { timeout: 60000 });
    const traces = await page.evaluate(() => [...(window as unknown as { __rram: { traces: Map<number, { level: number; points: unknown[] }> } }).__rram.traces.values()].map((x) => x.points.length));
    assert.ok(Math.max(...traces) >= 10, `a followed cell keeps its whole climb: ${traces}`);
    await page.screenshot({ path: join(shots, '1-live-run.png') });

    // Heat map: colour bar, axes, a tooltip per cell, and it keeps changing.
    await page.click('nav a[data-view=map]');
    await page.waitForFunction(() => Number((document.querySelector('#map-a0') as HTMLElement | null)?.dataset.cells ?? 0) > 0);
    const c1 = Number(await page.getAttribute('#map-a0', 'data-cells'));
    await page.waitForFunction((n) => Number((document.querySelector('#map-a0') as HTMLElement).dataset.cells) > n, c1);
    const opt = await page.evaluate(() => {
      const o = window.echarts.getInstanceByDom(document.querySelector('#map-a0')!)!.getOption() as Record<string, { type?: string; name?: string; data?: unknown[] }[]>;
      return { visualMap: o.visualMap.map((v) => v.type), x: o.xAxis[0].name, y: o.yAxis[0].name };
    });
    assert.deepEqual([opt.visualMap, opt.x, opt.y], [['continuous'], 'column', 'row'], 'a colour bar and named axes');
    // The cells are painted (heat-canvas.js, under the chart, only the changed ones per frame):
    // every read cell's centre has colour, except those changed since the last frame (still in
    // the live state's dirty set); a cell the run never touched has none.
    await page.waitForFunction((n) => Number((document.querySelector('#map-a0') as HTMLElement).dataset.cells) > n + 100, Number(await page.getAttribute('#map-a0', 'data-cells')));
    const painted = await page.evaluate(() => {
      const node = document.querySelector('#map-a0') as HTMLElement & { __cells: number[][] };
      const cv = node.querySelector('canvas.heat-layer') as HTMLCanvasElement;
      const inst = window.echarts.getInstanceByDom(node)!;
      const dpr = window.devicePixelRatio || 1;
      const img = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height);
      const alpha = (row: number, col: number) => {
        const [x, y] = inst.convertToPixel({ seriesIndex: 0 }, [col, row]) as number[];
        return img.data[(Math.round(y * dpr) * cv.width + Math.round(x * dpr)) * 4 + 3];
      };
      const pending = (window as unknown as { __rram: { dirty: Set<string> } }).__rram.dirty;
      const cells = node.__cells.filter((c) => c[3] !== null && !pending.has(`${c[0]}:${c[1]}:${c[2]}`));
      const have = new Set(node.__cells.map((c) => `${c[1]}:${c[2]}`));
      const empty: number[][] = [];
      for (let r = 0; r < 64 && empty.length < 20; r++) for (let c = 0; c < 64 && empty.length < 20; c++) if (!have.has(`${r}:${c}`)) empty.push([r, c]);
      return { read: cells.length, colored: cells.filter((c) => alpha(c[1], c[2]) > 0).length, empty: empty.length, emptyColored: empty.filter(([r, c]) => alpha(r, c) > 0).length };
    });
    assert.ok(painted.read > 0 && painted.empty > 0, JSON.stringify(painted));
    assert.deepEqual([painted.colored, painted.emptyColored], [painted.read, 0], `read cells painted, untouched ones not: ${JSON.stringify(painted)}`);
    // Hover the first cell drawn: the tooltip names it.
    const at = await page.evaluate(() => {
      const el = document.querySelector('#map-a0') as HTMLElement & { __cells: number[][] };
      const c = el.__cells[0];
      const [x, y] = window.echarts.getInstanceByDom(el)!.convertToPixel({ seriesIndex: 0 }, [c[2], c[1]]);
      return { x, y, row: c[1], col: c[2] };
    });
    const mb = (await page.locator('#map-a0').boundingBox())!;
    await page.mouse.move(mb.x + at.x, mb.y + at.y);
    await page.waitForFunction(({ row, col }) => [...document.querySelectorAll('#map-a0 div')].some((d) => (d as HTMLElement).innerText.includes(`row ${row}, col ${col}`)), at);
    const tipText = await page.evaluate(({ row, col }) => [...document.querySelectorAll('#map-a0 div')].map((d) => (d as HTMLElement).innerText).find((x) => x.includes(`row ${row}, col ${col}`)), at);
    assert.match(tipText!, /array 0 · row \d+, col \d+\s+level \d[\s\S]*read current [0-9.]+ µA\s+pulses \d+\s+status (ok|in flight|\w+)/);
    await page.screenshot({ path: join(shots, '2-array-map.png') });
    // Exports draw the cells into the chart itself: the map's SVG has a shape per cell shown.
    const mapSvg = await downloaded(page, '#map-a0', 'svg');
    const shown = Number(await page.getAttribute('#map-a0', 'data-cells'));
    assert.ok((mapSvg.data.toString('utf8').match(/<path /g) ?? []).length >= shown, `the map's SVG draws its ${shown} cells`);
    const mapPng = await downloaded(page, '#map-a0', 'png');
    assert.deepEqual([...mapPng.data.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'the map as a PNG file');
    await page.selectOption('#map-mode', 'status');
    await page.waitForFunction(() => (window.echarts.getInstanceByDom(document.querySelector('#map-a0')!)!.getOption() as Record<string, { type: string }[]>).visualMap[0].type === 'piecewise');

    await page.click('nav a[data-view=live]');
    await page.waitForFunction(() => document.querySelector('#status')!.textContent === 'completed', null, { timeout: 180000 });
    const lat = await page.evaluate(() => (window as unknown as { __rram: { latencies: number[] } }).__rram.latencies.slice());
    t.diagnostic(`event-to-pixel latency over ${lat.length} updates: p50 ${lat.sort((a, b) => a - b)[Math.floor(lat.length / 2)]} ms, p95 ${lat[Math.floor(lat.length * 0.95)]} ms`);

    // Level CDFs: 8 levels, failed cells apart, log axis, PNG export and the CSV of the numbers plotted.
    await page.click('nav a[data-view=cdf]');
    await page.waitForFunction(() => (document.querySelector('#cdf-plot') as HTMLElement).dataset.levels === '8');
    assert.equal(await page.locator('#cdf-table tr').count(), 1 + 1 + 8 + 1 + 7, 'summary, header, 8 levels, overlap header, 7 overlaps');
    const head = await page.locator('#cdf-table tr').first().innerText();
    assert.match(head, /^\d+ of 2048 cells programmed \([0-9.]+ %\); failures: /);
    const ok = Number(/^(\d+) of/.exec(head)![1]);
    assert.equal(Number(await page.getAttribute('#cdf-plot', 'data-failed')), 2048 - ok, 'every cell not programmed is drawn apart');
    const png = await downloaded(page, '#cdf-plot', 'png');
    // Exported files carry the run they show.
    const shownRun = await page.getAttribute('#cdf-plot', 'data-run');
    assert.match(shownRun ?? '', /^\d{8}-\d{6}-[0-9a-f]{4}$/);
    assert.equal(png.name, `${shownRun}-cdf-plot.png`);
    assert.deepEqual([...png.data.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG file');
    const svg = await downloaded(page, '#cdf-plot', 'svg');
    assert.match(svg.data.toString('utf8'), /^<svg[\s\S]*<\/svg>$/);
    assert.equal(svg.name, `${shownRun}-cdf-plot.svg`);
    const csv = await downloaded(page, '#cdf-plot', 'csv');
    assert.equal(csv.name, `${shownRun}-cdf-plot.csv`);
    const lines = csv.data.toString('utf8').trim().split('\n');
    assert.equal(lines[0], 'run,level,status,row,col,current_A');
    assert.equal(lines.length, 1 + 2048, 'one row per cell');
    assert.equal(lines.filter((l) => l.split(',')[2] === 'ok').length, ok);
    await page.selectOption('#cdf-scale', 'log');
    await page.waitForFunction(() => (window.echarts.getInstanceByDom(document.querySelector('#cdf-plot')!)!.getOption() as Record<string, { type: string }[]>).xAxis[0].type === 'log');
    await page.screenshot({ path: join(shots, '3-level-cdfs.png') });

    // A second run, aborted from the page.
    await page.click('nav a[data-view=live]');
    await page.fill('#form-characterize input[name=cellsPerLevel]', '500');
    await page.click('#start-characterize');
    await until(page, () => document.querySelector('#status')!.textContent === 'running' && !(document.querySelector('#abort') as HTMLButtonElement).disabled);
    await page.click('#abort');
    await page.waitForFunction(() => document.querySelector('#status')!.textContent === 'aborted', null, { timeout: 60000 });
    await page.screenshot({ path: join(shots, '4-aborted.png') });

    // Bad input is shown, not swallowed.
    await page.fill('#form-characterize input[name=cellsPerLevel]', '5000');
    await page.click('#start-characterize');
    await page.waitForFunction(() => /cellsPerLevel=5000/.test(document.querySelector('#message')!.textContent ?? ''));

    // ISPVA from the page runs to the end (its gates come from the board's calibration).
    await page.fill('#form-characterize input[name=levels]', '4');
    await page.fill('#form-characterize input[name=cellsPerLevel]', '16');
    await page.selectOption('#form-characterize select[name=algo]', 'ispva');
    await page.click('#start-characterize');
    await page.waitForFunction(() => document.querySelector('#run-kind')!.textContent === 'characterize' && document.querySelector('#status')!.textContent === 'completed', null, { timeout: 120000 });

    // Inference with progress, twice (4 and 2 levels): accuracy vs levels sorted by levels.
    await page.click('nav a[data-view=inference]');
    await page.fill('#form-infer input[name=model]', 'd8');
    await page.fill('#form-infer input[name=trials]', '16');
    await page.click('#start-infer');
    await page.waitForFunction(() => /monte-carlo: \d+ \/ 16|completed/.test(document.querySelector('#infer-progress-text')!.textContent ?? ''), null, { timeout: 60000 });
    await page.waitForFunction(() => /d8 on mnist, 4 levels/.test(document.querySelector('#infer-summary')!.textContent ?? ''), null, { timeout: 120000 });
    assert.match((await page.textContent('#infer-summary')) ?? '', /d8 on mnist, 4 levels, diff.*16 trials/);
    assert.equal(await page.locator('#confusion tr').count(), 11);
    await page.fill('#form-infer input[name=levels]', '2');
    await page.click('#start-infer');
    await page.waitForFunction(() => /d8 on mnist, 2 levels/.test(document.querySelector('#infer-summary')!.textContent ?? ''), null, { timeout: 120000 });
    // One device model, its points sorted by levels (not by run order: the 4-level run came first).
    await until(page, () => (document.querySelector('#acc-levels') as HTMLElement).dataset.levels === '[[2,4]]');
    // Trials above the server's cap: the form refuses them, and so does the server, naming the field.
    await page.fill('#form-infer input[name=trials]', '20000');
    assert.equal(await page.$eval('#form-infer input[name=trials]', (i) => (i as HTMLInputElement).validity.rangeOverflow), true);
    const over = await s.post(`${s.url}/api/jobs`, { kind: 'infer', model: 'd8', trials: 20000 });
    assert.equal(over.status, 400);
    assert.match(((await over.json()) as { error: string }).error, /trials=20000: must be an integer in 1..10000/);
    await page.fill('#form-infer input[name=trials]', '16');
    await page.screenshot({ path: join(shots, '5-inference.png') });

    // The net programmed onto the board with ISPVA (gates from the board's calibration), evaluated
    // from its read-back: the marker is on the histogram.
    await page.selectOption('#form-infer select[name=algo]', 'ispva');
    await page.click('#start-program-net');
    await page.waitForFunction(() => /from the read-back currents|failed|aborted/i.test(document.querySelector('#infer-summary')!.textContent ?? ''), null, { timeout: 240000 });
    // As the CLI prints it: prediction, where the read-back fell, posterior, variance by source (issue 29).
    const pn = (await page.locator('#infer-summary').innerText()) ?? '';
    assert.match(pn, /programmed \d+ of 12740 cells in 14 tiles with ispva, \d+ pulses/);
    assert.match(pn, /from the read-back currents\s+\d+\.\d\d %/);
    assert.match(pn, /prediction before the read-back, \d+ trials: mean \(p5..p95\)\s+\d+\.\d\d % \(\d+\.\d\d..\d+\.\d\d %\)/);
    assert.match(pn, /read-back in the prediction\s+percentile \d+: (inside|OUTSIDE) the 5-95 % interval/);
    assert.match(pn, /posterior \(\d+ unprogrammed cells fixed to what they read\)/);
    // The dashboard's job predicts as the CLI's (bootstrap, failure rates): the page shows the stored result's numbers, not its own.
    const pnRun = s.jobs.store.listRuns().find((r) => r.kind === 'program-net' && r.status === 'completed')!;
    const stored = s.jobs.store.loadResult<NetOnArraysResult>(pnRun.id, 'program-net');
    const src = stored.prediction?.sources;
    assert.ok(src && src.widths.length === 3, 'the dashboard job splits the prediction interval by source');
    const p0 = (x: number) => (100 * x).toFixed(0);
    const p2 = (x: number) => (100 * x).toFixed(2);
    assert.ok(pn.includes(`variance by source: devices ${p0(src.devices)} %, measured distributions ${p0(src.measuredDistributions)} %, failure rates ${p0(src.failureRates)} %`), pn);
    const post = stored.posterior!;
    assert.ok(pn.includes(`${p2(post.summary.mean)} % (${p2(post.interval[0])}..${p2(post.interval[1])} %), read-back ${post.inside ? 'inside' : 'OUTSIDE'}`), pn);
    assert.ok(pn.includes(`${p2(stored.prediction!.summary.mean)} % (${p2(stored.prediction!.interval[0])}..${p2(stored.prediction!.interval[1])} %)`), pn);
    assert.match(pn, /Monte Carlo: d8 on mnist, 2 levels/);
    assert.doesNotMatch(pn, /\d+th percentile/);
    assert.equal(await page.textContent('#confusion-title'), 'Confusion matrix (from the read-back)');
    const marker = await page.evaluate(() => {
      const o = window.echarts.getInstanceByDom(document.querySelector('#acc-hist')!)!.getOption() as Record<string, { markLine?: { data: { xAxis: number }[] } }[]>;
      return { line: o.series[0].markLine?.data[0]?.xAxis, attr: Number((document.querySelector('#acc-hist') as HTMLElement).dataset.readback) };
    });
    assert.ok(Number.isFinite(marker.attr) && Math.abs(marker.line! - marker.attr) < 1e-9, `read-back marker at ${marker.line} %`);
    await page.screenshot({ path: join(shots, '5b-program-net.png') });
    assert.equal((s.jobs.store.listRuns().find((r) => r.kind === 'program-net')!.params as { algo: string }).algo, 'ispva');

    // A job that fails before its first event is a failed run, on the page and in the store.
    await page.fill('#form-infer input[name=model]', 'broken');
    await page.click('#start-program-net');
    await page.waitForFunction(() => /: failed/.test(document.querySelector('#infer-progress-text')!.textContent ?? ''), null, { timeout: 60000 });
    const failed = s.jobs.store.listRuns().find((r) => r.kind === 'program-net' && r.status === 'failed');
    assert.ok(failed?.error, 'stored as a failed run with its error');
    const listed = ((await (await fetch(`${s.url}/api/runs`)).json()) as { id: string; error?: string }[]).find((r) => r.id === failed!.id)!;
    for (const shownText of [listed.error!, (await page.textContent('#infer-progress-text'))!]) assert.ok(!shownText.includes(s.storeDir), `no server path in what the page shows: ${shownText}`);

    // History: kinds, durations, parameters; the exports answer.
    await page.click('nav a[data-view=history]');
    await page.waitForFunction(() => document.querySelectorAll('#runs tr').length >= 7);
    const hist = await page.locator('#runs').innerText();
    assert.match(hist, /program-net\s+completed/);
    assert.match(hist, /program-net\s+failed/);
    assert.match(hist, /algo=ispva levels=4 cellsPerLevel=16/);
    const href = await page.locator('#runs tr:has-text("characterize"):has-text("completed") a[href*="format=csv"]').last().getAttribute('href');
    assert.equal((await page.request.get(s.url + href)).status(), 200);
    const h5 = await page.request.get(s.url + (await page.locator('#runs tr:has-text("ispva") a[href*="format=hdf5"]').first().getAttribute('href')));
    assert.equal(h5.status(), 200);
    assert.deepEqual([...(await h5.body()).subarray(0, 8)], [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a], 'an HDF5 file');
    await page.screenshot({ path: join(shots, '6-history.png') });

    // Two runs side by side.
    await page.click('nav a[data-view=compare]');
    await page.waitForFunction(() => document.querySelectorAll('#cmp-levels tr').length > 4);
    assert.match(await page.locator('#cmp-params').innerText(), /algo\s+\S+\s+\S+/);
    await page.screenshot({ path: join(shots, '7-compare.png') });
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await browser.close();
    m.dispose();
    await s.close();
  }
});
