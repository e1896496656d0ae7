import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { AddressError, CalibrationError, LimitError } from '../drivers/errors.js';
import { loadCalibration, DEFAULT_CALIBRATION_FILE } from '../calibration/calibration.js';
import { repoRoot } from '../lib/repo-root.js';

test('limits: typed error naming field, value and limit; nothing reaches the cell', async () => {
  const b = new EmulatedBoard({ seed: 1 });
  const c = { array: 0, row: 0, col: 0 };
  await assert.rejects(b.set(c, { vte_V: 4.5, vg_V: 1, width_s: 1e-6 }), (e: unknown) => e instanceof LimitError && e.field === 'vte_V' && e.value === 4.5 && e.limit === 4 && /vte_V=4.5/.test(e.message));
  await assert.rejects(b.reset(c, { vsl_V: 1, vg_V: 3.4, width_s: 1e-6 }), (e: unknown) => e instanceof LimitError && e.field === 'vg_V');
  await assert.rejects(b.set(c, { vte_V: 1, vg_V: 1, width_s: 1 }), (e: unknown) => e instanceof LimitError && e.field === 'width_s');
  await assert.rejects(b.read(c, { vread_V: 0.8 }), (e: unknown) => e instanceof LimitError && e.field === 'vread_V');
  await assert.rejects(b.read({ array: 2, row: 0, col: 0 }), (e: unknown) => e instanceof AddressError && e.field === 'array');
  await assert.rejects(b.read({ array: 0, row: 64, col: 0 }), (e: unknown) => e instanceof AddressError && e.field === 'row');
  assert.deepEqual(b.countersSync(c), { form: 0, set: 0, reset: 0, read: 0 });
});

test('calibration: every parameter carries value, unit and source; bad files are refused by key', () => {
  const cal = loadCalibration();
  for (const [k, p] of Object.entries(cal.params)) assert.ok(p.source.length > 10, `${k} has a source`);
  const raw = JSON.parse(readFileSync(join(repoRoot(), DEFAULT_CALIBRATION_FILE), 'utf8'));
  const dir = mkdtempSync(join(tmpdir(), 'cal-'));
  const bad = (mut: (o: any) => void, key: RegExp) => {
    const o = structuredClone(raw);
    mut(o);
    const f = join(dir, 'c.json');
    writeFileSync(f, JSON.stringify(o));
    assert.throws(() => loadCalibration(f), (e: unknown) => e instanceof CalibrationError && key.test(e.message));
  };
  bad((o) => delete o.params.g_cap_S, /params\.g_cap_S/);
  bad((o) => (o.params.vg_jitter_V.unit = 'mV'), /params\.vg_jitter_V\.unit/);
  bad((o) => (o.params.set_v_median_V.value = 'x'), /params\.set_v_median_V\.value/);
  bad((o) => (o.params.typo_param = { value: 1, unit: 'V', source: 'abc' }), /params\.typo_param/);
  bad((o) => o.relaxation.sigma_S.pop(), /relaxation\.sigma_S/);
  assert.throws(() => loadCalibration(join(dir, 'missing.json')), CalibrationError);
});
