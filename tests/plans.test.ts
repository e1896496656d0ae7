import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CellPlan, Command } from '../src/plans/commands.js';
import { igvva, IGVVA_DEFAULTS } from '../src/plans/igvva.js';
import { ispva, ISPVA_DEFAULTS } from '../src/plans/ispva.js';
import { resetVerify, RESET_DEFAULTS } from '../src/plans/reset-verify.js';
import { formIfPristine, FORM_DEFAULTS } from '../src/plans/form.js';

/** Drive a plan with scripted read answers; returns the commands it issued and its outcome. */
function drive(plan: CellPlan, reads: number[]) {
  const cmds: Command[] = [];
  let k = 0;
  let r = plan.next();
  while (!r.done) {
    cmds.push(r.value);
    r = plan.next(r.value.op === 'read' ? reads[Math.min(k++, reads.length - 1)] : undefined);
  }
  return { cmds, out: r.value };
}

const uA = 1e-6;

test('IGVVA: fixed VTE, VG stepped by 10 mV, stops at the first read >= target', () => {
  const { cmds, out } = drive(igvva({ ...IGVVA_DEFAULTS, target_A: 20 * uA, reset: RESET_DEFAULTS }), [1 * uA, 5 * uA, 12 * uA, 19.9 * uA, 20.4 * uA, 30 * uA]);
  const sets = cmds.filter((c) => c.op === 'set');
  assert.equal(sets.length, 4);
  assert.deepEqual(sets.map((c) => (c as { vg_V: number }).vg_V), [0.5, 0.51, 0.52, 0.53]);
  assert.ok(sets.every((c) => (c as { vte_V: number }).vte_V === 1.2));
  assert.equal(out.status, 'ok');
  assert.equal(out.pulses, 4);
  assert.equal(out.final_A, 20.4 * uA);
  assert.equal(out.finalStepped_V, 0.53);
});

test('IGVVA-100 steps 100 mV; max pulses ends the loop as failed', () => {
  const { cmds, out } = drive(igvva({ ...IGVVA_DEFAULTS, vgStep_V: 0.1, maxPulses: 5, target_A: 40 * uA, reset: RESET_DEFAULTS }), [1 * uA]);
  assert.deepEqual(cmds.filter((c) => c.op === 'set').map((c) => (c as { vg_V: number }).vg_V), [0.5, 0.6, 0.7, 0.8, 0.9]);
  assert.equal(out.status, 'failed');
  assert.equal(out.note, 'max pulses');
});

test('IGVVA two-sided band: overshoot resets and retries from the start voltage', () => {
  const reads = [1 * uA, 10 * uA, 26 * uA /* overshoot */, 26 * uA /* reset-verify first read */, 1 * uA /* after reset */, 21 * uA];
  const { cmds, out } = drive(igvva({ ...IGVVA_DEFAULTS, tolerance_A: 2 * uA, target_A: 20 * uA, reset: RESET_DEFAULTS }), reads);
  assert.ok(cmds.some((c) => c.op === 'reset'), 'a reset was issued');
  const sets = cmds.filter((c) => c.op === 'set') as { vg_V: number }[];
  assert.equal(sets[sets.length - 1].vg_V, 0.5, 'restarted at VG start');
  assert.equal(out.status, 'ok');
});

test('ISPVA: fixed gate, VTE stepped by 100 mV', () => {
  const { cmds, out } = drive(ispva({ ...ISPVA_DEFAULTS, vg_V: 1.7, target_A: 20 * uA }), [1 * uA, 1 * uA, 1 * uA, 1 * uA, 1 * uA, 1 * uA, 1 * uA, 15 * uA, 21 * uA]);
  const sets = cmds.filter((c) => c.op === 'set') as { vte_V: number; vg_V: number }[];
  assert.deepEqual(sets.map((s) => s.vte_V), [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]);
  assert.ok(sets.every((s) => s.vg_V === 1.7));
  assert.equal(out.status, 'ok');
});

test('reset-verify steps SL until the read falls to the HRS ceiling; forming only touches pristine cells', () => {
  const r = drive(resetVerify(RESET_DEFAULTS), [30 * uA, 20 * uA, 8 * uA, 1.5 * uA]);
  assert.deepEqual(r.cmds.filter((c) => c.op === 'reset').map((c) => (c as { vsl_V: number }).vsl_V), [0.8, 0.9, 1.0]);
  assert.equal(r.out.status, 'ok');
  const f = drive(formIfPristine(FORM_DEFAULTS), [20 * uA]);
  assert.equal(f.cmds.filter((c) => c.op === 'form').length, 0);
  const g = drive(formIfPristine(FORM_DEFAULTS), [0.01 * uA, 0.01 * uA, 30 * uA]);
  assert.deepEqual(g.cmds.filter((c) => c.op === 'form').map((c) => (c as { vte_V: number }).vte_V), [2.4, 2.5]);
});
