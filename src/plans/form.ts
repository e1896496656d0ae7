/**
 * Forming: a pristine cell conducts nearly nothing; FORM pulses on the top electrode with rising
 * amplitude (gate limiting the current) until the read shows a filament.
 */
import { type CellPlan, type Command, Tally, readCurrent } from './commands.js';
import { round6 } from './igvva.js';

export interface FormConfig {
  /** A read above this (A) means the cell is formed. */
  formed_A: number;
  vg_V: number;
  vteStart_V: number;
  vteStep_V: number;
  vteStop_V: number;
  maxPulses: number;
  width_s: number;
  vread_V: number;
}

export const FORM_DEFAULTS: FormConfig = {
  formed_A: 1e-6,
  vg_V: 1.6,
  vteStart_V: 2.4,
  vteStep_V: 0.1,
  vteStop_V: 4.0,
  maxPulses: 20,
  width_s: 10e-6,
  vread_V: 0.2,
};

export function* formIfPristine(cfg: FormConfig, t: Tally = new Tally()): CellPlan {
  let i = yield* readCurrent(t, cfg.vread_V);
  let vte = cfg.vteStart_V;
  const done = (status: 'ok' | 'unformable', note?: string) => ({ status, pulses: t.pulses, reads: t.reads, final_A: i, finalStepped_V: vte, note });
  if (i > cfg.formed_A) return done('ok', 'already formed');
  for (let n = 0; n < cfg.maxPulses && vte <= cfg.vteStop_V + 1e-9; n++) {
    yield t.pulse<Command>({ op: 'form', vte_V: vte, vg_V: cfg.vg_V, width_s: cfg.width_s });
    i = yield* readCurrent(t, cfg.vread_V);
    if (i > cfg.formed_A) return done('ok');
    vte = round6(vte + cfg.vteStep_V);
  }
  return done('unformable', 'no filament up to the forming limit');
}
