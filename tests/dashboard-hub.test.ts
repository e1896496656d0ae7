/**
 * The dashboard as a lab's hub (issue 29), in real Chromium: runs written by the CLI (with their
 * metadata) are in the history, searchable and filterable by every metadata field, editable,
 * archivable and deletable (with a confirmation; never while running); the array map shows the
 * newest stored run at once after a reload (no replay), any run from its selector, and every
 * legend entry inside the chart in the "target level" and "status" modes; a CLI `rram infer` run
 * is shown on the Inference view; a program-net result reads like the CLI's (prediction,
 * posterior, variance split).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { needTool } from './helpers/env.js';
import { startServer } from './helpers/server.js';
import { CHROMIUM_ARGS } from './helpers/browser.js';
import { repoRoot } from '../lib/repo-root.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { saveModel } from '../src/inference/model-io.js';

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

/** The legend labels of a map's visual map as drawn (zrender text elements), in chart pixels. */
async function legend(page: Page, labels: string[]) {
  return page.evaluate((want) => {
    const node = document.querySelector('#map-a0') as HTMLElement;
    const zr = (window.echarts.getInstanceByDom(node) as unknown as { getZr(): unknown }).getZr() as { storage: { getDisplayList(): { style?: { text?: string }; getBoundingRect(): { clone(): { applyTransform(m: unknown): void; x: number; y: number; width: number; height: number } }; transform?: unknown; invisible?: boolean }[] } };
    const found: Record<string, { x: number; y: number; w: number; h: number }> = {};
    for (const e of zr.storage.getDisplayList()) {
      const t = e.style?.text;
      if (!t || !want.includes(t) || e.invisible) continue;
      const r = e.getBoundingRect().clone();
      if (e.transform) r.applyTransform(e.transform);
      found[t] = { x: r.x, y: r.y, w: r.width, h: r.height };
    }
    return { found, width: node.clientWidth, height: node.clientHeight };
  }, labels);
}

test('hub: CLI runs with metadata in the history (search, filters, edit, archive, delete), map after reload, run selector, legends, infer and program-net results', { timeout: 240000 }, async (t) => {
  if (!needTool(t, 'chromium', 'chromium')) return;
  const s = await startServer();
  const cli = (...a: string[]) => {
    const r = spawnSync(process.execPath, [main, ...a, '--store', s.storeDir], { encoding: 'utf8', timeout: 120000 });
    assert.equal(r.status, 0, `${a.join(' ')}: ${r.stderr}`);
    return r;
  };
  cli('characterize', '--levels', '4', '--cells-per-level', '6', '--sample', 'HfO2-A', '--wafer', 'W7', '--die', 'D3', '--device-id', 'arr-1', '--operator', 'ana', '--temperature', '85', '--tag', 'hot,retention');
  cli('characterize', '--levels', '2', '--cells-per-level', '4', '--sample', 'HfO2-B', '--wafer', 'W8', '--operator', 'ben', '--temperature', '25', '--note', 'room temperature');
  await initTf();
  await saveModel(tf, buildModel(tf, parseArch('dense:4'), 4), join(s.storeDir, 'models', 'd4'));
  cli('infer', '--model', join(s.storeDir, 'models', 'd4'), '--dataset', 'mnist', '--device', 'gaussian:5%', '--levels', '4', '--trials', '4', '--images', '200', '--tag', 'mc');
  const runs = s.jobs.store.listRuns();
  const hot = runs.find((r) => r.metadata?.wafer === 'W7')!;
  const room = runs.find((r) => r.metadata?.wafer === 'W8')!;
  const inf = runs.find((r) => r.kind === 'infer')!;
  // A program-net result in the shape NetOnArraysResult stores (the full job runs in dashboard-browser.test.ts).
  const pnId = 'pn-fixture';
  s.jobs.store.createRun(pnId, 'program-net', { model: 'd4' });
  const mcSummary = { mean: 0.9, std: 0.01, min: 0.88, max: 0.92, p5: 0.885, p50: 0.9, p95: 0.915 };
  s.jobs.store.saveResult(pnId, 'program-net', {
    runId: pnId, model: 'd4', dataset: 'mnist', levels: 4, mapping: { scheme: 'diff' }, device: 'run:x', floatAccuracy: 0.95, quantizedAccuracy: 0.93, readbackAccuracy: 0.944, readbackConfusion: [[1, 0], [0, 1]],
    programming: { cells: 100, tiles: 2, pulses: 900, algo: 'igvva', summary: { ok: 97 } },
    prediction: { trials: 50, summary: mcSummary, interval: [0.885, 0.915], width: 0.03, readbackPercentile: 1, inside: false, sources: { devices: 0.2, measuredDistributions: 0.5, failureRates: 0.3, widths: [0.01, 0.02, 0.03] } },
    posterior: { trials: 50, summary: { ...mcSummary, mean: 0.942 }, interval: [0.935, 0.95], width: 0.015, readbackPercentile: 0.6, inside: true, fixedCells: 3 },
    monteCarlo: { trials: 50, engine: 'js', summary: mcSummary, readbackPercentile: 1, histogram: [{ lo: 0.88, hi: 0.92, count: 50 }], cdf: [{ accuracy: 0.9, p: 1 }] },
  });
  s.jobs.store.writeRun({ ...s.jobs.store.getRun(pnId), status: 'completed', ended: new Date().toISOString() });

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`${s.url}/#map`);
    await page.waitForSelector('body[data-ready="1"]');
    // After a (re)load with nothing running: the newest run with cells, at once, without following (replaying) it.
    const drawn = () => page.$$eval('#maps .chart.map', (ns) => ns.reduce((n, x) => n + Number((x as HTMLElement).dataset.cells ?? 0), 0));
    await page.waitForFunction(() => Number((document.querySelector('#map-a0') as HTMLElement | null)?.dataset.cells ?? 0) > 0, null, { timeout: 10000 });
    assert.equal(await page.inputValue('#map-run'), room.id);
    assert.equal(await page.evaluate(() => (window as unknown as { __rram: { runId: string | null } }).__rram.runId), null, 'no live stream replayed');
    assert.equal(await drawn(), room.counts['cell-done']);
    // The selector: another run's map.
    await page.selectOption('#map-run', hot.id);
    await page.waitForFunction((id) => (document.querySelector('#maps') as HTMLElement).dataset.run === id, hot.id);
    await page.waitForTimeout(200);
    assert.equal(await drawn(), hot.counts['cell-done']);
    assert.equal(await page.textContent('.map-run'), hot.id);
    // Legends: every entry drawn inside the chart, in both piecewise modes.
    for (const [mode, labels] of [['level', ['level 0', 'level 1', 'level 2', 'level 3']], ['status', ['in flight', 'ok', 'unformable', 'stuck', 'failed', 'budget', 'limit', 'unknown']]] as const) {
      await page.selectOption('#map-mode', mode);
      await page.waitForFunction(() => (window.echarts.getInstanceByDom(document.querySelector('#map-a0')!)!.getOption() as Record<string, { type: string }[]>).visualMap[0].type === 'piecewise');
      await page.waitForTimeout(300);
      const g = await legend(page, [...labels]);
      assert.deepEqual(Object.keys(g.found).sort(), [...labels].sort(), `${mode}: every legend entry drawn`);
      for (const [k, r] of Object.entries(g.found)) assert.ok(r.x >= 0 && r.y >= 0 && r.x + r.w <= g.width && r.y + r.h <= g.height, `${mode}: "${k}" inside the ${g.width}x${g.height} chart: ${JSON.stringify(r)}`);
    }

    // History: metadata shown, search and filters, edit, archive, delete.
    await page.click('nav a[data-view=history]');
    await page.waitForFunction((n) => document.querySelectorAll('#runs tr[data-run]').length === n, runs.length + 1);
    const hotRow = page.locator(`#runs tr[data-run="${hot.id}"]`);
    assert.match(await hotRow.innerText(), /sample HfO2-A · wafer W7 · die D3 · device arr-1 · operator ana · 85 °C · #hot · #retention/);
    const shown = async () => page.$$eval('#runs tr[data-run]', (rs) => rs.map((r) => (r as HTMLElement).dataset.run!).sort());
    await page.fill('#hist-search', 'w7 ana');
    assert.deepEqual(await shown(), [hot.id]);
    await page.fill('#hist-search', 'room');
    assert.deepEqual(await shown(), [room.id], 'notes are searched');
    await page.fill('#hist-search', 'mc');
    await page.selectOption('#hist-field', 'tags');
    assert.deepEqual(await shown(), [inf.id]);
    await page.fill('#hist-search', '');
    await page.selectOption('#hist-field', '');
    await page.fill('#hist-tmin', '50');
    assert.deepEqual(await shown(), [hot.id]);
    await page.fill('#hist-tmin', '');
    // Edit: saved in run.json, a bad value refused with the field named.
    await hotRow.locator('button[data-action=edit]').click();
    await page.fill('#meta-form input[name=die]', 'D4');
    await page.fill('#meta-form input[name=tags]', 'hot, checked');
    await page.click('#meta-save');
    await page.waitForFunction(() => (document.querySelector('#meta-form') as HTMLElement).hidden);
    assert.deepEqual(s.jobs.store.getRun(hot.id).metadata, { sample: 'HfO2-A', wafer: 'W7', die: 'D4', device: 'arr-1', operator: 'ana', temperature_C: 85, tags: ['hot', 'checked'] });
    await page.locator(`#runs tr[data-run="${hot.id}"] button[data-action=edit]`).click();
    await page.fill('#meta-form input[name=tags]', 'not ok');
    await page.click('#meta-save');
    await page.waitForFunction(() => /tags\[0\]/.test(document.querySelector('#meta-message')!.textContent ?? ''));
    await page.click('#meta-cancel');
    errors.splice(errors.findIndex((e) => /status of 400/.test(e)), 1); // the refused save's own answer
    // Archive: hidden unless asked for; files kept.
    await page.locator(`#runs tr[data-run="${room.id}"] button[data-action=archive]`).click();
    await page.waitForFunction((id) => !document.querySelector(`#runs tr[data-run="${id}"]`), room.id);
    assert.ok(s.jobs.store.getRun(room.id).archived);
    await page.check('#hist-archived');
    await page.waitForSelector(`#runs tr.archived[data-run="${room.id}"]`);
    // Delete: asks first; dismissed keeps it, accepted removes it.
    page.once('dialog', (d) => void d.dismiss());
    await page.locator(`#runs tr[data-run="${room.id}"] button[data-action=delete]`).click();
    await page.waitForTimeout(300);
    assert.ok(existsSync(s.jobs.store.runDir(room.id)));
    page.once('dialog', (d) => void d.accept());
    await page.locator(`#runs tr[data-run="${room.id}"] button[data-action=delete]`).click();
    await page.waitForFunction((id) => !document.querySelector(`#runs tr[data-run="${id}"]`), room.id);
    assert.ok(!existsSync(s.jobs.store.runDir(room.id)));
    // A running run offers no delete, and the server refuses one.
    s.jobs.store.writeRun({ ...s.jobs.store.getRun(pnId), status: 'running', writer: { pid: process.pid, host: s.jobs.store.getRun(hot.id).writer!.host } });
    await page.fill('#hist-search', 'x');
    await page.fill('#hist-search', '');
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]');
    await page.waitForSelector(`#runs tr[data-run="${pnId}"]`);
    assert.equal(await page.locator(`#runs tr[data-run="${pnId}"] button[data-action=delete]`).count(), 0);
    const refused = await fetch(`${s.url}/api/runs/${pnId}`, { method: 'DELETE', headers: { 'x-rram-token': s.token } });
    assert.equal(refused.status, 409);
    assert.match(((await refused.json()) as { error: string }).error, /being written by process/);
    s.jobs.store.writeRun({ ...s.jobs.store.getRun(pnId), status: 'completed' });

    // Inference: the CLI's run, and a program-net result with prediction, posterior and variance split.
    await page.goto(`${s.url}/#inference/${inf.id}`);
    await page.waitForSelector('body[data-ready="1"]');
    await page.waitForFunction(() => /d4 on mnist, 4 levels/.test(document.querySelector('#infer-summary')!.textContent ?? ''));
    await page.goto(`${s.url}/#inference/${pnId}`);
    await page.waitForSelector('body[data-ready="1"]');
    await page.waitForFunction(() => /from the read-back/.test(document.querySelector('#infer-summary')!.textContent ?? ''));
    const pn = await page.locator('#infer-summary').innerText();
    assert.match(pn, /programmed 97 of 100 cells in 2 tiles with igvva, 900 pulses/);
    assert.match(pn, /from the read-back currents\s+94\.40 %/);
    assert.match(pn, /prediction before the read-back, 50 trials: mean \(p5..p95\)\s+90\.00 % \(88\.50..91\.50 %\)/);
    assert.match(pn, /read-back in the prediction\s+percentile 100: OUTSIDE the 5-95 % interval/);
    assert.match(pn, /posterior \(3 unprogrammed cells fixed to what they read\): mean \(p5..p95\)\s+94\.20 % \(93\.50..95\.00 %\), read-back inside/);
    assert.match(pn, /variance by source: devices 20 %, measured distributions 50 %, failure rates 30 %/);
    assert.doesNotMatch(pn, /\d+th percentile/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await s.close();
  }
});
