/**
 * ISPVA, Incremental Step Pulse with Verify: the gate voltage is fixed (it sets the compliance,
 * hence the level) and the top-electrode amplitude rises by one step (100 mV) per pulse until
 * the verify read reaches the target. Switching is abrupt near VTE ~ 0.9 V.
 */
import { type CellPlan, type Command, Tally, readCurrent } from './commands.js';
import { round6 } from './igvva.js';

export interface IspvaConfig {
  target_A: number;
  tolerance_A: number;
  vg_V: number;
  vteStart_V: number;
  vteStep_V: number;
  vteStop_V: number;
  maxPulses: number;
  width_s: number;
  vread_V: number;
}

export const ISPVA_DEFAULTS: Omit<IspvaConfig, 'target_A' | 'vg_V'> = {
  tolerance_A: Infinity,
  vteStart_V: 0.3,
  vteStep_V: 0.1,
  vteStop_V: 2.5,
  maxPulses: 60,
  width_s: 1e-6,
  vread_V: 0.2,
};

export function* ispva(cfg: IspvaConfig, t: Tally = new Tally()): CellPlan {
  let i = yield* readCurrent(t, cfg.vread_V);
  let vte = cfg.vteStart_V;
  const upper = cfg.target_A + cfg.tolerance_A;
  let applied = NaN; // the VTE of the last SET applied
  const outcome = (status: 'ok' | 'failed', note?: string) => ({ status, pulses: t.pulses, reads: t.reads, final_A: i, finalStepped_V: applied, note });
  if (i >= cfg.target_A && i <= upper) return outcome('ok', 'already in band');
  for (;;) {
    if (i > upper) return outcome('failed', 'overshoot');
    if (t.pulses >= cfg.maxPulses) return outcome('failed', 'max pulses');
    if (vte > cfg.vteStop_V + 1e-9) return outcome('failed', 'TE voltage range exhausted');
    yield t.pulse<Command>({ op: 'set', vte_V: vte, vg_V: cfg.vg_V, width_s: cfg.width_s });
    applied = vte;
    i = yield* readCurrent(t, cfg.vread_V);
    if (i >= cfg.target_A && i <= upper) return outcome('ok');
    vte = round6(vte + cfg.vteStep_V);
  }
}
