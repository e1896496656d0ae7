/**
 * Identical-pulse closed loop: the same SET pulse (fixed VTE, the level's fixed gate: its
 * compliance a little inside the band) while the read is below the band [target, target +
 * tolerance], the same gentle RESET pulse while it is above, until it is in the band or the pulse
 * budget runs out. No amplitude is stepped (the scheme of in-situ training loops): what the
 * devices' spread puts outside the pulses' reach ends 'failed'.
 */
import { type CellPlan, type Command, Tally, readCurrent } from './commands.js';

export interface IdenticalConfig {
  tolerance_A: number;
  vte_V: number;
  /** The one RESET pulse: source-line amplitude and gate. */
  vsl_V: number;
  resetVg_V: number;
  width_s: number;
  vread_V: number;
  maxPulses: number;
}

export function* identicalPulse(c: IdenticalConfig, target_A: number, vg_V: number, t: Tally = new Tally()): CellPlan {
  let i = yield* readCurrent(t, c.vread_V);
  const upper = target_A + c.tolerance_A;
  const set: Command = { op: 'set', vte_V: c.vte_V, vg_V, width_s: c.width_s };
  const reset: Command = { op: 'reset', vsl_V: c.vsl_V, vg_V: c.resetVg_V, width_s: c.width_s };
  let sets = 0;
  while (!(i >= target_A && i <= upper)) {
    if (t.pulses >= c.maxPulses) return { status: 'failed', pulses: t.pulses, reads: t.reads, final_A: i, finalStepped_V: sets ? vg_V : NaN, note: `not in the band after ${t.pulses} identical pulses (read ${(i * 1e6).toFixed(2)} uA)` };
    yield t.pulse(i < target_A ? set : reset);
    if (i < target_A) sets++;
    i = yield* readCurrent(t, c.vread_V);
  }
  return { status: 'ok', pulses: t.pulses, reads: t.reads, final_A: i, finalStepped_V: sets ? vg_V : NaN };
}
