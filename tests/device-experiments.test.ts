/**
 * The device experiments of issue 31 on the in-process emulator, judged against what the model
 * knows and a host cannot: every cell's own SET/RESET threshold, RESETs to failure, failure mode.
 *  - I-V: on boards whose switching voltages are moved, every extracted SET/RESET voltage lies
 *    within the staircase's reach of the cell's own threshold, and the fit gives back the medians
 *    and device-to-device spreads within their errors;
 *  - endurance: on boards made to fail, every cell's detected failure is the first read at or after
 *    the RESET at which the model wore it out, in the model's mode; window collapse gives its tau;
 *  - retention: the fit gives back the relaxation scale and the drift exponent and its spread;
 *  - the plans' resume arithmetic, and the Monte Carlo's use of measured aging.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { RunContext } from '../src/engine/run-context.js';
import type { RunEvent } from '../src/engine/events.js';
import { iv } from '../src/procedures/iv.js';
import { endurance, readCycles, segmentStep } from '../src/procedures/endurance.js';
import { retention } from '../src/procedures/retention.js';
import { enduranceSegment } from '../src/plans/endurance-cycle.js';
import type { Command } from '../src/plans/commands.js';
import { fitEndurance, fitRetention, fitSwitching } from '../src/calibrate/aging.js';
import { buildDeviceModel, measuredDriftAt, parseDeviceSpec, type MeasuredRetention } from '../src/inference/device-models.js';
import { logTimes } from '../src/cli/parse.js';
import { variantCalibration } from './helpers/boards.js';

const within = (what: string, got: number, want: number, tol: number) => assert.ok(Math.abs(got - want) <= tol, `${what}: fitted ${got}, the board's ${want} (allowed ${tol})`);

test('I-V loops: each extracted SET/RESET voltage is the cell\'s own threshold within the staircase\'s reach; the fit gives back medians and spreads', async () => {
  for (const [id, vset, vreset] of [['iv-a', 0.8, 1.05], ['iv-b', 1.0, 0.8]] as const) {
    const { cal } = variantCalibration(id, { set_v_median_V: vset, reset_v_median_V: vreset });
    const b = new EmulatedBoard({ seed: 11, calibration: cal, arrays: 1 });
    const d = await iv(b, new RunContext(id), { cycles: 3, count: 48, calibration: cal, step_V: 0.01 });
    let n = 0;
    for (const c of d.cells) {
      const p = b.arrayModel(0).deviceParams(c.row * 64 + c.col);
      for (const y of c.cycles) {
        // The threshold of one pulse is the device's plus N(0, 30-40 mV) cycle to cycle, detected a step or two after it.
        assert.ok(y.vset_V !== null && Math.abs(y.vset_V - p.vset_V) <= 0.13, `${id} cell ${c.row},${c.col} loop ${y.cycle}: V_SET ${y.vset_V}, the cell's ${p.vset_V}`);
        assert.ok(y.vreset_V !== null && Math.abs(y.vreset_V - p.vreset_V) <= 0.16, `${id} cell ${c.row},${c.col} loop ${y.cycle}: V_RESET ${y.vreset_V}, the cell's ${p.vreset_V}`);
        assert.ok(y.onOff > 5, `on/off ${y.onOff}`);
        n++;
      }
    }
    assert.ok(n >= 130, `${n} loops measured`);
    const f = await fitSwitching(d, id, cal);
    const P = f.params;
    within(`${id} set_v_median_V`, P.set_v_median_V!.value, vset, Math.max(3 * P.set_v_median_V!.uncertainty, 0.015));
    within(`${id} reset_v_median_V`, P.reset_v_median_V!.value, vreset, Math.max(3 * P.reset_v_median_V!.uncertainty, 0.015));
    within(`${id} set_v_sigma_V`, P.set_v_sigma_V!.value, 0.04, Math.max(3 * P.set_v_sigma_V!.uncertainty, 0.01));
    within(`${id} reset_v_sigma_V`, P.reset_v_sigma_V!.value, 0.05, Math.max(3 * P.reset_v_sigma_V!.uncertainty, 0.01));
  }
});

test('endurance on cells made to fail: each failure is found at the first read after the model wore the cell out, in its mode; the law is fitted back', async () => {
  const { cal } = variantCalibration('wear', { endurance_fail_cycles: 600, endurance_fail_sigma_log: 0.35, endurance_fail_lrs_share: 0.5 });
  const b = new EmulatedBoard({ seed: 5, calibration: cal, arrays: 1 });
  const ctx = new RunContext('wear');
  const evs: RunEvent[] = [];
  ctx.events$.subscribe((e) => evs.push(e));
  const N = 2000;
  const K = 50;
  const d = await endurance(b, ctx, { cycles: N, every: K, count: 48, calibration: cal });
  const reads = readCycles(N, K);
  let failed = 0;
  for (const c of d.cells.filter((x) => x.reads.length)) {
    const p = b.arrayModel(0).deviceParams(c.row * 64 + c.col);
    // RESETs before cycling (forming's question, reset-verify): those of the first segment but its one cycle's.
    const prep = evs.filter((e) => e.type === 'pulse' && e.kind === 'reset' && e.step === segmentStep(1) && e.cell.row === c.row && e.cell.col === c.col).length - 1;
    const wornAt = Math.ceil(p.failAt) - prep; // the cycle whose RESET wore it out
    if (wornAt > N) {
      assert.equal(c.failure, null, `cell ${c.row},${c.col} wears out at cycle ${wornAt} > ${N}, yet failed ${c.failure} at ${c.cyclesToFailure}`);
      continue;
    }
    failed++;
    let first = reads.find((r) => r >= wornAt)!;
    // Stuck at HRS after the last cycle's RESET: that read still saw a window; the next one does not.
    if (!p.failStuckLrs && first === wornAt) first = reads[reads.indexOf(first) + 1] ?? Infinity;
    if (first === Infinity) continue; // worn out at the last read: no read after it
    assert.equal(c.cyclesToFailure, first, `cell ${c.row},${c.col}: worn out at cycle ${wornAt} (${p.failStuckLrs ? 'stuck LRS' : 'stuck HRS'}), found at ${c.cyclesToFailure}`);
    assert.equal(c.failure, p.failStuckLrs ? 'stuck-lrs' : 'stuck-hrs', `cell ${c.row},${c.col}: mode`);
    // No cycling after the failure was confirmed.
    assert.ok(c.cycles <= reads[reads.indexOf(first) + 1], `cell ${c.row},${c.col} cycled to ${c.cycles}`);
  }
  assert.ok(failed >= 40, `${failed} cells failed`);
  const f = fitEndurance(d, 'wear', cal).fit.params;
  within('endurance_fail_cycles', f.endurance_fail_cycles!.value, 600, 3 * f.endurance_fail_cycles!.uncertainty + 20);
  within('endurance_fail_sigma_log', f.endurance_fail_sigma_log!.value, 0.35, 3 * f.endurance_fail_sigma_log!.uncertainty + 0.03);
  within('endurance_fail_lrs_share', f.endurance_fail_lrs_share!.value, 0.5, 3 * f.endurance_fail_lrs_share!.uncertainty);
});

test('endurance with window collapse: the collapse is told from wear-out, and its tau and middle are fitted back', async () => {
  const { cal } = variantCalibration('collapse', { endurance_tau_cycles: 800, endurance_mid_S: 90e-6 });
  const b = new EmulatedBoard({ seed: 6, calibration: cal, arrays: 1 });
  const d = await endurance(b, new RunContext('collapse'), { cycles: 1500, every: 50, count: 24, calibration: cal, collapse: 0.1 });
  assert.equal(d.summary.failures['stuck-lrs'] + d.summary.failures['stuck-hrs'], 0, 'no cell is stuck: they only lose window');
  assert.ok(d.window.at(-1)!.median_A < 0.25 * d.window[0].median_A, 'the window closed');
  const r = fitEndurance(d, 'collapse', cal);
  within('endurance_tau_cycles', r.fit.params.endurance_tau_cycles!.value, 800, 0.05 * 800);
  within('endurance_mid_S', r.fit.params.endurance_mid_S!.value, 90e-6, 0.1 * 90e-6);
  assert.equal(r.fit.params.endurance_fail_cycles, undefined, 'no wear-out law from cells that wore nothing');
});

test('retention: the fit gives back the relaxation scale, the drift exponent and its spread', async () => {
  const { cal } = variantCalibration('drift', { retention_nu: 0.03, retention_nu_sigma: 0.006, relaxation_scale: 0.5 });
  const b = new EmulatedBoard({ seed: 8, calibration: cal });
  const d = await retention(b, new RunContext('drift'), { algo: 'igvva', levels: 4, cellsPerLevel: 64, times_s: logTimes('--times')('1s,10s,...,1d'), calibration: cal, step_V: 0.02 });
  assert.equal(d.clock, 'virtual');
  for (const l of d.levels) assert.deepEqual(l.times.map((t) => t.age_s), d.times_s, 'read at the nominal ages on a virtual clock');
  const f = fitRetention(d, 'drift', cal).fit.params;
  within('retention_nu', f.retention_nu!.value, 0.03, 3 * f.retention_nu!.uncertainty + 0.001);
  within('retention_nu_sigma', f.retention_nu_sigma!.value, 0.006, 3 * f.retention_nu_sigma!.uncertainty + 0.0005);
  within('relaxation_scale', f.relaxation_scale!.value, 0.5, 3 * f.relaxation_scale!.uncertainty + 0.02);
});

/** The pulses a segment plan sends and the reads it asks, answered with a fixed current. */
function drive(cycles: number, applied: number): { ops: Command['op'][]; lrs: boolean } {
  const cfg = { vread_V: 0.2, set: { vte_V: 1.2, vg_V: 1.6, width_s: 1e-6 }, reset: { vsl_V: 2.5, vg_V: 2.7, width_s: 1e-6 } };
  const g = enduranceSegment(cfg, cycles, cycles, applied);
  const ops: Command['op'][] = [];
  let r = g.next();
  while (!r.done) {
    ops.push(r.value.op);
    r = g.next(r.value.op === 'read' ? 10e-6 : undefined);
  }
  return { ops, lrs: Number.isFinite((r.value.data as { lrs_A: number }).lrs_A) };
}

test('an endurance segment resumed after k of its pulses sends exactly the rest, SET/RESET alternating, and reads LRS and HRS when it can', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.nat(), (cycles, k0) => {
      const applied = k0 % (2 * cycles + 1);
      const { ops, lrs } = drive(cycles, applied);
      const pulses = ops.filter((o) => o !== 'read');
      assert.equal(pulses.length, 2 * cycles - applied);
      pulses.forEach((o, j) => assert.equal(o, (applied + j) % 2 === 0 ? 'set' : 'reset'));
      assert.equal(ops.at(-1), 'read', 'the HRS read ends it');
      // The LRS read needs the cell between the last SET and the last RESET: possible unless both were sent before.
      assert.equal(lrs, applied < 2 * cycles);
    }),
    { numRuns: 300 },
  );
});

test('measured drift in the Monte Carlo: at a measured level and time it is the measurement; between levels linear in current; failures by the cycles become stuck cells', () => {
  const m: MeasuredRetention = {
    source: 'test',
    levels: [
      { current_A: 10e-6, t_s: [1, 100], driftMedian_A: [-0.1e-6, -0.3e-6], driftSigma_A: [0.5e-6, 0.7e-6], n: [50, 50], fit: { mu: [-0.1e-6, -0.1e-6], sigma: [0.5e-6, 0.1e-6] } },
      { current_A: 40e-6, t_s: [1, 100], driftMedian_A: [-0.8e-6, -1.6e-6], driftSigma_A: [0.4e-6, 0.8e-6], n: [50, 50], fit: { mu: [-0.8e-6, -0.4e-6], sigma: [0.4e-6, 0.2e-6] } },
    ],
  };
  fc.assert(
    fc.property(fc.double({ min: 10e-6, max: 40e-6, noNaN: true }), fc.constantFrom(1, 100), (i, t) => {
      const x = measuredDriftAt(m, i, t);
      const w = (i - 10e-6) / 30e-6;
      const rel = (k: number, key: 'driftMedian_A' | 'driftSigma_A') => m.levels[k][key][t === 1 ? 0 : 1] / m.levels[k].current_A;
      assert.ok(Math.abs(x.mean_A - i * (rel(0, 'driftMedian_A') * (1 - w) + rel(1, 'driftMedian_A') * w)) < 1e-15);
      assert.ok(Math.abs(x.sigma_A - i * (rel(0, 'driftSigma_A') * (1 - w) + rel(1, 'driftSigma_A') * w)) < 1e-15);
    }),
  );
  assert.ok(Math.abs(measuredDriftAt(m, 40e-6, 100).mean_A + 1.6e-6) < 1e-15);
  // Beyond the measured times: the fitted line (1e4 s: -0.8 - 0.4 x 4 = -2.4 uA at the top level).
  assert.ok(Math.abs(measuredDriftAt(m, 40e-6, 1e4).mean_A + 2.4e-6) < 1e-12);
  const dev = buildDeviceModel(parseDeviceSpec('ideal'), 2, { shared: false, stuckHrs: 0, stuckLrs: 0, readNoise_A: 0, vread_V: 0.2, levelValues_A: [10e-6, 40e-6], retention: { t_s: 100, nu: 0, nuSigma: 0, measured: m }, endurance: { cycles: 1000, tau: Infinity, failure: { median: 1000, sigmaLog: 0.5, lrsShare: 0.25 } } }, undefined);
  assert.deepEqual(dev.aging!.drift!.mean_A.map((v) => +v.toExponential(6)), [-0.3e-6, -1.6e-6]);
  // Half the devices failed by their median cycles: a quarter of those stuck at LRS.
  assert.ok(Math.abs(dev.stuckLrs - 0.125) < 1e-3 && Math.abs(dev.stuckHrs - 0.375) < 1e-3, `${dev.stuckLrs} ${dev.stuckHrs}`);
});

test('--times: "A,B,...,Z" continues the ratio up to Z; a bad list is refused naming the flag', () => {
  assert.deepEqual(logTimes('--times')('1s,10s,...,1d'), [1, 10, 100, 1000, 10000, 86400]);
  assert.deepEqual(logTimes('--times')('1s,3s,...,1m'), [1, 3, 9, 27, 60]);
  assert.deepEqual(logTimes('--times')('2s,1m'), [2, 60]);
  for (const bad of ['...,1d', '1s,...,1d', '1s,10s,...', '10s,1s', '1s,1s,...,1m', '1s,,10s']) assert.throws(() => logTimes('--times')(bad), /--times/, bad);
});
