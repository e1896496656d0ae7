/**
 * No HTML from data (issue 25): script payloads in every string a user or a file controls —
 * run kinds, parameters, errors, warnings, cell statuses and progress phases of a run's events,
 * board ids and firmware, calibration ids and parameter names, level-CDF labels, relaxation
 * times and failure reasons, model, dataset and device names, write-verify algorithm labels and
 * run links, study names, tables, notes, claims and figure labels — reach every view of the
 * dashboard in headless Chromium as text, and nothing runs. Each view is visited twice: once with
 * the page's Content-Security-Policy bypassed (the DOM construction alone must hold), once with it
 * enforced (the policy must block an inline script and must not block anything the page does).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import type { BoardInfo } from '../drivers/board.js';
import { needTool } from './helpers/env.js';
import { startServer, type TestServer } from './helpers/server.js';
import { CHROMIUM_ARGS } from './helpers/browser.js';
import { repoRoot } from '../lib/repo-root.js';

const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const HTML = [
  '<img src=x onerror="window.__pwned=1">',
  '<script>window.__pwned=1</script>',
  '"><svg onload=window.__pwned=1>',
  "'><img src=x onerror=window.__pwned=1>",
  '<iframe srcdoc="<script>parent.__pwned=1</script>"></iframe>',
];
let n = 0;
/** A payload tagged with where it goes (the tag finds it on the page); every sixth one is a javascript: URL. */
const inj = (where: string): string => {
  const i = n++ % (HTML.length + 1);
  return i === HTML.length ? `javascript:window.__pwned=1//${where}` : `${where}${HTML[i]}`;
};

const P = {
  boardInfo: inj('BOARDINFO'),
  firmware: inj('FIRMWARE'),
  kind: inj('KIND'),
  algo: inj('ALGO'),
  map: inj('MAP'),
  mapName: inj('MAPNAME'),
  model: inj('MODEL'),
  note: inj('NOTE'),
  boardId: inj('BOARDID'),
  boardId2: inj('BOARDID2'),
  calibration: inj('RUNCAL'),
  calibration2: inj('RUNCAL2'),
  error: inj('RUNERROR'),
  array: inj('ARRAY'),
  warning1: inj('WARN1'),
  warning2: inj('WARN2'),
  phase: inj('PHASE'),
  endError: inj('ENDERROR'),
  cellStatus: inj('CELLSTATUS'),
  level: inj('LEVEL'),
  failedStatus: inj('FAILEDSTATUS'),
  failKey: inj('FAILKEY'),
  summaryFailKey: inj('SUMFAILKEY'),
  relax: inj('RELAX'),
  lower: inj('LOWER'),
  algo2: inj('ALGOB'),
  mapName2: inj('MAPNAMEB'),
  paramName: inj('PARAMNAME'),
  unit: inj('UNIT'),
  method: inj('METHOD'),
  paramStatus: inj('PARAMSTATUS'),
  against: inj('AGAINST'),
  calId: '<img src=x onerror="window.__pwned=1">', // the case: a calibration file's id
  maxKs: inj('MAXKS'),
  twinLevel: inj('TWINLEVEL'),
  rowLevel: inj('ROWLEVEL'),
  quantity: inj('QUANTITY'),
  wvAlgo: inj('WVALGO'),
  wvRun: 'javascript:window.__pwned=1',
  wvTime: inj('WVTIME'),
  inferModel: inj('INFERMODEL'),
  dataset: inj('DATASET'),
  scheme: inj('SCHEME'),
  device: inj('DEVICE'),
  engine: inj('ENGINE'),
  study: inj('STUDY'),
  studyParamKey: inj('SPKEY'),
  studyParamValue: inj('SPVALUE'),
  figTitle: inj('FIGTITLE'),
  figX: inj('FIGX'),
  figY: inj('FIGY'),
  seriesName: inj('SERIES'),
  pointLabel: inj('POINTLABEL'),
  figId: inj('FIGID'),
  heatX: inj('HEATX'),
  heatY: inj('HEATY'),
  claim: inj('CLAIM'),
  measured: inj('MEASURED'),
  tableTitle: inj('TABLETITLE'),
  tableHeader: inj('TABLEHEADER'),
  tableCell: inj('TABLECELL'),
  tableNote: inj('TABLENOTE'),
};

const write = (dir: string, name: string, data: unknown) => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), typeof data === 'string' ? data : JSON.stringify(data));
};

/** Runs and results as the store keeps them (src/store/embedded-store.ts): runs/<id>/run.json, events.ndjson, <result>.json. */
function seedStore(storeDir: string): void {
  const runs = join(storeDir, 'runs');
  const run = (id: string, rec: Record<string, unknown>) => write(join(runs, id), 'run.json', { id, status: 'completed', events: 0, counts: {}, params: {}, ...rec });
  const board = (id: string) => ({ id, firmware: P.firmware, protocolVersion: 1, arrays: 1, rows: 4, cols: 4, kind: 'emulated', calibration: P.calibration });
  const params = { algo: P.algo, levels: 2, cellsPerLevel: 2, map: P.map, mapName: P.mapName, model: P.model, note: P.note, array: 0 };

  // A run of its own kind with events: live view, heat map, history, compare.
  run('inj-cdf', { kind: P.kind, status: 'failed', started: '2026-01-02T10:00:00.000Z', ended: '2026-01-02T10:00:05.000Z', params, board: board(P.boardId), calibration: P.calibration, events: 16, results: ['level-cdf'], error: P.error, arrays: [0, P.array] });
  let seq = 0;
  const t0 = Date.parse('2026-01-02T10:00:00.000Z');
  const ev = (e: Record<string, unknown>) => JSON.stringify({ runId: 'inj-cdf', seq: seq, t: t0 + 10 * seq++, ...e });
  const lines = [ev({ type: 'run-start', kind: P.kind, params, board: board(P.boardId), calibration: P.calibration })];
  for (const [k, [row, col]] of [[0, 0], [0, 1], [1, 0], [1, 1]].entries()) {
    const cell = { array: 0, row, col };
    const level = k % 2;
    lines.push(ev({ type: 'pulse', cell, kind: 'set', vte_V: 2, vsl_V: 0, vg_V: 1.1, width_s: 1e-6, level }));
    lines.push(ev({ type: 'read', cell, vread_V: 0.2, current_A: (10 + 10 * level) * 1e-6, phase: 'verify', level }));
    lines.push(ev({ type: 'cell-done', cell, level, target_A: (10 + 10 * level) * 1e-6, outcome: { status: k === 0 ? P.cellStatus : 'ok', pulses: 1, reads: 1, final_A: (10 + 10 * level) * 1e-6, finalStepped_V: 1.1 } }));
  }
  lines.push(ev({ type: 'warning', code: P.warning1, message: P.warning1 }));
  lines.push(ev({ type: 'warning', message: P.warning2 }));
  lines.push(ev({ type: 'progress', done: 4, total: 4, rate_per_s: 2, eta_s: 0, phase: P.phase }));
  lines.push(ev({ type: 'run-end', status: 'failed', error: P.endError }));
  write(join(runs, 'inj-cdf'), 'events.ndjson', lines.join('\n') + '\n');
  const level = (lv: unknown, k: number, status: string, failKey: string) => ({
    spec: { level: lv, band_A: [(5 + 10 * k) * 1e-6, (15 + 10 * k) * 1e-6], target_A: (10 + 10 * k) * 1e-6 },
    samples_A: [9e-6, 10e-6, 11e-6].map((x) => x + 10e-6 * k),
    cells: [{ status: 'ok', row: k, col: 0, current_A: (10 + 10 * k) * 1e-6 }, { status, row: k, col: 1, current_A: 2e-6 }],
    stats: { n: 2, nOk: 1, failures: { [failKey]: 1 }, median_A: 10e-6, sigmaRobust_A: 1e-6, pulsesMean: 3, successRate: 0.5 },
    relax: [{ t_s: P.relax, samples_A: [8e-6, 9e-6, 10e-6].map((x) => x + 10e-6 * k) }],
  });
  const cdf = (lv0: unknown) => ({
    vread_V: 0.2,
    levels: [level(lv0, 0, P.failedStatus, P.failKey), level(1, 1, 'failed', 'failed')],
    summary: { ok: 2, cells: 4, successRate: 0.5, belowThreshold: true, minSuccess: 0.9, failures: { [P.summaryFailKey]: 2 } },
    overlaps: [{ lower: P.lower, upper: 1, threshold_A: 15e-6, empiricalBer: 0.01, gaussianBer: 0.02 }],
  });
  write(join(runs, 'inj-cdf'), 'level-cdf.json', cdf(P.level));
  // A second level-CDF run to compare with.
  run('inj-cdf2', { kind: 'characterize', started: '2026-01-02T09:00:00.000Z', ended: '2026-01-02T09:00:03.000Z', params: { ...params, algo: P.algo2, mapName: P.mapName2 }, board: board(P.boardId2), calibration: P.calibration2, results: ['level-cdf'] });
  write(join(runs, 'inj-cdf2'), 'level-cdf.json', cdf(0));

  run('inj-fit', { kind: 'calibrate', started: '2026-01-02T08:00:00.000Z', ended: '2026-01-02T08:00:01.000Z', results: ['calibration-fit'] });
  const pts = Array.from({ length: 12 }, (_, i) => ({ vg: 0.8 + 0.05 * i, g: (10 + 5 * i) * 1e-6 }));
  write(join(runs, 'inj-fit'), 'calibration-fit.json', {
    transfer: { points: pts, curve: pts },
    params: { [P.paramName]: { value: 0.95, unit: P.unit, uncertainty: 0.01, method: P.method, status: P.paramStatus }, transfer_v0_V: { value: 0.95, unit: 'V', uncertainty: 0.01, method: 'fit', status: 'fitted' } },
  });
  run('inj-twin', { kind: 'twin', started: '2026-01-02T07:00:00.000Z', ended: '2026-01-02T07:00:01.000Z', results: ['twin'] });
  write(join(runs, 'inj-twin'), 'twin.json', {
    against: P.against, calibration: P.calId, worstKs: 0.1, ksNoise: 0.2, pass: false, maxKs: P.maxKs,
    samples: [{ level: P.twinLevel, board_A: [1e-6, 2e-6, 3e-6], twin_A: [1.1e-6, 2.1e-6, 3.1e-6] }],
    rows: [{ level: P.rowLevel, quantity: P.quantity, nBoard: 3, nTwin: 3, ks: 0.1, pass: false, medianRatio: 1, sigmaRatio: 1 }],
  });
  run('inj-wvb', { kind: 'wv-bench', started: '2026-01-02T06:00:00.000Z', ended: '2026-01-02T06:00:01.000Z', results: ['wv-bench'] });
  write(join(runs, 'inj-wvb'), 'wv-bench.json', {
    times_s: [P.wvTime],
    rows: [{ kind: 'lrs', algo: P.wvAlgo, level: 1, pulsesMean: 5, sigmaRobust_A: [1e-7] }],
    algos: [{ algo: P.wvAlgo, runId: P.wvRun, lrsPulsesMean: 5, lrsPulsesP99: 9, success: 0.99, lrsSigmaRobustMean_A: 1e-7, sigmaVsIgvva: 1, energyMean_J: 1e-12, ber: [{ empirical: 1e-3 }] }],
  });
  run('inj-infer', { kind: 'infer', started: '2026-01-02T05:00:00.000Z', ended: '2026-01-02T05:00:01.000Z', params: { model: P.inferModel, dataset: P.dataset, device: P.device, levels: 4, trials: 2 }, results: ['infer'] });
  write(join(runs, 'inj-infer'), 'infer.json', {
    model: P.inferModel, dataset: P.dataset, levels: 4, mapping: { scheme: P.scheme, clip: 1 }, device: { text: P.device },
    summary: { mean: 0.9, std: 0.01, min: 0.88, max: 0.92, p5: 0.885, p95: 0.915 }, quantizedAccuracy: 0.91, floatAccuracy: 0.95, trials: 2, engine: P.engine,
    histogram: [{ lo: 0.88, hi: 0.9, count: 1 }, { lo: 0.9, hi: 0.92, count: 1 }], cdf: [{ accuracy: 0.88, p: 0.5 }, { accuracy: 0.92, p: 1 }], confusion: [[5, 1], [2, 6]],
  });
}

function seedStudies(root: string): void {
  write(join(root, 'inj'), 'study.json', {
    study: P.study, points: 2, elapsed_s: 3, params: { [P.studyParamKey]: P.studyParamValue },
    figures: [
      { id: 'f1', kind: 'scatter', title: P.figTitle, x: P.figX, y: P.figY, series: [{ name: P.seriesName, points: [[1, 0.5, P.pointLabel], [2, 0.6, P.pointLabel]] }] },
      { id: P.figId, kind: 'heatmap', title: 'heat', x: P.heatX, y: P.heatY, series: [{ name: 'h', points: [[0.1, 0.2, 0.5], [0.2, 0.2, 0.7]] }] },
    ],
    checks: [{ claim: P.claim, measured: P.measured, holds: false }],
    tables: [{ id: 't1', title: P.tableTitle, header: [P.tableHeader, 'x'], rows: [[P.tableCell, 1]], notes: [P.tableNote] }],
  });
}

interface Chart {
  getOption(): { series: { name?: string; type?: string; data?: unknown[]; tooltip?: { formatter?: unknown } }[]; tooltip?: { formatter?: unknown }[] };
  dispatchAction(a: Record<string, unknown>): void;
}
/** The page's window as these checks see it (not Window: dashboard-browser.test.ts declares its own echarts there). */
type W = { echarts: { getInstanceByDom(e: Element): Chart | undefined }; __pwned?: unknown; __inline?: unknown; __csp: string[] };

/** Waits until the element's text holds every string (as text: had it been parsed as HTML, the tags would be gone from it). */
async function shows(page: Page, sel: string, texts: string[]): Promise<void> {
  try {
    await page.waitForFunction(([s, xs]) => { const t = document.querySelector(s)?.textContent ?? ''; return xs.every((x) => t.includes(x)); }, [sel, texts] as const, { timeout: 20000 });
  } catch {
    // Wait for the image payloads' error events, then say what the page shows, whether a payload ran, what the CSP blocked.
    await page.waitForTimeout(500);
    const [t, pwned, csp] = await page.evaluate((s) => [document.querySelector(s)?.textContent ?? '(no element)', (window as unknown as W).__pwned, (window as unknown as W).__csp] as const, sel);
    assert.fail(`${sel} does not show ${JSON.stringify(texts.filter((x) => !t.includes(x)))} as text; it shows ${JSON.stringify(t.slice(0, 2000))}; window.__pwned=${String(pwned)}; blocked by the CSP: ${JSON.stringify(csp)}`);
  }
}

/**
 * Every chart under `sel`, every series, its first item: the tooltip ECharts renders (showTip),
 * and what the series' tooltip formatter returns when called as ECharts calls it (line series
 * drawn without symbols show no item tooltip on showTip). A formatter must return an element:
 * ECharts assigns a returned string as HTML.
 */
async function tooltips(page: Page, sel: string): Promise<{ text: string; strings: string[] }> {
  return page.evaluate(async (s) => {
    const text: string[] = [];
    const strings: string[] = [];
    for (const node of document.querySelectorAll(s)) {
      const c = (window as unknown as W).echarts.getInstanceByDom(node);
      if (!c) continue;
      const opt = c.getOption();
      for (const [i, ser] of opt.series.entries()) {
        c.dispatchAction({ type: 'showTip', seriesIndex: i, dataIndex: 0 });
        await new Promise((r) => setTimeout(r, 40));
        text.push(node.textContent ?? '');
        const f = ser.tooltip?.formatter ?? opt.tooltip?.[0]?.formatter;
        if (typeof f !== 'function') continue;
        const raw = ser.data?.[0] as unknown;
        const value = Array.isArray(raw) ? raw : (raw as { value?: unknown } | undefined)?.value;
        const out = f({ componentType: 'series', seriesName: ser.name, seriesIndex: i, seriesType: ser.type, dataIndex: 0, data: raw, value, name: '' });
        if (typeof out === 'string') { if (out) strings.push(out); } else if (out instanceof Element) text.push(out.textContent ?? '');
      }
      c.dispatchAction({ type: 'hideTip' });
    }
    return { text: text.join('\n'), strings };
  }, sel);
}

async function tipsShow(page: Page, sel: string, texts: string[]): Promise<void> {
  const said = await tooltips(page, sel);
  assert.deepEqual(said.strings, [], `${sel}: tooltip formatters return elements, never HTML strings`);
  for (const x of texts) assert.ok(said.text.includes(x), `${sel}: a tooltip shows ${JSON.stringify(x)} as text; tooltips said ${JSON.stringify(said.text.slice(0, 1500))}`);
}

/** The heat maps' own tooltips (heat-canvas.js draws the cells, map.js shows a hovered cell's values): every cell hovered. */
async function mapTipsShow(page: Page, texts: string[]): Promise<void> {
  const at = await page.evaluate(() =>
    [...document.querySelectorAll('#maps .chart.map')].flatMap((node) => {
      const inst = (window as unknown as W).echarts.getInstanceByDom(node) as unknown as { convertToPixel(f: unknown, v: unknown): number[] };
      const b = node.getBoundingClientRect();
      return ((node as unknown as { __cells: number[][] }).__cells ?? []).map((c) => { const [x, y] = inst.convertToPixel({ seriesIndex: 0 }, [c[2], c[1]]); return { id: node.id, x: b.left + x, y: b.top + y }; });
    }),
  );
  assert.ok(at.length > 0, 'cells on the maps');
  const said: string[] = [];
  for (const p of at) {
    await page.mouse.move(p.x, p.y);
    await page.waitForFunction((id) => !(document.querySelector(`#${id} .map-tip`) as HTMLElement).hidden, p.id);
    said.push((await page.textContent(`#${p.id} .map-tip`)) ?? '');
  }
  await page.mouse.move(0, 0);
  for (const x of texts) assert.ok(said.some((t) => t.includes(x)), `#maps: a tooltip shows ${JSON.stringify(x)} as text; tooltips said ${JSON.stringify(said)}`);
}

/** Nothing ran and nothing was injected: no flag, no extra script, no event-handler attribute, no javascript: link, no injected element. */
async function nothingRan(page: Page, where: string): Promise<void> {
  const st = await page.evaluate(() => ({
    pwned: (window as unknown as W).__pwned,
    scripts: [...document.scripts].map((s) => s.getAttribute('src') ?? `inline: ${s.textContent}`),
    handlers: [...document.querySelectorAll('*')].flatMap((e) => [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `<${e.tagName.toLowerCase()} ${a.name}>`)),
    jsLinks: [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')!).filter((h) => /^\s*javascript:/i.test(h)),
    injected: [...document.querySelectorAll('img[src="x"], iframe, svg, object, embed')].map((e) => e.outerHTML.slice(0, 120)),
  }));
  assert.equal(st.pwned, undefined, `${where}: an injected script ran`);
  assert.deepEqual(st.scripts, ['vendor/echarts.min.js', 'app.js'], `${where}: only the page's own scripts`);
  assert.deepEqual(st.handlers, [], `${where}: no event-handler attributes`);
  assert.deepEqual(st.jsLinks, [], `${where}: no javascript: links`);
  assert.deepEqual(st.injected, [], `${where}: no element built from data`);
}

const go = (page: Page, hash: string) => page.evaluate((h) => { location.hash = h; }, hash);

test('no inline script or event-handler attribute in index.html; no HTML string building anywhere in dashboards/', () => {
  const dir = join(repoRoot(), 'dashboards');
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  assert.deepEqual(html.match(/<script\b(?![^>]*\bsrc=)[^>]*>/gi), null, 'no inline <script>');
  assert.deepEqual(html.match(/<[^>]*\son[a-z]+\s*=/gi), null, 'no on* attributes');
  const js = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? (e.name === 'grafana' ? [] : js(join(d, e.name))) : e.name.endsWith('.js') ? [join(d, e.name)] : []));
  const bad = js(dir).flatMap((f) => readFileSync(f, 'utf8').split('\n').map((l, i) => [f.slice(dir.length + 1), i + 1, l] as const).filter(([, , l]) => /\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write|escapeHtml)\b/.test(l)).map(([f, i, l]) => `${f}:${i}: ${l.trim()}`));
  assert.deepEqual(bad, []);
});

test('the Content-Security-Policy, nosniff and no-referrer headers are on every response', async () => {
  const s = await startServer();
  try {
    const urls = ['/', '/index.html', '/app.js', '/lib/dom.js', '/style.css', '/vendor/echarts.min.js', '/api/config', '/api/runs', '/api/boards', '/api/runs/nope-run', '/api/nothing-here', '/api/studies', '/no-such-file'];
    for (const u of urls) {
      const r = await fetch(s.url + u);
      await r.arrayBuffer();
      // A path that is neither API nor file gets Express's own "Cannot GET" page, with its stricter policy (nothing loads at all).
      assert.equal(r.headers.get('content-security-policy'), u === '/no-such-file' ? "default-src 'none'" : CSP, `${u} (${r.status})`);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', u);
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer', u);
    }
    // Errors too: a mutating request without the token, a malformed body, a foreign Host.
    for (const r of [await fetch(`${s.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), await s.post(`${s.url}/api/jobs`, '{"not json')]) {
      assert.ok(r.status >= 400, String(r.status));
      assert.equal(r.headers.get('content-security-policy'), CSP, `error ${r.status}`);
    }
  } finally {
    await s.close();
  }
});

test('script payloads in runs, results, boards and studies reach every view as text and never run', { timeout: 300000 }, async (t) => {
  if (!needTool(t, 'chromium', 'chromium')) return;
  const storeDir = mkdtempSync(join(tmpdir(), 'inj-store-'));
  const studies = mkdtempSync(join(tmpdir(), 'inj-studies-'));
  seedStore(storeDir);
  seedStudies(studies);
  const s: TestServer = await startServer({ storeDir, studies });
  // The board's own strings (what `rram serve` reports from the board's hello).
  const board = s.jobs.board as unknown as { info: () => BoardInfo };
  const info = board.info.bind(board);
  board.info = () => ({ ...info(), id: P.boardInfo, firmware: P.firmware });
  // What the server hands the page for the study (absolute-looking paths in a study are cut).
  const st = (await (await fetch(`${s.url}/api/studies/inj`)).json()) as { study: string; params: Record<string, unknown>; figures: { x: string; series: { name: string; points: unknown[][] }[] }[]; checks: { claim: string; measured: string }[]; tables: { title: string; header: string[]; rows: string[][]; notes: string[] }[] };
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    for (const bypassCSP of [true, false]) {
      await t.test(bypassCSP ? 'with the CSP bypassed: the DOM construction alone keeps every payload text' : 'with the CSP enforced: nothing the page does is blocked, an inline script is', async () => {
        const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 }, bypassCSP });
        const page = await ctx.newPage();
        const dialogs: string[] = [];
        const errors: string[] = [];
        page.on('dialog', (d) => { dialogs.push(`${d.type()}: ${d.message()}`); void d.dismiss(); });
        page.on('pageerror', (e) => errors.push(e.message));
        await page.addInitScript(() => {
          (window as unknown as W).__csp = [];
          document.addEventListener('securitypolicyviolation', (e) => (window as unknown as W).__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
        });
        const apiHeaders = page.waitForResponse((r) => r.url().endsWith('/api/runs'));
        const res = await page.goto(`${s.url}/#live/inj-cdf`);
        assert.equal(res!.headers()['content-security-policy'], CSP, 'the page carries the policy');
        assert.equal((await apiHeaders).headers()['content-security-policy'], CSP, '/api/runs carries the policy');
        await page.waitForSelector('body[data-ready="1"]');
        await shows(page, '#board-info', [P.boardInfo]);

        // Live: the run's kind, its warnings, its progress phase and its error.
        await shows(page, '#warnings', [P.warning1, P.warning2]);
        await shows(page, '#run-kind', [P.kind]);
        await shows(page, '#progress-text', [P.phase, P.endError]);
        await nothingRan(page, 'live');

        // Heat map: a cell's status in its tooltip.
        await page.click('nav a[data-view=map]');
        await page.waitForFunction(() => Number((document.querySelector('#map-a0') as HTMLElement | null)?.dataset.cells ?? 0) === 4);
        await mapTipsShow(page, [`status ${P.cellStatus}`]);
        await nothingRan(page, 'map');

        // Level CDFs: level labels, failure reasons, relaxation times, run kinds; the overlay's label and failed cells in tooltips.
        await go(page, '#cdf/inj-cdf');
        await page.waitForFunction(() => (document.querySelector('#cdf-plot') as HTMLElement).dataset.run === 'inj-cdf');
        await shows(page, '#cdf-table', [P.level, `${P.failKey} 1`, `${P.summaryFailKey} 2`, `${P.lower}-1`]);
        await shows(page, '#cdf-compare', [`this run after ${P.relax} s`, 'run inj-cdf2 (characterize)']);
        await shows(page, '#cdf-run', [`inj-cdf (${P.kind}, 10:00:00)`]);
        await page.selectOption('#cdf-compare', 'relax:0');
        await page.waitForFunction((x) => (window as unknown as W).echarts.getInstanceByDom(document.querySelector('#cdf-plot')!)!.getOption().series.some((q) => q.name?.includes(x)), P.relax);
        await tipsShow(page, '#cdf-plot', [`level ${P.level}: `, `level ${P.level} (after ${P.relax} s)`, `: ${P.failedStatus}, `]);
        await nothingRan(page, 'cdf');

        // Inference: model, dataset, mapping, device and engine names; the device in accuracy-vs-levels tooltips.
        await go(page, '#inference/inj-infer');
        await shows(page, '#infer-summary', [`${P.inferModel} on ${P.dataset}, 4 levels, ${P.scheme}, device ${P.device}`, P.engine]);
        await page.waitForFunction(() => (document.querySelector('#acc-levels') as HTMLElement).dataset.levels === '[[4]]');
        await tipsShow(page, '#acc-levels', [`${P.device} mean: 4 levels`]);
        await nothingRan(page, 'inference');

        // Calibration: parameter names, units, statuses and methods; the twin's run, calibration id, levels and quantities.
        await go(page, '#calibration/inj-fit');
        await shows(page, '#fit-table', [P.paramName, P.unit, P.paramStatus]);
        assert.ok(await page.evaluate((m) => [...document.querySelectorAll('#fit-table td')].some((td) => td.getAttribute('title') === m), P.method), 'the method is the cell\'s title');
        await shows(page, '#twin-summary', [`run ${P.against} with calibration ${P.calId}: worst KS 0.100`, `FAIL at max KS ${P.maxKs}`]);
        await shows(page, '#twin-table', [P.rowLevel, P.quantity]);
        await page.waitForFunction(() => (document.querySelector('#twin-plot') as HTMLElement).dataset.levels === '1');
        await tipsShow(page, '#twin-plot', [`level ${P.twinLevel} board: `, `level ${P.twinLevel} twin: `]);
        await nothingRan(page, 'calibration');

        // Write-verify bench: algorithm labels, the run each names (a javascript: URL stays a fragment), the retention times.
        await go(page, '#wvbench/inj-wvb');
        await shows(page, '#wvb-table', [P.wvAlgo, P.wvRun, `BER @ ${P.wvTime} s`]);
        assert.equal(await page.getAttribute('#wvb-table a', 'href'), `#cdf/${P.wvRun}`);
        await page.waitForFunction(() => (document.querySelector('#wvb-plot') as HTMLElement).dataset.points === '1');
        await tipsShow(page, '#wvb-plot', [`${P.wvAlgo}, level 1: `]);
        await nothingRan(page, 'wvbench');

        // History: kinds, errors (also as the cell's title), parameters, the arrays an export names.
        await go(page, '#history');
        await shows(page, '#runs', [P.kind, `failed: ${P.error}`, `algo=${P.algo} levels=2 cellsPerLevel=2 map=${P.map} array=0 model=${P.model}`, `model=${P.inferModel} dataset=${P.dataset} device=${P.device}`, `hdf5 a${P.array}`]);
        assert.ok(await page.evaluate((e) => [...document.querySelectorAll('#runs td')].some((td) => td.getAttribute('title') === e), P.error));
        await nothingRan(page, 'history');

        // Compare: board ids, calibrations, every string parameter; level labels in tooltips.
        await go(page, '#compare/inj-cdf');
        await page.waitForFunction(() => document.querySelectorAll('#cmp-levels tr').length === 3);
        await shows(page, '#cmp-params', [P.kind, P.boardId, P.boardId2, P.calibration, P.calibration2, P.algo, P.algo2, P.mapName, P.mapName2, P.map, P.note]);
        await shows(page, '#cmp-a', [`inj-cdf (${P.kind}, ${P.algo})`, `inj-cdf2 (characterize, ${P.algo2})`]);
        await tipsShow(page, '#cmp-plot', [`A level ${P.level}: `]);
        await nothingRan(page, 'compare');

        // Studies: the study's name, parameters, tables, notes, claims; figure labels in tooltips.
        await go(page, '#studies/inj');
        await page.waitForFunction(() => document.querySelectorAll('.study-fig[data-drawn]').length === 2);
        await shows(page, '#study-pick', [`inj (${P.study}, 2 points)`]); // the list is read as is
        const [k, v] = Object.entries(st.params)[0];
        const tb = st.tables[0];
        await shows(page, '#study-body', [`rram study ${st.study}: 2 points, 3 s; ${k}=${JSON.stringify(v)}`, tb.title, tb.header[0], tb.rows[0][0], tb.notes[0], st.checks[0].claim, st.checks[0].measured]);
        await tipsShow(page, '#study-body .chart', [st.figures[0].series[0].name, String(st.figures[0].series[0].points[0][2]), `${st.figures[1].x} 10.00 %`]);
        await nothingRan(page, 'studies');

        assert.deepEqual(dialogs, [], 'no dialog opened');
        assert.deepEqual(errors, [], 'no page errors');
        assert.deepEqual(await page.evaluate(() => (window as unknown as W).__csp), [], 'nothing the page did was blocked by the policy');
        // A script added inline: blocked under the policy (and it does run when the policy is bypassed: the first pass proves something).
        const inline = await page.evaluate(() => { const x = document.createElement('script'); x.textContent = 'window.__inline = 1'; document.head.append(x); return (window as unknown as W).__inline; });
        const handler = await page.evaluate(async () => {
          const img = document.createElement('img');
          img.setAttribute('onerror', 'window.__inline = 2');
          img.src = 'data:,';
          document.body.append(img);
          await new Promise((r) => setTimeout(r, 300));
          img.remove();
          return (window as unknown as W).__inline;
        });
        if (bypassCSP) assert.deepEqual([inline, handler], [1, 2], 'with the policy bypassed, inline scripts run');
        else {
          assert.equal(inline, undefined, 'the policy blocks an inline script');
          assert.equal(handler, undefined, 'the policy blocks an inline event handler');
          const v = await page.evaluate(() => (window as unknown as W).__csp);
          assert.ok(v.length >= 2 && v.every((x) => /^script-src/.test(x)), `reported as script-src violations: ${v}`);
          assert.equal(await page.evaluate(() => (window as unknown as W).__pwned), undefined);
        }
        await ctx.close();
      });
    }
  } finally {
    await browser.close();
    await s.close();
  }
});
