/**
 * Reset-verify: RESET pulses on the source line with rising amplitude (gate fully on) until the
 * read current falls to the HRS ceiling. Used for the HRS level and before every SET programming.
 */
import { type CellPlan, type Command, Tally, readCurrent, type Answer } from './commands.js';
import { round6 } from './igvva.js';

export interface ResetVerifyConfig {
  /** Stop when the read current is at or below this (A). */
  max_A: number;
  vg_V: number;
  vslStart_V: number;
  vslStep_V: number;
  vslStop_V: number;
  maxPulses: number;
  width_s: number;
  vread_V: number;
}

export const RESET_DEFAULTS: ResetVerifyConfig = {
  max_A: 2e-6,
  vg_V: 2.7,
  vslStart_V: 0.8,
  vslStep_V: 0.1,
  vslStop_V: 2.8,
  maxPulses: 40,
  width_s: 1e-6,
  vread_V: 0.2,
};

export function* resetVerifySteps(cfg: ResetVerifyConfig, t: Tally): Generator<Command, { ok: boolean; final_A: number; first_A: number; vsl_V: number }, Answer> {
  let i = yield* readCurrent(t, cfg.vread_V);
  const first = i;
  let vsl = cfg.vslStart_V;
  let applied = NaN; // vsl_V reports the last VSL applied (NaN when none was)
  let n = 0;
  while (i > cfg.max_A) {
    if (n >= cfg.maxPulses || vsl > cfg.vslStop_V + 1e-9) return { ok: false, final_A: i, first_A: first, vsl_V: applied };
    yield t.pulse<Command>({ op: 'reset', vsl_V: vsl, vg_V: cfg.vg_V, width_s: cfg.width_s });
    applied = vsl;
    n++;
    i = yield* readCurrent(t, cfg.vread_V);
    if (i > cfg.max_A) vsl = round6(vsl + cfg.vslStep_V);
  }
  return { ok: true, final_A: i, first_A: first, vsl_V: applied };
}

/** A cell whose read barely moved over the whole RESET range is stuck (at LRS), not merely slow. */
export function* resetVerify(cfg: ResetVerifyConfig, t: Tally = new Tally()): CellPlan {
  const r = yield* resetVerifySteps(cfg, t);
  if (r.ok) return { status: 'ok', pulses: t.pulses, reads: t.reads, final_A: r.final_A, finalStepped_V: r.vsl_V };
  const stuck = r.final_A > 0.8 * r.first_A;
  return { status: stuck ? 'stuck' : 'failed', pulses: t.pulses, reads: t.reads, final_A: r.final_A, finalStepped_V: r.vsl_V, note: `HRS not reached up to VSL ${cfg.vslStop_V} V (read ${(r.final_A * 1e6).toFixed(2)} uA, before ${(r.first_A * 1e6).toFixed(2)} uA)` };
}
