/**
 * SET/RESET cycling (`rram endurance`): identical full SET and RESET pulses, alternating, with the
 * cell read after the SET and after the RESET of the segment's last cycle (reads every K cycles).
 * A segment is a job of its own: an interrupted one continues with the pulses its earlier attempt
 * did not send (`applied`, from the record), so no cycle is counted twice or skipped.
 */
import { type CellPlan, type Command, Tally, readCurrent } from './commands.js';

export interface EnduranceConfig {
  vread_V: number;
  set: { vte_V: number; vg_V: number; width_s: number };
  reset: { vsl_V: number; vg_V: number; width_s: number };
}

/** What a segment measured at its last cycle (NaN: the read was taken by an attempt whose record is not here). */
export interface EnduranceRead {
  /** Cycles the cell has had when read (SET + RESET pairs since the run began). */
  cycle: number;
  lrs_A: number;
  hrs_A: number;
}

/**
 * `cycles` cycles ending at cycle number `endCycle`: SET, RESET, ..., the last SET read, its RESET
 * read. The first `applied` pulses of the sequence were already sent by an earlier attempt.
 */
export function* enduranceSegment(cfg: EnduranceConfig, cycles: number, endCycle: number, applied = 0, t: Tally = new Tally()): CellPlan {
  const total = 2 * cycles;
  const set: Command = { op: 'set', ...cfg.set };
  const reset: Command = { op: 'reset', ...cfg.reset };
  let lrs = NaN;
  // An earlier attempt sent the last SET but its read is not ours: the cell still holds that SET.
  if (applied === total - 1) lrs = yield* readCurrent(t, cfg.vread_V);
  for (let k = Math.min(applied, total); k < total; k++) {
    yield t.pulse(k % 2 === 0 ? set : reset);
    if (k === total - 2) lrs = yield* readCurrent(t, cfg.vread_V);
  }
  const hrs = yield* readCurrent(t, cfg.vread_V);
  const data: EnduranceRead = { cycle: endCycle, lrs_A: lrs, hrs_A: hrs };
  return { status: 'ok', pulses: t.pulses, reads: t.reads, final_A: hrs, finalStepped_V: cfg.reset.vsl_V, data: data as unknown as Record<string, unknown> };
}
