/**
 * A lean replay of the sweep on an in-process emulated board, for indirect inference: the same
 * plans and operation order as the run engine (so the board's clock, and with it relaxation,
 * advance exactly as in a real run), without events, limits bookkeeping or
 * promises. A test checks it gives bit-for-bit the cell data `sweep()` gives for the same seed.
 */
import { runWriteVerifyOnBoard } from '../../drivers/emulated/onboard-write-verify.js';
import { wvJob } from '../engine/write-verify-job.js';
import type { Answer } from '../plans/commands.js';
import type { CellAddress } from '../../drivers/board.js';
import { EmulatedBoard } from '../../drivers/emulated/emulated-board.js';
import type { Calibration } from '../../calibration/calibration.js';
import type { CellOutcome, CellPlan, Command } from '../plans/commands.js';
import { calibrationSweep, deepResetPlan, repeatedReads, type SweepCellData } from '../plans/sweep-plans.js';
import { programCell, programCellBeforeClimb, reviveConfig, type ProgramConfig } from '../plans/program-cell.js';
export { reviveConfig };
import { pickCells, type LevelCdfDataset } from '../procedures/characterize.js';
import type { SweepCell, SweepDataset } from '../procedures/sweep.js';

/**
 * Runs plans on the board in the engine's order; returns each cell's outcome, in the order they
 * finished. The engine's rule (run-engine.ts): the oldest request is answered first, and the
 * cell's next request (or, when the cell finished, the next cell's first) goes to the back.
 */
export function runInEngineOrder(b: EmulatedBoard, jobs: { cell: CellAddress; plan: () => CellPlan }[], concurrency: number, doneAt?: Map<CellAddress, number>): Map<CellAddress, CellOutcome> {
  const out = new Map<CellAddress, CellOutcome>();
  const queue = jobs.slice().reverse();
  const ring: { cell: CellAddress; gen: CellPlan; next: IteratorResult<Command, CellOutcome> }[] = [];
  let head = 0;
  let live = 0;
  const admit = () => {
    while (live < concurrency && queue.length) {
      const j = queue.pop()!;
      const gen = j.plan();
      const next = gen.next();
      if (next.done) out.set(j.cell, next.value);
      else {
        live++;
        ring.push({ cell: j.cell, gen, next });
      }
    }
  };
  admit();
  while (head < ring.length) {
    const a = ring[head++];
    const c = (a.next as IteratorYieldResult<Command>).value;
    let answer: Answer;
    if (c.op === 'read') answer = b.readSync(a.cell, { vread_V: c.vread_V });
    else if (c.op === 'write-verify') answer = runWriteVerifyOnBoard(b, a.cell, wvJob(c));
    else if (c.op === 'reset') b.resetSync(a.cell, c);
    else if (c.op === 'form') b.formSync(a.cell, c);
    else b.setSync(a.cell, c);
    a.next = a.gen.next(answer);
    if (!a.next.done) ring.push(a);
    else {
      out.set(a.cell, a.next.value);
      doneAt?.set(a.cell, b.now_s);
      live--;
      admit();
    }
    // The ring only grows: drop what was handled now and then.
    if (head > 4096) {
      ring.splice(0, head);
      head = 0;
    }
  }
  return out;
}

/** The recorded sweep `ds` repeated on an emulated board with calibration `cal` (n cells, seed). */
export function simulateSweep(cal: Calibration, ds: Pick<SweepDataset, 'board' | 'config' | 'noiseReads' | 'settle_s' | 'params'>, n: number, seed: number): SweepCell[] {
  const g = ds.board;
  const first = (ds.params.array as number) ?? 0;
  // The measured board's geometry (so the same seed picks the same cells), more arrays if n needs them.
  const arrays = Math.max(g.arrays, first + Math.ceil(n / (g.rows * g.cols)));
  const b = new EmulatedBoard({ seed, calibration: cal, arrays, rows: g.rows, cols: g.cols, limits: g.limits, dacStep_V: g.dacStep_V });
  const conc = (ds.params.concurrency as number) ?? 64;
  const cfg = ds.config;
  // As sweep() does on a board that counts pulses: the first n cells of the shuffle (all fresh here).
  const ids = Array.from({ length: arrays - first }, (_, a) => first + a);
  // A new board's cells are all fresh: the sweep's first n in its shuffled order.
  // As selectFreshCells does: every array read once, cells reading pristine taken in shuffle order.
  const reads = new Map(ids.map((a) => [a, b.readArraySync(a, { vread_V: cfg.vread_V })]));
  const cells = pickCells(ids.length * g.rows * g.cols, ids, g.rows, g.cols, seed)
    .filter((c) => reads.get(c.array)![c.row * g.cols + c.col] < cfg.form.formedAbove_A / 2)
    .slice(0, n);
  const done = runInEngineOrder(b, cells.map((cell) => ({ cell, plan: () => calibrationSweep(cfg) })), conc);
  // In completion order, as the engine returns them (the next phases run in that order).
  const formed = [...done.entries()].filter(([, o]) => o.status === 'ok').map(([c]) => c);
  const K = ds.noiseReads;
  const noiseReads = () => {
    if (!K || !formed.length) return new Map<CellAddress, CellOutcome>();
    b.waitSync(ds.settle_s);
    return runInEngineOrder(b, formed.map((cell) => ({ cell, plan: () => repeatedReads(K, cfg.vread_V) })), conc);
  };
  const high = noiseReads();
  if (K && formed.length) runInEngineOrder(b, formed.map((cell) => ({ cell, plan: () => deepResetPlan(cfg.deepReset, cfg.vread_V) })), conc);
  const hrs = noiseReads();
  return cells.map((c) => {
    const o = done.get(c)!;
    const d = (o.data ?? {}) as unknown as SweepCellData;
    return { ...c, status: o.status, pulses: o.pulses, pristine_A: d.pristine_A, formVte_V: d.formVte_V ?? null, form: d.form ?? [], cycles: d.cycles ?? [], ispva: d.ispva ?? [], repeat: d.repeat ?? [], noise: { high_A: (high.get(c)?.data?.reads as number[]) ?? [], hrs_A: (hrs.get(c)?.data?.reads as number[]) ?? [] } };
  });
}

/** A characterize run's cells as the replay gives them, per level (the fields twin and fit compare). */
export interface ReplayCell {
  status: string;
  pulses: number;
  finalStepped_V: number;
  /** The verify read that ended the cell's programming. */
  verify_A: number;
  /** Mean of the K read-backs, and each of them. */
  current_A: number;
  reads_A: number[];
  relax: { t_s: number; current_A: number }[];
  leaky?: true;
  /** An LRS cell replayed only up to its climb (`beforeClimb`): the pulses it took until then. */
  preClimbPulses?: number;
  /** Emulator time (s) from the cell's last verify to its array's first read-back (CellRecord.readbackDelay_s). */
  readbackDelay_s?: number;
}

/**
 * The recorded characterize run `d` repeated on an emulated board (cal), `factor` times as many
 * cells per level: the same programming in the engine's order, K array read-backs and relaxation re-reads, in
 * the order `characterize()` does them (a test checks it matches bit for bit at factor 1).
 */
export function replayCharacterize(cal: Calibration, d: LevelCdfDataset, factor: number, seed: number, opts: { concurrency?: number; programmingOnly?: boolean; beforeClimb?: boolean } = {}): ReplayCell[][] {
  const pr = d.params as Record<string, unknown>;
  const per = (pr.cellsPerLevel as number) * factor;
  const nLevels = d.levels.length;
  const g = d.board;
  const first = (pr.array as number) ?? 0;
  const arrays = Math.max(g.arrays, first + Math.ceil((per * nLevels) / (g.rows * g.cols)));
  const b = new EmulatedBoard({ seed, calibration: cal, arrays, rows: g.rows, cols: g.cols, limits: g.limits, dacStep_V: g.dacStep_V });
  const arrayIds = Array.from({ length: arrays - first }, (_, k) => first + k);
  const cells = pickCells(per * nLevels, arrayIds, g.rows, g.cols, seed);
  const cfg = reviveConfig(pr.config as ProgramConfig);
  const gates = pr.ispvaGates_V as number[] | undefined;
  const starts = pr.startGates_V as number[] | undefined;
  const retries = pr.retryGates_V as number[] | undefined;
  const specs = d.levels.map((l) => l.spec);
  const jobs = cells.map((cell, k) => {
    const s = specs[k % nLevels];
    const plan = opts.beforeClimb ? programCellBeforeClimb : programCell;
    return { cell, plan: () => plan(cfg, { level: s.level, target_A: s.target_A, ispvaVg_V: gates?.[s.level], vgStart_V: starts?.[s.level], vgRetry_V: retries?.[s.level] }) };
  });
  const doneAt = new Map<CellAddress, number>();
  const done = runInEngineOrder(b, jobs, opts.concurrency ?? 64, doneAt);
  const vread = cfg.igvva.vread_V;
  const used = [...new Set([...done.keys()].map((c) => c.array))];
  const readAt = new Map<number, number>();
  const readAll = () => {
    const m = new Map<CellAddress, number>();
    for (const a of arrayIds) {
      if (!used.includes(a)) continue;
      if (!readAt.has(a)) readAt.set(a, b.now_s);
      const all = b.readArraySync(a, { vread_V: vread });
      for (const c of done.keys()) if (c.array === a) m.set(c, all[c.row * g.cols + c.col]);
    }
    return m;
  };
  // The fit of the levels needs only the programming: read-backs and re-reads are skipped there.
  const progOnly = opts.programmingOnly || opts.beforeClimb;
  const K = progOnly ? 0 : ((pr.reads as number) ?? 1);
  const rb = Array.from({ length: K }, () => readAll());
  const relax: { t: number; m: Map<CellAddress, number> }[] = [];
  let waited = 0;
  for (const t of progOnly ? [] : [...((pr.relax_s as number[]) ?? [])].sort((x, y) => x - y)) {
    b.waitSync(t - waited);
    waited = t;
    relax.push({ t, m: readAll() });
  }
  const out: ReplayCell[][] = specs.map(() => []);
  cells.forEach((c, k) => {
    const o = done.get(c)!;
    const reads = rb.map((m) => m.get(c)!);
    out[k % nLevels].push({ status: o.status, pulses: o.pulses, finalStepped_V: o.finalStepped_V, verify_A: o.final_A, current_A: reads.length ? reads.reduce((a, x) => a + x, 0) / reads.length : o.final_A, reads_A: reads, relax: relax.map((r) => ({ t_s: r.t, current_A: r.m.get(c)! })), ...(o.leaky ? { leaky: true as const } : {}), ...(opts.beforeClimb && specs[k % nLevels].kind !== 'hrs' ? { preClimbPulses: o.pulses } : {}), ...(readAt.has(c.array) && doneAt.has(c) ? { readbackDelay_s: readAt.get(c.array)! - doneAt.get(c)! } : {}) });
  });
  return out;
}

