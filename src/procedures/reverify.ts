/**
 * Relaxation-aware re-verify (`--reverify T[xN]`), for any algorithm: conductances move within
 * seconds of programming, mostly in the first moments (relaxation grows with log time). After the
 * whole batch is programmed the board waits T (so every cell has rested at least T), reads every
 * programmed cell and programs again the ones whose read left the inner half of their level's
 * decision band (halfway between the target and each threshold to the next level); at most N
 * passes. A cell re-programmed late relaxes again, but a cell that stayed in band has already done
 * most of its relaxing: the spread at later times shrinks. igvva-predict starts a re-programmed
 * cell's climb a few steps below its own last gate (the device's shift, learned).
 *
 * Refresh (`program-net --refresh-after T`, issue 28) is the same machinery once, long after
 * programming: the cells whose read left their level's whole decision band (they would now be
 * taken for another level) are programmed again, the others are left alone. With a budget
 * (`--refresh-budget SHARE`) at most that share of the checked cells is rewritten: those that
 * moved farthest from their target, in units of their band's half-width on the side they moved to
 * (a cell out of band is at more than 1, so those go first), and never one still inside the inner
 * half of its band. Every deviation counts at inference, not only a crossed threshold.
 */
import type { Board } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { LevelSpec } from '../analysis/levels.js';
import { cellKey } from '../engine/events.js';
import type { CellResult } from '../engine/cell-ledger.js';
import type { RunContext } from '../engine/run-context.js';
import type { EngineOptions } from '../engine/run-engine.js';
import { programCells } from './program-cells.js';
import { unusableRead } from '../engine/readings.js';
import type { ProgramConfig } from '../plans/program-cell.js';
import { checkAbort, waitAbortable } from './board-phases.js';
import { levelJob, type LevelGates } from './level-job.js';

export interface ReverifySpec {
  after_s: number;
  passes: number;
}

export interface ReverifyPass {
  pass: number;
  /** Programmed cells read. */
  checked: number;
  /** Of those, picked to be programmed again (outside their band; with a budget, the farthest within it). */
  outside: number;
  /** A refresh with a budget: cells out of their decision band left as they are because the budget was spent. */
  leftOutOfBand?: number;
  /** Re-programmed and ok again. */
  ok: number;
  pulses: number;
}

export interface ReverifyReport {
  after_s: number;
  maxPasses: number;
  passes: ReverifyPass[];
}

/** "60s", "60sx3", "1mx2" (time units as --relax; N passes, default 1). */
export function parseReverify(flag: string, raw: string, duration: (s: string) => number): ReverifySpec {
  const m = /^(.+?)(?:x(\d+))?$/.exec(raw.trim());
  if (!m) throw new InvalidArgumentError(flag, raw, 'expected a time and an optional pass count, e.g. 60s or 60sx3');
  const after_s = duration(m[1]);
  const passes = m[2] === undefined ? 1 : Number(m[2]);
  if (!(after_s > 0)) throw new InvalidArgumentError(flag, raw, 'the wait must be positive');
  if (!Number.isInteger(passes) || passes < 1 || passes > 10) throw new InvalidArgumentError(flag, raw, 'passes must be 1..10');
  return { after_s, passes };
}

/** The record's step of re-verify pass k (its cells' pulses and cell-done events carry it); of a refresh, `refresh`. */
export function reverifyStep(pass: number, within?: string, mode: RecheckMode = 'reverify'): string {
  return `${within ? `${within} ` : ''}${mode === 'refresh' ? 'refresh' : `reverify ${pass}`}`;
}

/** reverify: the inner half of the band, up to N passes; refresh: the whole decision band, one pass. */
export type RecheckMode = 'reverify' | 'refresh';

/** The band a cell must read inside to be left alone. */
export const recheckBand = (spec: LevelSpec, mode: RecheckMode): [number, number] => (mode === 'refresh' ? spec.band_A : reverifyBand(spec));

/** The re-verify band of a level: the inner half of its decision band. */
export function reverifyBand(spec: LevelSpec): [number, number] {
  const [lo, hi] = spec.band_A;
  return spec.kind === 'hrs' ? [0, spec.target_A + (hi - spec.target_A) / 2] : [spec.target_A - (spec.target_A - lo) / 2, spec.target_A + (hi - spec.target_A) / 2];
}

export async function reverifyCells(
  board: Board,
  ctx: RunContext,
  results: Map<string, CellResult>,
  o: { spec: ReverifySpec; cfg: ProgramConfig; specs: LevelSpec[]; gates: LevelGates; engine?: EngineOptions; signal?: AbortSignal; within?: string; mode?: RecheckMode; budget?: number },
): Promise<ReverifyReport> {
  const mode = o.mode ?? 'reverify';
  if (mode === 'refresh' && o.spec.passes !== 1) throw new InvalidArgumentError('refresh-after', o.spec.passes, 'a refresh is one pass');
  const info = board.info();
  const vread = o.cfg.igvva.vread_V;
  const report: ReverifyReport = { after_s: o.spec.after_s, maxPasses: o.spec.passes, passes: [] };
  const specOf = new Map(o.specs.map((s) => [s.level, s]));
  for (let pass = 1; pass <= o.spec.passes; pass++) {
    await waitAbortable(board, o.spec.after_s, o.signal);
    const ok = [...results.values()].filter((e) => e.outcome.status === 'ok');
    const step = reverifyStep(pass, o.within, mode);
    const checked: { e: CellResult; d: number }[] = [];
    for (const array of new Set(ok.map((e) => e.cell.array))) {
      checkAbort(o.signal);
      const all = await board.readArray(array, { vread_V: vread });
      for (const e of ok) {
        if (e.cell.array !== array) continue;
        const i = all[e.cell.row * info.cols + e.cell.col];
        const why = unusableRead(i);
        ctx.emit({ type: 'read', cell: e.cell, vread_V: vread, current_A: why ? null : i, phase: mode, level: e.level, step, ...(why ? { unusable: why } : {}) });
        checked.push({ e, d: why ? 0 : bandDeviation(specOf.get(e.level)!, i, mode) });
      }
    }
    const { picked, leftOutOfBand } = pickCells(checked, o.budget, (e) => !!ctx.ledger.done(step, e.cell));
    const outside = picked;
    const p: ReverifyPass = { pass, checked: ok.length, outside: outside.length, ok: 0, pulses: 0, ...(o.budget !== undefined ? { leftOutOfBand } : {}) };
    report.passes.push(p);
    if (!outside.length) break;
    const back = o.cfg.igvva.vgStep_V * 3;
    const jobs = outside.map((e) => ({ ...levelJob(o.cfg, specOf.get(e.level)!, e.cell, o.gates, o.cfg.algo === 'igvva-predict' && Number.isFinite(e.outcome.finalStepped_V) ? +(e.outcome.finalStepped_V - back).toFixed(6) : undefined, true), step }));
    const redone = [...(await programCells(board, ctx, jobs, { ...o.engine, phase: mode === 'refresh' ? 'refresh' : `re-verify ${pass}/${o.spec.passes}` })).values()];
    for (const r of redone) {
      const prev = results.get(cellKey(r.cell))!;
      p.pulses += r.outcome.pulses;
      if (r.outcome.status === 'ok') p.ok++;
      results.set(cellKey(r.cell), { ...r, outcome: { ...r.outcome, pulses: prev.outcome.pulses + r.outcome.pulses, reads: prev.outcome.reads + r.outcome.reads, note: `${mode === 'refresh' ? 'refreshed' : `re-verified in pass ${pass}`}${r.outcome.note ? `: ${r.outcome.note}` : ''}` } });
    }
  }
  return report;
}

/**
 * How far a read sits from its level's target, in units of the band's half-width on that side:
 * above 1 outside the band (`recheckBand`), 0 on target. An HRS level is only too high.
 */
export function bandDeviation(spec: LevelSpec, i: number, mode: RecheckMode): number {
  const [lo, hi] = recheckBand(spec, mode);
  const t = spec.target_A;
  if (i > t) return hi > t ? (i - t) / (hi - t) : Infinity;
  if (spec.kind === 'hrs') return i < lo ? 2 : 0;
  return t > lo ? (t - i) / (t - lo) : Infinity;
}

/**
 * The cells to program again: those out of band (deviation > 1), or with a budget (a share of the
 * checked cells) the farthest first, out of band or not, down to half the band's width; and always
 * the cells the record shows already programmed again in this pass (a resumed run: kept, not pulsed).
 */
export function pickCells<T>(checked: { e: T; d: number }[], budget: number | undefined, doneBefore: (e: T) => boolean): { picked: T[]; leftOutOfBand: number } {
  const done = checked.filter((c) => doneBefore(c.e));
  const rest = checked.filter((c) => !doneBefore(c.e));
  if (budget === undefined) return { picked: [...done, ...rest.filter((c) => c.d > 1)].map((c) => c.e), leftOutOfBand: 0 };
  const room = Math.max(0, Math.floor(budget * checked.length) - done.length);
  const ranked = rest.filter((c) => c.d > 0.5).sort((a, b) => b.d - a.d);
  const taken = ranked.slice(0, room);
  return { picked: [...done, ...taken].map((c) => c.e), leftOutOfBand: ranked.slice(room).filter((c) => c.d > 1).length };
}
