/**
 * RADAR-style write-verify (after Le et al., "RADAR: a fast and energy-efficient programming
 * technique for multiple bits-per-cell RRAM arrays", IEEE TED 2021, as we read its description:
 * approach the target from above with RESET, whose conductance change is gradual, rather than from
 * below with SET, whose change is abrupt). One SET at a gate chosen so the cell lands above its
 * band [target, target + tolerance]; then partial RESET pulses with the source-line voltage rising
 * in fine steps until the read falls into the band. A RESET that falls below the band is answered
 * by SETs climbing the gate in fine steps from a little below the last SET's gate (a polarity
 * reversal, capped in number); a later RESET phase resumes a few steps below the VSL that last acted
 * ("dynamic": each cell's own RESET onset, learnt as it goes), not from the gentle start.
 * Not the authors' code: their parameters for their chips are not ours; ours come from the board's
 * calibration (program-setup.ts).
 */
import { type CellPlan, type Command, Tally, readCurrent } from './commands.js';
import { bandOutcome, setBelowBand, type BandState } from './band-steps.js';
import type { IgvvaConfig } from './igvva.js';
import { round6 } from './igvva.js';

export interface RadarConfig {
  tolerance_A: number;
  /** Partial RESET staircase: first source-line amplitude (gentle), fine step, last; RESET gate. */
  vslStart_V: number;
  vslStep_V: number;
  vslStop_V: number;
  resetVg_V: number;
  /** A RESET phase after the first resumes this many steps below the VSL that last lowered the cell. */
  resumeBack: number;
  /** After falling below the band the SET climb starts this many fine gate steps below the last SET gate. */
  backoffSteps: number;
  maxReversals: number;
}

export const RADAR_DEFAULTS: Omit<RadarConfig, 'vslStart_V' | 'vslStop_V' | 'resetVg_V'> = { tolerance_A: 1.5e-6, vslStep_V: 0.02, resumeBack: 2, backoffSteps: 2, maxReversals: 12 };

/** setGate_V: the overshooting SET's gate for this level (a cell a little weaker than nominal lands above the band). */
export function* radar(cfg: IgvvaConfig, r: RadarConfig, setGate_V: number, t: Tally = new Tally()): CellPlan {
  const s: BandState = { i: yield* readCurrent(t, cfg.vread_V), vg: Math.min(cfg.vgStop_V, Math.max(cfg.vgStart_V, setGate_V)), applied: NaN, reversals: 0 };
  const upper = cfg.target_A + r.tolerance_A;
  let vsl = r.vslStart_V;
  /** The last VSL that lowered the cell: a later RESET phase starts a little below it. */
  let acted: number | undefined;
  for (;;) {
    if (s.i >= cfg.target_A && s.i <= upper) return bandOutcome(t, s, 'ok', s.reversals ? `${s.reversals} polarity reversals` : undefined);
    if (t.pulses >= cfg.maxPulses) return bandOutcome(t, s, 'failed', 'max pulses');
    if (s.i < cfg.target_A) {
      // After a fall below the band (a reversal): the climb resumes a little below the last SET's gate.
      const end = yield* setBelowBand(cfg, s, t, { backoffSteps: r.backoffSteps, maxReversals: r.maxReversals, resumeFrom: (x) => x.applied });
      if (end) return end;
      continue;
    }
    // Above the band: gradual RESET down into it.
    s.dir = 'reset';
    if (acted !== undefined) vsl = round6(Math.max(r.vslStart_V, acted - r.resumeBack * r.vslStep_V));
    while (s.i > upper) {
      if (t.pulses >= cfg.maxPulses) return bandOutcome(t, s, 'failed', 'max pulses');
      if (vsl > r.vslStop_V + 1e-9) return bandOutcome(t, s, 'failed', `above the band after RESET up to VSL ${r.vslStop_V} V (read ${(s.i * 1e6).toFixed(2)} uA)`);
      yield t.pulse<Command>({ op: 'reset', vsl_V: vsl, vg_V: r.resetVg_V, width_s: cfg.width_s });
      const before = s.i;
      s.i = yield* readCurrent(t, cfg.vread_V);
      // A RESET that acted is repeated as it was; one that did not steps up.
      if (s.i < before) acted = vsl;
      else vsl = round6(vsl + r.vslStep_V);
    }
  }
}
