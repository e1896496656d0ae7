/** One cell's programming to one level as an engine job, with the per-level gates its setup derived. */
import type { CellAddress } from '../../drivers/board.js';
import type { LevelSpec } from '../analysis/levels.js';
import type { CellJob } from '../engine/run-engine.js';
import { programCell, type ProgramConfig } from '../plans/program-cell.js';
import type { ProgramSetup } from './program-setup.js';

/** The job that programs one cell to one level (form if pristine, reset-verify, write-verify). */
/** startOverride_V: a re-verify pass starts this cell's climb from its own last gate; knownFormed: the store (or this run) saw it programmed. */
export function levelJob(cfg: ProgramConfig, spec: LevelSpec, cell: CellAddress, gates: LevelGates = {}, startOverride_V?: number, knownFormed = false): CellJob {
  return { cell, level: spec.level, target_A: spec.target_A, plan: () => programCell(cfg, { level: spec.level, target_A: spec.target_A, ispvaVg_V: gates.ispvaGates_V?.[spec.level], vgStart_V: startOverride_V ?? gates.startGates_V?.[spec.level], vgRetry_V: startOverride_V === undefined ? gates.retryGates_V?.[spec.level] : undefined, knownFormed }) };
}

/** The per-level gates a setup derived: ISPVA's fixed gate, igvva-predict's and bidir's start. */
export type LevelGates = Pick<ProgramSetup, 'ispvaGates_V' | 'startGates_V' | 'retryGates_V'>;
