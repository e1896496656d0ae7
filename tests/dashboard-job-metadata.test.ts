/**
 * The run metadata typed into a job's start form (issue 29), in real Chromium: for random values of
 * every field (sample, wafer, die, device, operator, temperature, notes, tags), the started run's
 * run.json holds exactly what was typed (as the schema normalizes it: text trimmed, tags split at
 * commas); a bad tag or a temperature that is not a number is refused naming the field, and no run
 * is started.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chromium } from 'playwright-core';
import { needTool } from './helpers/env.js';
import { startServer, waitFor } from './helpers/server.js';
import { CHROMIUM_ARGS } from './helpers/browser.js';

const text = fc.string({ unit: fc.constantFrom(...'abcXYZ019 -_./#äµ°'.split('')), minLength: 1, maxLength: 30 }).map((s) => s.trim()).filter((s) => s.length > 0);
const tag = fc.string({ unit: fc.constantFrom(...'abz09_.:+/-'.split('')), minLength: 1, maxLength: 12 });
const metadata = fc.record(
  {
    sample: text,
    wafer: text,
    die: text,
    device: text,
    operator: text,
    temperature_C: fc.double({ min: -200, max: 900, noNaN: true }).map((t) => Math.round(t * 100) / 100 + 0),
    notes: fc.array(text, { minLength: 1, maxLength: 3 }).map((l) => l.join('\n')),
    tags: fc.uniqueArray(tag, { minLength: 1, maxLength: 4 }),
  },
  { requiredKeys: ['sample'] },
);

test('job start form: the metadata typed is the run.json metadata; bad values refused naming the field', { timeout: 120000 }, async (t) => {
  if (!needTool(t, 'chromium', 'chromium')) return;
  const s = await startServer();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${s.url}/#live`);
    await page.waitForSelector('body[data-ready="1"]');
    await page.fill('#form-characterize input[name=levels]', '2');
    await page.fill('#form-characterize input[name=cellsPerLevel]', '2');
    await page.click('#form-characterize .meta-fields summary');
    const field = (k: string) => `#form-characterize [data-meta=${k}]`;
    const type = async (m: Record<string, unknown>) => {
      for (const k of ['sample', 'wafer', 'die', 'device', 'operator', 'temperature_C', 'notes', 'tags']) {
        const v = m[k];
        await page.fill(field(k), v === undefined ? '' : Array.isArray(v) ? v.join(', ') : String(v));
      }
    };
    const start = async () => {
      const before = s.jobs.store.listRuns().length;
      await page.click('#start-characterize');
      return before;
    };
    for (const m of fc.sample(metadata, { numRuns: 4, seed: 29 })) {
      await type(m);
      const before = await start();
      const run = await waitFor(() => (s.jobs.store.listRuns().length > before ? s.jobs.store.listRuns()[0] : undefined), 30000, 'the run');
      await waitFor(() => s.jobs.store.getRun(run.id).status === 'completed', 30000, 'the run to end');
      assert.deepEqual(s.jobs.store.getRun(run.id).metadata, m, `typed ${JSON.stringify(m)}`);
    }
    // Bad input: refused by name, nothing started.
    for (const [k, v, want] of [['tags', 'hot, not ok', /metadata\.tags\[1\]="not ok": a tag is 1-40 letters/], ['temperature_C', 'warm', /metadata\.temperature_C="warm": must be a number/], ['sample', 'a\u0007b', /metadata\.sample/]] as const) {
      await type({ sample: 'S1' });
      await page.fill(field(k), v);
      const before = await start();
      await page.waitForFunction((re) => new RegExp(re).test(document.querySelector('#message')!.textContent ?? ''), want.source, { timeout: 10000 });
      await page.waitForTimeout(300);
      assert.equal(s.jobs.store.listRuns().length, before, `${k}=${v}: no run`);
    }
  } finally {
    await browser.close();
    await s.close();
  }
});
