/** `rram iv`, `rram endurance`, `rram retention`: the experiments a lab runs on a new array, each a stored run. */
import { outFile } from '../out-path.js';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import type { BoardInfo } from '../../../drivers/board.js';
import type { EnduranceDataset } from '../../procedures/endurance.js';
import type { IvDataset } from '../../procedures/iv.js';
import type { RetentionDataset } from '../../procedures/retention.js';
import type { RunSummary } from '../../procedures/program-array.js';
import { addBoardOptions, type BoardFlags } from '../board-options.js';
import { addSelectionFlags, selectCells, type Selection, type SelectionFlags } from '../cell-selection.js';
import { addJobOptions, type JobFlags } from '../job-options.js';
import { table, writeResultFile } from '../output.js';
import { current, logTimes, num } from '../parse.js';
import { addProgramFlags, programOptions, type ProgramFlags } from '../program-flags.js';
import { runExperimentCommand, type ExperimentKind } from '../experiment-route.js';
import { addStationOptions, type StationFlags } from '../station-route.js';
import { finish } from './programming.js';

interface Common extends BoardFlags, JobFlags, SelectionFlags, StationFlags {
  count?: number;
  json?: boolean;
  out?: string;
  vread?: number;
  width?: number;
  formVteMax?: number;
  resetVg?: number;
  resetVslMax?: number;
}

const V = (f: string) => num(f, { min: 0, max: 20 });
const f3 = (x: number | null | undefined, d = 3) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '-');

function addCommon(c: Command, countDefault: number, mapMeaning: string): Command {
  return addStationOptions(addSelectionFlags(addJobOptions(addBoardOptions(c)), mapMeaning))
    .option('--count <N>', `fresh cells to measure when no --cells/--region/--map is given (default ${countDefault})`, num('--count', { min: 1, int: true }))
    .option('--vread <V>', 'read voltage (default 0.2, at most the board\'s vread_max)', V('--vread'))
    .option('--width <s>', 'SET/RESET pulse width (default 1e-6, within the board\'s widths)', num('--width', { min: 0 }))
    .option('--form-vte-max <V>', 'last forming amplitude for pristine cells (default 4.0, at most the board\'s vte_max)', V('--form-vte-max'))
    .option('--reset-vg <V>', 'RESET gate voltage (default 2.7, at most the board\'s vg_max)', V('--reset-vg'))
    .option('--reset-vsl-max <V>', 'last RESET source-line amplitude of the reset-verify before measuring (default 2.8, at most the board\'s vsl_max)', V('--reset-vsl-max'))
    .option('--json', 'JSON summary')
    .option('--out <file>', 'also write the result dataset here', outFile);
}

/** The experiment's request from its flags: the cells chosen on this board (given, or `count` fresh ones) and the shared settings. */
function experimentRequest(f: Common, info: BoardInfo, countDefault: number, extra: (sel: Selection | undefined) => Record<string, unknown>, levels = 2, maskOnly = true): Record<string, unknown> {
  const sel = selectCells(f, info, { levels, maskOnly });
  if (sel && f.count !== undefined) throw new InvalidArgumentError('--count', f.count, 'counts fresh cells; --cells/--region/--map choose the cells themselves');
  return {
    cells: sel?.cells,
    cellsName: sel?.name,
    count: sel ? undefined : (f.count ?? countDefault),
    array: f.array,
    seed: f.seed,
    vread_V: f.vread,
    width_s: f.width,
    formVteMax_V: f.formVteMax,
    resetVg_V: f.resetVg,
    resetVslMax_V: f.resetVslMax,
    concurrency: f.concurrency,
    ...extra(sel),
  };
}

/** Runs one experiment as a stored job (through the station serving the board, or directly) and prints its outcome. */
export async function runExperiment<T>(kind: ExperimentKind, f: BoardFlags & JobFlags & StationFlags & { json?: boolean; out?: string }, cmd: Command, build: (info: BoardInfo) => Record<string, unknown>, print: (d: T) => void, toJson: (d: T) => unknown, summary?: (d: T) => RunSummary | undefined): Promise<void> {
  const { out, viaStation } = await runExperimentCommand<T>(kind, f, cmd, build);
  writeResultFile(f.out, out.result);
  await finish(out, f.json, print, toJson, !viaStation, summary);
}

function printIv(d: IvDataset): void {
  const s = d.stats;
  process.stdout.write(`run ${d.runId} on ${d.board.id}: I-V loops, ${d.params.cycles} cycles on ${d.summary.cells} cells (${d.summary.ok} measured); compliance gate ${d.config.set.vg_V} V, steps ${d.config.set.step_V} V, read at ${d.vread_V} V\n`);
  process.stdout.write(table(['quantity', 'median', 'mean', 'sigma d2d', 'sigma c2c', 'n', 'no switch'], [
    ['V_SET (V)', f3(s.vset_V.median), f3(s.vset_V.mean), f3(s.vset_V.sigmaD2d), f3(s.vset_V.sigmaC2c), s.vset_V.n, s.vset_V.missing],
    ['V_RESET (V)', f3(s.vreset_V.median), f3(s.vreset_V.mean), f3(s.vreset_V.sigmaD2d), f3(s.vreset_V.sigmaC2c), s.vreset_V.n, s.vreset_V.missing],
  ]));
  process.stdout.write(`on/off ratio per cycle: median ${f3(s.onOff.median, 1)} (p10 ${f3(s.onOff.p10, 1)}, p90 ${f3(s.onOff.p90, 1)}, ${s.onOff.n} loops)\n`);
  process.stdout.write(table(['cell', 'cycle', 'V_SET', 'V_RESET', 'LRS uA', 'HRS uA', 'on/off'], d.cells.slice(0, 16).flatMap((c) => c.cycles.map((y) => [`${c.array}:${c.row},${c.col}`, y.cycle, f3(y.vset_V), f3(y.vreset_V), f3(y.lrs_A * 1e6, 2), f3(y.hrs_A * 1e6, 2), f3(y.onOff, 1)]))));
  if (d.cells.length > 16) process.stdout.write(`(first 16 of ${d.cells.length} cells; every loop is in the result: rram export, --out)\n`);
}

function printEndurance(d: EnduranceDataset): void {
  const s = d.summary;
  process.stdout.write(`run ${d.runId} on ${d.board.id}: endurance, ${d.params.cycles} cycles read every ${d.params.every} on ${s.cells} cells (${s.cycled} cycled); failure: window < ${d.criteria.collapse} x the initial one for ${d.criteria.confirm} reads\n`);
  process.stdout.write(`failed ${s.failed} (stuck at LRS ${s.failures['stuck-lrs']}, stuck at HRS ${s.failures['stuck-hrs']}, window collapse ${s.failures['window-collapse']}), survived ${s.cyclesToFailure.survivors}; cycles to failure: median ${s.cyclesToFailure.median ?? `> ${d.params.cycles} (fewer than half failed)`}, p10 ${s.cyclesToFailure.p10 ?? '-'}${Object.keys(s.notCycled).length ? `; not cycled: ${Object.entries(s.notCycled).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''}\n`);
  const rows = d.window.filter((_, k, a) => a.length <= 24 || k % Math.ceil(a.length / 24) === 0 || k === a.length - 1);
  process.stdout.write(table(['cycle', 'cells', 'window median uA', 'p10', 'p90', 'LRS median uA', 'HRS median uA'], rows.map((w) => [w.cycle, w.n, f3(w.median_A * 1e6, 2), f3(w.p10_A * 1e6, 2), f3(w.p90_A * 1e6, 2), f3(w.lrsMedian_A * 1e6, 2), f3(w.hrsMedian_A * 1e6, 2)])));
}

function printRetention(d: RetentionDataset): void {
  process.stdout.write(`run ${d.runId} on ${d.board.id}: retention of ${d.levels.length} levels on ${d.summary.cells} cells (${d.summary.ok} programmed), ${d.clock} clock, read at ${d.vread_V} V\n`);
  const rows = d.levels.flatMap((l) => [l.origin, ...l.times].map((t) => [l.spec.level, t.t_s, f3(t.age_s, 1) + (t.uncertain_s ? ` (+${t.uncertain_s})` : ''), t.n, f3(t.median_A * 1e6, 2), f3(t.sigmaRobust_A * 1e6, 3), f3(t.driftMedian_A * 1e6, 3), f3(t.driftSigma_A * 1e6, 3)]));
  process.stdout.write(table(['level', 't s', 'age s', 'n', 'median uA', 'robust sigma uA', 'drift median uA', 'drift sigma uA'], rows));
}

/** --vg sets the SET gate itself: a --compliance beside it would not be used. */
function refuseBoth(cmd: Command, vg: number | undefined): void {
  if (vg !== undefined && cmd.getOptionValueSource('compliance') === 'cli') throw new InvalidArgumentError('--compliance', `${+((cmd.getOptionValue('compliance') as number) * 1e6).toPrecision(6)}uA`, `with --vg ${vg}: the gate is given, so no compliance current picks it; give one of them`);
}

export function registerDeviceExperiments(program: Command): void {
  addCommon(program.command('iv').description('quasi-static I-V loops by pulse-and-read staircases in both polarities: SET and RESET voltages and the on/off ratio per cycle'), 16, 'a level map file (CSV/JSON): the cells whose entry is not 0')
    .option('--cycles <n>', 'loops per cell', num('--cycles', { min: 1, max: 1000, int: true }), 3)
    .option('--step <V>', 'staircase step of both branches (a multiple of the DAC step)', num('--step', { min: 0.0001, max: 1 }), 0.02)
    .option('--vg <V>', 'compliance: the gate voltage of the SET branch (default where the calibration puts --compliance)', V('--vg'))
    .option('--compliance <I>', 'the current the default gate limits a nominal cell to', current('--compliance'), 30e-6)
    .option('--vte-max <V>', 'top of the SET staircase (default 2.0, at most vte_max)', V('--vte-max'))
    .option('--vsl-max <V>', 'top of the RESET staircase (default --reset-vsl-max)', V('--vsl-max'))
    .action(async (f: Common & { cycles: number; step: number; vg?: number; compliance: number; vteMax?: number; vslMax?: number }, cmd: Command) => {
      refuseBoth(cmd, f.vg);
      const build = (info: BoardInfo) => experimentRequest(f, info, 16, () => ({ cycles: f.cycles, step_V: f.step, vg_V: f.vg, complianceTarget_A: f.compliance, vteMax_V: f.vteMax, vslMax_V: f.vslMax }));
      await runExperiment('iv', f, cmd, build, printIv, (d: IvDataset) => ({ runId: d.runId, board: d.board.id, summary: d.summary, stats: d.stats, config: d.config }));
    });

  addCommon(program.command('endurance').description('SET/RESET cycling for N cycles with reads every K: the window per read, failures (stuck at LRS or HRS, window collapse) and cycles to failure'), 32, 'a level map file (CSV/JSON): the cells whose entry is not 0')
    .requiredOption('--cycles <N>', 'SET/RESET cycles per cell', num('--cycles', { min: 1, int: true }))
    .option('--every <K>', 'read the window every K cycles', num('--every', { min: 1, int: true }), 100)
    .option('--collapse <f>', 'failure: the window below this share of the cell\'s initial window ...', num('--collapse', { min: 0.001, max: 0.999 }), 0.2)
    .option('--confirm <n>', '... for this many reads in a row', num('--confirm', { min: 1, int: true }), 2)
    .option('--vte <V>', 'SET amplitude (default 1.2, at most vte_max)', V('--vte'))
    .option('--vg <V>', 'SET gate (compliance; default where the calibration puts --compliance)', V('--vg'))
    .option('--compliance <I>', 'the current the default gate limits a nominal cell to', current('--compliance'), 30e-6)
    .option('--vsl <V>', 'RESET amplitude (default --reset-vsl-max)', V('--vsl'))
    .action(async (f: Common & { cycles: number; every: number; collapse: number; confirm: number; vte?: number; vg?: number; compliance: number; vsl?: number }, cmd: Command) => {
      refuseBoth(cmd, f.vg);
      const build = (info: BoardInfo) => experimentRequest(f, info, 32, () => ({ cycles: f.cycles, every: f.every, collapse: f.collapse, confirm: f.confirm, vte_V: f.vte, vg_V: f.vg, complianceTarget_A: f.compliance, vsl_V: f.vsl }));
      await runExperiment('endurance', f, cmd, build, printEndurance, (d: EnduranceDataset) => ({ runId: d.runId, board: d.board.id, summary: d.summary, criteria: d.criteria, window: d.window }));
    });

  addStationOptions(addProgramFlags(addSelectionFlags(addJobOptions(addBoardOptions(program.command('retention').description('program levels by write-verify, then read them at log-spaced times (virtual time on an emulator, real waits on a board; resumable across days): median and sigma drift per level'))), 'a level map file (CSV/JSON): every cell of it at its level')))
    .option('--cells-per-level <M>', 'fresh cells per level (when no cells are chosen)', num('--cells-per-level', { min: 1, int: true }), 32)
    .option('--times <list>', 'read times after programming: durations, "..." continuing a ratio, e.g. 1s,10s,...,1d', logTimes('--times'), logTimes('--times')('1s,10s,...,1d'))
    .option('--json', 'JSON summary')
    .option('--out <file>', 'also write the result dataset here', outFile)
    .action(async (f: Common & ProgramFlags & { cellsPerLevel: number; times: number[] }, cmd: Command) => {
      const po = programOptions(f);
      const build = (info: BoardInfo) => experimentRequest(f, info, 0, (sel) => ({ ...po, cellLevels: sel?.levels, levels: f.levels, cellsPerLevel: f.cellsPerLevel, times_s: f.times, onUnknownOutcome: f.onUnknownOutcome }), f.levels, false);
      await runExperiment('retention', f, cmd, build, printRetention, (d: RetentionDataset) => ({ runId: d.runId, board: d.board.id, clock: d.clock, summary: d.summary, levels: d.levels.map((l) => ({ spec: l.spec, origin: l.origin, times: l.times })) }), (d) => d.summary);
    });
}

