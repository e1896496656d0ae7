/**
 * The simulations a calibration fit runs, as plain data (so a worker thread can run them): a
 * recorded sweep or characterize run replayed on the emulator with candidate calibration values.
 * Only what the replay needs travels: the run's design, never its measured cells.
 */
import { values, type Calibration } from '../../calibration/calibration.js';
import { fitTransfer, staircaseCurves, type TransferFit } from './fit-transfer.js';
import type { LevelCdfDataset } from '../procedures/characterize.js';
import type { SweepDataset } from '../procedures/sweep.js';
import { replayCharacterize, simulateSweep } from './simulate.js';
import { sweepStats } from './sweep-stats.js';

export type SweepDesign = Pick<SweepDataset, 'board' | 'config' | 'noiseReads' | 'settle_s' | 'params' | 'vread_V'>;
export type CharacterizeDesign = Pick<LevelCdfDataset, 'params' | 'board'> & { levels: Pick<LevelCdfDataset['levels'][number], 'spec'>[] };

export type SimTask =
  | { kind: 'sweep'; cal: Calibration; design: SweepDesign; n: number; seed: number }
  | { kind: 'sweep-stats'; cal: Calibration; design: SweepDesign; n: number; seed: number; gCap_S: number }
  | { kind: 'replay'; cal: Calibration; design: CharacterizeDesign; factor: number; seed: number; programmingOnly?: boolean; beforeClimb?: boolean }
  | { kind: 'sweep-transfer'; cal: Calibration; design: SweepDesign; n: number; seed: number };

/** A transfer fit of a simulated sweep, without its per-curve parts (they stay in the worker). */
export type SimTransfer = Omit<TransferFit, 'perCurve'>;

export function sweepDesign(d: SweepDataset): SweepDesign {
  return { board: d.board, config: d.config, noiseReads: d.noiseReads, settle_s: d.settle_s, params: d.params, vread_V: d.vread_V };
}

export function characterizeDesign(d: LevelCdfDataset): CharacterizeDesign {
  return { params: d.params, board: d.board, levels: d.levels.map((l) => ({ spec: l.spec })) };
}

export function runSimTask(t: SimTask): unknown {
  if (t.kind === 'sweep') return simulateSweep(t.cal, t.design, t.n, t.seed);
  if (t.kind === 'sweep-transfer') {
    const cells = simulateSweep(t.cal, t.design, t.n, t.seed).filter((c) => c.status === 'ok');
    const { perCurve: _drop, ...fit } = fitTransfer(staircaseCurves(cells, t.cal, t.design.vread_V), values(t.cal), { standardErrors: false });
    return fit;
  }
  if (t.kind === 'sweep-stats') return sweepStats(simulateSweep(t.cal, t.design, t.n, t.seed), t.cal, t.design.vread_V, t.gCap_S);
  return replayCharacterize(t.cal, t.design as LevelCdfDataset, t.factor, t.seed, { programmingOnly: t.programmingOnly, beforeClimb: t.beforeClimb });
}
