/**
 * Re-verify chosen cells against the targets an earlier run programmed them to (`rram reverify
 * --run RUN`, the map's "Re-verify selection"): read each chosen cell and program again, by the
 * run's own write-verify settings, exactly those read outside their level's band - the decision
 * band (they would be taken for another level; one pass) or its inner half (`inner`, up to N
 * passes, as `--reverify`). Every other cell of the board is neither read nor pulsed. The
 * machinery is reverify.ts's; the targets come from the record (src/store/run-targets.ts).
 */
import type { Board, CellAddress } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { LevelSpec } from '../analysis/levels.js';
import type { CellResult } from '../engine/cell-ledger.js';
import { cellKey, type RunEvent } from '../engine/events.js';
import type { RunContext } from '../engine/run-context.js';
import type { EngineOptions } from '../engine/run-engine.js';
import { unusableRead } from '../engine/readings.js';
import type { ProgramConfig } from '../plans/program-cell.js';
import { groundedAfter, waitAbortable } from './board-phases.js';
import type { LevelGates } from './level-job.js';
import { runSummary, type RunSummary } from './program-array.js';
import { recheckBand, reverifyCells, reverifyStep, type RecheckMode, type ReverifyReport } from './reverify.js';

export type ReverifyBand = 'decision' | 'inner';

/** What the targets' run left (src/store/run-targets.ts RunTargets, without the store). */
export interface ReverifySource {
  runId: string;
  kind: string;
  board: string;
  config: ProgramConfig;
  specs: LevelSpec[];
  gates: LevelGates;
  cells: ReadonlyMap<string, CellResult>;
}

export interface ReverifySelectionOptions {
  source: ReverifySource;
  /** The store's name of this board (must be the source's). */
  boardKey: string;
  cells: CellAddress[];
  band: ReverifyBand;
  passes: number;
  /** Wait before the first read (s). */
  after_s: number;
  /** Cells a later run pulsed (cell -> run): refused, their state is that run's. */
  pulsedLater?: ReadonlyMap<string, string>;
  /** Share of the checked cells that must end programmed and readable (default 0.95): below it the command exits non-zero. */
  minSuccess?: number;
  engine?: EngineOptions;
  /** A resumed run: the first-pass reads its stored part holds (cell -> current), each cell's "before". */
  storedBefore?: ReadonlyMap<string, number | null>;
}

export interface ReverifyCellRow {
  cell: CellAddress;
  level: number;
  target_A: number;
  /** The read before anything was re-programmed (null: unusable). */
  before_A: number | null;
  after_A: number | null;
  /**
   * in-band: left alone; reprogrammed (its last write-verify's verdict in `status`); interrupted:
   * pulsed before the run was stopped, and read in band when it was resumed (left there; its
   * pulses counted); not-programmed: the source run did not program it (status there; read at the
   * end only, so no `before_A`).
   */
  action: 'in-band' | 'reprogrammed' | 'interrupted' | 'not-programmed';
  status: string;
  pulses: number;
}

export interface ReverifySelectionDataset {
  format: 'rram-hil/reverify';
  version: 1;
  runId: string;
  source: { runId: string; kind: string };
  band: ReverifyBand;
  levels: LevelSpec[];
  cells: ReverifyCellRow[];
  report: ReverifyReport;
  summary: RunSummary & { checked: number; reprogrammed: number; interrupted: number; inBandAfter: number; notProgrammed: number };
}

/** Refuses, before anything is sent, what cannot be re-verified: another board, cells the run never programmed or that later runs pulsed, repeats. */
export function checkReverifySelection(o: ReverifySelectionOptions): void {
  if (o.boardKey !== o.source.board) throw new InvalidArgumentError('run', o.source.runId, `programmed board ${o.source.board}, not this board (${o.boardKey}): its targets say nothing about these cells`);
  if (!o.cells.length) throw new InvalidArgumentError('cells', 0, 'no cell chosen');
  if (o.band === 'decision' && o.passes !== 1) throw new InvalidArgumentError('passes', o.passes, 'a re-verify against the decision band is one pass (--band inner takes up to 10)');
  if (!(Number.isInteger(o.passes) && o.passes >= 1 && o.passes <= 10)) throw new InvalidArgumentError('passes', o.passes, 'must be an integer in 1..10');
  if (!(o.after_s >= 0 && Number.isFinite(o.after_s))) throw new InvalidArgumentError('after', o.after_s, 'must be a time of 0 s or more');
  const seen = new Set<string>();
  const missing: string[] = [];
  const later: string[] = [];
  for (const c of o.cells) {
    const k = cellKey(c);
    if (seen.has(k)) throw new InvalidArgumentError('cells', k, 'is chosen twice');
    seen.add(k);
    if (!o.source.cells.has(k)) missing.push(k);
    const by = o.pulsedLater?.get(k);
    if (by) later.push(`${k} (run ${by})`);
  }
  const list = (xs: string[]) => `${xs.slice(0, 6).join(', ')}${xs.length > 6 ? ` and ${xs.length - 6} more` : ''}`;
  if (missing.length) throw new InvalidArgumentError('cells', list(missing), `${missing.length} chosen cell(s) were not programmed by run ${o.source.runId}: they have no target there (choose cells of its map)`);
  if (!o.cells.some((c) => o.source.cells.get(cellKey(c))!.outcome.status === 'ok')) throw new InvalidArgumentError('cells', list(o.cells.map(cellKey)), `none of the chosen cells ended programmed in run ${o.source.runId} (their verdicts there: ${[...new Set(o.cells.map((c) => o.source.cells.get(cellKey(c))!.outcome.status))].join(', ')}): nothing to re-verify`);
  if (later.length) throw new InvalidArgumentError('cells', list(later), `${later.length} chosen cell(s) were pulsed by a later run: they hold that run's work, not run ${o.source.runId}'s targets (re-verify against the later run, or take them on purpose: --include-pulsed-later)`);
}

/** The first-pass reads of a stored (interrupted) re-verify run: each cell's "before". */
export function firstPassReads(events: Iterable<RunEvent>, band: ReverifyBand): Map<string, number | null> {
  const first = reverifyStep(1, undefined, band === 'decision' ? 'refresh' : 'reverify');
  const out = new Map<string, number | null>();
  for (const e of events) if (e.type === 'read' && e.step === first && !out.has(cellKey(e.cell))) out.set(cellKey(e.cell), e.current_A);
  return out;
}

export async function reverifySelection(board: Board, ctx: RunContext, o: ReverifySelectionOptions): Promise<ReverifySelectionDataset> {
  checkReverifySelection(o);
  const info = board.info();
  const mode: RecheckMode = o.band === 'decision' ? 'refresh' : 'reverify';
  const chosen = o.cells.map((c) => o.source.cells.get(cellKey(c))!);
  const programmed = new Map(chosen.filter((e) => e.outcome.status === 'ok').map((e) => [cellKey(e.cell), e]));
  const params = { source: o.source.runId, sourceKind: o.source.kind, band: o.band, passes: o.passes, after_s: o.after_s, cells: o.cells.map(cellKey), config: o.source.config, levels: o.source.specs };
  ctx.begin({ kind: 'reverify', params, board: info, calibration: info.calibration });
  // The first pass's reads are each cell's "before" (a resumed run's were stored before it stopped).
  const before = new Map<string, number | null>(o.storedBefore ?? []);
  const first = reverifyStep(1, undefined, mode);
  const sub = ctx.events$.subscribe((e: RunEvent) => {
    if (e.type === 'read' && e.step === first && !before.has(cellKey(e.cell))) before.set(cellKey(e.cell), e.current_A);
  });
  return groundedAfter(board, async () => {
    let report: ReverifyReport;
    try {
      report = programmed.size
        ? await reverifyCells(board, ctx, programmed, { spec: { after_s: o.after_s, passes: o.passes }, cfg: o.source.config, specs: o.source.specs, gates: o.source.gates, engine: o.engine, signal: o.engine?.signal, mode })
        : (await waitAbortable(board, o.after_s, o.engine?.signal), { after_s: o.after_s, maxPasses: o.passes, passes: [] });
    } finally {
      sub.unsubscribe();
    }
    return dataset(ctx, o, await readBack(board, ctx, chosen, o.source.config.igvva.vread_V, info.cols), programmed, before, report, mode);
  });
}

/** Every chosen cell read once more at the end (one READ_ARRAY per array touched). */
async function readBack(board: Board, ctx: RunContext, chosen: CellResult[], vread: number, cols: number): Promise<Map<string, number | null>> {
  const out = new Map<string, number | null>();
  for (const array of new Set(chosen.map((e) => e.cell.array))) {
    const all = await board.readArray(array, { vread_V: vread });
    for (const e of chosen) {
      if (e.cell.array !== array) continue;
      const i = all[e.cell.row * cols + e.cell.col];
      const why = unusableRead(i);
      ctx.emit({ type: 'read', cell: e.cell, vread_V: vread, current_A: why ? null : i, phase: 'readback', level: e.level, ...(why ? { unusable: why } : {}) });
      out.set(cellKey(e.cell), why ? null : i);
    }
  }
  return out;
}

function dataset(ctx: RunContext, o: ReverifySelectionOptions, after: Map<string, number | null>, programmed: Map<string, CellResult>, before: Map<string, number | null>, report: ReverifyReport, mode: RecheckMode): ReverifySelectionDataset {
  const specOf = new Map(o.source.specs.map((s) => [s.level, s]));
  const steps = report.passes.map((p) => reverifyStep(p.pass, undefined, mode));
  const rows: ReverifyCellRow[] = o.cells.map((c) => {
    const k = cellKey(c);
    const src = o.source.cells.get(k)!;
    const pulses = steps.reduce((n, s) => n + ctx.ledger.history(s, c).pulses, 0);
    const redone = steps.map((s) => ctx.ledger.done(s, c)).filter((x) => x !== undefined).pop();
    const action = !programmed.has(k) ? 'not-programmed' : redone ? 'reprogrammed' : pulses > 0 ? 'interrupted' : 'in-band';
    return { cell: c, level: src.level, target_A: src.target_A, before_A: before.get(k) ?? null, after_A: after.get(k) ?? null, action, status: redone ? redone.outcome.status : src.outcome.status, pulses };
  });
  const inBand = (r: ReverifyCellRow) => {
    const [lo, hi] = recheckBand(specOf.get(r.level)!, 'refresh');
    return r.after_A !== null && r.after_A >= lo && r.after_A <= hi;
  };
  const judged = rows.filter((r) => r.action !== 'not-programmed');
  const summary = {
    ...runSummary(judged.map((r) => (r.status === 'ok' && r.after_A === null ? 'unreadable' : r.status)), o.minSuccess ?? 0.95),
    checked: judged.length,
    reprogrammed: rows.filter((r) => r.action === 'reprogrammed').length,
    interrupted: rows.filter((r) => r.action === 'interrupted').length,
    inBandAfter: judged.filter(inBand).length,
    notProgrammed: rows.length - judged.length,
  };
  return { format: 'rram-hil/reverify', version: 1, runId: ctx.runId, source: { runId: o.source.runId, kind: o.source.kind }, band: o.band, levels: o.source.specs, cells: rows, report, summary };
}
