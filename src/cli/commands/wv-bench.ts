/** `rram wv-bench`: write-verify algorithms compared on fresh cells of one board. */
import { listItems } from '../../io/number-table.js';
import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import type { CellAddress } from '../../../drivers/board.js';
import { runJob } from '../../jobs/run-job.js';
import { ALGOS, type Algo } from '../../plans/program-cell.js';
import { characterize, type LevelCdfDataset } from '../../procedures/characterize.js';
import { pickBenchCells } from '../../server/wv-bench-job.js';
import { relativeToIgvva, summarizeAlgo, wvBenchCsv, type AlgoSummary, type LevelRow, type WvBenchResult } from '../../procedures/wv-bench.js';
import { attachProgressBar } from '../../sinks/progress-bar.js';
import { addBoardOptions, openBoardWithCalibration } from '../board-options.js';
import { EXIT } from '../errors.js';
import { abortOnSigint, addJobOptions, openSinks } from '../job-options.js';
import { printJson, table } from '../output.js';
import { positiveDurations, num } from '../parse.js';
import { addProgramFlags, programOptions } from '../program-flags.js';
import type { ProgFlags } from './programming.js';
import { printSetupNotes } from './programming.js';
import { addStationOptions, stationTarget } from '../station-route.js';
import type { BoardInfo } from '../../../drivers/board.js';
import type { ReverifySpec } from '../../procedures/reverify.js';
import type { EmbeddedStore } from '../../store/embedded-store.js';
import type { RunMetadata } from '../../io/schemas/run-metadata.js';
import { wvBenchOnStation } from './wv-bench-station.js';

export interface BenchFlags extends ProgFlags {
  algos: string;
  cellsPerLevel: number;
  relax: number[];
  reads: number;
  array: number;
}

/** "igvva,igvva-predict,igvva-predict+reverify": each entry an algorithm, "+reverify" applying --reverify to it alone. */
export function parseAlgos(raw: string): { label: string; algo: Algo; reverify: boolean }[] {
  const items = listItems('--algos', raw);
  if (!items.length) throw new InvalidArgumentError('--algos', raw, `list one or more of ${ALGOS.join(', ')}`);
  const out = items.map((label) => {
    const [name, suffix] = label.split('+');
    if (!(ALGOS as readonly string[]).includes(name) || (suffix !== undefined && suffix !== 'reverify')) throw new InvalidArgumentError('--algos', label, `each entry is one of ${ALGOS.join(', ')}, optionally with +reverify`);
    return { label, algo: name as Algo, reverify: suffix === 'reverify' };
  });
  if (new Set(items).size !== items.length) throw new InvalidArgumentError('--algos', raw, 'lists an entry twice');
  return out;
}

export function registerWvBench(program: Command): void {
  addStationOptions(addProgramFlags(addJobOptions(addBoardOptions(program.command('wv-bench').description('compare write-verify algorithms on fresh cells of the same board: pulses, time, energy, spread and BER after programming and as the cells relax')))))
    .requiredOption('--algos <list>', `algorithms to compare (${ALGOS.join(', ')}; "+reverify" applies --reverify to one entry only)`)
    .requiredOption('--cells-per-level <M>', 'fresh cells per level and algorithm', num('--cells-per-level', { min: 1, int: true }))
    .option('--relax <list>', 're-read after these times (the spread at each; virtual time on an emulator, real waits on a board), or none', (raw: string) => (raw.trim() === 'none' ? [] : positiveDurations('--relax')(raw)), [1, 1000, 10000])
    .option('--reads <K>', 'read-back reads per cell', num('--reads', { min: 1, max: 100, int: true }), 1)
    .option('--array <N>', 'first array to use', num('--array', { min: 0, int: true }), 0)
    .option('--json', 'JSON summary')
    .option('--out <dir>', 'write wv-bench.json and wv-bench.csv here')
    .action(async function (this: Command, f: BenchFlags) {
      if (this.getOptionValueSource('algo') === 'cli') throw new InvalidArgumentError('--algo', f.algo, 'wv-bench takes --algos LIST');
      if (f.resume) throw new InvalidArgumentError('--resume', f.resume, 'a benchmark cannot be resumed: run it again on fresh cells');
      const entries = parseAlgos(f.algos);
      const anyTagged = entries.some((e) => e.reverify);
      if (anyTagged && !f.reverify) throw new InvalidArgumentError('--algos', f.algos, 'an entry asks for +reverify: give --reverify T[xN]');
      const po = programOptions(f);
      // A station serving the board: one characterize item per entry, consecutive in its queue (wv-bench-station.ts).
      const st = await stationTarget(f);
      if (st) return wvBenchOnStation(st, f, this, entries, po);
      const { store, sinks, metadata } = await openSinks(f);
      const { board, calibration } = await openBoardWithCalibration(f);
      const ac = abortOnSigint();
      const info = board.info();
      const algos: AlgoSummary[] = [];
      const rows: LevelRow[] = [];
      let failure: { label: string; status: string; error?: unknown } | undefined;
      try {
        if (!Number.isInteger(f.array) || f.array < 0 || f.array >= info.arrays) throw new InvalidArgumentError('--array', f.array, `board has arrays 0..${info.arrays - 1}`);
        const per = f.levels * f.cellsPerLevel;
        // Fresh cells for every entry, chosen before the first pulse: a benchmark short of them is refused.
        const cells = await pickBenchCells(store, board, { array: f.array, levels: f.levels, cellsPerLevel: f.cellsPerLevel, seed: f.seed, of: entries.length });
        for (const [k, e] of entries.entries()) {
          const mine: CellAddress[] = cells.slice(k * per, (k + 1) * per);
          const t0 = performance.now();
          const out = await runJob(
            { store, sinks, signal: ac.signal, board, metadata },
            (ctx, signal) =>
              characterize(board, ctx, { ...po, partOf: 'wv-bench', algo: e.algo, reverify: !anyTagged || e.reverify ? po.reverify : undefined, levels: f.levels, cellsPerLevel: f.cellsPerLevel, reads: f.reads, relax_s: f.relax, cells: mine, seed: f.seed, calibration, engine: { signal, concurrency: f.concurrency, onUnknownOutcome: f.onUnknownOutcome as 're-verify' } }),
            { resultName: 'level-cdf', summarize: (d: LevelCdfDataset) => ({ levels: d.levels.map((l) => l.stats), cells: d.summary, wvBench: e.label }) },
            (ctx) => {
              attachProgressBar(ctx.events$);
              if (k === 0) printSetupNotes(ctx);
            },
          );
          if (out.status !== 'completed') {
            failure = { label: e.label, status: out.status, error: out.error };
            break;
          }
          const s = summarizeAlgo(e.algo, out.result!, (performance.now() - t0) / 1000);
          algos.push({ ...s.summary, algo: e.label as Algo });
          rows.push(...s.rows.map((r) => ({ ...r, algo: e.label as Algo })));
        }
      } finally {
        await board.close();
      }
      await reportBench(f, { entries, info, po, calibrationId: calibration?.id, algos, rows, failure, store, metadata });
    });
}

export interface BenchOutcome {
  entries: { label: string }[];
  info: BoardInfo;
  po: { reverify?: ReverifySpec };
  calibrationId?: string;
  algos: AlgoSummary[];
  rows: LevelRow[];
  failure?: { label: string; status: string; error?: unknown };
  store: EmbeddedStore;
  metadata?: RunMetadata;
}

/** The comparison from the entries' runs: stored as a wv-bench run, written (--out), printed; the exit code (directly and through a station alike). */
export async function reportBench(f: BenchFlags, b: BenchOutcome): Promise<void> {
  const { entries, info, po, algos, rows, failure, store, metadata } = b;
  const result: WvBenchResult = {
    format: 'rram-hil/wv-bench',
    version: 1,
    board: info,
    params: { algos: entries.map((e) => e.label), levels: f.levels, cellsPerLevel: f.cellsPerLevel, relax_s: f.relax, reads: f.reads, reverify: po.reverify, seed: f.seed, calibration: b.calibrationId, complete: !failure },
    times_s: [0, ...[...f.relax].sort((a, b) => a - b)],
    algos: relativeToIgvva(algos),
    rows,
  };
  // What was measured is stored and written even when an algorithm's run did not complete.
  if (algos.length) {
    const job = await runJob({ store, metadata }, async (ctx) => {
      ctx.begin({ kind: 'wv-bench', params: result.params, board: info, calibration: info.calibration });
      return result;
    }, { resultName: 'wv-bench' });
    (result.params as Record<string, unknown>).runId = job.runId;
    if (f.out) {
      mkdirSync(f.out, { recursive: true });
      writeFileSync(join(f.out, 'wv-bench.json'), JSON.stringify(result, null, 1));
      writeFileSync(join(f.out, 'wv-bench.csv'), wvBenchCsv(result));
    }
    if (f.json) printJson({ runId: job.runId, ...result, rows: undefined, board: undefined });
    else {
      const t = result.times_s;
      process.stdout.write(`wv-bench run ${job.runId}: ${f.levels} levels x ${f.cellsPerLevel} fresh cells per algorithm on ${info.id}\n`);
      process.stdout.write(
        table(
          ['algorithm', 'run', 'LRS pulses/cell', 'p99', 'success %', 'sigma uA', 'vs igvva', 'energy pJ', 'pulse us', ...t.map((x) => `BER@${x}s`)],
          result.algos.map((a) => [a.algo, a.runId, a.lrsPulsesMean.toFixed(1), a.lrsPulsesP99.toFixed(0), (100 * a.success).toFixed(2), (a.lrsSigmaRobustMean_A * 1e6).toFixed(3), a.sigmaVsIgvva?.toFixed(2) ?? '-', (a.energyMean_J * 1e12).toFixed(2), (a.pulseTimeMean_s * 1e6).toFixed(1), ...a.ber.map((b) => `${b.empirical.toExponential(1)} (G ${b.gaussianWorst.toExponential(1)})`)]),
        ),
      );
      process.stdout.write('\nper level (every cell of the level, forming and reset-verify included; spread of the programmed cells right after verify and at each time)\n');
      process.stdout.write(table(['algorithm', 'level', 'pulses mean', 'median', 'p99', 'success %', 'pulse us', 'energy pJ', 'sigma@verify uA', ...t.map((x) => `sigma@${x}s`)], result.rows.map((r) => [r.algo, r.level, r.pulsesMean.toFixed(1), r.pulsesMedian.toFixed(0), r.pulsesP99.toFixed(0), (100 * r.success).toFixed(2), (r.pulseTimeMean_s * 1e6).toFixed(1), (r.energyMean_J * 1e12).toFixed(2), (r.verify.sigmaRobust_A * 1e6).toFixed(3), ...r.sigmaRobust_A.map((x) => (x * 1e6).toFixed(3))])));
      if (f.out) process.stdout.write(`wrote ${join(f.out, 'wv-bench.json')}, ${join(f.out, 'wv-bench.csv')}\n`);
    }
  }
  if (failure) {
    process.stderr.write(`rram: wv-bench stopped: the ${failure.label} run ${failure.status}${failure.error ? `: ${(failure.error as Error).message}` : ''}; ${algos.length} algorithm(s) measured and stored\n`);
    process.exit(failure.status === 'aborted' ? EXIT.aborted : EXIT.failure);
  }
}
