/**
 * `rram reverify --run RUN`: read the cells an earlier run programmed (all of them, or those
 * chosen with --cells/--region/--map) and program again, by that run's own settings, exactly the
 * ones read outside their level's band (src/procedures/reverify-selection.ts). The map's
 * "Re-verify selection" sends the same request; through a station it joins the board's queue.
 */
import { outFile } from '../out-path.js';
import type { Command } from 'commander';
import type { BoardInfo } from '../../../drivers/board.js';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import type { ReverifySelectionDataset } from '../../procedures/reverify-selection.js';
import { addBoardOptions, type BoardFlags } from '../board-options.js';
import { addSelectionFlags, selectCells, type SelectionFlags } from '../cell-selection.js';
import { addJobOptions, type JobFlags } from '../job-options.js';
import { table } from '../output.js';
import { duration, fraction, num } from '../parse.js';
import { addStationOptions, type StationFlags } from '../station-route.js';
import { runExperiment } from './device-experiments.js';

interface ReverifyFlags extends BoardFlags, JobFlags, SelectionFlags, StationFlags {
  run: string;
  band: string;
  passes: number;
  after: number;
  minSuccess: number;
  includePulsedLater?: boolean;
  onUnknownOutcome?: string;
  json?: boolean;
  out?: string;
}

const uA = (x: number | null) => (x === null ? '-' : (x * 1e6).toFixed(2));

function printReverify(d: ReverifySelectionDataset): void {
  const s = d.summary;
  process.stdout.write(`run ${d.runId}: re-verify of ${s.checked} cells against the targets of ${d.source.kind} run ${d.source.runId} (${d.band === 'decision' ? 'decision band' : 'inner half of the band'})${s.notProgrammed ? `; ${s.notProgrammed} chosen cells the run had not programmed, only read` : ''}\n`);
  process.stdout.write(`re-programmed ${s.reprogrammed} (out of band when read), left alone ${s.checked - s.reprogrammed}; in their decision band after: ${s.inBandAfter} of ${s.checked}; ok ${s.ok} of ${s.cells}${Object.keys(s.failures).length ? ` (failed: ${Object.entries(s.failures).map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}\n`);
  const moved = d.cells.filter((c) => c.action === 'reprogrammed');
  if (moved.length) process.stdout.write(table(['cell', 'level', 'target uA', 'before uA', 'after uA', 'pulses', 'status'], moved.slice(0, 20).map((c) => [`${c.cell.array}:${c.cell.row},${c.cell.col}`, c.level, uA(c.target_A), uA(c.before_A), uA(c.after_A), c.pulses, c.status])));
  if (moved.length > 20) process.stdout.write(`(first 20 of ${moved.length} re-programmed cells; every cell is in the result: --out, rram export)\n`);
}

export function registerReverify(program: Command): void {
  addStationOptions(addSelectionFlags(addJobOptions(addBoardOptions(program.command('reverify').description("read the cells a program, characterize, program-net or retention run programmed and program again, by that run's settings, exactly those read outside their level's band"))), 'refused here: the run\'s own targets are checked (use --region or --cells)'))
    .requiredOption('--run <id>', 'the run whose targets the cells are checked against (a re-verify run: the run it checked)')
    .option('--band <decision|inner>', "re-program cells outside their level's decision band (one pass), or outside its inner half (up to --passes passes)", 'decision')
    .option('--passes <N>', 'passes with --band inner', num('--passes', { min: 1, max: 10, int: true }), 1)
    .option('--after <T>', 'wait this long before reading (e.g. 10s)', duration('--after'), 0)
    .option('--min-success <f>', 'share of the checked cells that must end programmed: below it the command exits non-zero', fraction('--min-success'), 0.95)
    .option('--on-unknown-outcome <re-verify|stop>', 'a pulse whose outcome the link lost: re-read the cell and go on, or stop', 're-verify')
    .option('--include-pulsed-later', 'also re-verify chosen cells a later run pulsed (refused by default: they hold that run\'s work)')
    .option('--json', 'JSON summary')
    .option('--out <file>', 'also write the result dataset here', outFile)
    .action(async (f: ReverifyFlags, cmd: Command) => {
      if (f.band !== 'decision' && f.band !== 'inner') throw new InvalidArgumentError('--band', f.band, 'expected decision or inner');
      if (f.band === 'decision' && f.passes !== 1) throw new InvalidArgumentError('--passes', f.passes, 'a re-verify against the decision band is one pass (--band inner takes up to 10)');
      // A level map names a level for every cell, and the run's own targets are what count here.
      if (f.map) throw new InvalidArgumentError('--map', f.map, 'a re-verify checks cells against the run\'s own targets: choose the cells with --region or --cells (or none: every cell the run programmed)');
      const arrayOnly = cmd.getOptionValueSource('array') === 'cli' && !f.cells && !f.region;
      const build = (info: BoardInfo) => {
        const sel = selectCells(f, info, { levels: 2, maskOnly: true });
        return { run: f.run, cells: sel?.cells, ...(arrayOnly ? { array: f.array } : {}), band: f.band, passes: f.passes, after_s: f.after, minSuccess: f.minSuccess, includePulsedLater: !!f.includePulsedLater, concurrency: f.concurrency, onUnknownOutcome: f.onUnknownOutcome };
      };
      await runExperiment('reverify', f, cmd, build, printReverify, (d: ReverifySelectionDataset) => ({ runId: d.runId, source: d.source, band: d.band, summary: d.summary, cells: d.cells }), (d) => d.summary);
    });
}
