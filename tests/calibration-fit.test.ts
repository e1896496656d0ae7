import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fitFromData } from '../calibration/apply-fit.js';
import { loadCalibration } from '../calibration/calibration.js';
import { repoRoot } from '../lib/repo-root.js';
import { HFOX_DIR } from '../calibration/fit-hfox.js';

// The HfOx subset ships with the repository (calibration/data/hfox-techA, MIT): nothing outside it is read.
const data = join(repoRoot(), HFOX_DIR);

test('relaxation fit on even cells predicts the odd cells; the shipped calibration is that fit, from the repository alone', () => {
  assert.ok(existsSync(join(data, 'LICENSE')) && existsSync(join(data, 'SOURCE.txt')), 'the data ships with its licence and source');
  const r = fitFromData(data);
  assert.equal(r.report.cells, 16384);
  assert.ok(r.report.holdoutMedianRelErr < 0.15, `median hold-out error ${r.report.holdoutMedianRelErr}`);
  assert.ok(r.report.readNoise.a_S > 0.2e-6 && r.report.readNoise.a_S < 0.6e-6);
  // device-facts.md: tech A spread of G(t)-G(0) at G0 ~ 34 uS: 4.2 uS at 10 ms, 8.8 at 1 s.
  const row = r.relaxation.sigma_S[1];
  assert.ok(Math.abs(row[0] - 4.2e-6) < 1e-6 && Math.abs(row[2] - 8.8e-6) < 1.5e-6, `${row}`);
  const shipped = loadCalibration();
  assert.deepEqual(shipped.relaxation.sigma_S, r.relaxation.sigma_S);
});
