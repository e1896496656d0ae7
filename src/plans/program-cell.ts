/**
 * The whole programming of one cell to one level: form if pristine, reset-verify to HRS, then
 * (for an LRS level) the chosen write-verify algorithm to the level's target current.
 */
import type { CellPlan } from './commands.js';
import { Tally } from './commands.js';
import { formIfPristine, type FormConfig } from './form.js';
import { igvva, type IgvvaConfig } from './igvva.js';
import { ispva, type IspvaConfig } from './ispva.js';
import { resetVerify, type ResetVerifyConfig } from './reset-verify.js';
import { igvvaPredict } from './igvva-predict.js';
import { igvvaAdaptive, ADAPTIVE_DEFAULTS, type AdaptiveConfig } from './igvva-adaptive.js';
import { bidir, type BidirConfig } from './bidir.js';
import { radar, type RadarConfig } from './radar.js';
import { identicalPulse, type IdenticalConfig } from './identical-pulse.js';

/** The write-verify algorithms, as `--algo` names them. */
export const ALGOS = ['igvva', 'ispva', 'igvva-predict', 'igvva-adaptive', 'bidir', 'radar', 'identical-pulse'] as const;
export type Algo = (typeof ALGOS)[number];

export interface LevelTarget {
  /** Level index 0..N-1; 0 is the HRS. */
  level: number;
  /** Target read current at vread (A); for the HRS the ceiling. */
  target_A: number;
  /** ISPVA only: the fixed gate voltage for this level. */
  ispvaVg_V?: number;
  /** igvva-predict and bidir: the gate the climb starts at (predicted for the level, or this cell's own); radar: its overshooting SET's gate; identical-pulse: its one SET gate. */
  vgStart_V?: number;
  /** igvva-predict: where a climb whose first pulse already reached the target starts again, before a full search. */
  vgRetry_V?: number;
  /** The store's history shows the cell programmed on this board before (no forming question). */
  knownFormed?: boolean;
}

export interface ProgramConfig {
  algo: Algo;
  form: FormConfig;
  reset: ResetVerifyConfig;
  igvva: Omit<IgvvaConfig, 'target_A'>;
  ispva: Omit<IspvaConfig, 'target_A' | 'vg_V'>;
  /** igvva-adaptive's coarse step (absent in runs recorded before it existed). */
  adaptive?: AdaptiveConfig;
  /** bidir's band and partial RESET. */
  bidir?: BidirConfig;
  /** radar's band and partial RESET staircase. */
  radar?: RadarConfig;
  /** identical-pulse's band and its one RESET pulse. */
  identical?: IdenticalConfig;
}

/** A ProgramConfig read back from JSON: an infinite tolerance (the published one-sided band) was stored as null. */
export function reviveConfig(c: ProgramConfig): ProgramConfig {
  const inf = (v: number | null | undefined) => (v === null || v === undefined ? Infinity : v);
  return { ...c, igvva: { ...c.igvva, tolerance_A: inf(c.igvva.tolerance_A) }, ispva: { ...c.ispva, tolerance_A: inf(c.ispva.tolerance_A) } };
}

export function* programCell(cfg: ProgramConfig, lvl: LevelTarget): CellPlan {
  return yield* program(cfg, lvl, true);
}

/**
 * The same programming up to the climb: forming and the reset-verify only (an LRS level's outcome
 * is the reset-verify's). A calibration fit whose statistics do not look at the climb replays this.
 */
export function* programCellBeforeClimb(cfg: ProgramConfig, lvl: LevelTarget): CellPlan {
  return yield* program(cfg, lvl, false);
}

function* program(cfg: ProgramConfig, lvl: LevelTarget, climb: boolean): CellPlan {
  const t = new Tally();
  const f = yield* formIfPristine(cfg.form, t, { reset: cfg.reset, knownFormed: lvl.knownFormed });
  if (f.status !== 'ok') return f;
  const leaky = { ...(f.leaky ? { leaky: true as const } : {}), ...(f.preformed ? { preformed: true as const } : {}) };
  const r = yield* resetVerify(lvl.level === 0 ? { ...cfg.reset, max_A: lvl.target_A } : cfg.reset, t);
  if (lvl.level === 0 || r.status !== 'ok' || !climb) return { ...r, ...leaky };
  return { ...(yield* writeVerify(cfg, lvl, t)), ...leaky };
}

function* writeVerify(cfg: ProgramConfig, lvl: LevelTarget, t: Tally): CellPlan {
  const ig = { ...cfg.igvva, target_A: lvl.target_A };
  switch (cfg.algo) {
    case 'igvva':
      return yield* igvva(ig, t);
    case 'igvva-predict':
      if (lvl.vgStart_V === undefined) throw new Error('igvva-predict needs a start gate per level');
      return yield* igvvaPredict(ig, lvl.vgStart_V, t, lvl.vgRetry_V);
    case 'radar':
      if (!cfg.radar || lvl.vgStart_V === undefined) throw new Error('radar needs its RESET staircase and a SET gate per level');
      return yield* radar(ig, cfg.radar, lvl.vgStart_V, t);
    case 'identical-pulse':
      if (!cfg.identical || lvl.vgStart_V === undefined) throw new Error('identical-pulse needs its pulses and a gate per level');
      return yield* identicalPulse(cfg.identical, lvl.target_A, lvl.vgStart_V, t);
    case 'igvva-adaptive':
      return yield* igvvaAdaptive(ig, cfg.adaptive ?? ADAPTIVE_DEFAULTS, t);
    case 'bidir':
      if (!cfg.bidir) throw new Error('bidir needs its band and RESET settings');
      return yield* bidir(ig, cfg.bidir, lvl.vgStart_V, t);
    case 'ispva':
      if (lvl.ispvaVg_V === undefined) throw new Error('ISPVA needs a gate voltage per level');
      return yield* ispva({ ...cfg.ispva, target_A: lvl.target_A, vg_V: lvl.ispvaVg_V }, t);
  }
}
