/**
 * Forming: a pristine cell conducts little; FORM pulses on the top electrode with rising amplitude
 * (gate limiting the current) until the read shows a filament. "Formed" is judged against the
 * cell's own pristine read, never a fixed current: boards whose pristine cells read 1-2 uA exist.
 *
 * A first read above `formedAbove_A` is not proof of a filament either (issue 24: on a board with
 * leaky pristine cells that rule called 4 % of the cells stuck): unless the store's history says
 * the cell was formed, the cell is asked with RESET pulses first. A formed cell answers (its
 * current falls); a leaky pristine one does not, and is then formed from its leaky read and
 * flagged `leaky`; one that answers neither RESET nor FORM is stuck (or, reading like no LRS
 * level, leaky and unformable).
 */
import { type CellOutcome, type CellPlan, type Command, Tally, readCurrent } from './commands.js';
import { round6 } from './igvva.js';
import { resetVerifySteps, type ResetVerifyConfig } from './reset-verify.js';

export interface FormConfig {
  /** A first read at or above this (A) means the cell was formed before (it reads like an LRS cell). */
  formedAbove_A: number;
  /** Formed once the read exceeds the pristine read I0 by max(jumpMin_A, (jumpRatio - 1) * I0). */
  jumpRatio: number;
  jumpMin_A: number;
  vg_V: number;
  vteStart_V: number;
  vteStep_V: number;
  vteStop_V: number;
  maxPulses: number;
  width_s: number;
  vread_V: number;
}

export const FORM_DEFAULTS: FormConfig = {
  formedAbove_A: 5e-6,
  jumpRatio: 3,
  jumpMin_A: 3e-6,
  vg_V: 1.6,
  vteStart_V: 2.4,
  vteStep_V: 0.1,
  vteStop_V: 4.0,
  maxPulses: 20,
  width_s: 10e-6,
  vread_V: 0.2,
};

/** The read a pristine cell of read i0 must reach to count as formed. */
export function formedThreshold(cfg: Pick<FormConfig, 'jumpRatio' | 'jumpMin_A'>, i0: number): number {
  return i0 + Math.max(cfg.jumpMin_A, (cfg.jumpRatio - 1) * Math.max(0, i0));
}

export interface FormEvidence {
  /** How to ask a cell that reads high whether it holds a filament (reset-verify's settings). */
  reset?: ResetVerifyConfig;
  /** The store's history shows the cell programmed on this board: no question, no forming. */
  knownFormed?: boolean;
}

export function* formIfPristine(cfg: FormConfig, t: Tally = new Tally(), ev: FormEvidence = {}): CellPlan {
  const i0 = yield* readCurrent(t, cfg.vread_V);
  const out = (status: CellOutcome['status'], final_A: number, finalStepped_V: number, note?: string): CellOutcome => ({ status, pulses: t.pulses, reads: t.reads, final_A, finalStepped_V, note, preformed: true });
  if (ev.knownFormed) return out('ok', i0, NaN, 'formed (the store\'s history of this board)');
  if (i0 < cfg.formedAbove_A) return yield* formStaircase(cfg, t, i0, false);
  if (!ev.reset) return out('ok', i0, NaN, 'already formed (reads above the formed threshold)');
  // A high read: does the cell answer RESET (a filament) or not (a leaky pristine cell)?
  const r = yield* resetVerifySteps(ev.reset, t);
  if (r.ok || r.final_A <= 0.5 * r.first_A) return out('ok', r.final_A, r.vsl_V, 'formed before (it answers RESET)');
  return yield* formStaircase(cfg, t, r.final_A, true, i0);
}

/** FORM pulses with rising VTE until the read jumps over the cell's own starting read. */
function* formStaircase(cfg: FormConfig, t: Tally, from_A: number, leaky: boolean, first_A = from_A): CellPlan {
  let i = from_A;
  let vte = cfg.vteStart_V;
  let applied = NaN;
  // A leaky cell's own current is comparable to a formed one's: half again above it is a filament
  // (the reset-verify that follows confirms it, or files the cell stuck).
  const target = leaky ? from_A + Math.max(cfg.jumpMin_A, 0.5 * from_A) : formedThreshold(cfg, from_A);
  for (let n = 0; n < cfg.maxPulses && vte <= cfg.vteStop_V + 1e-9; n++) {
    yield t.pulse<Command>({ op: 'form', vte_V: vte, vg_V: cfg.vg_V, width_s: cfg.width_s });
    applied = vte;
    i = yield* readCurrent(t, cfg.vread_V);
    if (i >= target) return { status: 'ok', pulses: t.pulses, reads: t.reads, final_A: i, finalStepped_V: applied, ...(leaky ? { leaky: true as const, note: `leaky when pristine (${(first_A * 1e6).toFixed(2)} uA, no answer to RESET): formed` } : {}) };
    vte = round6(vte + cfg.vteStep_V);
  }
  const why = `no filament up to VTE ${cfg.vteStop_V} V (read ${(i * 1e6).toFixed(2)} uA, before ${(from_A * 1e6).toFixed(2)} uA)`;
  if (!leaky) return { status: 'unformable', pulses: t.pulses, reads: t.reads, final_A: i, finalStepped_V: applied, note: why };
  // It answers neither RESET nor FORM: a stuck filament, or a leaky cell that does not form.
  return { status: 'stuck', pulses: t.pulses, reads: t.reads, final_A: i, finalStepped_V: applied, leaky: true, note: `answers neither RESET nor FORM (${(first_A * 1e6).toFixed(2)} uA when first read): stuck or leaky and unformable; ${why}` };
}
