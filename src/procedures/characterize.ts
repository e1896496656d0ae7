/**
 * Level-CDF characterization (seed 000, Fig. 2b): program M cells per level for N levels,
 * read every cell K times, optionally re-read after relaxation waits, and build the dataset
 * described in docs/formats.md.
 */
import { mvmProbeOrWarn, probeUnavailable, type MvmProbe } from './mvm-probe.js';
import type { Board, CellAddress, SafetyLimits } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { Calibration } from '../../calibration/calibration.js';
import { levelStats, overlap, sumFailures, type FailureCounts, type LevelSpec, type LevelStats, type Overlap } from '../analysis/levels.js';
import { mean } from '../analysis/stats.js';
import { levelTails, type LevelTails } from '../analysis/tails.js';
import { cellKey } from '../engine/events.js';
import type { CellLedger, CellResult } from '../engine/cell-ledger.js';
import type { RunContext } from '../engine/run-context.js';
import type { CellJob, EngineOptions } from '../engine/run-engine.js';
import { programCells } from './program-cells.js';
import { digest } from '../../lib/digest.js';
import type { ProgramConfig } from '../plans/program-cell.js';
import { levelJob } from './level-job.js';
import { reverifyCells, reverifyStep, type ReverifyReport } from './reverify.js';
import { unusableRead } from '../engine/readings.js';
import { Rng } from '../../lib/rng.js';
import type { ProgramOptions } from './program-config.js';
import { setupProgramming, type ProgramSetup } from './program-setup.js';
import { checkAbort, groundedAfter, waitAbortable } from './board-phases.js';

export interface CharacterizeOptions extends ProgramOptions {
  levels: number;
  cellsPerLevel: number;
  reads: number;
  /** Relaxation re-read times after the end of programming (s). */
  relax_s: number[];
  array?: number;
  /** These cells (levels x cellsPerLevel of them, levels interleaved) instead of a seeded pick: e.g. fresh cells for a benchmark. */
  cells?: CellAddress[];
  seed?: number;
  engine?: EngineOptions;
  /** The board's calibration (emulator's own, or fitted to a real board): derives ranges, checks the run. */
  calibration?: Calibration;
  /** User safety limits on top of the board's. */
  userLimits?: Partial<SafetyLimits>;
  /** The run fails (exit 3) below this share of programmed cells; preflight refuses predictions below it. Default 0.95. */
  minSuccess?: number;
  /** Repeat a recorded run's exact programming (a digital twin): its config, level targets and ISPVA gates, no preflight. */
  replay?: { config: ProgramConfig; levels: LevelSpec[]; ispvaGates_V?: number[]; startGates_V?: number[]; retryGates_V?: number[] };
  /** The command this run is one part of (`wv-bench`): such runs are never `run:latest`. */
  partOf?: string;
  /**
   * End with the MVM probe on a board offering the MVM (default true). Its reads draw read noise,
   * so what the same board measures afterwards sees another noise realization: false keeps a
   * run's board stream exactly as without the probe (tests whose later measurements are seeded).
   */
  mvmProbe?: boolean;
}

export interface CellRecord {
  array: number;
  row: number;
  col: number;
  status: string;
  /** Every pulse the record holds for the cell in this run: all attempts (a resumed run's too), re-verify passes included. */
  pulses: number;
  /** Processes that pulsed the cell (1 unless the run was interrupted while it was being programmed). */
  attempts: number;
  /** Of the pulses, those of unknown outcome (link loss, reboot, a process killed with them in flight). */
  unknownPulses: number;
  /** The cell conducted when pristine (not proof of a filament); formed and programmed where it could be. */
  leaky?: true;
  /** The cell was formed before this run (the store's history, or it read formed and answered RESET): not fresh. */
  preformed?: true;
  verify_A: number;
  finalStepped_V: number;
  /** Mean of the K read-back reads (A): the cell's CDF sample. */
  current_A: number;
  reads_A: number[];
  relax: { t_s: number; current_A: number }[];
  /**
   * Seconds from the cell's last verify (its cell-done) to the start of its array's first
   * read-back, by the clock the board's cells relax by (an emulator's virtual clock, the host's
   * for hardware): how long the fast relaxation acted before the read-back. Absent when unknown
   * (an emulator behind a link; a cell a resumed run finished before) and in runs whose delays
   * hold more than the programming (re-verify passes, a hold at a checkpoint, a link outage).
   * The fit sets the twin's time per operation from it (calibrate/fit-timing.ts).
   */
  readbackDelay_s?: number;
  /** The energy proxy of every pulse the record holds for the cell (docs/formats.md) and their widths added up. */
  energy_J: number;
  pulseTime_s: number;
}

export interface LevelCdfDataset {
  format: 'rram-hil/level-cdf';
  version: 2;
  runId: string;
  created: string;
  finished: string;
  board: ReturnType<Board['info']>;
  params: Record<string, unknown>;
  /** How the ranges were derived (sources, notes, calibration predictions). */
  setup: Pick<ProgramSetup, 'sources' | 'notes' | 'predicted' | 'limits'>;
  vread_V: number;
  /** Every cell of the run: programmed (status ok) or not, by reason; leaky cells counted apart (programmed or not). */
  summary: { cells: number; ok: number; successRate: number; failures: FailureCounts; minSuccess: number; belowThreshold: boolean; leaky: number; unknownPulses: number; attempts: number };
  levels: {
    spec: LevelSpec;
    stats: LevelStats;
    samples_A: number[];
    samples_S: number[];
    relax: { t_s: number; samples_A: number[]; stats: LevelStats }[];
    /** Every cell of the level: pulses mean/median/p99, success, pulse time, energy, spread after verify and at each time. */
    tails: LevelTails;
    cells: CellRecord[];
  }[];
  overlaps: Overlap[];
  /** With --reverify: each pass's count of cells checked, found outside their band, re-programmed. */
  reverify?: ReverifyReport;
  /** On a board offering the analog MVM: each programmed array read whole and through the MVM (mvm-probe.ts; what `rram calibrate` fits the wire resistance from). */
  mvmProbe?: MvmProbe[];
}

/** MVMs per probed array (every row at vread), averaged by the fit: MVM read noise. */
const MVM_PROBE_REPEATS = 4;

export function validateCharacterize(o: CharacterizeOptions, cellsAvailable: number): void {
  if (!Number.isInteger(o.levels) || o.levels < 2 || o.levels > 8) throw new InvalidArgumentError('levels', o.levels, 'must be an integer in 2..8');
  if (!Number.isInteger(o.cellsPerLevel) || o.cellsPerLevel < 1) throw new InvalidArgumentError('cells-per-level', o.cellsPerLevel, 'must be a positive integer');
  if (o.levels * o.cellsPerLevel > cellsAvailable) throw new InvalidArgumentError('cells-per-level', o.cellsPerLevel, `levels x cells-per-level = ${o.levels * o.cellsPerLevel} exceeds the ${cellsAvailable} cells available`);
  if (!Number.isInteger(o.reads) || o.reads < 1 || o.reads > 100) throw new InvalidArgumentError('reads', o.reads, 'must be an integer in 1..100');
  for (const t of o.relax_s) if (!(t > 0 && Number.isFinite(t))) throw new InvalidArgumentError('relax', t, 'times must be positive');
  if (o.minSuccess !== undefined && !(o.minSuccess >= 0 && o.minSuccess <= 1)) throw new InvalidArgumentError('min-success', o.minSuccess, 'must be a fraction in 0..1');
}

/** Spread the N*M cells over the array(s) at random (seeded), levels interleaved. */
export function pickCells(n: number, arrays: number[], rows: number, cols: number, seed: number): CellAddress[] {
  const all: CellAddress[] = [];
  for (const array of arrays) for (let row = 0; row < rows; row++) for (let col = 0; col < cols; col++) all.push({ array, row, col });
  return new Rng(seed).shuffle(all).slice(0, n);
}

export async function characterize(board: Board, ctx: RunContext, o: CharacterizeOptions): Promise<LevelCdfDataset> {
  const info = board.info();
  const first = o.array ?? 0;
  if (!Number.isInteger(first) || first < 0 || first >= info.arrays) throw new InvalidArgumentError('array', first, `board has arrays 0..${info.arrays - 1}`);
  const arrays = Array.from({ length: info.arrays - first }, (_, k) => first + k);
  validateCharacterize(o, arrays.length * info.rows * info.cols);
  // Preflight: everything derived and checked before run-start, so a refused run sends nothing.
  const setup: ProgramSetup = o.replay
    ? { config: o.replay.config, levels: o.replay.levels, ispvaGates_V: o.replay.ispvaGates_V, startGates_V: o.replay.startGates_V, retryGates_V: o.replay.retryGates_V, limits: info.limits, sources: { all: 'replay of a recorded run' }, notes: [], predicted: null }
    : setupProgramming({ ...o, linked: !!board.linkEvents }, info, o.calibration, o.userLimits);
  const cfg = setup.config;
  const specs = setup.levels;
  if (o.cells && o.cells.length !== o.levels * o.cellsPerLevel) throw new InvalidArgumentError('cells', o.cells.length, `must list levels x cells-per-level = ${o.levels * o.cellsPerLevel} cells`);
  const cells = o.cells ?? pickCells(o.levels * o.cellsPerLevel, arrays, info.rows, info.cols, o.seed ?? 1);
  const created = new Date().toISOString();
  // Inputs by content: a resume with another cell list or calibration is refused, naming it.
  const inputs = { 'cell list': digest(cells.map(cellKey).join(' ')), ...(o.calibration ? { 'calibration contents': digest(o.calibration) } : {}) };
  const params = { ...o, knownFormed: undefined, cells: undefined, cellsGiven: o.cells ? o.cells.length : undefined, replay: undefined, calibration: o.calibration?.id, engine: undefined, step_V: cfg.algo === 'ispva' ? cfg.ispva.vteStep_V : cfg.igvva.vgStep_V, levelTargets_A: specs.map((x) => x.target_A), levelSpecs: specs, ispvaGates_V: setup.ispvaGates_V, startGates_V: setup.startGates_V, retryGates_V: setup.retryGates_V, config: cfg, inputs };
  ctx.begin({ kind: 'characterize', params, board: info, calibration: info.calibration, setup: { sources: setup.sources, notes: setup.notes, predicted: setup.predicted } });
  const signal = o.engine?.signal;
  return groundedAfter(board, async () => {
    const jobs: CellJob[] = cells.map((cell, k) => {
      const spec = specs[k % o.levels];
      return levelJob(cfg, spec, cell, setup, undefined, o.knownFormed?.has(cellKey(cell)));
    });
    // Re-verify passes wait and re-program between the verify and the read-back: no delay is the programming's then.
    const clock = o.reverify ? undefined : boardClock(board);
    // When each cell's last verify ended, by the board's clock (cells a resumed run finished before are not timed).
    const doneAt = new Map<string, number>();
    // A hold at a checkpoint or a link outage adds time the fit's replay does not simulate: no delays then.
    let interrupted = false;
    const timing = clock && ctx.events$.subscribe((e) => {
      if (e.type === 'cell-done') doneAt.set(cellKey(e.cell), clock());
      else if (e.type === 'warning' && e.code && INTERRUPTIONS.has(e.code)) interrupted = true;
    });
    const checkpoint = ctx.checkpoint;
    if (clock)
      ctx.checkpoint = async () => {
        const t0 = clock();
        await checkpoint();
        if (clock() - t0 > HOLD_S) interrupted = true;
      };
    let results: Map<string, CellResult>;
    let reverify: Awaited<ReturnType<typeof reverifyCells>> | undefined;
    try {
      results = await programCells(board, ctx, jobs, { ...o.engine, limits: o.userLimits });
      reverify = o.reverify ? await reverifyCells(board, ctx, results, { spec: o.reverify, cfg, specs, gates: setup, engine: { ...o.engine, limits: o.userLimits }, signal }) : undefined;
    } finally {
      timing?.unsubscribe();
      ctx.checkpoint = checkpoint;
    }

    // Read back: whole-array reads are one command each, K times.
    const vread = cfg.igvva.vread_V;
    const readAt = new Map<number, number>();
    const readback = await readBack(board, ctx, arrays, o.reads, vread, 'readback', results, undefined, signal, clock && readAt, clock);
    const relaxReads: Map<string, number>[] = [];
    let waited = 0;
    for (const t of [...o.relax_s].sort((a, b) => a - b)) {
      await waitAbortable(board, t - waited, signal);
      waited = t;
      relaxReads.push((await readBack(board, ctx, arrays, 1, vread, 'relax', results, t, signal)).get(1)!);
    }
    // Last, so the relaxation re-reads keep their times; the probe reads the arrays again itself (a replay has no board to probe;
    // a part of a wv-bench compares algorithms, and its reads would only cost time and shift the next part's noise).
    const used = [...new Set(Array.from(results.values(), (e) => e.cell.array))].sort((a, b) => a - b);
    const probe = o.mvmProbe !== false && !o.replay && !o.partOf && !probeUnavailable(board) ? await mvmProbeOrWarn(board, ctx, used, vread, { reads: Math.max(3, o.reads), repeats: MVM_PROBE_REPEATS, signal }) : undefined;
    const delays = clock && !interrupted ? readbackDelays(results, readAt, doneAt) : undefined;
    const d = buildDataset(ctx.runId, created, info, params, setup, vread, specs, cells, results, readback, relaxReads, o, ctx.ledger, delays);
    return { ...d, ...(reverify ? { reverify } : {}), ...(probe ? { mvmProbe: probe } : {}) };
  });
}

/** A cell's pulses over the programming step and its re-verify passes, every attempt. */
function cellTotals(ledger: CellLedger, cell: CellAddress, passes: number): { pulses: number; attempts: number; unknownPulses: number } {
  const steps = [undefined, ...Array.from({ length: passes }, (_, k) => reverifyStep(k + 1))];
  let pulses = 0;
  let attempts = 0;
  let unknownPulses = 0;
  for (const s of steps) {
    const h = ledger.history(s, cell);
    pulses += h.pulses;
    unknownPulses += h.unknownPulses;
    attempts = Math.max(attempts, h.attempts);
  }
  return { pulses, attempts, unknownPulses };
}

/** K whole-array reads (NaN where a cell's read was unusable); per read index a map cell -> current for the programmed cells. */
async function readBack(
  board: Board,
  ctx: RunContext,
  arrays: number[],
  k: number,
  vread_V: number,
  phase: 'readback' | 'relax',
  results: Map<string, CellResult>,
  relax_s?: number,
  signal?: AbortSignal,
  /** Filled with the time (s, by `clock`) each array's first read started. */
  startedAt?: Map<number, number>,
  clock?: () => number,
): Promise<Map<number, Map<string, number>>> {
  const info = board.info();
  const out = new Map<number, Map<string, number>>();
  const used = new Set(Array.from(results.values(), (e) => e.cell.array));
  for (let r = 1; r <= k; r++) {
    const m = new Map<string, number>();
    for (const array of arrays) {
      if (!used.has(array)) continue;
      checkAbort(signal);
      if (r === 1 && clock) startedAt?.set(array, clock());
      const all = await board.readArray(array, { vread_V });
      for (const e of results.values()) {
        if (e.cell.array !== array) continue;
        const i = all[e.cell.row * info.cols + e.cell.col];
        const why = unusableRead(i);
        m.set(cellKey(e.cell), why ? NaN : i);
        ctx.emit({ type: 'read', cell: e.cell, vread_V, current_A: why ? null : i, phase, level: e.level, relax_s, ...(why ? { unusable: why } : {}) });
      }
    }
    out.set(r, m);
  }
  return out;
}

/**
 * The clock the board's cells relax by: its own (an emulator's virtual clock), else the host's for
 * a hardware board (real time); none for an emulator behind a link (its virtual clock is not the host's).
 */
function boardClock(board: Board): (() => number) | undefined {
  if (board.clock_s) return () => board.clock_s!();
  // Monotonic: a wall-clock step (NTP, a suspended host) is no delay.
  return board.info().kind === 'hardware' ? () => performance.now() / 1000 : undefined;
}

/** Warnings that say the board or its link stopped for a while (docs/protocol.md, drivers/board.ts). */
const INTERRUPTIONS = new Set(['link-lost', 'link-restored', 'board-rebooted', 'session-lost']);
/** A checkpoint that took longer than this held the run (a station's pause). */
const HOLD_S = 0.5;

/** Per cell key: seconds from its last verify to its array's first read-back, where both are known. */
function readbackDelays(results: Map<string, CellResult>, readAt: Map<number, number>, doneAt: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const k of results.keys()) {
    const done = doneAt.get(k);
    const read = readAt.get(results.get(k)!.cell.array);
    if (done !== undefined && read !== undefined && read >= done) out.set(k, read - done);
  }
  return out;
}

function buildDataset(
  runId: string,
  created: string,
  board: ReturnType<Board['info']>,
  params: Record<string, unknown>,
  setup: ProgramSetup,
  vread_V: number,
  specs: LevelSpec[],
  cells: CellAddress[],
  results: Map<string, CellResult>,
  readback: Map<number, Map<string, number>>,
  relaxReads: Map<string, number>[],
  o: CharacterizeOptions,
  ledger: CellLedger,
  delays?: Map<string, number>,
): LevelCdfDataset {
  const relaxTimes = [...o.relax_s].sort((a, b) => a - b);
  const levels = specs.map((spec) => {
    const recs: CellRecord[] = [];
    for (const cell of cells) {
      const e = results.get(cellKey(cell));
      if (!e || e.level !== spec.level) continue;
      const reads = Array.from({ length: o.reads }, (_, r) => readback.get(r + 1)!.get(cellKey(cell))!);
      const usable = reads.filter(Number.isFinite);
      const h = cellTotals(ledger, cell, o.reverify?.passes ?? 0);
      recs.push({
        ...cell,
        // A programmed cell whose read-back could not be read has no sample: unreadable, counted apart.
        status: e.outcome.status === 'ok' && !usable.length ? 'unreadable' : e.outcome.status,
        pulses: h.pulses,
        attempts: h.attempts,
        unknownPulses: h.unknownPulses,
        ...(e.outcome.leaky ? { leaky: true as const } : {}),
        ...(e.outcome.preformed ? { preformed: true as const } : {}),
        verify_A: e.outcome.final_A,
        finalStepped_V: e.outcome.finalStepped_V,
        current_A: usable.length ? mean(usable) : NaN,
        reads_A: reads,
        relax: relaxTimes.map((t, k) => ({ t_s: t, current_A: relaxReads[k].get(cellKey(cell))! })),
        ...(delays?.has(cellKey(cell)) ? { readbackDelay_s: delays.get(cellKey(cell))! } : {}),
        ...ledger.costOf(cell),
      });
    }
    // The level's CDF is its programmed cells: a cell that failed is counted apart, never sampled.
    const ok = recs.filter((r) => r.status === 'ok');
    const samples = ok.map((r) => r.current_A);
    return {
      spec,
      stats: levelStats(spec, recs),
      samples_A: samples,
      samples_S: samples.map((i) => i / vread_V),
      relax: relaxTimes.map((t, k) => {
        const s = ok.map((r) => r.relax[k].current_A).filter(Number.isFinite);
        return { t_s: t, samples_A: s, stats: levelStats(spec, recs.map((r) => ({ ...r, current_A: r.relax[k].current_A }))) };
      }),
      tails: levelTails(recs),
      cells: recs,
    };
  });
  const overlaps: Overlap[] = [];
  for (let k = 0; k + 1 < levels.length; k++) overlaps.push(overlap(k, levels[k].samples_A, k + 1, levels[k + 1].samples_A));
  const all = levels.flatMap((l) => l.cells);
  const ok = all.filter((c) => c.status === 'ok').length;
  const minSuccess = o.minSuccess ?? 0.95;
  const successRate = all.length ? ok / all.length : 0;
  return {
    format: 'rram-hil/level-cdf',
    version: 2,
    runId,
    created,
    finished: new Date().toISOString(),
    board,
    params,
    setup: { sources: setup.sources, notes: setup.notes, predicted: setup.predicted, limits: setup.limits },
    vread_V,
    summary: {
      cells: all.length,
      ok,
      successRate,
      failures: sumFailures(levels.map((l) => l.stats.failures)),
      minSuccess,
      belowThreshold: successRate < minSuccess,
      leaky: all.filter((c) => c.leaky).length,
      unknownPulses: all.reduce((a, c) => a + c.unknownPulses, 0),
      attempts: all.reduce((a, c) => Math.max(a, c.attempts), 0),
    },
    levels,
    overlaps,
  };
}
