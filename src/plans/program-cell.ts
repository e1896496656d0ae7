/**
 * The whole programming of one cell to one level: form if pristine, reset-verify to HRS, then
 * (for an LRS level) IGVVA or ISPVA to the level's target current.
 */
import type { CellPlan } from './commands.js';
import { Tally } from './commands.js';
import { formIfPristine, type FormConfig } from './form.js';
import { igvva, type IgvvaConfig } from './igvva.js';
import { ispva, type IspvaConfig } from './ispva.js';
import { resetVerify, type ResetVerifyConfig } from './reset-verify.js';

export type Algo = 'igvva' | 'ispva';

export interface LevelTarget {
  /** Level index 0..N-1; 0 is the HRS. */
  level: number;
  /** Target read current at vread (A); for the HRS the ceiling. */
  target_A: number;
  /** ISPVA only: the fixed gate voltage for this level. */
  ispvaVg_V?: number;
}

export interface ProgramConfig {
  algo: Algo;
  form: FormConfig;
  reset: ResetVerifyConfig;
  igvva: Omit<IgvvaConfig, 'target_A'>;
  ispva: Omit<IspvaConfig, 'target_A' | 'vg_V'>;
}

export function* programCell(cfg: ProgramConfig, lvl: LevelTarget): CellPlan {
  const t = new Tally();
  const f = yield* formIfPristine(cfg.form, t);
  if (f.status !== 'ok') return f;
  if (lvl.level === 0) return yield* resetVerify({ ...cfg.reset, max_A: lvl.target_A }, t);
  const r = yield* resetVerify(cfg.reset, t);
  if (r.status !== 'ok') return r;
  if (cfg.algo === 'igvva') return yield* igvva({ ...cfg.igvva, target_A: lvl.target_A }, t);
  if (lvl.ispvaVg_V === undefined) throw new Error('ISPVA needs a gate voltage per level');
  return yield* ispva({ ...cfg.ispva, target_A: lvl.target_A, vg_V: lvl.ispvaVg_V }, t);
}
