/**
 * IGVVA-adaptive: IGVVA with coarse gate steps while the cell is far below its target and IGVVA's
 * fine step near it. A SET only ever raises the conductance (the compliance of the gate caps it),
 * so the pulses far below the crossing decide nothing: they can be skipped in coarse steps as
 * long as one coarse step cannot reach the target. The plan switches to the fine step when the
 * read is within `fineWithin` of the target or when the last coarse step's rise, doubled, would
 * reach it; the final step is then a fine one, as in IGVVA.
 */
import { type CellPlan, Tally } from './commands.js';
import { climbGate, type IgvvaConfig } from './igvva.js';

export interface AdaptiveConfig {
  /** Coarse gate step (V), a whole number of fine steps. */
  coarseStep_V: number;
  /** Fine steps from here on: read >= (1 - fineWithin) * target. */
  fineWithin: number;
}

export const ADAPTIVE_DEFAULTS: AdaptiveConfig = { coarseStep_V: 0.05, fineWithin: 0.25 };

export function* igvvaAdaptive(cfg: IgvvaConfig, a: AdaptiveConfig, t: Tally = new Tally()): CellPlan {
  let fine = false;
  let lastRise = 0;
  return yield* climbGate(cfg, t, {
    start_V: cfg.vgStart_V,
    step: (i, before) => {
      if (!fine) {
        lastRise = Math.max(lastRise, i - before);
        fine = i >= (1 - a.fineWithin) * cfg.target_A || i + 2 * lastRise >= cfg.target_A;
      }
      return fine ? cfg.vgStep_V : a.coarseStep_V;
    },
    restart: () => {
      fine = false;
      lastRise = 0;
    },
  });
}
