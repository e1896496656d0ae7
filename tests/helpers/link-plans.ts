/** A short fixed plan for link tests: form, SET, RESET (optional), each verified by a read. */
import { Tally, readCurrent, type CellPlan } from '../../src/plans/commands.js';

export function* formSetReset(o: { formVte_V?: number; reset?: boolean } = {}): CellPlan {
  const t = new Tally();
  yield* readCurrent(t, 0.2);
  yield t.pulse({ op: 'form', vte_V: o.formVte_V ?? 3.9, vg_V: 1.5, width_s: 1e-5 });
  yield* readCurrent(t, 0.2);
  yield t.pulse({ op: 'set', vte_V: 1.2, vg_V: 1.5, width_s: 1e-6 });
  let i = yield* readCurrent(t, 0.2);
  if (o.reset ?? true) {
    yield t.pulse({ op: 'reset', vsl_V: 1.5, vg_V: 1.9, width_s: 1e-6 });
    i = yield* readCurrent(t, 0.2);
  }
  return { status: 'ok', pulses: t.pulses, reads: t.reads, final_A: i, finalStepped_V: 0 };
}
