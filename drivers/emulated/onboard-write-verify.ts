/**
 * The emulated board's on-board write-verify (WRITE_VERIFY, docs/protocol.md), written from the
 * document's pseudo-code and not from the host's plans, so host and firmware stay two
 * independent readings of the same contract:
 *   read; if I >= target: success, 0 pulses
 *   v = start; while pulses < max_pulses and v <= stop:
 *     pulse (IGVVA: VTE = fixed, VG = v; ISPVA: VTE = v, VG = fixed); read
 *     if I >= target: success;  v = v + step
 *   failure
 */
import type { CellAddress, WriteVerifyJob, WriteVerifySummary } from '../board.js';
import { InvalidArgumentError } from '../errors.js';
import { checkCell, checkRead, checkSetPulse, onGrid } from '../limits.js';
import type { EmulatedBoard } from './emulated-board.js';

export function runWriteVerifyOnBoard(b: EmulatedBoard, c: CellAddress, raw: WriteVerifyJob, dev: { ignoreStop?: boolean } = {}): WriteVerifySummary {
  // Every amplitude on the DAC grid first; every rule applies to the rounded values (section 3, revision 2.1).
  const dac = b.info().dacStep_V;
  const job = { ...raw, fixed_V: onGrid(raw.fixed_V, dac), start_V: onGrid(raw.start_V, dac), step_V: onGrid(raw.step_V, dac), stop_V: onGrid(raw.stop_V, dac), vread_V: onGrid(raw.vread_V, dac) };
  if (job.algo !== 'igvva' && job.algo !== 'ispva') throw new InvalidArgumentError('algo', job.algo, 'must be igvva or ispva');
  if (!(Number.isFinite(job.target_A) && job.target_A >= 0)) throw new InvalidArgumentError('target', job.target_A, 'must be a finite current >= 0');
  if (!(job.step_V > 0)) throw new InvalidArgumentError('step', job.step_V, 'must be > 0 after DAC rounding');
  if (!(job.stop_V >= job.start_V)) throw new InvalidArgumentError('stop', job.stop_V, `must be >= start ${job.start_V} after DAC rounding`);
  if (!(Number.isInteger(job.maxPulses) && job.maxPulses >= 1)) throw new InvalidArgumentError('max_pulses', job.maxPulses, 'must be an integer >= 1');
  // Refuse before the first pulse if any pulse of the loop would be beyond the limits.
  const info = b.info();
  const widest = job.algo === 'igvva' ? { vte_V: job.fixed_V, vg_V: job.stop_V, width_s: job.width_s } : { vte_V: job.stop_V, vg_V: job.fixed_V, width_s: job.width_s };
  if (dev.ignoreStop) job.stop_V = Infinity; // the 'wv-loop' deviation: no stop, no limit on it
  else checkSetPulse(info.limits, widest);
  checkSetPulse(info.limits, { ...widest, ...(job.algo === 'igvva' ? { vg_V: job.start_V } : { vte_V: job.start_V }) });
  checkRead(info.limits, job.vread_V);
  checkCell(info, c);
  let i = b.readSync(c, { vread_V: job.vread_V });
  let pulses = 0;
  let v = job.start_V;
  let last = job.start_V;
  if (i >= job.target_A) return { success: true, pulses, final_A: i, finalStepped_V: last };
  while (pulses < job.maxPulses && v <= job.stop_V + 1e-9) {
    if (job.algo === 'igvva') b.setSync(c, { vte_V: job.fixed_V, vg_V: v, width_s: job.width_s });
    else b.setSync(c, { vte_V: v, vg_V: job.fixed_V, width_s: job.width_s });
    pulses++;
    last = v;
    i = b.readSync(c, { vread_V: job.vread_V });
    if (i >= job.target_A) return { success: true, pulses, final_A: i, finalStepped_V: last };
    v = onGrid(v + job.step_V, dac);
  }
  return { success: false, pulses, final_A: i, finalStepped_V: last };
}
