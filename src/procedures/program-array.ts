/**
 * Program a level map onto one array (or a region of it) by write-verify, read it back, and report
 * per-level statistics over the programmed cells, the failures by reason, and how many programmed
 * cells read back outside their level's band.
 */
import type { Board, CellAddress, SafetyLimits } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { Calibration } from '../../calibration/calibration.js';
import { levelStats, sumFailures, type FailureCounts, type LevelSpec, type LevelStats } from '../analysis/levels.js';
import { cellKey } from '../engine/events.js';
import { levelJob } from './level-job.js';
import { reverifyCells, reverifyStep, type ReverifyReport } from './reverify.js';
import type { RunContext } from '../engine/run-context.js';
import type { EngineOptions } from '../engine/run-engine.js';
import { programCells } from './program-cells.js';
import { unusableRead } from '../engine/readings.js';
import { digest } from '../../lib/digest.js';
import type { LevelMap } from './level-map.js';
import type { ProgramOptions } from './program-config.js';
import { setupProgramming, type ProgramSetup } from './program-setup.js';
import { checkAbort, groundedAfter } from './board-phases.js';

export interface ProgramArrayOptions extends ProgramOptions {
  levels: number;
  array: number;
  map: LevelMap;
  mapName: string;
  /** Only these cells (row-major indices into the array); default every cell. */
  cells?: number[];
  /** How the cells were chosen (recorded): "all", "region 0:31,0:31", "cells FILE". */
  cellsName?: string;
  engine?: EngineOptions;
  calibration?: Calibration;
  userLimits?: Partial<SafetyLimits>;
  minSuccess?: number;
}

export interface RunSummary {
  cells: number;
  ok: number;
  successRate: number;
  failures: FailureCounts;
  minSuccess: number;
  belowThreshold: boolean;
  /** Cells found leaky when pristine (programmed or not). */
  leaky?: number;
  /** Pulses of unknown outcome the record holds. */
  unknownPulses?: number;
}

export function runSummary(statuses: string[], minSuccess = 0.95): RunSummary {
  const failures: FailureCounts = {};
  let ok = 0;
  for (const s of statuses) {
    if (s === 'ok') ok++;
    else failures[s as keyof FailureCounts] = (failures[s as keyof FailureCounts] ?? 0) + 1;
  }
  const successRate = statuses.length ? ok / statuses.length : 0;
  return { cells: statuses.length, ok, successRate, failures, minSuccess, belowThreshold: successRate < minSuccess };
}

export interface ProgramArrayResult {
  format: 'rram-hil/program';
  version: 2;
  runId: string;
  array: number;
  rows: number;
  cols: number;
  levels: LevelSpec[];
  /** Level per cell (row-major); -1 for cells outside the programmed set. */
  map: number[];
  /** Read-back currents; null (NaN in memory) where the read was unusable. */
  readback_A: number[];
  /** Status per cell; 'skipped' outside the programmed set. */
  status: string[];
  pulses: number[];
  stats: LevelStats[];
  /** Programmed (ok) cells whose read-back falls outside their level's band. */
  misplaced: number;
  totalPulses: number;
  summary: RunSummary;
  setup: Pick<ProgramSetup, 'sources' | 'notes' | 'predicted' | 'limits'>;
  /** With --reverify: the passes (cells checked, outside their band, re-programmed). */
  reverify?: ReverifyReport;
}


export async function programArray(board: Board, ctx: RunContext, o: ProgramArrayOptions): Promise<ProgramArrayResult> {
  const info = board.info();
  if (!Number.isInteger(o.array) || o.array < 0 || o.array >= info.arrays) throw new InvalidArgumentError('array', o.array, `board has arrays 0..${info.arrays - 1}`);
  const n = info.rows * info.cols;
  if (o.map.length !== n) throw new InvalidArgumentError('map', o.map.length, `needs ${n} cells`);
  const chosen = o.cells ?? Array.from({ length: n }, (_, k) => k);
  if (!chosen.length) throw new InvalidArgumentError('cells', 0, 'no cell to program');
  for (const k of chosen) if (!Number.isInteger(k) || k < 0 || k >= n) throw new InvalidArgumentError('cells', k, `cell index outside 0..${n - 1}`);
  if (o.minSuccess !== undefined && !(o.minSuccess >= 0 && o.minSuccess <= 1)) throw new InvalidArgumentError('min-success', o.minSuccess, 'must be a fraction in 0..1');
  for (const k of chosen) if (!(o.map[k] < o.levels)) throw new InvalidArgumentError('map', o.map[k], `level of cell ${k} is not in 0..${o.levels - 1}`);
  const setup = setupProgramming({ ...o, linked: !!board.linkEvents }, info, o.calibration, o.userLimits);
  const cfg = setup.config;
  const specs = setup.levels;
  const inSet = new Uint8Array(n);
  for (const k of chosen) inSet[k] = 1;
  // Inputs by content (the level map as programmed, the cells, the calibration): a resume after
  // any of them changed is refused, naming it; a file's name alone would not tell.
  const inputs = { 'level map (--map / --cells levels)': digest(Uint8Array.from(chosen.map((k) => o.map[k]))), 'cell list (--region / --cells)': digest(chosen.join(',')), ...(o.calibration ? { 'calibration contents': digest(o.calibration) } : {}) };
  const params = { ...o, knownFormed: undefined, map: undefined, cells: undefined, calibration: o.calibration?.id, engine: undefined, cellsCount: chosen.length, levelTargets_A: specs.map((x) => x.target_A), levelSpecs: specs, ispvaGates_V: setup.ispvaGates_V, startGates_V: setup.startGates_V, retryGates_V: setup.retryGates_V, config: cfg, inputs };
  ctx.begin({ kind: 'program', params, board: info, calibration: info.calibration, setup: { sources: setup.sources, notes: setup.notes, predicted: setup.predicted } });
  return groundedAfter(board, async () => {
    const jobs = chosen.map((k) => {
      const cell = { array: o.array, row: Math.floor(k / info.cols), col: k % info.cols };
      return levelJob(cfg, specs[o.map[k]], cell, setup, undefined, o.knownFormed?.has(cellKey(cell)));
    });
    const byKey = await programCells(board, ctx, jobs, { ...o.engine, limits: o.userLimits });
    const reverify = o.reverify ? await reverifyCells(board, ctx, byKey, { spec: o.reverify, cfg, specs, gates: setup, engine: { ...o.engine, limits: o.userLimits }, signal: o.engine?.signal }) : undefined;
    checkAbort(o.engine?.signal);
    const vread = cfg.igvva.vread_V;
    const rb = await board.readArray(o.array, { vread_V: vread });
    const status = new Array<string>(n).fill('skipped');
    const pulses = new Array<number>(n).fill(0);
    let misplaced = 0;
    let unknownPulses = 0;
    let leaky = 0;
    const steps = [undefined, ...Array.from({ length: o.reverify?.passes ?? 0 }, (_, p) => reverifyStep(p + 1))];
    for (const j of jobs) {
      const k = j.cell.row * info.cols + j.cell.col;
      const e = byKey.get(cellKey(j.cell));
      const why = unusableRead(rb[k]);
      status[k] = e?.outcome.status === 'ok' && why ? 'unreadable' : (e?.outcome.status ?? 'missing');
      // Every pulse the record holds for the cell: all attempts, re-verify passes included.
      for (const s of steps) {
        const h = ctx.ledger.history(s, j.cell);
        pulses[k] += h.pulses;
        unknownPulses += h.unknownPulses;
      }
      if (e?.outcome.leaky) leaky++;
      if (why) rb[k] = NaN;
      const band = specs[o.map[k]].band_A;
      if (status[k] === 'ok' && (rb[k] < band[0] || rb[k] > band[1])) misplaced++;
      ctx.emit({ type: 'read', cell: j.cell, vread_V: vread, current_A: why ? null : rb[k], phase: 'readback', level: j.level, ...(why ? { unusable: why } : {}) });
    }
    const stats = specs.map((s) => levelStats(s, chosen.filter((k) => o.map[k] === s.level).map((k) => ({ current_A: rb[k], pulses: pulses[k], status: status[k] }))));
    return {
      format: 'rram-hil/program',
      version: 2,
      runId: ctx.runId,
      array: o.array,
      rows: info.rows,
      cols: info.cols,
      levels: specs,
      map: Array.from(o.map, (l, k) => (inSet[k] ? l : -1)),
      readback_A: Array.from(rb),
      status,
      pulses,
      stats,
      misplaced,
      totalPulses: pulses.reduce((a, b) => a + b, 0),
      summary: { ...runSummary(chosen.map((k) => status[k]), o.minSuccess), failures: sumFailures(stats.map((s) => s.failures)), leaky, unknownPulses },
      setup: { sources: setup.sources, notes: setup.notes, predicted: setup.predicted, limits: setup.limits },
      ...(reverify ? { reverify } : {}),
    };
  });
}
