/**
 * An on-board write-verify command (WRITE_VERIFY, docs/protocol.md) as the engine sends it: its
 * amplitudes on the DAC grid, every pulse it may apply checked against the limits before it leaves
 * (the fixed VTE with the first and the last gate), and as the Board interface's job.
 */
import type { SafetyLimits, WriteVerifyJob } from '../../drivers/board.js';
import { checkRead, checkSetPulse, onGrid } from '../../drivers/limits.js';
import type { WriteVerifyCommand } from '../plans/commands.js';

export function wvOnGrid(c: WriteVerifyCommand, dac_V: number): WriteVerifyCommand {
  const g = (v: number) => onGrid(v, dac_V);
  return { ...c, vte_V: g(c.vte_V), vgStart_V: g(c.vgStart_V), vgStep_V: g(c.vgStep_V), vgStop_V: g(c.vgStop_V), vread_V: g(c.vread_V) };
}

export function checkWriteVerify(l: SafetyLimits, c: WriteVerifyCommand): void {
  checkSetPulse(l, { vte_V: c.vte_V, vg_V: c.vgStart_V, width_s: c.width_s });
  checkSetPulse(l, { vte_V: c.vte_V, vg_V: c.vgStop_V, width_s: c.width_s });
  checkRead(l, c.vread_V);
}

export function wvJob(c: WriteVerifyCommand): WriteVerifyJob {
  return { algo: 'igvva', target_A: c.target_A, fixed_V: c.vte_V, start_V: c.vgStart_V, step_V: c.vgStep_V, stop_V: c.vgStop_V, maxPulses: c.maxPulses, width_s: c.width_s, vread_V: c.vread_V };
}

/**
 * Why a board's summary cannot be a run of the job as sent (docs/protocol.md, WRITE_VERIFY's
 * loop), or undefined when it can: more pulses than max_pulses or than gates in [start, stop], a
 * last gate that is not start + (pulses - 1) x step, a success below the target, or a failure that
 * stopped before its pulses or gates ran out. A board breaking the loop may have pulsed beyond the
 * limits the host checked (start and stop only), so the engine stops the run on it.
 */
export function jobViolation(c: WriteVerifyCommand, s: { success: boolean; pulses: number; final_A: number; finalStepped_V: number }, dac_V: number): string | undefined {
  const tol = Math.max(dac_V / 2, 1e-6);
  const gates = Math.floor((c.vgStop_V - c.vgStart_V) / c.vgStep_V + 1e-6) + 1;
  const most = Math.min(c.maxPulses, gates);
  if (!Number.isInteger(s.pulses) || s.pulses < 0) return `pulses ${s.pulses} is not a count`;
  if (s.pulses > most) return `${s.pulses} pulses, more than the job allows (${most}: max_pulses ${c.maxPulses}, ${gates} gates from ${c.vgStart_V} to ${c.vgStop_V} V)`;
  const last = s.pulses ? c.vgStart_V + (s.pulses - 1) * c.vgStep_V : c.vgStart_V;
  if (!(Math.abs(s.finalStepped_V - last) <= tol)) return `final gate ${s.finalStepped_V} V after ${s.pulses} pulses, not ${+last.toFixed(6)} V`;
  if (s.success && !(s.final_A >= c.target_A)) return `success reported at ${s.final_A} A, below the target ${c.target_A} A`;
  if (!s.success && s.pulses < most) return `failure reported after ${s.pulses} of ${most} pulses`;
  return undefined;
}
