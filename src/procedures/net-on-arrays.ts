/**
 * The closing experiment of the inference pipeline: program a quantized net onto (emulated or
 * real) arrays, read every tile back, and evaluate the net from the read-back currents; beside
 * it, the Monte Carlo prediction from a device model (e.g. the level-CDF measured on the same
 * board), so one sees where the hardware result falls in the predicted distribution. Cells the
 * board's store knows are bad are left out of the placement (placement.ts); with
 * `fineTune` the net is programmed layer by layer with chip-in-the-loop fine-tuning
 * (program-net-progressive.ts).
 */
import type { Board, SafetyLimits } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { Calibration } from '../../calibration/calibration.js';
import { defaultLevels, type LevelSpec } from '../analysis/levels.js';
import type { RunContext } from '../engine/run-context.js';
import type { EngineOptions } from '../engine/run-engine.js';
import { NetProgrammer, type ProgramNetResult, type TileReadback } from './program-net.js';
import type { ProgramOptions } from './program-config.js';
import { groundedAfter } from './board-phases.js';
import { type CrossbarNet, weightOps } from '../inference/crossbar-net.js';
import type { Split } from '../inference/datasets.js';
import { mapNet, mappingReport, type MappedLayer, type MappingReport, type Scheme } from '../inference/mapping.js';
import type { Tf } from '../inference/tf-backend.js';
import { tileNet, type Tile } from '../inference/tiling.js';
import { placeTiles, type LayerShape, type PlacementReport } from '../inference/placement.js';
import type { DeviceModel } from '../inference/device-models.js';
import type { BnMergeReport } from '../inference/load-net.js';
import { evaluateReadback, type ReadbackEvaluation } from '../inference/readback-eval.js';
import type { FineTuneReport } from '../inference/fine-tune.js';
import { digest } from '../../lib/digest.js';
import type { KeptNet } from './infer-on-board.js';

export type { PredictionModel } from '../inference/readback-eval.js';

export interface NetOnArraysOptions extends ProgramOptions {
  /** Where the model came from (recorded with the run). */
  model: string;
  dataset: string;
  net: CrossbarNet;
  test: Split;
  images?: number;
  scheme: Scheme;
  /** Quantile of each layer's weights the levels span (default 1). */
  clip?: number;
  /** Level values for quantization and the Monte Carlo prediction. */
  device: DeviceModel;
  /** Levels of the programming level set the device's levels were picked from (the CDF's count). */
  programLevels: number;
  /** Their programming targets (a level-CDF's own); default the published level set. */
  programSpecs?: LevelSpec[];
  /** The board's calibration and the user's limits, for the preflight. */
  calibration?: Calibration;
  userLimits?: Partial<SafetyLimits>;
  minSuccess?: number;
  trials: number;
  seed: number;
  arrays?: number[];
  engine?: EngineOptions;
  mcEngine?: 'auto' | 'native' | 'js' | 'tfjs';
  /** Relaxation wait before each tile's read-back (the device model should be aged alike). */
  relax_s?: number;
  /** Refresh each tile this long after programming it: only the cells out of their decision band are programmed again (program-net.ts). */
  refreshAfter_s?: number;
  /** With refreshAfter_s: rewrite at most this share of each tile's cells, the farthest from target first. */
  refreshBudget?: number;
  /** Read-back reads per cell, averaged. Default 1. */
  reads?: number;
  /** Cells the board's store knows are bad ("array:row:col"): no weight is placed on them. */
  avoid?: ReadonlySet<string>;
  /** More to record in the run's parameters. */
  describe?: Record<string, unknown>;
  /** `--keep`: store the layers' scaling and the tiles' places with the result, for `rram infer --on-board`. */
  keep?: boolean;
  /** A binary net's batch-norm merge and its digital accuracy before and after (recorded in the result). */
  bnMerge?: BnMergeReport;
  signal?: AbortSignal;
}

/** What a refresh did over all tiles: programmed cells checked, of them outside their decision band and programmed again (`rewritten`, its share of `checked`), ok again, pulses. */
export interface RefreshSummary {
  after_s: number;
  checked: number;
  rewritten: number;
  share: number;
  ok: number;
  pulses: number;
  /** With a budget: its share, and the cells left out of band because it was spent. */
  budget?: number;
  leftOutOfBand?: number;
}

export function refreshSummary(after_s: number, perTile: NonNullable<ProgramNetResult['refresh']>, budget?: number): RefreshSummary {
  const p = perTile.flatMap((t) => t.passes);
  const sum = (k: 'checked' | 'outside' | 'ok' | 'pulses') => p.reduce((a, x) => a + x[k], 0);
  const left = p.some((x) => x.leftOutOfBand !== undefined) ? { leftOutOfBand: p.reduce((a, x) => a + (x.leftOutOfBand ?? 0), 0) } : {};
  return { after_s, checked: sum('checked'), rewritten: sum('outside'), share: sum('outside') / Math.max(1, sum('checked')), ok: sum('ok'), pulses: sum('pulses'), ...(budget !== undefined ? { budget } : {}), ...left };
}

export interface NetOnArraysResult extends ReadbackEvaluation {
  format: 'rram-hil/program-net-result';
  version: 1;
  runId: string;
  model: string;
  dataset: string;
  images: number;
  /** Seed of the Monte Carlo (prediction and posterior) and the weight-range quantile of the mapping. */
  seed: number;
  clip: number;
  bnMerge?: BnMergeReport;
  levels: number;
  levelValues_A: number[];
  levelTargets_A: number[];
  mapping: MappingReport;
  device: string;
  tfBackend: string;
  /** Known-bad cells left out of the placement (yield-aware mapping): the store's, and the cells this run's earlier tiles left unprogrammed. */
  placement: NetPlacement;
  programming: { algo: string; step_V?: number; relax_s?: number; reads: number; arrays: number[]; tiles: number; cells: number; pulses: number; misplaced: number; failed: number; elapsed_s: number; summary: ProgramNetResult['summary']; stats: ProgramNetResult['stats']; setup: ProgramNetResult['setup']; refresh?: RefreshSummary };
  tiles: { tile: number; layer: string; array: number; pulses: number; misplaced: number; failed: number; fromRecord: boolean }[];
  /** With --fine-tune progressive: the per-layer record and the final table. */
  fineTune?: FineTuneReport;
  /** With --keep: what `rram infer --on-board` drives the programmed tiles with. */
  onBoard?: KeptNet;
}

/** The programmed net as `rram infer --on-board` needs it (program-net --keep). */
export function keptNet(mapped: MappedLayer[], tiles: Tile[]): KeptNet {
  return {
    layers: mapped.map((l) => ({ name: l.name, scheme: l.scheme, rows: l.rows, cols: l.cols, physCols: l.physCols, alpha: l.alpha, ...(l.ref !== undefined ? { ref: l.ref } : {}) })),
    tiles: tiles.map((t) => ({ layer: t.layer, array: t.array, row0: t.row0, col0: t.col0, rows: t.rows, cols: t.cols, rowAt: [...t.rowAt], colAt: [...t.colAt] })),
    vread_V: 0.2,
  };
}

/** What programming a net needs, decided before anything is sent. */
export interface NetPlan {
  nLevels: number;
  levelSpecs: LevelSpec[];
  arrays: number[];
  images: number;
  shapes: LayerShape[];
  /** The whole net placed around the store's known-bad cells (the plan recorded with the run). */
  planned: PlacementReport;
  placement: NetPlacement;
  /** Tiles placed so far (placeLayer). */
  placed: number;
}

export interface NetPlacement extends PlacementReport {
  /** Cells left out because an earlier tile of this run left them unprogrammed (placed around layer by layer). */
  inRun: number;
}

/** Levels, arrays and the placement of every tile (the known-bad cells left out), checked. */
export function planNet(board: Board, o: NetOnArraysOptions): NetPlan {
  const nLevels = o.device.nominal.length;
  if (o.programLevels > 8) throw new InvalidArgumentError('device', o.device.text, `has ${o.programLevels} levels; programming supports 2..8`);
  const programSpecs = o.programSpecs ?? defaultLevels(o.programLevels);
  if (programSpecs.length !== o.programLevels) throw new InvalidArgumentError('device', o.device.text, `gives ${programSpecs.length} programming targets for ${o.programLevels} levels`);
  const levelSpecs = (o.device.levelsUsed ?? programSpecs.map((_, k) => k)).map((k) => programSpecs[k]);
  if (levelSpecs.length !== nLevels) throw new InvalidArgumentError('levels', nLevels, `the device model has ${nLevels} levels but ${levelSpecs.length} programming targets`);
  const arrays = o.arrays ?? Array.from({ length: board.info().arrays }, (_, k) => k);
  for (const a of arrays) if (!Number.isInteger(a) || a < 0 || a >= board.info().arrays) throw new InvalidArgumentError('arrays', a, `board has arrays 0..${board.info().arrays - 1}`);
  // Shapes only: a layer's rows x physical columns do not depend on its weights.
  const shapes = mapNet(weightOps(o.net), o.device.nominal, o.scheme, { clip: o.clip }).map(({ name, rows, physCols }) => ({ name, rows, physCols }));
  const { report } = placeTiles(shapes, arrays, o.avoid);
  // Arrays are reused when there are fewer than tiles: a later tile overwrites an earlier one.
  if (o.keep && report.tiles > arrays.length) throw new InvalidArgumentError('keep', true, `the net takes ${report.tiles} tiles and the run ${arrays.length} arrays: every tile must stay programmed on its own array (an emulated board: --arrays ${report.tiles})`);
  return { nLevels, levelSpecs, arrays, images: Math.min(o.images ?? o.test.n, o.test.n), shapes, planned: report, placement: { knownBad: report.knownBad, avoided: 0, tiles: 0, tilesPlain: 0, layers: [], inRun: 0 }, placed: 0 };
}

/**
 * Layer li's tiles, placed when it is its turn: around the store's known-bad cells and the cells
 * earlier tiles of this run left unprogrammed (`failed`, from the record: a resume places alike).
 */
export function placeLayer(plan: NetPlan, o: NetOnArraysOptions, mapped: MappedLayer[], li: number, failed: ReadonlySet<string>): Tile[] {
  const avoid = new Set([...(o.avoid ?? []), ...failed]);
  const { tiles, report } = placeTiles([plan.shapes[li]], plan.arrays, avoid, { tile: plan.placed, layer: li });
  const store = placeTiles([plan.shapes[li]], plan.arrays, o.avoid, { tile: plan.placed, layer: li }).report;
  plan.placed += tiles.length;
  const p = plan.placement;
  p.avoided += store.avoided;
  p.inRun += report.avoided - store.avoided;
  p.tiles += report.tiles;
  p.tilesPlain += report.tilesPlain;
  p.layers.push(...report.layers);
  return tileNet(mapped, tiles);
}

/** The net's content (every op, weights and digital scale / shift by their bytes): a resume after the model file changed is refused. */
export function netDigest(net: CrossbarNet): string {
  return digest(JSON.stringify(net, (_k, v: unknown) => (v instanceof Float32Array ? digest(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) : v)));
}

/** The programmer of a planned net, with the run's parameters (placement included: a resume must place alike). */
export function netProgrammer(board: Board, ctx: RunContext, o: NetOnArraysOptions, plan: NetPlan, describe: Record<string, unknown> = {}): NetProgrammer {
  return new NetProgrammer(board, ctx, {
    ...o,
    levels: plan.nLevels,
    levelSpecs: plan.levelSpecs,
    planned: { tiles: plan.planned.tiles, cells: plan.shapes.reduce((s, l) => s + l.rows * l.physCols, 0) },
    arrays: plan.arrays,
    reads: o.reads,
    engine: { ...o.engine, signal: o.signal },
    describe: { ...o.describe, ...describe, model: o.model, dataset: o.dataset, mapping: o.scheme, clip: o.clip ?? 1, device: o.device.text, levelValues_A: o.device.nominal, placement: { avoid: [...(o.avoid ?? [])].sort(), knownBad: plan.planned.knownBad }, inputs: { 'model contents (--model)': netDigest(o.net) } },
  });
}

/** The result from the programmed tiles: read-back evaluation, prediction, programming totals. */
export async function netResult(tf: Tf, tfBackend: string, ctx: RunContext, o: NetOnArraysOptions, plan: NetPlan, net: CrossbarNet, mapped: MappedLayer[], tiles: Tile[], prog: ProgramNetResult, elapsed_s: number): Promise<NetOnArraysResult> {
  const readback = prog.tiles.map((t) => t.readback_A);
  const notOk = prog.tiles.map((t) => t.notOk);
  const ev = await evaluateReadback(tf, tfBackend, net, o.test, mapped, tiles, readback, notOk, o.device, { scheme: o.scheme, clip: o.clip, trials: o.trials, seed: o.seed, images: plan.images, mcEngine: o.mcEngine, signal: o.signal, source: `run ${ctx.runId}` });
  return {
    format: 'rram-hil/program-net-result',
    version: 1,
    runId: ctx.runId,
    model: o.model,
    dataset: o.dataset,
    images: plan.images,
    seed: o.seed,
    clip: o.clip ?? 1,
    ...(o.bnMerge ? { bnMerge: o.bnMerge } : {}),
    levels: plan.nLevels,
    levelValues_A: o.device.nominal,
    levelTargets_A: plan.levelSpecs.map((s) => s.target_A),
    mapping: mappingReport(mapped),
    device: o.device.text,
    tfBackend,
    placement: plan.placement,
    ...ev,
    programming: { algo: o.algo, step_V: o.step_V, relax_s: o.relax_s, reads: o.reads ?? 1, arrays: plan.arrays, tiles: tiles.length, cells: prog.cells, pulses: prog.totalPulses, misplaced: prog.misplaced, failed: prog.failed, elapsed_s, summary: prog.summary, stats: prog.stats, setup: prog.setup, ...(prog.refresh ? { refresh: refreshSummary(o.refreshAfter_s!, prog.refresh, o.refreshBudget) } : {}) },
    tiles: prog.tiles.map(({ tile, layer, array, pulses, misplaced, failed, fromRecord }) => ({ tile, layer, array, pulses, misplaced, failed, fromRecord })),
    ...(o.keep ? { onBoard: keptNet(mapped, tiles) } : {}),
  };
}

/** Every tile in order, then the evaluation: the plain programming of a net. */
export async function netOnArrays(tf: Tf, tfBackend: string, board: Board, ctx: RunContext, o: NetOnArraysOptions): Promise<NetOnArraysResult> {
  const plan = planNet(board, o);
  const mapped = mapNet(weightOps(o.net), o.device.nominal, o.scheme, { clip: o.clip });
  const p = netProgrammer(board, ctx, o, plan);
  p.begin();
  const t0 = performance.now();
  const tiles: Tile[] = [];
  const prog = await groundedAfter(board, async () => {
    const out: TileReadback[] = [];
    for (let li = 0; li < mapped.length; li++)
      for (const t of placeLayer(plan, o, mapped, li, p.failedCells)) {
        tiles.push(t);
        out.push(await p.tile(t));
      }
    return p.result(out);
  });
  return netResult(tf, tfBackend, ctx, o, plan, o.net, mapped, tiles, prog, (performance.now() - t0) / 1000);
}
