/**
 * Program a level map onto one array by write-verify, read it back, and report per-level
 * statistics and how many cells read back in the wrong level.
 */
import type { Board, CellAddress } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { defaultLevels, levelStats, type LevelSpec, type LevelStats } from '../analysis/levels.js';
import { cellKey } from '../engine/events.js';
import { Journal, type JournalEntry } from '../engine/journal.js';
import type { RunContext } from '../engine/run-context.js';
import { RunEngine, type CellJob, type EngineOptions } from '../engine/run-engine.js';
import { programCell } from '../plans/program-cell.js';
import type { LevelMap } from './level-map.js';
import { buildProgramConfig, type ProgramOptions } from './program-config.js';
import type { ProgramConfig } from '../plans/program-cell.js';

export interface ProgramArrayOptions extends ProgramOptions {
  levels: number;
  array: number;
  map: LevelMap;
  mapName: string;
  ispvaGates_V?: number[];
  engine?: EngineOptions;
  journalPath?: string;
}

export interface ProgramArrayResult {
  format: 'rram-hil/program';
  version: 1;
  runId: string;
  array: number;
  rows: number;
  cols: number;
  levels: LevelSpec[];
  map: number[];
  readback_A: number[];
  status: string[];
  pulses: number[];
  stats: LevelStats[];
  /** Cells whose read-back falls outside their level's band. */
  misplaced: number;
  totalPulses: number;
}

/** The job that programs one cell to one level (form if pristine, reset-verify, write-verify). */
export function levelJob(cfg: ProgramConfig, spec: LevelSpec, cell: CellAddress, ispvaGates_V?: number[]): CellJob {
  return { cell, level: spec.level, target_A: spec.target_A, plan: () => programCell(cfg, { level: spec.level, target_A: spec.target_A, ispvaVg_V: ispvaGates_V?.[spec.level] }) };
}

/**
 * Runs cell jobs through the engine; with a journal, cells it already holds are not pulsed again
 * (resume). Returns every finished cell's entry, earlier ones included.
 */
export async function programCells(board: Board, ctx: RunContext, jobs: CellJob[], engine?: EngineOptions, journalPath?: string): Promise<Map<string, JournalEntry>> {
  const prior = journalPath ? Journal.load(journalPath) : new Map<string, JournalEntry>();
  const todo = jobs.filter((j) => !prior.has(cellKey(j.cell)));
  const journal = journalPath ? new Journal(journalPath) : undefined;
  let done: JournalEntry[];
  try {
    done = await new RunEngine(board, ctx).runCells(todo, { ...engine, journal });
  } finally {
    journal?.close();
  }
  const byKey = new Map(prior);
  for (const e of done) byKey.set(cellKey(e.cell), e);
  return byKey;
}

export async function programArray(board: Board, ctx: RunContext, o: ProgramArrayOptions): Promise<ProgramArrayResult> {
  const info = board.info();
  if (o.array < 0 || o.array >= info.arrays) throw new InvalidArgumentError('array', o.array, `board has arrays 0..${info.arrays - 1}`);
  if (o.map.length !== info.rows * info.cols) throw new InvalidArgumentError('map', o.map.length, `needs ${info.rows * info.cols} cells`);
  const cfg = buildProgramConfig(o);
  const specs = defaultLevels(o.levels);
  if (o.algo === 'ispva' && (!o.ispvaGates_V || o.ispvaGates_V.length < o.levels)) throw new InvalidArgumentError('ispva-vg', o.ispvaGates_V, `needs ${o.levels} gate voltages`);
  ctx.emit({ type: 'run-start', kind: 'program', params: { ...o, map: undefined, engine: undefined, journalPath: undefined, config: cfg }, board: info, calibration: info.calibration });
  const jobs = o.map.reduce<CellJob[]>((js, lvl, k) => {
    js.push(levelJob(cfg, specs[lvl], { array: o.array, row: Math.floor(k / info.cols), col: k % info.cols }, o.ispvaGates_V));
    return js;
  }, []);
  const byKey = await programCells(board, ctx, jobs, o.engine, o.journalPath);
  const rb = await board.readArray(o.array, { vread_V: cfg.igvva.vread_V });
  const status: string[] = [];
  const pulses: number[] = [];
  let misplaced = 0;
  jobs.forEach((j, k) => {
    const e = byKey.get(cellKey(j.cell));
    status.push(e?.outcome.status ?? 'missing');
    pulses.push(e?.outcome.pulses ?? 0);
    const band = specs[o.map[k]].band_A;
    if (rb[k] < band[0] || rb[k] > band[1]) misplaced++;
    ctx.emit({ type: 'read', cell: j.cell, vread_V: cfg.igvva.vread_V, current_A: rb[k], phase: 'readback', level: j.level });
  });
  const stats = specs.map((s) => {
    const idx = [...o.map.keys()].filter((k) => o.map[k] === s.level);
    return levelStats(s, idx.map((k) => rb[k]), idx.map((k) => pulses[k]), idx.filter((k) => status[k] === 'ok').length);
  });
  return { format: 'rram-hil/program', version: 1, runId: ctx.runId, array: o.array, rows: info.rows, cols: info.cols, levels: specs, map: Array.from(o.map), readback_A: Array.from(rb), status, pulses, stats, misplaced, totalPulses: pulses.reduce((a, b) => a + b, 0) };
}
