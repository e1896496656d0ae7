/**
 * Builds a ProgramConfig from user-facing options (CLI flags, API bodies) with the published
 * defaults, and the ISPVA gate table.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import { FORM_DEFAULTS } from '../plans/form.js';
import { IGVVA_DEFAULTS } from '../plans/igvva.js';
import { ISPVA_DEFAULTS } from '../plans/ispva.js';
import type { Algo, ProgramConfig } from '../plans/program-cell.js';
import { RESET_DEFAULTS } from '../plans/reset-verify.js';

export interface ProgramOptions {
  algo: Algo;
  /** Step of the stepped amplitude (VG for IGVVA, VTE for ISPVA); default 10 mV / 100 mV. */
  step_V?: number;
  /** Two-sided band: upper tolerance above the target (A). Default none (published algorithm). */
  tolerance_A?: number;
  maxPulses?: number;
  width_s?: number;
  vread_V?: number;
  vte_V?: number;
  vgStart_V?: number;
  maxRetries?: number;
}

export function buildProgramConfig(o: ProgramOptions): ProgramConfig {
  if (o.algo !== 'igvva' && o.algo !== 'ispva') throw new InvalidArgumentError('algo', o.algo, 'must be igvva or ispva');
  const pos = (f: string, v: number | undefined) => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new InvalidArgumentError(f, v, 'must be a positive number');
  };
  pos('step', o.step_V);
  pos('width', o.width_s);
  pos('vread', o.vread_V);
  pos('max-pulses', o.maxPulses);
  if (o.tolerance_A !== undefined && !(o.tolerance_A > 0)) throw new InvalidArgumentError('tolerance', o.tolerance_A, 'must be a positive current');
  const vread_V = o.vread_V ?? 0.2;
  const reset = { ...RESET_DEFAULTS, vread_V };
  return {
    algo: o.algo,
    form: { ...FORM_DEFAULTS, vread_V },
    reset,
    igvva: {
      ...IGVVA_DEFAULTS,
      vgStep_V: o.algo === 'igvva' ? (o.step_V ?? IGVVA_DEFAULTS.vgStep_V) : IGVVA_DEFAULTS.vgStep_V,
      tolerance_A: o.tolerance_A ?? Infinity,
      maxPulses: o.maxPulses ?? IGVVA_DEFAULTS.maxPulses,
      width_s: o.width_s ?? IGVVA_DEFAULTS.width_s,
      vte_V: o.vte_V ?? IGVVA_DEFAULTS.vte_V,
      vgStart_V: o.vgStart_V ?? IGVVA_DEFAULTS.vgStart_V,
      maxRetries: o.maxRetries ?? IGVVA_DEFAULTS.maxRetries,
      vread_V,
      reset,
    },
    ispva: {
      ...ISPVA_DEFAULTS,
      vteStep_V: o.algo === 'ispva' ? (o.step_V ?? ISPVA_DEFAULTS.vteStep_V) : ISPVA_DEFAULTS.vteStep_V,
      tolerance_A: o.tolerance_A ?? Infinity,
      maxPulses: o.maxPulses ?? ISPVA_DEFAULTS.maxPulses,
      width_s: o.width_s ?? ISPVA_DEFAULTS.width_s,
      vread_V,
    },
  };
}
