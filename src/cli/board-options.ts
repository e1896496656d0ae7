/** The options every board-using command shares, and opening the board they describe. */
import type { Command } from 'commander';
import type { Board } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { EmulatedBoard } from '../../drivers/emulated/emulated-board.js';
import { loadCalibration } from '../../calibration/calibration.js';
import { limitsArg, num, type LimitSpec } from './parse.js';

export interface BoardFlags {
  board: string;
  port?: string;
  baud: number;
  seed: number;
  calibration?: string;
  arrays: number;
  limits?: LimitSpec;
}

export function addBoardOptions(c: Command): Command {
  return c
    .option('--board <kind>', 'board to use: emulated (in-process model)', 'emulated')
    .option('--port <path>', 'serial port of a real board or of `rram emulate --pty` (overrides --board)')
    .option('--baud <n>', 'serial baud rate', num('--baud', { min: 1200, int: true }), 921600)
    .option('--seed <n>', 'seed of the emulated board', num('--seed', { min: 0, int: true }), 1)
    .option('--calibration <file>', 'device-model calibration JSON (default calibration/ihp-hfo2-4kbit.json)')
    .option('--arrays <n>', 'number of 64x64 arrays on the emulated board', num('--arrays', { min: 1, max: 16, int: true }), 2)
    .option('--limits <k=v,...>', 'hard limits of the emulated board: vte_max, vsl_max, vg_max, vread_max (V), width_min, width_max (s), dac_step (V)', limitsArg('--limits'));
}

export async function openBoard(f: BoardFlags): Promise<Board> {
  if (f.port) {
    if (f.limits) throw new InvalidArgumentError('--limits', f.limits, 'sets an emulated board\'s limits; a board on --port reports its own (use `rram emulate --pty --limits ...`)');
    const { SerialBoard } = await import('../../drivers/serial/serial-board.js');
    return SerialBoard.open({ path: f.port, baudRate: f.baud });
  }
  if (f.board !== 'emulated') throw new InvalidArgumentError('--board', f.board, 'must be "emulated" (use --port PATH for a serial board)');
  const { dacStep_V, ...limits } = f.limits ?? {};
  return new EmulatedBoard({ seed: f.seed, arrays: f.arrays, calibration: loadCalibration(f.calibration), limits, dacStep_V });
}
