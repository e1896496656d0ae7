/**
 * The model pieces of issue 26 (calibration/model-extensions.ts, transfer-spline.ts): each does
 * what it says for every cell, and a calibration without them describes the same board as before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { CellArrayModel } from '../drivers/emulated/cell-model.js';
import { loadCalibration, validateCalibration, values, type Calibration, type ScalarName } from '../calibration/calibration.js';
import { splineCeiling, splineG, type TransferSpline } from '../calibration/transfer-spline.js';
import { transferCurve } from '../calibration/transfer.js';
import { withValues } from '../src/calibrate/with-values.js';
import { CalibrationError } from '../drivers/errors.js';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';
import { needTool } from './helpers/env.js';
import type { LevelCdfDataset } from '../src/procedures/characterize.js';

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

const base = loadCalibration();
const variant = (change: Partial<Record<ScalarName, number>>, transfer?: TransferSpline): Calibration => withValues(base, { ...values(base), ...change }, base.relaxation, transfer);
const cell = (i: number) => ({ array: 0, row: Math.floor(i / 64), col: i % 64 });

/** Forms and programs n cells with one SET at gate vg; returns the board (clock at the end). */
async function programmed(cal: Calibration, n: number, vg: number, seed = 5): Promise<EmulatedBoard> {
  const b = new EmulatedBoard({ seed, calibration: cal });
  for (let i = 0; i < n; i++) {
    await b.form(cell(i), { vte_V: 3.9, vg_V: 1.6, width_s: 10e-6 });
    for (let k = 0; k < 3; k++) await b.reset(cell(i), { vsl_V: 2.5, vg_V: 2.7, width_s: 1e-6 });
    await b.set(cell(i), { vte_V: 1.2, vg_V: vg, width_s: 1e-6 });
  }
  return b;
}
const sd = (xs: number[]) => {
  const m = xs.reduce((a, x) => a + x, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};

test('the monotone spline transfer: through its knots, never decreasing, saturating below its ceiling, for any increasing knots', () => {
  const knots = fc.array(fc.tuple(fc.double({ min: 0.005, max: 0.4, noNaN: true }), fc.double({ min: 0.5e-6, max: 60e-6, noNaN: true })), { minLength: 2, maxLength: 9 });
  fc.assert(
    fc.property(knots, fc.double({ min: 0.05, max: 1, noNaN: true }), (steps, tail) => {
      let x = 0;
      let g = 0;
      const s: TransferSpline = { model: 'spline', x_V: steps.map(([dx]) => (x += dx)), g_S: steps.map(([, dg]) => (g += dg)), tail_V: tail, source: 'property test' };
      s.x_V.forEach((xk, k) => assert.ok(Math.abs(splineG(s, xk) - s.g_S[k]) <= 1e-12 * s.g_S[k] + 1e-18));
      let last = 0;
      for (let v = -0.1; v <= x + 3 * tail; v += (x + 3 * tail) / 400) {
        const y = splineG(s, v);
        assert.ok(y >= last - 1e-15, `decreases at ${v}: ${last} -> ${y}`);
        assert.ok(y <= splineCeiling(s) + 1e-15);
        last = y;
      }
    }),
    { numRuns: 200 },
  );
});

test('a calibration with a spline: the emulator programs along it, the preflight predicts with it, and a non-monotone spline is refused naming the knot', async () => {
  const s: TransferSpline = { model: 'spline', x_V: [0.3, 0.6, 0.9, 1.2], g_S: [20e-6, 80e-6, 150e-6, 190e-6], tail_V: 0.3, source: 'test' };
  const quiet = { transfer_v0_sigma_V: 0, gain_sigma_rel: 0, vg_jitter_V: 0, set_sigma_rel: 0, set_v_sigma_V: 0, set_v_c2c_V: 0, relaxation_scale: 0, read_noise_S: 0, read_noise_rel: 0 };
  const cal = variant(quiet, s);
  const v0 = values(cal).transfer_v0_V;
  const curve = transferCurve(cal);
  for (const [k, x] of s.x_V.entries()) assert.ok(Math.abs(curve.gateFor(s.g_S[k] * 0.2 * 0.99) - (v0 + x)) < 0.02, `the nominal cell reaches knot ${k} at its gate`);
  const b = await programmed(cal, 4, v0 + 0.6);
  // The read current includes the I-V curvature at 0.2 V: compare conductances through the same curve.
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(b.arrayModel(0).conductance(i, b.now_s) / 80e-6 - 1) < 0.01, 'a SET at the knot gate programs the knot conductance');
  const bad = structuredClone(cal) as unknown as { transfer: { g_S: number[] } };
  bad.transfer.g_S = [20e-6, 80e-6, 70e-6, 190e-6];
  assert.throws(() => validateCalibration(bad), (e: unknown) => e instanceof CalibrationError && /transfer\.g_S\[2\]/.test(e.message) && /increasing/.test(e.message));
});

test('every optional piece left at its default gives the same board, read for read, as the file without it', async () => {
  const raw = structuredClone(base) as unknown as { params: Record<string, unknown> };
  for (const k of ['set_sigma_abs_S', 'g_hrs_floor_S', 'relax_fast_sigma_rel', 'relax_fast_sigma_S', 'relax_fast_drift_rel', 'fraction_rtn', 'relaxation_time_exp', 'relaxation_g_exp', 'relaxation_drift_rel']) delete raw.params[k];
  const without = validateCalibration(raw);
  const [a, b] = await Promise.all([programmed(base, 16, 1.8, 9), programmed(without, 16, 1.8, 9)]);
  await a.wait(30);
  await b.wait(30);
  for (let i = 0; i < 16; i++) assert.equal(await a.read(cell(i)), await b.read(cell(i)));
});

test('HRS floor: no cell resets below it', () => {
  const floor = 3e-6;
  // Relaxation off: the floor is the HRS distribution's, what relaxation does after it is another piece.
  const m = new CellArrayModel(variant({ g_hrs_floor_S: floor, g_hrs_sigma_log: 1.5, relaxation_scale: 0 }), 300, 4);
  for (let i = 0; i < 300; i++) {
    m.form(i, 3.9, 1.6, 0);
    for (let k = 0; k < 6; k++) m.reset(i, 2.8, 2.7, 1e-6 * k);
    if (m.stateOf(i) === 1) assert.ok(m.conductance(i, 1e-5) >= floor * 0.999, `cell ${i} at ${m.conductance(i, 1e-5)}`);
  }
});

test('fast relaxation: the change after the verify spreads as (rel G0 + abs) sqrt(1 - exp(-t / tau)) and drifts by rel G0 (1 - exp(-t / tau))', async () => {
  const p = { relax_fast_sigma_rel: 0.05, relax_fast_sigma_S: 1e-6, relax_fast_drift_rel: -0.02, relax_fast_tau_s: 0.2, relaxation_scale: 0 };
  const cal = variant({ ...p, read_noise_S: 0, read_noise_rel: 0 });
  for (const t of [0.05, 0.2, 2]) {
    // Each cell read right after its SET (the verify), then once more t seconds after the last SET.
    const b = new EmulatedBoard({ seed: 5, calibration: cal });
    const m = b.arrayModel(0);
    const at: { g0: number; t0: number }[] = [];
    for (let i = 0; i < 400; i++) {
      await b.form(cell(i), { vte_V: 3.9, vg_V: 1.6, width_s: 10e-6 });
      for (let k = 0; k < 3; k++) await b.reset(cell(i), { vsl_V: 2.5, vg_V: 2.7, width_s: 1e-6 });
      await b.set(cell(i), { vte_V: 1.2, vg_V: 1.9, width_s: 1e-6 });
      at.push({ g0: m.conductance(i, b.now_s), t0: b.now_s });
    }
    await b.wait(t);
    const d = at.map((c, i) => m.conductance(i, b.now_s) - c.g0);
    const f = at.map((c) => 1 - Math.exp(-(b.now_s - c.t0) / p.relax_fast_tau_s));
    const want = Math.sqrt(at.reduce((a, c, i) => a + (p.relax_fast_sigma_rel * c.g0 + p.relax_fast_sigma_S) ** 2 * f[i], 0) / at.length);
    const drift = d.reduce((a, x) => a + x, 0) / d.length;
    const wantDrift = at.reduce((a, c, i) => a + p.relax_fast_drift_rel * c.g0 * f[i], 0) / at.length;
    const resid = d.map((x, i) => x - p.relax_fast_drift_rel * at[i].g0 * f[i]);
    const rms = Math.sqrt(resid.reduce((a, x) => a + x * x, 0) / resid.length);
    assert.ok(Math.abs(rms / want - 1) < 0.12, `t ${t}: spread ${rms} vs ${want}`);
    assert.ok(Math.abs(drift - wantDrift) < 4 * (want / Math.sqrt(400)), `t ${t}: drift ${drift} vs ${wantDrift}`);
  }
});

test('random-telegraph noise: that share of cells reads on two levels amplitude x G apart, the others do not', async () => {
  const cal = variant({ fraction_rtn: 0.2, rtn_amplitude_rel: 0.1, read_noise_S: 0, read_noise_rel: 0, relaxation_scale: 0 });
  const b = await programmed(cal, 500, 1.9);
  let rtn = 0;
  for (let i = 0; i < 500; i++) {
    const r = await Promise.all(Array.from({ length: 12 }, () => b.read(cell(i))));
    const lo = Math.min(...r);
    const hi = Math.max(...r);
    if (hi - lo > 1e-12) {
      rtn++;
      const mid = (lo + hi) / 2;
      assert.ok(Math.abs((hi - lo) / mid - 0.1) < 0.005, `cell ${i}: levels ${lo} and ${hi}`);
      assert.ok(r.every((x) => Math.abs(x - lo) < 1e-12 || Math.abs(x - hi) < 1e-12), 'two levels only');
    }
  }
  assert.ok(Math.abs(rtn / 500 - 0.2) < 0.06, `${rtn} RTN cells of 500`);
});

test('the SET spread with a conductance-independent part: wider at low G than a relative spread alone gives', async () => {
  const spread = async (abs: number) => {
    const b = await programmed(variant({ set_sigma_abs_S: abs, set_sigma_rel: 0.01, vg_jitter_V: 0, transfer_v0_sigma_V: 0, gain_sigma_rel: 0, set_v_sigma_V: 0, set_v_c2c_V: 0, read_noise_S: 0, relaxation_scale: 0, fraction_stuck_lrs: 0, fraction_unformable: 0 }), 300, 0.8);
    return sd(Array.from({ length: 300 }, (_, i) => b.arrayModel(0).conductance(i, b.now_s)));
  };
  const [a, b] = [await spread(0), await spread(2e-6)];
  // At ~16 uS the relative 1 % is 0.16 uS; 2 uS absolute adds in quadrature.
  assert.ok(a < 0.3e-6 && Math.abs(b / Math.hypot(a, 2e-6) - 1) < 0.15, `spread ${a} -> ${b} with 2 uS absolute`);
});

test('every piece on at once, fitted-style: the emulator behind `rram emulate --pty` gives the in-process board\'s run, level by level', { timeout: 300000 }, async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const s: TransferSpline = { model: 'spline', x_V: [0.4, 0.55, 0.7, 0.9, 1.2], g_S: [30e-6, 70e-6, 110e-6, 160e-6, 200e-6], tail_V: 0.3, source: 'test: a fitted spline' };
  const cal = variant({ set_sigma_abs_S: 0.6e-6, g_hrs_floor_S: 2e-6, relax_fast_sigma_rel: 0.03, relax_fast_sigma_S: 2e-6, relax_fast_g_peak_S: 60e-6, relax_fast_g_width: 0.8, relax_fast_drift_rel: -0.01, relax_fast_tau_s: 0.2, fraction_rtn: 0.1, rtn_amplitude_rel: 0.06, relaxation_time_exp: 0.05, relaxation_g_exp: -0.3, relaxation_drift_rel: -0.002, fraction_leaky_pristine: 0.03 }, s);
  cal.id = 'all-pieces';
  const dir = mkdtempSync(join(tmpdir(), 'pieces-'));
  const file = join(dir, 'all.json');
  writeFileSync(file, JSON.stringify(cal));
  const run = (cwd: string, ...extra: string[]) => {
    mkdirSync(cwd, { recursive: true });
    const r = spawnSync(process.execPath, [main, 'characterize', '--levels', '4', '--cells-per-level', '24', '--reads', '2', '--relax', '1s', '--calibration', file, '--json', '--out', 'cdf.json', ...extra], { encoding: 'utf8', cwd, timeout: 100000 });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(readFileSync(join(cwd, 'cdf.json'), 'utf8')) as LevelCdfDataset;
  };
  const inProcess = run(join(dir, 'a'), '--seed', '3');
  const proc = spawn(process.execPath, [main, 'emulate', '--pty', '--json', '--seed', '3', '--calibration', file, '--virtual-time'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const path = await new Promise<string>((res, rej) => {
      let out = '';
      proc.stdout!.on('data', (d: Buffer) => (out += d.toString()).includes('\n') && res(JSON.parse(out.split('\n')[0]).path));
      proc.on('exit', (c) => rej(new Error(`rram emulate exited ${c}`)));
    });
    // The host's own climbs on both sides (auto would run them on the board as WRITE_VERIFY jobs over the pty).
    const overPty = run(join(dir, 'b'), '--port', path, '--seed', '3', '--onboard-verify', 'off');
    // The same seeds and model on both sides, but a request retransmitted over the link (a
    // loaded machine) re-executes its reads on the board, and the link's commands take virtual
    // time: a few cells differ. Per level the medians stay put: the final gate within 30 mV (an
    // emulator without the spline misses by more), the read current within 3 %, and the spread
    // of read-back minus verify (the fast relaxation's) within 1.5x.
    const med = (xs: number[]) => {
      const v = xs.filter(Number.isFinite).sort((x, y) => x - y);
      return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    };
    const iqr = (xs: number[]) => {
      const v = xs.filter(Number.isFinite).sort((x, y) => x - y);
      return v[Math.floor(0.75 * (v.length - 1))] - v[Math.floor(0.25 * (v.length - 1))];
    };
    const ok = (d: LevelCdfDataset, k: number) => d.levels[k].cells.filter((c) => c.status === 'ok');
    inProcess.levels.forEach((l, k) => {
      const [a, b] = [ok(overPty, k), ok(inProcess, k)];
      assert.ok(a.length >= 20 && b.length >= 20, `level ${k}: ${a.length} / ${b.length} cells programmed`);
      const gate = (cs: typeof a) => med(cs.map((c) => c.finalStepped_V ?? NaN));
      const cur = (cs: typeof a) => med(cs.map((c) => c.current_A ?? NaN));
      const fast = (cs: typeof a) => iqr(cs.map((c) => (c.reads_A?.[0] ?? NaN) - (c.verify_A ?? NaN)));
      assert.ok(Math.abs(gate(a) - gate(b)) <= 0.03, `level ${l.spec.level} final gate ${gate(a)} over the pty, ${gate(b)} in process`);
      assert.ok(Math.abs(cur(a) / cur(b) - 1) <= 0.03, `level ${l.spec.level} read current ${cur(a)} over the pty, ${cur(b)} in process`);
      assert.ok(fast(a) / fast(b) < 1.5 && fast(b) / fast(a) < 1.5, `level ${l.spec.level} read-back - verify spread ${fast(a)} over the pty, ${fast(b)} in process`);
    });
    assert.ok(inProcess.summary.ok > 80, `${inProcess.summary.ok} cells programmed along the spline`);
  } finally {
    proc.kill('SIGTERM');
  }
});

test('relaxation cache: every read and pulse gives bit for bit what looking both times up gives, over random operations, times, exports and imports', () => {
  // Every relaxation piece on (fast, reshaped table, slow drift, RTN): the cache must carry each term.
  const cal = variant({ relax_fast_sigma_rel: 0.03, relax_fast_sigma_S: 1e-6, relax_fast_drift_rel: -0.01, relax_fast_tau_s: 0.3, relaxation_time_exp: 0.05, relaxation_g_exp: 0.1, relaxation_drift_rel: 0.002, fraction_rtn: 0.3, rtn_amplitude_rel: 0.05 });
  const op = fc.record({ cell: fc.nat(3), kind: fc.constantFrom('form', 'set', 'reset', 'read', 'read', 'move'), dt: fc.oneof(fc.constant(0), fc.double({ min: 1e-7, max: 1e-3, noNaN: true }), fc.double({ min: 0.01, max: 1e5, noNaN: true })), vg: fc.double({ min: 0.6, max: 2.2, noNaN: true }) });
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), fc.nat(1000), (ops, seed) => {
      const cached = new CellArrayModel(cal, 4, seed);
      const plain = new CellArrayModel(cal, 4, seed, { relaxCache: false });
      const buf = Buffer.alloc(CellArrayModel.RECORD_BYTES);
      let now = 0;
      for (const o of ops) {
        now += o.dt;
        for (const m of [cached, plain]) {
          if (o.kind === 'form') m.form(o.cell, 3.9, o.vg, now);
          else if (o.kind === 'set') m.set(o.cell, 1.2, o.vg, now);
          else if (o.kind === 'reset') m.reset(o.cell, 1.6, 2.7, now);
        }
        if (o.kind === 'move') {
          // A saved cell restored into another slot of the cached model (a board loaded from its state).
          const to = (o.cell + 1) % 4;
          cached.exportCell(o.cell, buf, 0);
          cached.importCell(to, buf, 0);
          plain.exportCell(o.cell, buf, 0);
          plain.importCell(to, buf, 0);
        }
        for (let i = 0; i < 4; i++) if (cached.read(i, 0.2, now) !== plain.read(i, 0.2, now)) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
});
