/**
 * Issue 28: "the calibration's fitted relaxation drives both the emulator and the Monte Carlo".
 * The Monte Carlo ages a device by relaxationMoments (calibration/model-extensions.ts); the
 * emulated board of the same calibration ages every cell by the same terms. Checked on the
 * shipped calibration (its table scaled by relaxation_scale 0.35) and on one with every
 * relaxation piece on: the cells' changes, standardized by the moments at their own G0 and age,
 * have mean 0 and spread 1; the prediction's device model carries exactly those moments.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { loadCalibration, values, type Calibration } from '../calibration/calibration.js';
import { relaxationMoments } from '../calibration/model-extensions.js';
import { relaxationPair } from '../calibration/relaxation.js';
import { withValues } from '../src/calibrate/with-values.js';
import { buildDeviceModel, parseDeviceSpec } from '../src/inference/device-models.js';
import { predictionDeviceOptions } from '../src/inference/prediction-device.js';

const base = loadCalibration();
const quiet = (c: Calibration, change: Record<string, number> = {}) => withValues(c, { ...values(c), read_noise_S: 0, read_noise_rel: 0, ...change }, c.relaxation);
const cell = (i: number) => ({ array: 0, row: Math.floor(i / 64), col: i % 64 });

test('the emulated board ages its cells by relaxationMoments: standardized changes have mean 0 and spread 1 at 1 s, 1e2 s and 1e4 s', async () => {
  const boards = {
    shipped: quiet(base),
    'every piece on': quiet(base, { relaxation_scale: 0.6, relaxation_time_exp: 0.05, relaxation_g_exp: -0.3, relax_fast_sigma_rel: 0.03, relax_fast_sigma_S: 1e-6, relax_fast_drift_rel: -0.01, relaxation_drift_rel: -0.004 }),
  };
  assert.equal(values(base).relaxation_scale, 0.35, 'the shipped calibration scales its table');
  const n = 600;
  for (const [name, cal] of Object.entries(boards)) {
    const p = values(cal);
    const b = new EmulatedBoard({ seed: 7, calibration: cal });
    const m = b.arrayModel(0);
    const at: { g0: number; t0: number }[] = [];
    for (let i = 0; i < n; i++) {
      await b.form(cell(i), { vte_V: 3.9, vg_V: 1.6, width_s: 10e-6 });
      for (let k = 0; k < 3; k++) await b.reset(cell(i), { vsl_V: 2.5, vg_V: 2.7, width_s: 1e-6 });
      await b.set(cell(i), { vte_V: 1.2, vg_V: 1.0 + (1.2 * i) / n, width_s: 1e-6 });
      at.push({ g0: m.conductance(i, b.now_s), t0: b.now_s });
    }
    let waited = 0;
    for (const t of [1, 1e2, 1e4]) {
      await b.wait(t - waited);
      waited = t;
      const mo = { mean: 0, sigma: 0 };
      const z = at.map((c, i) => {
        relaxationMoments(p, cal.relaxation, c.g0, b.now_s - c.t0, mo);
        return (m.conductance(i, b.now_s) - c.g0 - mo.mean) / mo.sigma;
      });
      const mean = z.reduce((a, x) => a + x, 0) / n;
      const sd = Math.sqrt(z.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
      assert.ok(Math.abs(mean) < 4 / Math.sqrt(n), `${name}, ${t} s: standardized mean ${mean.toFixed(3)}`);
      assert.ok(Math.abs(sd - 1) < 0.1, `${name}, ${t} s: standardized spread ${sd.toFixed(3)}`);
    }
  }
});

test('the prediction ages its levels by the calibration\'s relaxation (the table scaled as the board is), not by the bare table', () => {
  const t = 1e5;
  const d = buildDeviceModel(parseDeviceSpec('gaussian:2%'), 8, predictionDeviceOptions(base, { relax_s: t }));
  const p = values(base);
  const mo = { mean: 0, sigma: 0 };
  const bare = { mean: 0, sigma: 0 };
  d.nominal.forEach((i_A, k) => {
    relaxationMoments(p, base.relaxation, i_A / 0.2, t, mo);
    relaxationPair(base.relaxation, i_A / 0.2, t, bare);
    assert.equal(d.relaxSigma_A[k], mo.sigma * 0.2, `level ${k} spread`);
    assert.equal(d.relaxMean_A[k], mo.mean * 0.2, `level ${k} drift`);
    if (bare.sigma > 0) assert.ok(Math.abs(d.relaxSigma_A[k] / (bare.sigma * 0.2) - p.relaxation_scale) < 1e-9, `level ${k}: the table's spread x relaxation_scale`);
  });
  assert.match(d.relaxSource!, /x 0\.35/);
});
