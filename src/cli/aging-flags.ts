/**
 * `--endurance-from RUN` and `--retention-from RUN` (rram infer, rram study crossbar): the aging a
 * board showed in its `rram endurance` / `rram retention` runs instead of stated parameters. The
 * cycles and the time to age to stay the command's (`--endurance`, `--retention`); the tau,
 * failures and drift come from the run, so the stated-parameter flags are refused beside them.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { agingFromStore, measuredEnduranceOption } from '../calibrate/aging.js';
import type { DeviceOptions } from '../inference/device-models.js';
import { EmbeddedStore } from '../store/embedded-store.js';
import { addStoreOption } from './board-options.js';

export interface AgingFromFlags {
  enduranceFrom?: string;
  retentionFrom?: string;
  store: string;
}

export function addAgingFromFlags(c: Command): Command {
  return addStoreOption(c)
    .option('--endurance-from <run>', 'age the window as the board did in this `rram endurance` run (its tau, failures and their modes) to --endurance cycles')
    .option('--retention-from <run>', 'drift every level as the board did in this `rram retention` run (median and spread per level) to the --retention time');
}

/**
 * The endurance and retention options with the measured laws where asked. `explicit(name)` says
 * whether a flag was given on the command line; `cycles` / `t_s` the points to age to.
 */
export function measuredAging(
  f: AgingFromFlags,
  explicit: (flag: string) => boolean,
  stated: { endurance?: DeviceOptions['endurance']; retention?: DeviceOptions['retention'] },
  need: { cycles?: number; t_s?: number },
): { endurance?: DeviceOptions['endurance']; retention?: DeviceOptions['retention'] } {
  if (!f.enduranceFrom && !f.retentionFrom) return stated;
  for (const [from, flags] of [[f.enduranceFrom, ['enduranceTau']], [f.retentionFrom, ['driftNu', 'driftNuSigma']]] as const)
    for (const k of flags) if (from && explicit(k)) throw new InvalidArgumentError(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`, 'given', `is a stated parameter; the measured run given by ${k === 'enduranceTau' ? '--endurance-from' : '--retention-from'} sets it`);
  if (f.enduranceFrom && need.cycles === undefined) throw new InvalidArgumentError('--endurance-from', f.enduranceFrom, 'needs --endurance CYCLES: how many cycles to age the window by');
  if (f.retentionFrom && need.t_s === undefined) throw new InvalidArgumentError('--retention-from', f.retentionFrom, 'needs --retention TIME: how long after programming to drift to');
  const m = agingFromStore(new EmbeddedStore(f.store), { enduranceRun: f.enduranceFrom, retentionRun: f.retentionFrom });
  return {
    endurance: m.endurance ? measuredEnduranceOption(need.cycles!, m.endurance) : stated.endurance,
    retention: m.retention ? { t_s: need.t_s!, nu: 0, nuSigma: 0, measured: m.retention } : stated.retention,
  };
}
