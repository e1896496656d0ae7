/**
 * Bidirectional write-verify with a tolerance band (the NeuRRAM scheme, Wan et al., Nature 2022):
 * below the band, SET pulses with the gate rising one fine step each; above it, RESET pulses with
 * the source-line voltage rising one step each from a gentle start (partial RESET), until the read
 * falls back; each change of direction is a polarity reversal, capped. Unlike IGVVA's one-sided
 * band (target .. no upper limit), the cell ends inside [target, target + tolerance].
 */
import { type CellPlan, type Command, Tally, readCurrent } from './commands.js';
import { bandOutcome, setBelowBand, type BandState } from './band-steps.js';
import type { IgvvaConfig } from './igvva.js';
import { round6 } from './igvva.js';

export interface BidirConfig {
  /** Band width above the target (A). */
  tolerance_A: number;
  /** Partial RESET: first and last source-line amplitude, step. */
  vslStart_V: number;
  vslStep_V: number;
  vslStop_V: number;
  /** RESET gate (the transistor fully on). */
  resetVg_V: number;
  /** After a RESET phase the SET climb resumes this many fine steps below its last gate. */
  backoffSteps: number;
  maxReversals: number;
}

export const BIDIR_DEFAULTS: Omit<BidirConfig, 'vslStop_V' | 'resetVg_V'> = { tolerance_A: 1.5e-6, vslStart_V: 0.6, vslStep_V: 0.02, backoffSteps: 3, maxReversals: 4 };

export function* bidir(cfg: IgvvaConfig, b: BidirConfig, start_V?: number, t: Tally = new Tally()): CellPlan {
  const s: BandState = { i: yield* readCurrent(t, cfg.vread_V), vg: Math.max(cfg.vgStart_V, start_V ?? cfg.vgStart_V), applied: NaN, reversals: 0 };
  const upper = cfg.target_A + b.tolerance_A;
  for (;;) {
    if (s.i >= cfg.target_A && s.i <= upper) return bandOutcome(t, s, 'ok', s.reversals ? `${s.reversals} polarity reversals` : undefined);
    if (t.pulses >= cfg.maxPulses) return bandOutcome(t, s, 'failed', 'max pulses');
    if (s.i < cfg.target_A) {
      const end = yield* setBelowBand(cfg, s, t, { backoffSteps: b.backoffSteps, maxReversals: b.maxReversals, resumeFrom: (x) => x.vg });
      if (end) return end;
    } else {
      // Above the band: partial RESET, gentle first.
      if (s.dir === 'set' && ++s.reversals > b.maxReversals) return bandOutcome(t, s, 'failed', `more than ${b.maxReversals} polarity reversals`);
      s.dir = 'reset';
      let vsl = b.vslStart_V;
      while (s.i > upper) {
        if (t.pulses >= cfg.maxPulses) return bandOutcome(t, s, 'failed', 'max pulses');
        if (vsl > b.vslStop_V + 1e-9) return bandOutcome(t, s, 'failed', `above the band after RESET up to VSL ${b.vslStop_V} V (read ${(s.i * 1e6).toFixed(2)} uA)`);
        yield t.pulse<Command>({ op: 'reset', vsl_V: vsl, vg_V: b.resetVg_V, width_s: cfg.width_s });
        s.i = yield* readCurrent(t, cfg.vread_V);
        vsl = round6(vsl + b.vslStep_V);
      }
    }
  }
}
