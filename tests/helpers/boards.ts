/** Boards unlike ours for tests: calibrations with a shifted transfer, high pristine reads, stuck cells. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALL_UNITS, DEFAULT_CALIBRATION_FILE, validateCalibration, type Calibration, type ScalarName } from '../../calibration/calibration.js';
import { repoRoot } from '../../lib/repo-root.js';

/** The default calibration with some parameters changed (values in the file's units), written to a temp file. */
export function variantCalibration(id: string, change: Partial<Record<ScalarName, number | ((v: number) => number)>>): { file: string; cal: Calibration } {
  const raw = JSON.parse(readFileSync(join(repoRoot(), DEFAULT_CALIBRATION_FILE), 'utf8')) as Calibration;
  raw.id = id;
  for (const [k, v] of Object.entries(change)) {
    const p = (raw.params[k as ScalarName] ??= { value: 0, unit: ALL_UNITS[k as ScalarName], source: '' });
    p.value = typeof v === 'function' ? v(p.value) : (v as number);
    p.source = `test variant ${id}`;
  }
  const file = join(mkdtempSync(join(tmpdir(), 'cal-')), `${id}.json`);
  writeFileSync(file, JSON.stringify(raw));
  return { file, cal: validateCalibration(raw) };
}

/** The board unlike ours: transfer shifted by +0.25 V. */
export const shifted = () => variantCalibration('shifted-025', { transfer_v0_V: (v) => v + 0.25 });
export const LIMITED = { vg_max_V: 2.0, vsl_max_V: 2.4, vte_max_V: 3.6 };
export const LIMITED_FLAG = 'vg_max=2.0,vsl_max=2.4,vte_max=3.6';
