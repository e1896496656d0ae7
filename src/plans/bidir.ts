/**
 * Bidirectional write-verify with a tolerance band (the NeuRRAM scheme, Wan et al., Nature 2022):
 * below the band, SET pulses with the gate rising one fine step each; above it, RESET pulses with
 * the source-line voltage rising one step each from a gentle start (partial RESET), until the read
 * falls back; each change of direction is a polarity reversal, capped. Unlike IGVVA's one-sided
 * band (target .. no upper limit), the cell ends inside [target, target + tolerance].
 */
import { type CellPlan, type Command, Tally, readCurrent } from './commands.js';
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
  let i = yield* readCurrent(t, cfg.vread_V);
  let vg = Math.max(cfg.vgStart_V, start_V ?? cfg.vgStart_V);
  let reversals = 0;
  let direction: 'set' | 'reset' | undefined;
  const upper = cfg.target_A + b.tolerance_A;
  let applied = NaN; // the gate of the last SET applied
  const outcome = (status: 'ok' | 'failed' | 'stuck', note?: string) => ({ status, pulses: t.pulses, reads: t.reads, final_A: i, finalStepped_V: applied, note });
  for (;;) {
    if (i >= cfg.target_A && i <= upper) return outcome('ok', reversals ? `${reversals} polarity reversals` : undefined);
    if (t.pulses >= cfg.maxPulses) return outcome('failed', 'max pulses');
    if (i < cfg.target_A) {
      if (direction === 'reset') {
        if (++reversals > b.maxReversals) return outcome('failed', `more than ${b.maxReversals} polarity reversals`);
        vg = round6(Math.max(cfg.vgStart_V, vg - b.backoffSteps * cfg.vgStep_V));
      }
      direction = 'set';
      if (vg > cfg.vgStop_V + 1e-9) return outcome(i < 0.25 * cfg.target_A ? 'stuck' : 'failed', `gate voltage range exhausted at VG ${cfg.vgStop_V} V (read ${(i * 1e6).toFixed(2)} uA)`);
      yield t.pulse<Command>({ op: 'set', vte_V: cfg.vte_V, vg_V: vg, width_s: cfg.width_s });
      applied = vg;
      i = yield* readCurrent(t, cfg.vread_V);
      if (i < cfg.target_A) vg = round6(vg + cfg.vgStep_V);
    } else {
      // Above the band: partial RESET, gentle first.
      if (direction === 'set' && ++reversals > b.maxReversals) return outcome('failed', `more than ${b.maxReversals} polarity reversals`);
      direction = 'reset';
      let vsl = b.vslStart_V;
      while (i > upper) {
        if (t.pulses >= cfg.maxPulses) return outcome('failed', 'max pulses');
        if (vsl > b.vslStop_V + 1e-9) return outcome('failed', `above the band after RESET up to VSL ${b.vslStop_V} V (read ${(i * 1e6).toFixed(2)} uA)`);
        yield t.pulse<Command>({ op: 'reset', vsl_V: vsl, vg_V: b.resetVg_V, width_s: cfg.width_s });
        i = yield* readCurrent(t, cfg.vread_V);
        vsl = round6(vsl + b.vslStep_V);
      }
    }
  }
}
