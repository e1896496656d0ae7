/**
 * The dashboard's inference view during and after a progressive fine-tuning run (issue 27), in a
 * real headless Chromium: the per-layer progress while the layers are predicted and programmed,
 * then the final table; a run without fine-tuning shows none of it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { needTool } from './helpers/env.js';
import { startServer, waitFor } from './helpers/server.js';
import { CHROMIUM_ARGS } from './helpers/browser.js';
import { repoRoot } from '../lib/repo-root.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { saveModel } from '../src/inference/model-io.js';

test('dashboard: a fine-tuning run\'s layers as they are programmed, then its table; hidden for a plain program-net run', { timeout: 420000 }, async (t) => {
  if (!needTool(t, 'chromium', 'chromium')) return;
  const shots = join(repoRoot(), 'test-artifacts', 'dashboard');
  mkdirSync(shots, { recursive: true });
  const s = await startServer();
  await initTf();
  await saveModel(tf, buildModel(tf, parseArch('cnn:1x2/p5/h4'), 4), join(s.storeDir, 'models', 'tiny'));
  const ch = await s.post(`${s.url}/api/jobs`, { kind: 'characterize', levels: 4, cellsPerLevel: 16 });
  assert.equal(ch.status, 202, await ch.text());
  await waitFor(async () => (await (await fetch(`${s.url}/api/runs`)).json() as { kind: string; status: string }[]).some((r) => r.kind === 'characterize' && r.status === 'completed'), 120000, 'the characterize run');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 1100 } })).newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${s.url}/#inference`);
    await page.waitForSelector('body[data-ready="1"]');
    await page.fill('#form-infer input[name=model]', 'tiny');
    await page.fill('#form-infer input[name=trials]', '8');
    await page.check('#ft-on');
    await page.fill('#ft-images', '600');
    await page.fill('#ft-epochs', '1');
    await page.click('#start-program-net');
    // While it runs: rows per layer, their status moving to "programmed" one after the other.
    await page.waitForFunction(() => !(document.querySelector('#ft-card') as HTMLElement).hidden && document.querySelectorAll('#ft-layers tr').length === 4, null, { timeout: 120000 });
    const seen = new Set<string>();
    for (let i = 0; i < 600 && !(await page.locator('#ft-table tr').count()); i++) {
      seen.add((await page.getAttribute('#ft-layers', 'data-programmed')) ?? '');
      await page.waitForTimeout(200);
    }
    assert.ok([...seen].some((x) => x === '1' || x === '2'), `per-layer progress seen while running: ${[...seen]}`);
    await page.waitForFunction(() => document.querySelectorAll('#ft-table tr').length === 8, null, { timeout: 240000 });
    assert.equal(await page.getAttribute('#ft-layers', 'data-programmed'), '3');
    const statuses = await page.$$eval('#ft-layers tr[data-status]', (rows) => rows.map((r) => (r as HTMLElement).dataset.status));
    assert.deepEqual(statuses, ['programmed', 'programmed', 'programmed']);
    const table = (await page.textContent('#ft-table')) ?? '';
    assert.match(table, /software \(float weights\)\d+\.\d\d/);
    assert.match(table, /without fine-tuning \(unknown: no baseline given\)-/, 'no baseline: unknown, not made up');
    assert.match(table, /read-back with fine-tuning(?!, before)[^\d]*\d+\.\d\d/);
    const rb = Number(await page.getAttribute('#ft-table', 'data-readback'));
    assert.ok(rb >= 0 && rb <= 1);
    // The same figure as the run's result.
    const runs = (await (await fetch(`${s.url}/api/runs`)).json()) as { id: string; kind: string }[];
    const id = runs.find((r) => r.kind === 'program-net')!.id;
    const res = (await (await fetch(`${s.url}/api/runs/${id}/results/program-net`)).json()) as { readbackAccuracy: number; fineTune: { table: { readback: number }; refit?: { kept: boolean; outputs?: { source: string } } } };
    assert.equal(res.fineTune.table.readback, rb);
    // The re-fit's row says what the CLI says: kept or not, and on which outputs (the station's emulated board offers the MVM).
    const refit = res.fineTune.refit!;
    assert.ok(refit, 'a fine-tuned run has a final re-fit');
    assert.match(table, refit.kept ? (refit.outputs?.source === 'mvm' ? /re-fitted on the last layer's outputs measured through the board's MVM\d/ : /re-fitted on its outputs computed from the read-back/) : /digital re-fit not kept/);
    assert.equal(res.readbackAccuracy, rb);
    await page.screenshot({ path: join(shots, '9-fine-tune.png'), fullPage: true });
    // A plain program-net run: no fine-tuning card.
    await page.uncheck('#ft-on');
    await page.click('#start-program-net');
    await page.waitForFunction(() => (document.querySelector('#ft-card') as HTMLElement).hidden && /from the read-back currents/.test(document.querySelector('#infer-summary')!.textContent ?? '') && document.querySelector('#infer-run option:checked')?.textContent !== '', null, { timeout: 240000 });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await s.close();
  }
});
