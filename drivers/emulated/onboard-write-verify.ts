/**
 * The emulated board's on-board write-verify job (protocol op WRITE_VERIFY): the firmware runs
 * the very IGVVA/ISPVA plans the host would, against its own cells, and returns a summary.
 */
import type { CellAddress, WriteVerifyJob, WriteVerifySummary } from '../board.js';
import { InvalidArgumentError } from '../errors.js';
import type { CellPlan } from '../../src/plans/commands.js';
import { igvva } from '../../src/plans/igvva.js';
import { ispva } from '../../src/plans/ispva.js';
import { RESET_DEFAULTS } from '../../src/plans/reset-verify.js';
import type { EmulatedBoard } from './emulated-board.js';

export function runWriteVerifyOnBoard(b: EmulatedBoard, c: CellAddress, job: WriteVerifyJob): WriteVerifySummary {
  if (!(job.step_V > 0)) throw new InvalidArgumentError('step_V', job.step_V, 'must be > 0');
  const base = { target_A: job.target_A, tolerance_A: Infinity, maxPulses: job.maxPulses, width_s: job.width_s, vread_V: job.vread_V };
  const plan: CellPlan =
    job.algo === 'igvva'
      ? igvva({ ...base, vte_V: job.fixed_V, vgStart_V: job.start_V, vgStep_V: job.step_V, vgStop_V: job.stop_V, maxRetries: 0, reset: RESET_DEFAULTS })
      : ispva({ ...base, vg_V: job.fixed_V, vteStart_V: job.start_V, vteStep_V: job.step_V, vteStop_V: job.stop_V });
  let r = plan.next();
  while (!r.done) {
    const cmd = r.value;
    let answer: number | undefined;
    if (cmd.op === 'read') answer = b.readSync(c, { vread_V: cmd.vread_V });
    else if (cmd.op === 'set') b.setSync(c, cmd);
    else if (cmd.op === 'reset') b.resetSync(c, cmd);
    else b.formSync(c, cmd);
    r = plan.next(answer);
  }
  return { success: r.value.status === 'ok', pulses: r.value.pulses, final_A: r.value.final_A, finalStepped_V: r.value.finalStepped_V };
}
