/**
 * A calibration as a device for hardware-aware training (`rram train --hw-aware CAL.json`): the
 * level distributions the calibration's physics gives under write-verify, measured on an
 * in-process emulated board built from it (virtual time, nothing stored), with every outcome -
 * stuck, unformable, leaky - as a level-CDF dataset has it.
 */
import { EmulatedBoard } from '../../drivers/emulated/emulated-board.js';
import type { Calibration } from '../../calibration/calibration.js';
import { RunContext } from '../engine/run-context.js';
import { characterize, type LevelCdfDataset } from '../procedures/characterize.js';
import type { Algo } from '../plans/program-cell.js';

export async function virtualLevelCdf(cal: Calibration, o: { levels: number; cellsPerLevel: number; seed: number; algo?: Algo; reads?: number }): Promise<LevelCdfDataset> {
  const arrays = Math.max(1, Math.ceil((o.levels * o.cellsPerLevel) / 4096));
  const board = new EmulatedBoard({ seed: o.seed, arrays, calibration: cal });
  try {
    return await characterize(board, new RunContext(`virtual-${cal.id}`), { algo: o.algo ?? 'igvva', levels: o.levels, cellsPerLevel: o.cellsPerLevel, reads: o.reads ?? 1, relax_s: [], seed: o.seed, calibration: cal, mvmProbe: false }); // a virtual CDF has no wires to fit
  } finally {
    await board.close();
  }
}
