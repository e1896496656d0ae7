/** `rram characterize`, `rram program`, `rram runs`, `rram export`. */
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { CellArrayModel } from '../../../drivers/emulated/cell-model.js';
import { loadCalibration } from '../../../calibration/calibration.js';
import { defaultLevels } from '../../analysis/levels.js';
import { runJob, type JobOutcome } from '../../jobs/run-job.js';
import { characterize, type LevelCdfDataset } from '../../procedures/characterize.js';
import { patternMap, readMapFile } from '../../procedures/level-map.js';
import { programArray, type ProgramArrayResult } from '../../procedures/program-array.js';
import { attachProgressBar } from '../../sinks/progress-bar.js';
import { exportRun } from '../../store/export.js';
import { addBoardOptions, openBoard, type BoardFlags } from '../board-options.js';
import { EXIT } from '../errors.js';
import { abortOnSigint, addJobOptions, openSinks, type JobFlags } from '../job-options.js';
import { current, durations, num } from '../parse.js';
import { printJson, table, uA } from '../output.js';
import { EmbeddedStore } from '../../store/embedded-store.js';
import { formatLevelTable } from '../level-table.js';

export interface ProgFlags extends BoardFlags, JobFlags {
  algo: string;
  step?: number;
  levels: number;
  tolerance?: number;
  maxPulses?: number;
  width?: number;
  ispvaVg?: string;
  json?: boolean;
  out?: string;
}

/** Write-verify knobs shared by every command that programs cells. */
export function addWriteVerifyOptions(c: Command): Command {
  return c
    .option('--algo <name>', 'igvva | ispva', 'igvva')
    .option('--step <V>', 'step of the stepped voltage (IGVVA: VG, default 0.01 = IGVVA-10; ISPVA: VTE, default 0.1)', num('--step', { min: 0.001, max: 1 }))
    .option('--levels <N>', 'levels in total: HRS + N-1 LRS levels over 10-45 uA', num('--levels', { min: 2, max: 8, int: true }), 8)
    .option('--tolerance <I>', 'two-sided band: reset and retry above target + tolerance (e.g. 2uA); default off', current('--tolerance'))
    .option('--max-pulses <n>', 'most SET pulses per write-verify loop', num('--max-pulses', { min: 1, int: true }))
    .option('--width <s>', 'pulse width (s)', num('--width', { min: 0 }))
    .option('--ispva-vg <list>', 'ISPVA gate voltage per level, comma-separated (default: from the calibration transfer curve)');
}

function addProgrammingOptions(c: Command): Command {
  return addWriteVerifyOptions(addJobOptions(addBoardOptions(c)))
    .option('--json', 'JSON output')
    .option('--out <file>', 'also write the result dataset here');
}

/** ISPVA's fixed gate per level: explicit list, or the calibration's nominal transfer inverted. */
export function ispvaGates(f: Pick<ProgFlags, 'algo' | 'ispvaVg' | 'calibration'>, levels: number): number[] | undefined {
  if (f.algo !== 'ispva') return undefined;
  if (f.ispvaVg) {
    const g = f.ispvaVg.split(',').map(Number);
    if (g.length !== levels || g.some((x) => !Number.isFinite(x))) throw new InvalidArgumentError('--ispva-vg', f.ispvaVg, `needs ${levels} numbers`);
    return g;
  }
  const m = new CellArrayModel(loadCalibration(f.calibration), 1, 0);
  return defaultLevels(levels).map((s) => Math.min(3.3, m.gateFor(Math.min(240e-6, s.target_A / 0.2 + 2e-6))));
}

export async function finish<T>(o: JobOutcome<T>, json: boolean | undefined, print: (r: T) => void, toJson: (r: T) => unknown, resumable = true): Promise<void> {
  if (o.status !== 'completed') {
    process.stderr.write(`rram: run ${o.runId} ${o.status}: ${(o.error as Error)?.message ?? ''}\nrram: everything measured so far is in the store` + (resumable ? `; resume with --resume ${o.runId}\n` : '\n'));
    if (o.status === 'aborted') process.exit(EXIT.aborted);
    throw o.error;
  }
  if (json) printJson(toJson(o.result!));
  else print(o.result!);
}

export function registerProgramming(program: Command): void {
  addProgrammingOptions(program.command('characterize').description('program M cells per level by write-verify, read back, publish level CDFs'))
    .requiredOption('--cells-per-level <M>', 'cells per level', num('--cells-per-level', { min: 1, int: true }))
    .option('--reads <K>', 'read-back reads per cell', num('--reads', { min: 1, max: 100, int: true }), 1)
    .option('--relax <list>', 're-read after these times, e.g. 1s,60s,1h', durations('--relax'), [] as number[])
    .option('--array <N>', 'first array to use', num('--array', { min: 0, int: true }), 0)
    .action(async (f: ProgFlags & { cellsPerLevel: number; reads: number; relax: number[]; array: number }) => {
      if (f.algo !== 'igvva' && f.algo !== 'ispva') throw new InvalidArgumentError('--algo', f.algo, 'must be igvva or ispva');
      const board = await openBoard(f);
      const { store, sinks } = await openSinks(f);
      const ac = abortOnSigint();
      const opts = { algo: f.algo as 'igvva' | 'ispva', step_V: f.step, tolerance_A: f.tolerance, maxPulses: f.maxPulses, width_s: f.width, levels: f.levels, cellsPerLevel: f.cellsPerLevel, reads: f.reads, relax_s: f.relax, array: f.array, seed: f.seed, ispvaGates_V: ispvaGates(f, f.levels) };
      const out = await runJob(
        { store, sinks, signal: ac.signal, runId: f.resume, board },
        (ctx, signal) => characterize(board, ctx, { ...opts, engine: { signal, concurrency: f.concurrency }, journalPath: store.journalPath(ctx.runId) }),
        { resultName: 'level-cdf', summarize: (d: LevelCdfDataset) => ({ levels: d.levels.map((l) => l.stats) }) },
        (ctx) => attachProgressBar(ctx.events$),
      );
      await board.close();
      if (out.result && f.out) writeFileSync(f.out, JSON.stringify(out.result));
      await finish(out, f.json, (d) => process.stdout.write(formatLevelTable(d)), (d) => ({ runId: d.runId, board: d.board.id, params: d.params, levels: d.levels.map((l) => ({ ...l.spec, ...l.stats })), overlaps: d.overlaps }));
    });

  addProgrammingOptions(program.command('program').description('program a level map onto an array by write-verify'))
    .requiredOption('--map <file|pattern>', 'level map: a CSV/JSON file, or random | checkerboard | stripes')
    .option('--array <N>', 'array', num('--array', { min: 0, int: true }), 0)
    .action(async (f: ProgFlags & { map: string; array: number }) => {
      if (f.algo !== 'igvva' && f.algo !== 'ispva') throw new InvalidArgumentError('--algo', f.algo, 'must be igvva or ispva');
      const board = await openBoard(f);
      const info = board.info();
      const map = ['random', 'checkerboard', 'stripes'].includes(f.map) ? patternMap(f.map, f.levels, info.rows, info.cols, f.seed) : readMapFile(f.map, f.levels, info.rows, info.cols);
      const { store, sinks } = await openSinks(f);
      const ac = abortOnSigint();
      const out = await runJob(
        { store, sinks, signal: ac.signal, runId: f.resume, board },
        (ctx, signal) =>
          programArray(board, ctx, { algo: f.algo as 'igvva' | 'ispva', step_V: f.step, tolerance_A: f.tolerance, maxPulses: f.maxPulses, width_s: f.width, levels: f.levels, array: f.array, map, mapName: f.map, ispvaGates_V: ispvaGates(f, f.levels), engine: { signal, concurrency: f.concurrency }, journalPath: store.journalPath(ctx.runId) }),
        { resultName: 'program', summarize: (r: ProgramArrayResult) => ({ misplaced: r.misplaced, totalPulses: r.totalPulses }) },
        (ctx) => attachProgressBar(ctx.events$),
      );
      await board.close();
      if (out.result && f.out) writeFileSync(f.out, JSON.stringify(out.result));
      await finish(
        out,
        f.json,
        (r) => {
          process.stdout.write(`run ${r.runId}: programmed ${r.map.length} cells of array ${r.array}, ${r.totalPulses} pulses, ${r.misplaced} read back outside their band\n`);
          process.stdout.write(table(['level', 'target uA', 'n', 'median uA', 'sigma uA', 'pulses', 'success'], r.stats.map((s) => [s.level, uA(s.target_A), s.n, uA(s.median_A), uA(s.sigma_A), s.pulsesMean.toFixed(1), (s.successRate * 100).toFixed(1) + '%'])));
        },
        (r) => ({ ...r, map: undefined, readback_A: undefined, status: undefined, pulses: undefined }),
      );
    });

  program
    .command('runs')
    .description('list the runs in the embedded store')
    .option('--store <dir>', 'store folder', process.env.RRAM_STORE ?? 'rram-data')
    .option('--json', 'JSON output')
    .action((f: { store: string; json?: boolean }) => {
      const runs = new EmbeddedStore(f.store).listRuns();
      if (f.json) printJson(runs.map((r) => ({ ...r, params: undefined, board: undefined })));
      else process.stdout.write(table(['run', 'kind', 'status', 'started', 'events', 'results'], runs.map((r) => [r.id, r.kind, r.status, r.started, r.events, r.results.join(' ')])));
    });

  program
    .command('export')
    .description('export a run (events and results) as CSV or JSON')
    .requiredOption('--run <id>', 'run id (see rram runs)')
    .option('--format <fmt>', 'csv | json', 'csv')
    .option('--store <dir>', 'store folder', process.env.RRAM_STORE ?? 'rram-data')
    .option('--type <event>', 'only events of this type (pulse, read, cell-done, ...)')
    .option('--out <file>', 'write here instead of stdout')
    .action(async (f: { run: string; format: string; store: string; type?: string; out?: string }) => {
      if (f.format !== 'csv' && f.format !== 'json') throw new InvalidArgumentError('--format', f.format, 'must be csv or json');
      await exportRun(new EmbeddedStore(f.store), f.run, f.format, f.out ? f.out : process.stdout, f.type as never);
    });
}
