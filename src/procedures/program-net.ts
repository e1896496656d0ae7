/**
 * Program a network's tiles onto a board's arrays by write-verify and read each one back.
 * With fewer arrays than tiles the arrays are reused: a tile is programmed and read back before
 * the next one overwrites its array, and the evaluation uses every tile's read-back (what a lab
 * with one 4-kbit array can do). Cells a tile does not use are never pulsed.
 *
 * Each tile is a stored step (`tile N`): its cells' cell-done events and its K read-back reads per
 * cell are the record. A resumed run takes a tile whose cells are all done and read back from the
 * record (no pulse, no read); a tile interrupted while programming goes on with the cells not yet
 * done, then is read back again. Tiles run in order, so the interrupted tile is the last one its
 * array received: its cells still hold what the record says.
 */
import type { Board, SafetyLimits } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { Calibration } from '../../calibration/calibration.js';
import { levelStats, type CellSample, type LevelSpec, type LevelStats } from '../analysis/levels.js';
import type { RunContext } from '../engine/run-context.js';
import type { EngineOptions } from '../engine/run-engine.js';
import { cellKey } from '../engine/events.js';
import { UNUSED, type Tile } from '../inference/tiling.js';
import { ARRAY_SIDE as S } from '../inference/mapping.js';
import { runSummary, type RunSummary } from './program-array.js';
import { programCells } from './program-cells.js';
import { unusableRead } from '../engine/readings.js';
import { levelJob, type LevelGates } from './level-job.js';
import { reverifyCells, type ReverifyReport } from './reverify.js';
import type { ProgramOptions } from './program-config.js';
import { setupProgramming, type ProgramSetup } from './program-setup.js';
import { checkAbort, waitAbortable } from './board-phases.js';

export interface ProgramNetOptions extends ProgramOptions {
  levels: number;
  /** Programming target of each quantized level index (default: defaultLevels(levels)). */
  levelSpecs?: LevelSpec[];
  /**
   * Tiles and cells the net takes as planned (recorded with the run). Tiles come to tile() in
   * order of their number, tile k on arrays[k mod A]; where each goes is the caller's (placement.ts),
   * from the shapes and the bad cells the record knows, so a resume finds the same tiles.
   */
  planned: { tiles: number; cells: number };
  /** Board arrays to use, in turn. */
  arrays: number[];
  engine?: EngineOptions;
  calibration?: Calibration;
  userLimits?: Partial<SafetyLimits>;
  minSuccess?: number;
  /** Wait this long (board grounded) after programming a tile, before its read-back: relaxation. */
  relax_s?: number;
  /** Refresh: this long after programming a tile (and its re-verify), re-read it and program again only the cells that left their decision band; then the read-back (after relax_s, if given). */
  refreshAfter_s?: number;
  /** A refresh rewrites at most this share of a tile's programmed cells, the farthest from target first (default: every cell out of band). */
  refreshBudget?: number;
  /** Read-back reads per cell, averaged (read noise). Default 1. */
  reads?: number;
  /** What is being programmed (model, mapping, ...), recorded in the run's parameters. */
  describe: Record<string, unknown>;
}

export interface TileReadback {
  tile: number;
  layer: string;
  array: number;
  /** Tile-sized (64x64) read currents (A), row-major: the mean of each used cell's K reads; NaN where the tile has no cell. */
  readback_A: Float32Array;
  pulses: number;
  /** Used cells whose read-back falls outside their level's band. */
  misplaced: number;
  failed: number;
  /** Tile-sized: 1 where a used cell did not end programmed (its value is then what it reads, not its level's). */
  notOk: Uint8Array;
  /** Taken from the record of an interrupted run (no pulse, no read in this process). */
  fromRecord: boolean;
  /** Per used cell: its level and what the statistics need. */
  cells: (CellSample & { level: number })[];
}

export interface ProgramNetResult {
  levels: LevelSpec[];
  tiles: TileReadback[];
  cells: number;
  totalPulses: number;
  /** Programmed (ok) cells whose read-back falls outside their level's band. */
  misplaced: number;
  failed: number;
  /** Per level, over the programmed cells of every tile (read-back currents). */
  stats: LevelStats[];
  summary: RunSummary;
  setup: Pick<ProgramSetup, 'sources' | 'notes' | 'predicted' | 'limits'>;
  /** With --reverify: per tile, the passes. */
  reverify?: (ReverifyReport & { tile: number })[];
  /** With --refresh-after: per tile, the refresh (one pass: checked, outside = rewritten, ok, pulses). */
  refresh?: (ReverifyReport & { tile: number })[];
}

/** Tile k's step in the record. */
export const tileStep = (index: number): string => `tile ${index + 1}`;

/** The run's programming of a net's tiles: begun once, then tile by tile (any order the caller keeps), then summed up. */
export class NetProgrammer {
  private readonly setup: ProgramSetup;
  private readonly gates: LevelGates;
  private readonly reverified: (ReverifyReport & { tile: number })[] = [];
  private readonly refreshed: (ReverifyReport & { tile: number })[] = [];
  private readonly k: number;
  /** Per array: the cells a tile of this run used so far (they hold a filament). */
  private readonly used = new Map<number, Uint8Array>();
  /** Cells a tile of this run left not programmed ("array:row:col"): later tiles leave them out. */
  readonly failedCells = new Set<string>();
  private next = 0;
  /** Steps the stored record touched (a resume's check). */
  private touched?: Set<string>;

  constructor(
    private readonly board: Board,
    private readonly ctx: RunContext,
    private readonly o: ProgramNetOptions,
  ) {
    const info = board.info();
    if (info.rows < S || info.cols < S) throw new InvalidArgumentError('board', `${info.rows}x${info.cols}`, `net tiles need ${S}x${S} arrays`);
    if (!o.arrays.length) throw new InvalidArgumentError('arrays', '', 'give at least one array');
    for (const a of o.arrays) if (!Number.isInteger(a) || a < 0 || a >= info.arrays) throw new InvalidArgumentError('arrays', a, `board has arrays 0..${info.arrays - 1}`);
    if (o.relax_s !== undefined && !(o.relax_s > 0 && Number.isFinite(o.relax_s))) throw new InvalidArgumentError('relax', o.relax_s, 'must be a positive time');
    if (o.refreshAfter_s !== undefined && !(o.refreshAfter_s > 0 && Number.isFinite(o.refreshAfter_s))) throw new InvalidArgumentError('refresh-after', o.refreshAfter_s, 'must be a positive time');
    if (o.refreshBudget !== undefined && o.refreshAfter_s === undefined) throw new InvalidArgumentError('refresh-budget', o.refreshBudget, 'applies with --refresh-after only');
    if (o.refreshBudget !== undefined && !(o.refreshBudget > 0 && o.refreshBudget <= 1)) throw new InvalidArgumentError('refresh-budget', o.refreshBudget, 'must be a share in (0, 1]');
    this.k = o.reads ?? 1;
    if (!Number.isInteger(this.k) || this.k < 1 || this.k > 100) throw new InvalidArgumentError('reads', this.k, 'must be an integer in 1..100');
    this.setup = setupProgramming(o, info, o.calibration, o.userLimits);
    const specs = this.setup.levels;
    // Jobs look a level's gates up by its level number; a net may program a subset of a CDF's
    // levels (e.g. levels 0 and 3 of 4), whose gates the setup lists in order: index them by level.
    const byLevel = (xs?: number[]) => xs && specs.reduce<number[]>((a, sp, i) => ((a[sp.level] = xs[i]), a), []);
    this.gates = { ispvaGates_V: byLevel(this.setup.ispvaGates_V), startGates_V: byLevel(this.setup.startGates_V), retryGates_V: byLevel(this.setup.retryGates_V) };
  }

  /** Records the run's start (or checks a resume against it). */
  begin(): void {
    const o = this.o;
    const cells = o.planned.cells;
    this.ctx.begin({
      kind: 'program-net',
      params: { ...o.describe, algo: o.algo, step_V: o.step_V, levels: o.levels, levelTargets_A: this.setup.levels.map((x) => x.target_A), levelSpecs: this.setup.levels, ispvaGates_V: this.setup.ispvaGates_V, startGates_V: this.setup.startGates_V, retryGates_V: this.setup.retryGates_V, relax_s: o.relax_s, refreshAfter_s: o.refreshAfter_s, ...(o.refreshBudget !== undefined ? { refreshBudget: o.refreshBudget } : {}), reads: this.k, arrays: o.arrays, tiles: o.planned.tiles, cells, calibration: o.calibration?.id, config: this.setup.config },
      board: this.board.info(),
      calibration: this.board.info().calibration,
      setup: { sources: this.setup.sources, notes: this.setup.notes, predicted: this.setup.predicted },
    });
  }

  get levels(): LevelSpec[] {
    return this.setup.levels;
  }

  /** Programs one tile and reads it back K times, or takes it from the record when it is complete there. */
  async tile(t: Tile): Promise<TileReadback> {
    if (t.index !== this.next || t.array !== this.o.arrays[t.index % this.o.arrays.length]) throw new Error(`internal: tile ${t.index} out of order (expected tile ${this.next} on array ${this.o.arrays[this.next % this.o.arrays.length]})`);
    this.next++;
    const used = this.used.get(t.array) ?? new Uint8Array(S * S);
    this.used.set(t.array, used);
    const step = tileStep(t.index);
    const specs = this.setup.levels;
    const cfg = this.setup.config;
    const jobs = [];
    for (let k = 0; k < t.levels.length; k++) {
      if (t.levels[k] === UNUSED) continue;
      const spec = specs[t.levels[k]];
      if (!spec) throw new InvalidArgumentError('levels', this.o.levels, `tile ${t.index} asks for level ${t.levels[k]}`);
      const cell = { array: t.array, row: Math.floor(k / S), col: k % S };
      // A cell programmed by an earlier tile of this run (arrays are reused) holds a filament too.
      const formed = this.o.knownFormed?.has(cellKey(cell)) || used[k] === 1;
      jobs.push({ ...levelJob(cfg, spec, cell, this.gates, undefined, formed), step });
    }
    for (const j of jobs) used[j.cell.row * S + j.cell.col] = 1;
    const ledger = this.ctx.ledger;
    const stored = jobs.every((j) => ledger.done(step, j.cell) && ledger.readbacks(step, j.cell).length >= this.k);
    if (stored) {
      this.ctx.emit({ type: 'warning', code: 'resume', message: `resuming: ${step} (${t.layerName}) is programmed and read back in the record: taken from it, not touched` });
      return this.summarize(t, jobs, (j) => ledger.readbacks(step, j.cell).filter((v): v is number => v !== null), true);
    }
    this.checkArrayHoldsTile(t);
    const signal = this.o.engine?.signal;
    const byKey = await programCells(this.board, this.ctx, jobs, { ...this.o.engine, limits: this.o.userLimits, phase: `tile ${t.index + 1}/${this.o.planned.tiles}` });
    const recheck = { cfg, specs, gates: this.gates, engine: { ...this.o.engine, limits: this.o.userLimits }, signal, within: step };
    if (this.o.reverify) this.reverified.push({ tile: t.index, ...(await reverifyCells(this.board, this.ctx, byKey, { ...recheck, spec: this.o.reverify })) });
    if (this.o.refreshAfter_s) this.refreshed.push({ tile: t.index, ...(await reverifyCells(this.board, this.ctx, byKey, { ...recheck, spec: { after_s: this.o.refreshAfter_s, passes: 1 }, mode: 'refresh', budget: this.o.refreshBudget })) });
    if (this.o.relax_s) await waitAbortable(this.board, this.o.relax_s, signal);
    checkAbort(signal);
    const cols = this.board.info().cols;
    const reads: Float64Array[] = [];
    for (let r = 0; r < this.k; r++) reads.push(await this.board.readArray(t.array, { vread_V: cfg.igvva.vread_V }));
    const values = new Map<string, number[]>();
    for (const j of jobs) {
      const i = j.cell.row * cols + j.cell.col;
      const got: number[] = [];
      for (const rb of reads) {
        const why = unusableRead(rb[i]);
        this.ctx.emit({ type: 'read', cell: j.cell, vread_V: cfg.igvva.vread_V, current_A: why ? null : rb[i], phase: this.o.relax_s ? 'relax' : 'readback', level: j.level, step, ...(this.o.relax_s ? { relax_s: this.o.relax_s } : {}), ...(why ? { unusable: why } : {}) });
        if (!why) got.push(rb[i]);
      }
      values.set(cellKey(j.cell), got);
    }
    const out = this.summarize(t, jobs, (j) => values.get(cellKey(j.cell))!, false);
    this.ctx.commit(true);
    return out;
  }

  /** A tile to be (re)programmed or re-read must be the last its array received in the record. */
  private checkArrayHoldsTile(t: Tile): void {
    if (!this.ctx.resume) return;
    const touched = (this.touched ??= this.ctx.ledger.steps());
    const A = this.o.arrays.length;
    for (const step of touched) {
      const m = /^tile (\d+)$/.exec(step);
      const index = m ? Number(m[1]) - 1 : -1;
      if (index > t.index && this.o.arrays[index % A] === t.array)
        throw new InvalidArgumentError('--resume', this.ctx.runId, `the record has ${step} on array ${t.array} but ${tileStep(t.index)} not read back: the array no longer holds it`);
    }
  }

  /** The tile's read-back (the mean of each cell's reads), its failures and out-of-band cells. */
  private summarize(t: Tile, jobs: { cell: { array: number; row: number; col: number }; level: number }[], readsOf: (j: { cell: { array: number; row: number; col: number } }) => number[], fromRecord: boolean): TileReadback {
    const step = tileStep(t.index);
    const specs = this.setup.levels;
    const readback_A = new Float32Array(S * S).fill(NaN);
    const notOk = new Uint8Array(S * S);
    const cells: TileReadback['cells'] = [];
    let pulses = 0;
    let misplaced = 0;
    let failed = 0;
    for (const j of jobs) {
      const d = this.ctx.ledger.done(step, j.cell);
      const st = d?.outcome.status ?? 'missing';
      // Every attempt's pulses (a resumed tile's included), as the record holds them.
      const p = this.ctx.ledger.history(step, j.cell).pulses;
      pulses += p;
      const idx = j.cell.row * S + j.cell.col;
      const rs = readsOf(j).slice(-this.k);
      const v = rs.length ? rs.reduce((a, b) => a + b, 0) / rs.length : NaN;
      readback_A[idx] = v;
      if (st !== 'ok') {
        failed++;
        notOk[idx] = 1;
        this.failedCells.add(cellKey(j.cell));
      }
      const [lo, hi] = specs[t.levels[idx]].band_A;
      if (st === 'ok' && (v < lo || v > hi)) {
        misplaced++;
        if (!fromRecord) this.ctx.emit({ type: 'warning', code: 'out-of-band', cell: j.cell, message: `${step}: cell ${cellKey(j.cell)} programmed to level ${j.level} reads ${(v * 1e6).toFixed(2)} uA, outside its band` });
      }
      cells.push({ level: specs[t.levels[idx]].level, current_A: v, pulses: p, status: st });
    }
    return { tile: t.index, layer: t.layerName, array: t.array, readback_A, pulses, misplaced, failed, notOk, fromRecord, cells };
  }

  /** The run's totals over the tiles programmed. */
  result(tiles: TileReadback[]): ProgramNetResult {
    const specs = this.setup.levels;
    const statuses = tiles.flatMap((t) => t.cells.map((c) => c.status));
    return {
      levels: specs,
      tiles,
      cells: tiles.reduce((s, t) => s + t.cells.length, 0),
      totalPulses: tiles.reduce((s, t) => s + t.pulses, 0),
      misplaced: tiles.reduce((s, t) => s + t.misplaced, 0),
      failed: tiles.reduce((s, t) => s + t.failed, 0),
      stats: specs.map((s) => levelStats(s, tiles.flatMap((t) => t.cells.filter((c) => c.level === s.level)))),
      summary: runSummary(statuses, this.o.minSuccess),
      setup: { sources: this.setup.sources, notes: this.setup.notes, predicted: this.setup.predicted, limits: this.setup.limits },
      ...(this.o.reverify ? { reverify: this.reverified } : {}),
      ...(this.o.refreshAfter_s ? { refresh: this.refreshed } : {}),
    };
  }
}

