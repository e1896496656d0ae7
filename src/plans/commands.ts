/**
 * What a plan asks the run engine to do. Plans are generators: they yield one Command at a time
 * and receive the read current (A) back for 'read' commands. They never touch a Board.
 */
export type Command =
  | { op: 'form'; vte_V: number; vg_V: number; width_s: number }
  | { op: 'set'; vte_V: number; vg_V: number; width_s: number }
  | { op: 'reset'; vsl_V: number; vg_V: number; width_s: number }
  | { op: 'read'; vread_V: number }
  | WriteVerifyCommand;

/**
 * A whole IGVVA climb run by the board itself (WRITE_VERIFY, docs/protocol.md; boards that offer
 * it): read; while below target: SET at VTE with the gate from vgStart up by vgStep to vgStop, read.
 * The plan gets the board's summary back (or undefined when its outcome is unknown).
 */
export interface WriteVerifyCommand {
  op: 'write-verify';
  vte_V: number;
  vgStart_V: number;
  vgStep_V: number;
  vgStop_V: number;
  target_A: number;
  maxPulses: number;
  width_s: number;
  vread_V: number;
}

/** What a write-verify command comes back with. */
export interface WriteVerifyAnswer {
  success: boolean;
  pulses: number;
  final_A: number;
  finalStepped_V: number;
}

/** What the engine answers a plan: a read's current, a write-verify's summary, nothing for a pulse (or an unknown outcome). */
export type Answer = number | WriteVerifyAnswer | undefined;

/**
 * How a cell's programming ended. 'failed': the plan ran out of steps or retries (range
 * exhausted, max pulses, overshoot); 'unformable': no filament up to the forming limit;
 * 'budget': the engine's per-cell pulse budget; 'limit': a command beyond the limits was
 * refused before sending; 'unknown': a pulse's outcome is unknown and the plan could not
 * re-verify; 'stuck': the cell does not respond to SET or RESET; 'unreadable': its reads were
 * unusable (malformed replies, values no cell gives), so no pulse was sent after them; 'leaky':
 * a cell that conducted when pristine (not a formed cell) and could not be formed.
 */
export type CellStatus = 'ok' | 'failed' | 'unformable' | 'budget' | 'limit' | 'unknown' | 'stuck' | 'unreadable' | 'leaky';

export interface CellOutcome {
  status: CellStatus;
  /** Pulses this plan applied (form + set + reset). */
  pulses: number;
  reads: number;
  /** Last verify read (A). */
  final_A: number;
  /** The stepped amplitude at the end (VG for IGVVA, VTE for ISPVA, VSL for reset-verify). */
  finalStepped_V: number;
  note?: string;
  /** Pulses whose outcome was unknown (link lost / reboot) and that the plan re-verified by reading. */
  unknownPulses?: number;
  /** The cell was leaky when pristine (it conducted before forming): counted apart even when programmed. */
  leaky?: true;
  /** The cell was formed before this plan ran (the store's history says so, or it read formed and answered RESET): not a fresh cell. */
  preformed?: true;
  /** What a measuring plan (a calibration sweep) recorded, journaled with the outcome. */
  data?: Record<string, unknown>;
}

export type CellPlan = Generator<Command, CellOutcome, Answer>;

/** Counts pulses and reads as a plan goes, so composed plans report totals. */
export class Tally {
  pulses = 0;
  reads = 0;
  pulse<C extends Command>(c: C): C {
    this.pulses++;
    return c;
  }
  read(vread_V: number): Command {
    this.reads++;
    return { op: 'read', vread_V };
  }
}

/** Read the cell and return the current; throws if the engine did not answer the read. */
export function* readCurrent(t: Tally, vread_V: number): Generator<Command, number, Answer> {
  const i = yield t.read(vread_V);
  if (typeof i !== 'number') throw new Error('plan protocol: a read must be answered with a current');
  return i;
}
