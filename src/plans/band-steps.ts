/**
 * The SET side shared by the band algorithms (bidir, radar): below the band, SET pulses with the
 * gate rising one fine step each; coming back from a RESET phase (a polarity reversal, capped)
 * the climb resumes a few fine steps below a gate of the algorithm's choosing.
 */
import { type CellOutcome, type Command, Tally, readCurrent, type Answer } from './commands.js';
import type { IgvvaConfig } from './igvva.js';
import { round6 } from './igvva.js';

export interface BandState {
  i: number;
  /** The next SET's gate. */
  vg: number;
  /** The gate of the last SET applied (NaN before the first). */
  applied: number;
  reversals: number;
  dir?: 'set' | 'reset';
}

/** The outcome a band algorithm ends with (the last read, the last gate applied). */
export const bandOutcome = (t: Tally, s: BandState, status: CellOutcome['status'], note?: string): CellOutcome => ({ status, pulses: t.pulses, reads: t.reads, final_A: s.i, finalStepped_V: s.applied, note });

/**
 * One SET below the band; returns an outcome when the climb must end (too many reversals, the gate
 * range exhausted). `resumeFrom(s)`: the gate the climb resumes below after a RESET phase.
 */
export function* setBelowBand(cfg: IgvvaConfig, s: BandState, t: Tally, o: { backoffSteps: number; maxReversals: number; resumeFrom: (s: BandState) => number }): Generator<Command, CellOutcome | undefined, Answer> {
  if (s.dir === 'reset') {
    if (++s.reversals > o.maxReversals) return bandOutcome(t, s, 'failed', `more than ${o.maxReversals} polarity reversals`);
    s.vg = round6(Math.max(cfg.vgStart_V, o.resumeFrom(s) - o.backoffSteps * cfg.vgStep_V));
  }
  s.dir = 'set';
  if (s.vg > cfg.vgStop_V + 1e-9) return bandOutcome(t, s, s.i < 0.25 * cfg.target_A ? 'stuck' : 'failed', `gate voltage range exhausted at VG ${cfg.vgStop_V} V (read ${(s.i * 1e6).toFixed(2)} uA)`);
  yield t.pulse<Command>({ op: 'set', vte_V: cfg.vte_V, vg_V: s.vg, width_s: cfg.width_s });
  s.applied = s.vg;
  s.i = yield* readCurrent(t, cfg.vread_V);
  if (s.i < cfg.target_A) s.vg = round6(s.vg + cfg.vgStep_V);
  return undefined;
}
