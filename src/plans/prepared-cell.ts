/**
 * A device experiment's first job on a cell: form it if pristine, reset-verify it to the HRS, then
 * run the experiment's own plan. Pulses and reads of all three are counted in the outcome.
 */
import { type CellPlan, Tally } from './commands.js';
import { formIfPristine, type FormConfig } from './form.js';
import { resetVerify, type ResetVerifyConfig } from './reset-verify.js';

export function* preparedCell(form: FormConfig, reset: ResetVerifyConfig, knownFormed: boolean, next: (t: Tally) => CellPlan): CellPlan {
  const t = new Tally();
  const f = yield* formIfPristine(form, t, { reset, knownFormed });
  if (f.status !== 'ok') return f;
  const r = yield* resetVerify(reset, t);
  if (r.status !== 'ok') return { ...r, ...(f.leaky ? { leaky: true as const } : {}) };
  const o = yield* next(t);
  return { ...o, pulses: t.pulses, reads: t.reads, ...(f.leaky ? { leaky: true as const } : {}) };
}
