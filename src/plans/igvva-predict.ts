/**
 * IGVVA-predict: IGVVA that starts a few fine steps below the gate voltage the board's calibration
 * predicts for the target, instead of climbing from far below every cell's threshold. The start
 * (per level, from program-setup: the gate at which a cell `startSigmas` device-to-device sigmas
 * stronger than nominal reaches the target; in a re-verify pass, the cell's own last gate a few
 * steps lower) skips the pulses that could not have reached the target anyway; the climb itself is
 * IGVVA's, with its fine step, so the final step and with it the spread are IGVVA's.
 * A misprediction is caught: when the very first pulse already reaches the target, the cell may
 * have overshot by more than one fine step (its crossing lay below the start), so it is reset and
 * climbed again: from `retry_V` when given (a start for a much stronger cell, checked the same
 * way), else, or after a second misprediction, from the full search's start.
 */
import { type CellPlan, Tally } from './commands.js';
import { climbGate, type IgvvaConfig } from './igvva.js';

export function* igvvaPredict(cfg: IgvvaConfig, start_V: number, t: Tally = new Tally(), retry_V?: number): CellPlan {
  return yield* climbGate(cfg, t, { start_V, retry_V, step: () => cfg.vgStep_V, checkFirstPulse: true, constantStep: true });
}
