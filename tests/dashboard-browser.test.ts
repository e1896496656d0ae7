/**
 * The dashboard in a real headless Chromium (Debian `chromium` driven by playwright-core): start
 * a run, watch progress and the heat map change, see the CDF plot, abort a second run, run an
 * inference job and see its accuracy plots. Screenshots go to test-artifacts/dashboard/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { needTool } from './helpers/env.js';
import { startServer } from './helpers/server.js';
import { CHROMIUM_ARGS } from './helpers/browser.js';
import { repoRoot } from '../lib/repo-root.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { saveModel } from '../src/inference/model-io.js';


test('dashboard in headless Chromium: live run, heat map, CDFs, abort, inference', { timeout: 240000 }, async (t) => {
  if (!needTool(t, 'chromium', 'chromium')) return;
  const shots = join(repoRoot(), 'test-artifacts', 'dashboard');
  mkdirSync(shots, { recursive: true });
  const s = await startServer();
  await initTf();
  const m = buildModel(tf, parseArch('dense:8'), 4);
  await saveModel(tf, m, join(s.storeDir, 'models', 'd8'));
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(s.url);
    await page.waitForSelector('body[data-ready="1"]');
    assert.match(await page.textContent('#board-info') ?? '', /emu-3/);

    // Start a characterize run from the form; progress and the heat map must move.
    await page.fill('#form-characterize input[name=levels]', '8');
    await page.fill('#form-characterize input[name=cellsPerLevel]', '256');
    await page.click('#start-characterize');
    await page.waitForFunction(() => /\d+ \/ \d+/.test(document.querySelector('#progress-text')!.textContent ?? ''));
    await page.screenshot({ path: join(shots, '1-live-run.png') });
    await page.click('nav a[data-view=map]');
    await page.waitForFunction(() => Number((document.querySelector('#maps canvas') as HTMLElement | null)?.dataset.cells ?? 0) > 0);
    const c1 = Number(await page.getAttribute('#maps canvas', 'data-cells'));
    await page.waitForFunction((n) => Number((document.querySelector('#maps canvas') as HTMLElement).dataset.cells) > n, c1);
    const pixelsChanged = await page.evaluate(() => {
      const c = document.querySelector('#maps canvas') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (!(d[i] === 200 && d[i + 1] === 200 && d[i + 2] === 200)) n++;
      return n;
    });
    assert.ok(pixelsChanged > 0, 'heat map pixels coloured');
    await page.screenshot({ path: join(shots, '2-array-map.png') });
    await page.click('nav a[data-view=live]');
    await page.waitForFunction(() => document.querySelector('#status')!.textContent === 'completed', null, { timeout: 120000 });
    const lat = await page.evaluate(() => (window as unknown as { __rram: { latencies: number[] } }).__rram.latencies.slice());
    t.diagnostic(`event-to-pixel latency over ${lat.length} updates: p50 ${lat.sort((a, b) => a - b)[Math.floor(lat.length / 2)]} ms`);

    // Level CDFs of the finished run.
    await page.click('nav a[data-view=cdf]');
    await page.waitForFunction(() => (document.querySelector('#cdf-plot') as HTMLElement).dataset.levels === '8');
    assert.equal(await page.locator('#cdf-table tr').count(), 1 + 1 + 8 + 1 + 7, 'summary, header, 8 levels, overlap header, 7 overlaps');
    assert.match(await page.locator('#cdf-table tr').first().innerText(), /^\d+ of 2048 cells programmed \([0-9.]+ %\); failures: /);
    await page.screenshot({ path: join(shots, '3-level-cdfs.png') });

    // A second run, aborted from the page.
    await page.click('nav a[data-view=live]');
    await page.fill('#form-characterize input[name=cellsPerLevel]', '500');
    await page.click('#start-characterize');
    await page.waitForFunction(() => document.querySelector('#status')!.textContent === 'running' && !(document.querySelector('#abort') as HTMLButtonElement).disabled);
    await page.click('#abort');
    await page.waitForFunction(() => document.querySelector('#status')!.textContent === 'aborted', null, { timeout: 60000 });
    await page.screenshot({ path: join(shots, '4-aborted.png') });

    // Bad input is shown, not swallowed.
    await page.fill('#form-characterize input[name=cellsPerLevel]', '5000');
    await page.click('#start-characterize');
    await page.waitForFunction(() => /cellsPerLevel=5000/.test(document.querySelector('#message')!.textContent ?? ''));

    // Inference on the level CDFs just measured.
    await page.click('nav a[data-view=inference]');
    await page.fill('#form-infer input[name=model]', 'd8');
    await page.fill('#form-infer input[name=trials]', '16');
    await page.click('#start-infer');
    await page.waitForFunction(() => !!(document.querySelector('#confusion') as HTMLElement).dataset.run, null, { timeout: 120000 });
    assert.match(await page.textContent('#infer-summary') ?? '', /d8 on mnist, 4 levels, diff.*16 trials/);
    assert.equal(await page.locator('#confusion tr').count(), 11);
    await page.screenshot({ path: join(shots, '5-inference.png') });

    // The same net programmed onto the board, evaluated from its read-back beside the prediction.
    // Two levels keep it short: most weights of the untrained net round to 0 (both cells at HRS).
    await page.fill('#form-infer input[name=levels]', '2');
    await page.click('#start-program-net');
    await page.waitForFunction(() => /read-back accuracy|failed|aborted|no result|error/i.test(document.querySelector('#infer-summary')!.textContent ?? ''), null, { timeout: 180000 });
    assert.match(await page.textContent('#infer-summary') ?? '', /programmed on the board \(12740 cells, 14 tiles, \d+ pulses\): read-back accuracy \d+\.\d\d % at the \d+th percentile of the prediction; d8 on mnist, 2 levels/);
    assert.equal(await page.textContent('#confusion-title'), 'Confusion matrix (from the read-back)');
    assert.equal(await page.locator('#confusion tr').count(), 11);
    // The green read-back marker is drawn on the accuracy histogram.
    const green = await page.evaluate(() => {
      const c = document.querySelector('#acc-hist') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let k = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] === 0x2c && d[i + 1] === 0xa0 && d[i + 2] === 0x2c) k++;
      return k;
    });
    assert.ok(green > 20, `read-back marker pixels: ${green}`);
    await page.screenshot({ path: join(shots, '5b-program-net.png') });

    await page.click('nav a[data-view=history]');
    assert.ok((await page.locator('#runs tr').count()) >= 4);
    const href = await page.locator('#runs tr:has-text("characterize"):has-text("completed") a[href*="format=csv"]').last().getAttribute('href');
    const csv = await page.request.get(s.url + href);
    assert.equal(csv.status(), 200);
    await page.screenshot({ path: join(shots, '6-history.png') });
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await browser.close();
    m.dispose();
    await s.close();
  }
});
