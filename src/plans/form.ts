/**
 * Forming: a pristine cell conducts little; FORM pulses on the top electrode with rising amplitude
 * (gate limiting the current) until the read shows a filament. "Formed" is judged against the
 * cell's own pristine read, never a fixed current: boards whose pristine cells read 1-2 uA exist.
 */
import { type CellPlan, type Command, Tally, readCurrent } from './commands.js';
import { round6 } from './igvva.js';

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

export function* formIfPristine(cfg: FormConfig, t: Tally = new Tally()): CellPlan {
  const i0 = yield* readCurrent(t, cfg.vread_V);
  let i = i0;
  let vte = cfg.vteStart_V;
  const done = (status: 'ok' | 'unformable', note?: string) => ({ status, pulses: t.pulses, reads: t.reads, final_A: i, finalStepped_V: vte, note });
  if (i0 >= cfg.formedAbove_A) return done('ok', 'already formed');
  const target = formedThreshold(cfg, i0);
  for (let n = 0; n < cfg.maxPulses && vte <= cfg.vteStop_V + 1e-9; n++) {
    yield t.pulse<Command>({ op: 'form', vte_V: vte, vg_V: cfg.vg_V, width_s: cfg.width_s });
    i = yield* readCurrent(t, cfg.vread_V);
    if (i >= target) return done('ok');
    vte = round6(vte + cfg.vteStep_V);
  }
  return done('unformable', `no filament up to VTE ${cfg.vteStop_V} V (read ${(i * 1e6).toFixed(2)} uA, pristine ${(i0 * 1e6).toFixed(2)} uA)`);
}
