/**
 * Selecting cells on the array map and acting on them (issue 29), in real Chromium: a box dragged
 * over an array's map selects every cell inside it (the count shown), and "Read selection",
 * "Program selection" and "Characterize selection" queue a job on the board's queue whose run touches exactly those cells -
 * for random boxes, the set of cells the run read or programmed equals the set in the box. Clear
 * empties it; acting on an empty selection, or sending a cell twice or outside the board, is
 * refused naming the field, and nothing is queued. A lasso selects exactly the cells whose centres
 * lie inside the outline drawn (even-odd rule), and "I-V on selection" runs I-V loops on exactly those.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chromium, type Browser, type Page } from 'playwright-core';
import { needTool } from './helpers/env.js';
import { startServer, waitFor, type TestServer } from './helpers/server.js';
import { CHROMIUM_ARGS } from './helpers/browser.js';
import type { RunEvent } from '../src/engine/events.js';

/** The pixel at the centre of a cell of array 0's map. */
const pixel = (page: Page, row: number, col: number) =>
  page.evaluate(([r, c]) => {
    const node = document.querySelector('#map-a0') as HTMLElement;
    const [x, y] = window.echarts.getInstanceByDom(node)!.convertToPixel({ xAxisIndex: 0, yAxisIndex: 0 }, [c, r]) as number[];
    const b = node.getBoundingClientRect();
    return [b.left + x, b.top + y];
  }, [row, col]);

async function drag(page: Page, from: [number, number], to: [number, number]) {
  const [x0, y0] = await pixel(page, ...from);
  const [x1, y1] = await pixel(page, ...to);
  await page.mouse.move(x0, y0);
  await page.mouse.down();
  await page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, { steps: 4 });
  await page.mouse.move(x1, y1, { steps: 4 });
  await page.mouse.up();
}

/** The cells a run's events touched (reads, or cell-done), as "row,col" of array 0. */
async function touched(s: TestServer, id: string, type: 'read' | 'cell-done'): Promise<string[]> {
  const out = new Set<string>();
  for await (const e of s.jobs.store.events(id)) if (e.type === type) out.add(`${(e as Extract<RunEvent, { type: 'read' }>).cell.row},${(e as Extract<RunEvent, { type: 'read' }>).cell.col}`);
  return [...out].sort();
}

const boxCells = (r0: number, c0: number, r1: number, c1: number) => {
  const out: string[] = [];
  for (let r = Math.min(r0, r1); r <= Math.max(r0, r1); r++) for (let c = Math.min(c0, c1); c <= Math.max(c0, c1); c++) out.push(`${r},${c}`);
  return out.sort();
};

/** A stored run (so that the map shows the board), then the map page open on it. */
async function openMap(s: TestServer, browser: Browser): Promise<{ page: Page; errors: string[] }> {
  const first = (await (await s.post(`${s.url}/api/jobs`, { kind: 'read', array: 0, row: 0 })).json()) as { runId: string };
  await waitFor(() => s.jobs.store.getRun(first.runId).status === 'completed', 30000, 'the first read');
  const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${s.url}/#map`);
  await page.waitForSelector('body[data-ready="1"]');
  await page.waitForFunction(() => !!document.querySelector('#map-a0') && !!window.echarts.getInstanceByDom(document.querySelector('#map-a0')!));
  // Every form and field on the page is valid as it loads: an invalid default (a value off its input's step) blocks the form's submit silently.
  const invalid = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')].filter((e) => !(e as HTMLInputElement).checkValidity()).map((e) => `#${e.id || (e as HTMLInputElement).name}: ${(e as HTMLInputElement).validationMessage}`));
  assert.deepEqual(invalid, [], 'fields invalid at their defaults');
  return { page, errors };
}

test('map selection: a dragged box selects exactly its cells; read, program and characterize act on exactly those; empty or bad selections refused', { timeout: 150000 }, async (t) => {
  if (!needTool(t, 'chromium', 'chromium')) return;
  const s = await startServer();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const { page, errors } = await openMap(s, browser);
    const info = s.jobs.board.info();
    const runs = () => s.jobs.store.listRuns().length;
    const act = async (button: string) => {
      const before = await page.getAttribute('#sel-message', 'data-run');
      await page.click(button);
      await page.waitForFunction((b) => { const m = document.querySelector('#sel-message') as HTMLElement; return m.dataset.run !== (b ?? undefined) || m.classList.contains('error'); }, before);
      assert.ok(!(await page.$eval('#sel-message', (m) => m.classList.contains('error'))), await page.textContent('#sel-message') ?? '');
      return (await page.getAttribute('#sel-message', 'data-run'))!;
    };
    const box = fc.tuple(fc.integer({ min: 0, max: info.rows - 1 }), fc.integer({ min: 0, max: info.cols - 1 }), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 })).map(([r, c, dr, dc]) => [r, c, Math.min(info.rows - 1, r + dr), Math.min(info.cols - 1, c + dc)] as const);
    const boxes = fc.sample(box, { numRuns: 3, seed: 29 });
    let programmed: { id: string; box: readonly number[] } | undefined;
    for (const [k, [r0, c0, r1, c1]] of boxes.entries()) {
      // Dragged either way round: the same box.
      if (k % 2) await drag(page, [r1, c1], [r0, c0]);
      else await drag(page, [r0, c0], [r1, c1]);
      const want = boxCells(r0, c0, r1, c1);
      await page.waitForFunction((n) => (document.querySelector('#sel-count') as HTMLElement).dataset.count === String(n), want.length);
      assert.equal(await page.textContent('#sel-count'), `${want.length} cells selected on array 0`);
      const id = await act(k === 2 ? '#sel-program' : '#sel-read');
      await waitFor(() => ['completed', 'failed'].includes(s.jobs.store.getRun(id).status) && s.jobs.store.getRun(id), 60000, `run ${id}`);
      assert.equal(s.jobs.store.getRun(id).status, 'completed', s.jobs.store.getRun(id).error);
      assert.deepEqual(await touched(s, id, k === 2 ? 'cell-done' : 'read'), want, `run ${id}: the cells of box rows ${r0}-${r1}, cols ${c0}-${c1}`);
      if (k === 2) programmed = { id, box: [r0, c0, r1, c1] };
    }
    // Re-verify a selection against the targets of the run the map shows: that run, exactly the selected cells.
    const [pr0, pc0, pr1, pc1] = programmed!.box;
    await page.waitForSelector(`#map-run option[value="${programmed!.id}"]`, { state: 'attached' });
    await page.selectOption('#map-run', programmed!.id);
    await page.waitForFunction((run) => document.querySelector('.map-run')?.textContent === run, programmed!.id);
    await drag(page, [pr0, pc0], [pr1, Math.max(pc0, pc1 - 1)]);
    const rv = await act('#sel-reverify');
    await waitFor(() => ['completed', 'failed'].includes(s.jobs.store.getRun(rv).status), 60000, `run ${rv}`);
    const rec = s.jobs.store.getRun(rv);
    assert.equal(rec.kind, 'reverify');
    assert.equal((rec.params as { source: string }).source, programmed!.id, 'checked against the shown run');
    const okCells = new Set<string>();
    for await (const e of s.jobs.store.events(programmed!.id)) if (e.type === 'cell-done' && e.outcome.status === 'ok') okCells.add(`${e.cell.row},${e.cell.col}`);
    const sel = boxCells(pr0, pc0, pr1, Math.max(pc0, pc1 - 1));
    assert.deepEqual(await touched(s, rv, 'read'), sel, 'exactly the selected cells read');
    const checked = new Set<string>();
    for await (const e of s.jobs.store.events(rv)) if (e.type === 'read' && e.step === 'refresh') checked.add(`${e.cell.row},${e.cell.col}`);
    assert.deepEqual([...checked].sort(), sel.filter((c) => okCells.has(c)), 'checked against their band: the selected cells the shown run programmed');
    // Characterize the selection: levels x cells per level = the box; a box that does not split into the levels is refused.
    await page.fill('#sel-levels', '2');
    await drag(page, [20, 30], [21, 34]);
    const id = await act('#sel-characterize');
    await waitFor(() => ['completed', 'failed'].includes(s.jobs.store.getRun(id).status), 60000, `run ${id}`);
    assert.deepEqual(await touched(s, id, 'cell-done'), boxCells(20, 30, 21, 34));
    assert.equal((s.jobs.store.getRun(id).params as { cellsPerLevel: number }).cellsPerLevel, 5);
    await drag(page, [40, 40], [42, 42]);
    await page.click('#sel-characterize');
    await page.waitForFunction(() => /^selection: 9 cells do not split into 2 levels/.test(document.querySelector('#sel-message')!.textContent ?? ''));
    const uneven = await s.post(`${s.url}/api/jobs`, { kind: 'characterize', array: 0, levels: 2, cellsPerLevel: 4, cells: [[0, 0], [0, 1], [0, 2]] });
    assert.match(((await uneven.json()) as { error: string }).error, /^cells=.*: lists 3 cells: must be levels x cellsPerLevel = 8/);
    // Clear, then act on nothing: refused naming the selection, nothing queued.
    await page.click('#sel-clear');
    assert.equal(await page.getAttribute('#sel-count', 'data-count'), '0');
    const n = runs();
    await page.click('#sel-read');
    await page.waitForFunction(() => /^selection: no cells selected/.test(document.querySelector('#sel-message')!.textContent ?? ''));
    // The API checks the list itself: a cell twice, or outside the board, named by its place.
    const twice = await s.post(`${s.url}/api/jobs`, { kind: 'read', array: 0, cells: [[1, 2], [1, 2]] });
    assert.equal(twice.status, 400);
    assert.match(((await twice.json()) as { error: string }).error, /^cells\[1\]=\[1,2\]: cell 1,2 is listed twice/);
    const outside = await s.post(`${s.url}/api/jobs`, { kind: 'program', array: 0, cells: [[0, info.cols]] });
    assert.match(((await outside.json()) as { error: string }).error, new RegExp(`^cells\\[0\\]=\\[0,${info.cols}\\]: cell 0,${info.cols} is outside`));
    const empty = await s.post(`${s.url}/api/jobs`, { kind: 'read', array: 0, cells: [] });
    assert.match(((await empty.json()) as { error: string }).error, /^cells=\[\]: lists no cells/);
    assert.equal(runs(), n);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await s.close();
  }
});

/** Even-odd rule, written apart from the page's: a ray to the right crosses the outline an odd number of times. */
function inside(poly: number[][], x: number, y: number): boolean {
  let n = 0;
  for (let i = 0; i < poly.length; i++) {
    const [x1, y1] = poly[i];
    const [x2, y2] = poly[(i + 1) % poly.length];
    if (y1 === y2 || y < Math.min(y1, y2) || y >= Math.max(y1, y2)) continue;
    if (x1 + ((y - y1) * (x2 - x1)) / (y2 - y1) > x) n++;
  }
  return n % 2 === 1;
}

test('map selection by lasso: exactly the cells whose centres lie inside the drawn outline; read and I-V act on exactly those', { timeout: 150000 }, async (t) => {
  if (!needTool(t, 'chromium', 'chromium')) return;
  const s = await startServer();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const { page, errors } = await openMap(s, browser);
    await page.selectOption('#sel-mode', 'lasso');
    // Star-shaped outlines (vertices at increasing angles round a centre: never self-crossing), in cell units.
    const outline = fc.tuple(fc.integer({ min: 10, max: 50 }), fc.integer({ min: 10, max: 50 }), fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 2, max: 7, noNaN: true })), { minLength: 3, maxLength: 7 }));
    for (const [k, [r, c, spokes]] of fc.sample(outline, { numRuns: 2, seed: 31 }).entries()) {
      const n = spokes.length;
      const vertices = spokes.map(([u, rad], i) => { const ang = ((i + 0.2 + 0.6 * u) / n) * 2 * Math.PI; return [c + rad * Math.cos(ang), r + rad * Math.sin(ang)]; });
      const px = await page.evaluate((vs) => {
        const node = document.querySelector('#map-a0') as HTMLElement;
        const inst = window.echarts.getInstanceByDom(node)!;
        const [x0, y0] = inst.convertToPixel({ xAxisIndex: 0, yAxisIndex: 0 }, [0, 0]) as number[];
        const [x1, y1] = inst.convertToPixel({ xAxisIndex: 0, yAxisIndex: 0 }, [1, 1]) as number[];
        const b = node.getBoundingClientRect();
        return vs.map(([cc, rr]) => [b.left + x0 + cc * (x1 - x0), b.top + y0 + rr * (y1 - y0)]);
      }, vertices);
      await page.mouse.move(px[0][0], px[0][1]);
      await page.mouse.down();
      for (const [x, y] of [...px.slice(1), px[0]]) await page.mouse.move(x, y, { steps: 3 });
      await page.mouse.up();
      await page.waitForFunction(() => !!(document.querySelector('#sel-count') as HTMLElement).dataset.outline);
      const drawn = JSON.parse((await page.getAttribute('#sel-count', 'data-outline'))!) as number[][];
      // The outline the page kept passes through every vertex drawn (to a pixel's worth).
      for (const v of vertices) assert.ok(drawn.some((p) => Math.hypot(p[0] - v[0], p[1] - v[1]) < 0.15), `vertex ${v} on the outline`);
      const want: string[] = [];
      for (let rr = 0; rr < 64; rr++) for (let cc = 0; cc < 64; cc++) if (inside(drawn, cc, rr)) want.push(`${rr},${cc}`);
      want.sort();
      const xs = vertices.map((v) => v[0]);
      const ys = vertices.map((v) => v[1]);
      const boxCount = (Math.floor(Math.max(...xs)) - Math.ceil(Math.min(...xs)) + 1) * (Math.floor(Math.max(...ys)) - Math.ceil(Math.min(...ys)) + 1);
      assert.ok(want.length > 0 && want.length < boxCount, `a lasso is not its bounding box: ${want.length} of ${boxCount}`);
      assert.equal(await page.getAttribute('#sel-count', 'data-count'), String(want.length));
      const before = await page.getAttribute('#sel-message', 'data-run');
      await page.click(k === 0 ? '#sel-read' : '#sel-iv');
      await page.waitForFunction((b) => { const m = document.querySelector('#sel-message') as HTMLElement; return m.dataset.run !== (b ?? undefined) || m.classList.contains('error'); }, before);
      assert.ok(!(await page.$eval('#sel-message', (m) => m.classList.contains('error'))), await page.textContent('#sel-message') ?? '');
      const id = (await page.getAttribute('#sel-message', 'data-run'))!;
      await waitFor(() => ['completed', 'failed'].includes(s.jobs.store.getRun(id).status), 90000, `run ${id}`);
      assert.equal(s.jobs.store.getRun(id).status, 'completed', s.jobs.store.getRun(id).error);
      assert.equal(s.jobs.store.getRun(id).kind, k === 0 ? 'read' : 'iv');
      assert.deepEqual(await touched(s, id, 'read'), want, `run ${id}: the cells inside the lasso`);
    }
    // An I-V cycle count that is not one is refused by name, nothing queued.
    const n = s.jobs.store.listRuns().length;
    await page.fill('#sel-iv-cycles', '0');
    await page.click('#sel-iv');
    await page.waitForFunction(() => /cycles/.test(document.querySelector('#sel-message')!.textContent ?? '') && document.querySelector('#sel-message')!.classList.contains('error'));
    assert.equal(s.jobs.store.listRuns().length, n);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await s.close();
  }
});
