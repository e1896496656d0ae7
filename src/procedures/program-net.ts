/**
 * Program a network's tiles onto a board's arrays by write-verify and read each one back.
 * With fewer arrays than tiles the arrays are reused: a tile is programmed and read back before
 * the next one overwrites its array, and the evaluation uses every tile's read-back (what a lab
 * with one 4-kbit array can do). Cells a tile does not use are never pulsed.
 */
import type { Board, SafetyLimits } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { Calibration } from '../../calibration/calibration.js';
import { levelStats, type LevelSpec, type LevelStats } from '../analysis/levels.js';
import type { RunContext } from '../engine/run-context.js';
import type { EngineOptions } from '../engine/run-engine.js';
import { cellKey } from '../engine/events.js';
import { UNUSED, type Tile } from '../inference/tiling.js';
import { ARRAY_SIDE as S } from '../inference/mapping.js';
import { runSummary, type RunSummary } from './program-array.js';
import { programCells } from './program-cells.js';
import { unusableRead } from '../engine/readings.js';
import { levelJob } from './level-job.js';
import { reverifyCells, type ReverifyReport } from './reverify.js';
import type { ProgramOptions } from './program-config.js';
import { setupProgramming, type ProgramSetup } from './program-setup.js';
import { checkAbort, groundedAfter, waitAbortable } from './board-phases.js';

export interface ProgramNetOptions extends ProgramOptions {
  levels: number;
  /** Programming target of each quantized level index (default: defaultLevels(levels)). */
  levelSpecs?: LevelSpec[];
  tiles: Tile[];
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
  /** What is being programmed (model, mapping, ...), recorded in the run's parameters. */
  describe: Record<string, unknown>;
}

export interface TileReadback {
  tile: number;
  layer: string;
  array: number;
  /** Tile-sized (64x64) read currents (A), row-major; unused cells read as they are. */
  readback_A: Float32Array;
  pulses: number;
  /** Used cells whose read-back falls outside their level's band. */
  misplaced: number;
  failed: number;
  /** Tile-sized: 1 where a used cell did not end programmed (its value is then what it reads, not its level's). */
  notOk: Uint8Array;
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

export async function programNet(board: Board, ctx: RunContext, o: ProgramNetOptions): Promise<ProgramNetResult> {
  const info = board.info();
  if (info.rows < S || info.cols < S) throw new InvalidArgumentError('board', `${info.rows}x${info.cols}`, `net tiles need ${S}x${S} arrays`);
  if (!o.arrays.length) throw new InvalidArgumentError('arrays', '', 'give at least one array');
  for (const a of o.arrays) if (!Number.isInteger(a) || a < 0 || a >= info.arrays) throw new InvalidArgumentError('arrays', a, `board has arrays 0..${info.arrays - 1}`);
  if (o.relax_s !== undefined && !(o.relax_s > 0 && Number.isFinite(o.relax_s))) throw new InvalidArgumentError('relax', o.relax_s, 'must be a positive time');
  if (o.refreshAfter_s !== undefined && !(o.refreshAfter_s > 0 && Number.isFinite(o.refreshAfter_s))) throw new InvalidArgumentError('refresh-after', o.refreshAfter_s, 'must be a positive time');
  const setup = setupProgramming(o, info, o.calibration, o.userLimits);
  const cfg = setup.config;
  const specs = setup.levels;
  // Jobs look a level's gates up by its level number; a net may program a subset of a CDF's
  // levels (e.g. levels 0 and 3 of 4), whose gates the setup lists in order: index them by level.
  const byLevel = (xs?: number[]) => xs && specs.reduce<number[]>((a, sp, i) => ((a[sp.level] = xs[i]), a), []);
  const gates = { ispvaGates_V: byLevel(setup.ispvaGates_V), startGates_V: byLevel(setup.startGates_V) };
  const cells = o.tiles.reduce((s, t) => s + t.used, 0);
  ctx.begin({
    kind: 'program-net',
    params: { ...o.describe, algo: o.algo, step_V: o.step_V, levels: o.levels, levelTargets_A: specs.map((x) => x.target_A), ispvaGates_V: setup.ispvaGates_V, startGates_V: setup.startGates_V, relax_s: o.relax_s, refreshAfter_s: o.refreshAfter_s, arrays: o.arrays, tiles: o.tiles.length, cells, calibration: o.calibration?.id, config: cfg },
    board: info,
    calibration: info.calibration,
    setup: { sources: setup.sources, notes: setup.notes, predicted: setup.predicted },
  });
  const signal = o.engine?.signal;
  return groundedAfter(board, async () => {
    const out: TileReadback[] = [];
    // Keyed by the level's own number: a net may use a subset of a level set (e.g. levels 0, 2, 5, 7).
    const byLevel = new Map<number, { current_A: number; pulses: number; status: string }[]>(specs.map((s) => [s.level, []]));
    const statuses: string[] = [];
    const reverified: (ReverifyReport & { tile: number })[] = [];
    const refreshed: (ReverifyReport & { tile: number })[] = [];
    for (const t of o.tiles) {
      const array = o.arrays[t.index % o.arrays.length];
      const jobs = [];
      const band = new Map<string, [number, number]>();
      for (let k = 0; k < t.levels.length; k++) {
        if (t.levels[k] === UNUSED) continue;
        const spec = specs[t.levels[k]];
        if (!spec) throw new InvalidArgumentError('levels', o.levels, `tile ${t.index} asks for level ${t.levels[k]}`);
        const cell = { array, row: Math.floor(k / S), col: k % S };
        // A cell programmed by an earlier tile of this run (arrays are reused) holds a filament too.
        const formed = o.knownFormed?.has(cellKey(cell)) || o.tiles.slice(0, o.tiles.indexOf(t)).some((u) => o.arrays[u.index % o.arrays.length] === array && u.levels[k] !== UNUSED);
        const job = { ...levelJob(cfg, spec, cell, gates, undefined, formed), step: `tile ${t.index + 1}` };
        band.set(cellKey(job.cell), spec.band_A);
        jobs.push(job);
      }
      const byKey = await programCells(board, ctx, jobs, { ...o.engine, limits: o.userLimits, phase: `tile ${t.index + 1}/${o.tiles.length}` });
      const recheck = { cfg, specs, gates, engine: { ...o.engine, limits: o.userLimits }, signal, within: `tile ${t.index + 1}` };
      if (o.reverify) reverified.push({ tile: t.index, ...(await reverifyCells(board, ctx, byKey, { ...recheck, spec: o.reverify })) });
      if (o.refreshAfter_s) refreshed.push({ tile: t.index, ...(await reverifyCells(board, ctx, byKey, { ...recheck, spec: { after_s: o.refreshAfter_s, passes: 1 }, mode: 'refresh' })) });
      if (o.relax_s) await waitAbortable(board, o.relax_s, signal);
      checkAbort(signal);
      const rb = await board.readArray(array, { vread_V: cfg.igvva.vread_V });
      let pulses = 0;
      let misplaced = 0;
      let failed = 0;
      const notOk = new Uint8Array(S * S);
      for (const j of jobs) {
        const e = byKey.get(cellKey(j.cell));
        const st = e?.outcome.status ?? 'missing';
        pulses += e?.outcome.pulses ?? 0;
        if (st !== 'ok') {
          failed++;
          notOk[j.cell.row * S + j.cell.col] = 1;
        }
        statuses.push(st);
        const i = j.cell.row * info.cols + j.cell.col;
        const [lo, hi] = band.get(cellKey(j.cell))!;
        if (st === 'ok' && (rb[i] < lo || rb[i] > hi)) misplaced++;
        byLevel.get(j.level)!.push({ current_A: rb[i], pulses: e?.outcome.pulses ?? 0, status: st });
        const why = unusableRead(rb[i]);
        ctx.emit({ type: 'read', cell: j.cell, vread_V: cfg.igvva.vread_V, current_A: why ? null : rb[i], phase: o.relax_s ? 'relax' : 'readback', level: j.level, step: j.step, ...(o.relax_s ? { relax_s: o.relax_s } : {}), ...(why ? { unusable: why } : {}) });
      }
      // The board's array may be larger than a tile: keep the tile's window.
      const window = new Float32Array(S * S);
      for (let r = 0; r < S; r++) for (let c = 0; c < S; c++) window[r * S + c] = rb[r * info.cols + c];
      out.push({ tile: t.index, layer: t.layerName, array, readback_A: window, pulses, misplaced, failed, notOk });
    }
    return {
      levels: specs,
      tiles: out,
      cells,
      totalPulses: out.reduce((s, t) => s + t.pulses, 0),
      misplaced: out.reduce((s, t) => s + t.misplaced, 0),
      failed: out.reduce((s, t) => s + t.failed, 0),
      stats: specs.map((s) => levelStats(s, byLevel.get(s.level)!)),
      summary: runSummary(statuses, o.minSuccess),
      setup: { sources: setup.sources, notes: setup.notes, predicted: setup.predicted, limits: setup.limits },
      ...(o.reverify ? { reverify: reverified } : {}),
      ...(o.refreshAfter_s ? { refresh: refreshed } : {}),
    };
  });
}
