/**
 * `rram iv`: quasi-static I-V loops on chosen cells (docs/formats.md, "I-V loops"). Each cell is
 * formed if pristine and reset-verified to the HRS, then cycled through `cycles` loops of
 * plans/iv-loop.ts (SET staircase at the compliance gate, RESET staircase at the RESET gate, a
 * read after every pulse). Each loop is a step of the run (`iv-<k>`): a resumed run skips the loops
 * the record has done and measures an interrupted one again from its start. Per loop the SET and
 * RESET voltages and the on/off ratio are extracted; over cells and loops, their medians and the
 * device-to-device and cycle-to-cycle spreads.
 */
import type { Board, CellAddress } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { digest } from '../../lib/digest.js';
import { mean, quantile, sorted, std } from '../analysis/stats.js';
import { cellKey } from '../engine/events.js';
import type { CellResult } from '../engine/cell-ledger.js';
import type { RunContext } from '../engine/run-context.js';
import type { CellJob, EngineOptions } from '../engine/run-engine.js';
import { extractSwitching, ivCycle, steps, type IvConfig, type IvCycleData, type Switching } from '../plans/iv-loop.js';
import { preparedCell } from '../plans/prepared-cell.js';
import { groundedAfter } from './board-phases.js';
import { cellParams, datasetHeader, type DatasetHeader, experimentCells, experimentPulses, type prepSettings, type ExperimentCommon } from './experiment-setup.js';
import { programCells } from './program-cells.js';
import { PreflightError } from './program-setup.js';
import { runSummary, type RunSummary } from './program-array.js';

export interface IvOptions extends ExperimentCommon {
  cycles: number;
  /** Staircase step (V) of both branches; default 20 mV. */
  step_V?: number;
  /** Compliance gate of the SET branch; default where the calibration's nominal cell reaches `complianceTarget_A`. */
  vg_V?: number;
  complianceTarget_A?: number;
  vteMax_V?: number;
  vslMax_V?: number;
  engine?: EngineOptions;
}

export interface IvCell {
  array: number;
  row: number;
  col: number;
  status: string;
  pulses: number;
  /** Per loop measured: the staircases and what was extracted from them. */
  cycles: (IvCycleData & Switching & { cycle: number })[];
}

/** Median, device-to-device sigma (of per-cell means) and cycle-to-cycle sigma (pooled within cells) of a per-cycle quantity. */
export interface SpreadStats {
  n: number;
  median: number;
  mean: number;
  sigmaD2d: number;
  sigmaC2c: number;
  /** Cell-loops where the branch never switched. */
  missing: number;
}

export interface IvDataset extends DatasetHeader {
  format: 'rram-hil/iv';
  version: 1;
  config: IvConfig;
  vread_V: number;
  summary: RunSummary;
  stats: { vset_V: SpreadStats; vreset_V: SpreadStats; onOff: { median: number; p10: number; p90: number; n: number } };
  cells: IvCell[];
}

export const ivStep = (k: number) => `iv-${k}`;

/** The loop design for this board: staircases within its limits, gates from its calibration (or the user). */
export function ivConfig(o: IvOptions, info: ReturnType<Board['info']>): { cfg: IvConfig; prep: ReturnType<typeof prepSettings> } {
  const step = o.step_V ?? 0.02;
  const k = step / info.dacStep_V;
  const problems: string[] = [];
  if (!(step > 0) || Math.abs(k - Math.round(k)) > 1e-6) problems.push(`step=${step} V is not a whole multiple of the board's DAC step ${info.dacStep_V} V`);
  const a = experimentPulses(o, info, { name: 'vte-max', value: o.vteMax_V, default: 2.0 }, { name: 'vsl-max', value: o.vslMax_V }, problems);
  const { prep, vread_V: vread, vte_V: vteMax, vsl_V: vslMax, vg_V: vg } = a;
  const start = Math.max(step, 0.1);
  const cfg: IvConfig = {
    vread_V: vread,
    set: { vg_V: vg, start_V: start, step_V: step, stop_V: vteMax, width_s: prep.reset.width_s },
    reset: { vg_V: prep.reset.vg_V, start_V: start, step_V: step, stop_V: vslMax, width_s: prep.reset.width_s },
    jumpRatio: 2,
    jumpMin_A: 1e-6,
    dropFraction: 0.1,
  };
  if (!steps(cfg.set).length || !steps(cfg.reset).length) throw new PreflightError([`the staircases are empty (start ${start} V, vte-max ${vteMax} V, vsl-max ${vslMax} V)`]);
  return { cfg, prep };
}

function spread(perCell: (number | null)[][]): SpreadStats {
  const all = perCell.flat().filter((x): x is number => x !== null && Number.isFinite(x));
  const missing = perCell.flat().length - all.length;
  const means = perCell.map((xs) => xs.filter((x): x is number => x !== null)).filter((xs) => xs.length).map((xs) => mean(xs));
  let ss = 0;
  let dof = 0;
  for (const xs of perCell.map((v) => v.filter((x): x is number => x !== null))) {
    if (xs.length < 2) continue;
    const m = mean(xs);
    for (const x of xs) ss += (x - m) ** 2;
    dof += xs.length - 1;
  }
  const c2c = dof ? Math.sqrt(ss / dof) : NaN;
  // The spread of per-cell means holds c2c / sqrt(loops) too: removed, so d2d is the devices' own.
  const loops = perCell.length ? mean(perCell.map((v) => Math.max(1, v.filter((x) => x !== null).length))) : 1;
  const d2d = Math.sqrt(Math.max(0, std(means) ** 2 - (Number.isFinite(c2c) ? c2c ** 2 / loops : 0)));
  return { n: all.length, median: quantile(sorted(all), 0.5), mean: mean(all), sigmaD2d: d2d, sigmaC2c: c2c, missing };
}

export async function iv(board: Board, ctx: RunContext, o: IvOptions): Promise<IvDataset> {
  const info = board.info();
  if (!Number.isInteger(o.cycles) || o.cycles < 1 || o.cycles > 1000) throw new InvalidArgumentError('cycles', o.cycles, 'must be an integer in 1..1000');
  const { cfg, prep } = ivConfig(o, info);
  const chosen = await experimentCells(board, ctx, o, cfg.vread_V, prep.form.formedAbove_A / 2);
  const cells = chosen.cells;
  const created = new Date().toISOString();
  const cp = cellParams(cells, chosen.name);
  const params = { cycles: o.cycles, step_V: o.step_V, vg_V: o.vg_V, complianceTarget_A: o.complianceTarget_A, vteMax_V: o.vteMax_V, vslMax_V: o.vslMax_V, count: o.count, array: o.array, seed: o.seed, calibration: o.calibration?.id, config: cfg, form: prep.form, reset: prep.reset, ...cp, inputs: { ...(cp.inputs as object), ...(o.calibration ? { 'calibration contents': digest(o.calibration) } : {}) } };
  ctx.begin({ kind: 'iv', params, board: info, calibration: info.calibration, setup: { notes: prep.notes } });
  if (chosen.note) ctx.emit({ type: 'warning', code: 'fresh-cells', message: chosen.note });
  const engine = { ...o.engine, limits: o.userLimits, pulseBudget: 10 * (steps(cfg.set).length + steps(cfg.reset).length) + 200 };
  return groundedAfter(board, async () => {
    let active: CellAddress[] = cells;
    const byCycle: Map<string, CellResult>[] = [];
    for (let k = 1; k <= o.cycles && active.length; k++) {
      const jobs: CellJob[] = active.map((cell) => ({
        cell,
        level: 0,
        target_A: 0,
        step: ivStep(k),
        plan: () => (k === 1 ? preparedCell(prep.form, prep.reset, !!o.knownFormed?.has(cellKey(cell)), (t) => ivCycle(cfg, t)) : ivCycle(cfg)),
      }));
      const done = await programCells(board, ctx, jobs, { ...engine, phase: `I-V loop ${k} of ${o.cycles}` });
      byCycle.push(done);
      active = active.filter((c) => done.get(cellKey(c))?.outcome.status === 'ok');
    }
    return ivDataset(ctx, created, info, params, cfg, cells, byCycle);
  });
}

function ivDataset(ctx: RunContext, created: string, info: ReturnType<Board['info']>, params: Record<string, unknown>, cfg: IvConfig, cells: CellAddress[], byCycle: Map<string, CellResult>[]): IvDataset {
  const out: IvCell[] = cells.map((c) => {
    const k = cellKey(c);
    const loops: IvCell['cycles'] = [];
    let status = 'ok';
    byCycle.forEach((m, j) => {
      const e = m.get(k);
      if (!e) return;
      if (e.outcome.status !== 'ok') status = e.outcome.status;
      const d = e.outcome.data as unknown as IvCycleData | undefined;
      if (e.outcome.status === 'ok' && d?.set) loops.push({ cycle: j + 1, ...d, ...extractSwitching(d, cfg) });
    });
    const pulses = byCycle.reduce((a, _m, j) => a + ctx.ledger.history(ivStep(j + 1), c).pulses, 0);
    return { ...c, status: loops.length ? status : status === 'ok' ? 'failed' : status, pulses, cycles: loops };
  });
  const ok = out.filter((c) => c.cycles.length);
  const ratios = sorted(ok.flatMap((c) => c.cycles.map((y) => y.onOff)).filter(Number.isFinite));
  return {
    format: 'rram-hil/iv',
    version: 1,
    ...datasetHeader(ctx, created, info, params),
    config: cfg,
    vread_V: cfg.vread_V,
    summary: runSummary(out.map((c) => c.status), 0),
    stats: {
      vset_V: spread(ok.map((c) => c.cycles.map((y) => y.vset_V))),
      vreset_V: spread(ok.map((c) => c.cycles.map((y) => y.vreset_V))),
      onOff: { median: quantile(ratios, 0.5), p10: quantile(ratios, 0.1), p90: quantile(ratios, 0.9), n: ratios.length },
    },
    cells: out,
  };
}
