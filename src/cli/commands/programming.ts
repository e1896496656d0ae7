/** `rram characterize`, `rram program`, `rram runs`, `rram export`. */
import { outFile } from '../out-path.js';
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { DataError, InvalidArgumentError, PortError, StoreWriteError } from '../../../drivers/errors.js';
import { formatFailures } from '../../analysis/levels.js';
import { runJob, type JobOutcome } from '../../jobs/run-job.js';
import type { RunContext } from '../../engine/run-context.js';
import { characterize, type LevelCdfDataset } from '../../procedures/characterize.js';
import { patternMap, readMapFile } from '../../procedures/level-map.js';
import { programArray, type ProgramArrayResult, type RunSummary } from '../../procedures/program-array.js';
import { attachProgressBar } from '../../sinks/progress-bar.js';
import { exportRun } from '../../store/export.js';
import { exportHdf5 } from '../../store/export-hdf5.js';
import { addBoardOptions, openBoardWithCalibration, type BoardFlags } from '../board-options.js';
import { EXIT } from '../errors.js';
import { eventTypeFilter } from '../../engine/events.js';
import { parseFile, parseJsonText } from '../../io/validate.js';
import { CellListJson } from '../../io/schemas/cell-list.js';
import { abortOnSigint, addJobOptions, openSinks, type JobFlags } from '../job-options.js';
import { duration, durations, num, positiveDurations } from '../parse.js';
import { pruneRuns } from '../../store/retention.js';
import { printJson, table, uA, writeResultFile } from '../output.js';
import { EmbeddedStore } from '../../store/embedded-store.js';
import { boardHistory } from '../../store/board-history.js';
import { freshCellsFor } from '../../procedures/fresh-cells.js';
import { formatLevelTable } from '../level-table.js';
import { addProgramFlags, PROGRAM_FLAGS, programOptions, type ProgramFlags } from '../program-flags.js';
import { parseNumberTable } from '../../io/number-table.js';
import { addStationOptions, refuseNotCarried, refuseUncarried, stationTarget, type StationFlags } from '../station-route.js';
import { runOnStation, stationBoardInfo } from '../station-client.js';
import type { BoardInfo } from '../../../drivers/board.js';
import { metadataFromFlags, type MetadataFlags } from '../metadata-flags.js';
import type { Subject } from 'rxjs';
import type { RunEvent } from '../../engine/events.js';

/** What a CLI run shows on stderr: the progress bar, warnings and the preflight's notes. */
export function consoleSinks(events$: Subject<RunEvent>): void {
  attachProgressBar(events$);
  printSetupNotes({ events$ });
}

/** The run's metadata for a station request (absent when no flag gave any). */
export function stationMetadata(f: MetadataFlags): Record<string, unknown> {
  const m = metadataFromFlags(f);
  return Object.keys(m).length ? { metadata: m } : {};
}

export interface ProgFlags extends BoardFlags, JobFlags, ProgramFlags, StationFlags {
  json?: boolean;
  out?: string;
}

function addProgrammingOptions(c: Command): Command {
  return addStationOptions(addProgramFlags(addJobOptions(addBoardOptions(c))))
    .option('--json', 'JSON output')
    .option('--out <file>', 'also write the result dataset here', outFile);
}

/** Tells the user, as the run starts, what was adapted to this board (the preflight's notes). */
export function printSetupNotes(ctx: Pick<RunContext, 'events$'>): void {
  ctx.events$.subscribe((e) => {
    if (e.type !== 'run-start' || !e.setup) return;
    const notes = (e.setup.notes as string[] | undefined) ?? [];
    for (const n of notes) process.stderr.write(`rram: adapted to ${e.board?.id ?? 'the board'}: ${n}\n`);
  });
}

/**
 * Prints the outcome. A run that did not complete says so and exits non-zero (a resume is
 * suggested only for a stored, resumable run); a completed run below --min-success prints why
 * and exits 3 after everything is stored.
 */
export async function finish<T>(o: JobOutcome<T>, json: boolean | undefined, print: (r: T) => void, toJson: (r: T) => unknown, resumable = true, summary?: (r: T) => RunSummary | undefined): Promise<void> {
  if (o.status !== 'completed') {
    if (o.error instanceof StoreWriteError) {
      // One line: what failed, that the run is kept, how to go on.
      process.stderr.write(`rram: run ${o.runId} failed: ${o.error.message}; everything written before is in the store${resumable ? `; free space and resume with --resume ${o.runId}` : ''}\n`);
      process.exit(EXIT.failure);
    }
    if (o.error instanceof PortError) {
      // The board went away under the run: not a failure of the run's own making. The port comes first.
      const back = resumable && o.stored ? ` When the board answers again (\`rram info --port ${o.error.path}\`), continue the run with --resume ${o.runId}.` : '';
      process.stderr.write(`rram: ${o.error.message}\nrram: run ${o.runId} stopped: the board is unreachable; everything measured before is in the store (pulses in flight recorded as of unknown outcome).${back}\n`);
      process.exit(EXIT.port);
    }
    const hint = o.stored ? `rram: run ${o.runId} ${o.status}; everything measured so far is in the store${resumable ? `; resume with --resume ${o.runId}` : ''}\n` : '';
    process.stderr.write(hint);
    if (o.status === 'aborted') {
      process.stderr.write(`rram: ${(o.error as Error)?.message ?? 'aborted'}\n`);
      process.exit(EXIT.aborted);
    }
    throw o.error; // reportAndExit prints it once, with the exit code its kind deserves
  }
  if (json) printJson(toJson(o.result!));
  else print(o.result!);
  const s = summary?.(o.result!);
  if (s?.belowThreshold) {
    process.stderr.write(`rram: run ${o.runId}: only ${s.ok} of ${s.cells} cells programmed (${(100 * s.successRate).toFixed(1)} %, below --min-success ${(100 * s.minSuccess).toFixed(0)} %); failures: ${formatFailures(s.failures)}. Everything measured is stored (rram export --run ${o.runId}).\n`);
    process.exitCode = EXIT.belowThreshold;
  }
}

/** Cells of an array to program: a region "R0:R1,C0:C1" (inclusive) or a file of "row,col[,level]" lines / JSON. */
export function regionCells(raw: string, rows: number, cols: number): number[] {
  const m = /^\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*$/.exec(raw);
  if (!m) throw new InvalidArgumentError('--region', raw, 'expected R0:R1,C0:C1 (inclusive), e.g. 0:31,0:31');
  const [r0, r1, c0, c1] = m.slice(1).map(Number);
  if (r0 > r1 || c0 > c1 || r1 >= rows || c1 >= cols) throw new InvalidArgumentError('--region', raw, `must lie within rows 0..${rows - 1}, cols 0..${cols - 1} with R0 <= R1 and C0 <= C1`);
  const out: number[] = [];
  for (let r = r0; r <= r1; r++) for (let c = c0; c <= c1; c++) out.push(r * cols + c);
  return out;
}

/**
 * The cells of `--cells FILE`: CSV lines `row,col[,level]` (an optional header, '#' comments;
 * csv-parse, every field strict: an empty or non-numeric one is refused naming the line) or JSON
 * `[[row,col,level],...]` / `[{row,col,level},...]`.
 */
export function cellsFile(file: string, rows: number, cols: number, levels: number): { cells: number[]; levels?: Map<number, number> } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DataError(file, `cannot read the cell list: ${(e as Error).message}`);
  }
  let rowsIn: { where: string; v: unknown[] }[];
  const t0 = text.replace(/^\uFEFF/, '').trimStart();
  // JSON is a list; an object (or JSON gone wrong) is said to be JSON, not read as a one-field CSV line.
  if (t0.startsWith('{')) throw new DataError(file, 'a JSON object: --cells takes a JSON list ([[row, col, level?], ...] or [{row, col, level?}, ...]) or CSV lines row,col[,level]');
  if (t0.startsWith('[')) {
    const j = parseFile(CellListJson, parseJsonText(t0, file), file);
    rowsIn = j.map((x, k) => ({ where: `entry ${k + 1}`, v: Array.isArray(x) ? x : x.level === undefined ? [x.row, x.col] : [x.row, x.col, x.level] }));
  } else rowsIn = parseNumberTable(text, file, { columns: ['row', 'col', 'level'], fields: [2, 3] }).map((r) => ({ where: `line ${r.line}`, v: r.values }));
  const cells: number[] = [];
  const lv = new Map<number, number>();
  const seen = new Set<number>();
  for (const { where, v } of rowsIn) {
    const [row, col, level] = v;
    const int = (x: unknown, n: number) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < n;
    if (!int(row, rows)) throw new DataError(file, `${where}: row ${JSON.stringify(row)} is not an integer in 0..${rows - 1}`);
    if (!int(col, cols)) throw new DataError(file, `${where}: col ${JSON.stringify(col)} is not an integer in 0..${cols - 1}`);
    const i = (row as number) * cols + (col as number);
    if (seen.has(i)) throw new DataError(file, `${where}: cell ${row},${col} listed twice`);
    seen.add(i);
    cells.push(i);
    if (v.length >= 3) {
      if (!int(level, levels)) throw new DataError(file, `${where}: level ${JSON.stringify(level)} is not an integer in 0..${levels - 1}`);
      lv.set(i, level as number);
    }
  }
  if (!cells.length) throw new DataError(file, 'no cells listed');
  if (lv.size && lv.size !== cells.length) throw new DataError(file, 'give a level for every cell or for none');
  return { cells, levels: lv.size ? lv : undefined };
}

const PATTERNS = ['random', 'checkerboard', 'stripes'];

/** What `rram program` programs on a board of this geometry: the level map (pattern, file, --cells levels) and the cells (--region, --cells). */
function programTarget(f: { map?: string; region?: string; cells?: string; levels: number; seed: number }, info: Pick<BoardInfo, 'rows' | 'cols'>) {
  const listed = f.cells ? cellsFile(f.cells, info.rows, info.cols, f.levels) : undefined;
  if (!f.map && !listed?.levels) throw new InvalidArgumentError('--map', f.map, 'give a level map (file or pattern), or --cells with a level per cell');
  if (f.map && listed?.levels && !f.region) throw new InvalidArgumentError('--map', f.map, `--cells ${f.cells} gives a level for every cell it lists, so the map would not be used: give one of them`);
  const map = f.map ? (PATTERNS.includes(f.map) ? patternMap(f.map, f.levels, info.rows, info.cols, f.seed) : readMapFile(f.map, f.levels, info.rows, info.cols)) : new Uint8Array(info.rows * info.cols);
  if (listed?.levels) for (const [i, l] of listed.levels) map[i] = l;
  const cells = f.region ? regionCells(f.region, info.rows, info.cols) : listed?.cells;
  return { map, mapName: f.map ?? `cells ${f.cells}`, cells, cellsName: f.region ? `region ${f.region}` : f.cells ? `cells ${f.cells}` : 'all', listedLevels: !!listed?.levels };
}

export function registerProgramming(program: Command): void {
  addProgrammingOptions(program.command('characterize').description('program M cells per level by write-verify, read back, publish level CDFs'))
    .requiredOption('--cells-per-level <M>', 'cells per level', num('--cells-per-level', { min: 1, int: true }))
    .option('--reads <K>', 'read-back reads per cell', num('--reads', { min: 1, max: 100, int: true }), 1)
    .option('--relax <list>', 're-read after these times, e.g. 1s,60s,1h', positiveDurations('--relax'), [] as number[])
    .option('--array <N>', 'first array to use', num('--array', { min: 0, int: true }), 0)
    .option('--fresh-cells', 'program only cells no earlier run of this board pulsed (the store\'s history, and COUNTERS where the board has them): a run `rram calibrate` and `rram twin` accept')
    .action(async (f: ProgFlags & { cellsPerLevel: number; reads: number; relax: number[]; array: number; freshCells?: boolean }, cmd: Command) => {
      const po = programOptions(f);
      const print = (d: LevelCdfDataset) => process.stdout.write(formatLevelTable(d));
      const toJson = (d: LevelCdfDataset) => ({ runId: d.runId, board: d.board.id, params: d.params, setup: d.setup, summary: d.summary, levels: d.levels.map((l) => ({ ...l.spec, ...l.stats })), overlaps: d.overlaps });
      const st = await stationTarget(f);
      if (st) {
        // The board is a station's: the run joins its queue and is followed here as if local.
        refuseNotCarried(cmd, st);
        refuseUncarried(cmd, [...PROGRAM_FLAGS, 'cellsPerLevel', 'reads', 'relax', 'array', 'freshCells', 'concurrency', 'resume'], st);
        // Every write-verify setting as programOptions makes it for the direct run.
        const request = { kind: 'characterize', ...po, levels: f.levels, cellsPerLevel: f.cellsPerLevel, reads: f.reads, array: f.array, seed: f.seed, ...(f.relax.length ? { relax_s: f.relax } : {}), ...(f.freshCells ? { freshCells: true } : {}), concurrency: f.concurrency, onUnknownOutcome: f.onUnknownOutcome, ...stationMetadata(f) };
        const out = await runOnStation<LevelCdfDataset>(st, request, 'level-cdf', 'rram characterize', consoleSinks, { resume: f.resume });
        writeResultFile(f.out, out.result);
        return finish(out, f.json, print, toJson, true, (d) => d.summary);
      }
      if (f.freshCells && f.resume) throw new InvalidArgumentError('--fresh-cells', true, 'a run on fresh cells cannot be resumed (its cells are not fresh any more): start a new run');
      const { store, sinks, metadata } = await openSinks(f);
      const { board, calibration } = await openBoardWithCalibration(f);
      const ac = abortOnSigint();
      let out: JobOutcome<LevelCdfDataset>;
      try {
        const history = await boardHistory(store, board.info(), { except: f.resume });
        const cells = f.freshCells ? await freshCellsFor(board, f.array, f.levels * f.cellsPerLevel, f.seed, history.pulsed) : undefined;
        out = await runJob(
          { store, sinks, signal: ac.signal, runId: f.resume, resume: !!f.resume, board, metadata },
          (ctx, signal) =>
            characterize(board, ctx, { ...po, knownFormed: history.formed, cells, levels: f.levels, cellsPerLevel: f.cellsPerLevel, reads: f.reads, relax_s: f.relax, array: f.array, seed: f.seed, calibration, engine: { signal, concurrency: f.concurrency, onUnknownOutcome: f.onUnknownOutcome as 're-verify' } }),
          { resultName: 'level-cdf', summarize: (d: LevelCdfDataset) => ({ levels: d.levels.map((l) => l.stats), cells: d.summary }), verdict: (d) => (d.summary.belowThreshold ? { belowMinSuccess: true, ...d.summary } : undefined) },
          (ctx) => consoleSinks(ctx.events$),
        );
      } finally {
        await board.close();
      }
      writeResultFile(f.out, out.result);
      await finish(out, f.json, print, toJson, true, (d) => d.summary);
    });

  addProgrammingOptions(program.command('program').description('program a level map onto an array (or part of it) by write-verify'))
    .option('--map <file|pattern>', 'level map: a CSV/JSON file, or random | checkerboard | stripes (not needed when --cells gives levels)')
    .option('--array <N>', 'array', num('--array', { min: 0, int: true }), 0)
    .option('--region <R0:R1,C0:C1>', 'program only this rectangle of the array (inclusive)')
    .option('--cells <file>', 'program only the cells listed (row,col[,level] per line, or JSON [[row,col,level],...])')
    .action(async (f: ProgFlags & { map?: string; array: number; region?: string; cells?: string }, cmd: Command) => {
      const po = programOptions(f);
      if (f.region && f.cells) throw new InvalidArgumentError('--region', f.region, 'give --region or --cells, not both');
      const printProgram = (r: ProgramArrayResult) => {
        const s = r.summary;
        process.stdout.write(`run ${r.runId}: ${s.ok} of ${s.cells} cells of array ${r.array} programmed (${(100 * s.successRate).toFixed(1)} %; failures: ${formatFailures(s.failures)}), ${r.totalPulses} pulses; ${r.misplaced} programmed cells read back outside their band\n`);
        process.stdout.write(table(['level', 'target uA', 'n', 'ok', 'failures', 'median uA', 'sigma uA', 'pulses', 'success', 'in band'], r.stats.map((s) => [s.level, uA(s.target_A), s.n, s.nOk, formatFailures(s.failures), s.nOk ? uA(s.median_A) : '-', s.nOk ? uA(s.sigma_A) : '-', s.nOk ? s.pulsesMean.toFixed(1) : '-', (s.successRate * 100).toFixed(1) + '%', s.n ? (s.inBand ? 'yes' : 'NO') : '-'])));
      };
      const programJson = (r: ProgramArrayResult) => ({ ...r, map: undefined, readback_A: undefined, status: undefined, pulses: undefined });
      const st = await stationTarget(f);
      if (st) {
        refuseNotCarried(cmd, st);
        refuseUncarried(cmd, [...PROGRAM_FLAGS, 'map', 'array', 'region', 'cells', 'concurrency', 'resume'], st);
        // The map and the cells resolved here, on the station's board geometry (a file never goes over the API).
        const t = programTarget(f, (await stationBoardInfo(st, true)).info());
        const pattern = f.map && PATTERNS.includes(f.map) && !t.listedLevels;
        const request = { kind: 'program', ...po, levels: f.levels, array: f.array, seed: f.seed, ...(pattern ? { map: f.map } : { mapLevels: Array.from(t.map) }), mapName: t.mapName, ...(t.cells ? { cells: t.cells } : {}), cellsName: t.cellsName, concurrency: f.concurrency, onUnknownOutcome: f.onUnknownOutcome, ...stationMetadata(f) };
        const out = await runOnStation<ProgramArrayResult>(st, request, 'program', 'rram program', consoleSinks, { resume: f.resume });
        writeResultFile(f.out, out.result);
        return finish(out, f.json, printProgram, programJson, true, (r) => r.summary);
      }
      const { store, sinks, metadata } = await openSinks(f);
      const { board, calibration } = await openBoardWithCalibration(f);
      try {
        const info = board.info();
        const { map, mapName, cells, cellsName } = programTarget(f, info);
        const ac = abortOnSigint();
        const history = await boardHistory(store, info, { except: f.resume });
        const out = await runJob(
          { store, sinks, signal: ac.signal, runId: f.resume, resume: !!f.resume, board, metadata },
          (ctx, signal) =>
            programArray(board, ctx, { ...po, knownFormed: history.formed, levels: f.levels, array: f.array, map, mapName, cells, cellsName, calibration, engine: { signal, concurrency: f.concurrency, onUnknownOutcome: f.onUnknownOutcome as 're-verify' } }),
          { resultName: 'program', summarize: (r: ProgramArrayResult) => ({ misplaced: r.misplaced, totalPulses: r.totalPulses, cells: r.summary }), verdict: (r) => (r.summary.belowThreshold ? { belowMinSuccess: true, ...r.summary } : undefined) },
          (ctx) => consoleSinks(ctx.events$),
        );
        writeResultFile(f.out, out.result);
        await finish(out, f.json, printProgram, programJson, true, (r) => r.summary);
      } finally {
        await board.close();
      }
    });

  const runs = program
    .command('runs')
    .description('list the runs in the embedded store (rram runs prune: free old runs\' events)')
    .option('--store <dir>', 'store folder', process.env.RRAM_STORE ?? 'rram-data')
    .option('--json', 'JSON output')
    .action((f: { store: string; json?: boolean }) => {
      const runs = new EmbeddedStore(f.store).listRuns();
      if (f.json) printJson(runs.map((r) => ({ ...r, params: undefined, board: undefined })));
      else process.stdout.write(table(['run', 'kind', 'status', 'started', 'events', 'MB on disk', 'results'], runs.map((r) => [r.id, r.kind, r.status, r.started, r.pruned ? `${r.events} (pruned)` : r.events, r.eventsBytes !== undefined ? (r.eventsBytes / 1e6).toFixed(2) : '-', r.results.join(' ')])));
    });
  runs
    .command('prune')
    .description("remove the raw events and journal of runs that ended before --older-than; run records and results (level CDFs, fits, accuracies) are kept unless --delete-results")
    .requiredOption('--older-than <age>', 'e.g. 30d, 12h, 2w', duration('--older-than'))
    .option('--keep-results', 'keep run records and results (the default; stated for scripts)')
    .option('--delete-results', 'remove whole run folders, results included')
    .option('--dry-run', 'list what would be removed, remove nothing')
    // --store and --json are the parent's options (commander gives them to `runs` wherever they stand).
    .action((_o: unknown, cmd: Command) => {
      const f = cmd.optsWithGlobals() as { olderThan: number; keepResults?: boolean; deleteResults?: boolean; dryRun?: boolean; store: string; json?: boolean };
      if (f.keepResults && f.deleteResults) throw new InvalidArgumentError('--delete-results', true, 'contradicts --keep-results');
      const out = pruneRuns(new EmbeddedStore(f.store), { olderThan_s: f.olderThan, deleteResults: f.deleteResults, dryRun: f.dryRun });
      const freed = out.reduce((a, e) => a + e.freed_bytes, 0);
      if (f.json) return printJson({ dryRun: !!f.dryRun, runs: out, freed_bytes: freed });
      process.stdout.write(table(['run', 'kind', 'status', 'ended', f.dryRun ? 'would be' : 'action', 'MB'], out.map((e) => [e.id, e.kind, e.status, e.ended, f.dryRun ? e.action.replace('removed', 'removed (dry run)') : e.action, (e.freed_bytes / 1e6).toFixed(2)])));
      process.stdout.write(`${out.filter((e) => e.freed_bytes).length} run(s), ${(freed / 1e6).toFixed(2)} MB ${f.dryRun ? 'would be freed' : 'freed'}\n`);
    });

  program
    .command('export')
    .description('export a run: its events as CSV, JSON or Bluesky event-model documents (JSON lines), or one array as HDF5 in the ArC TWO layout (docs/formats.md)')
    .requiredOption('--run <id>', 'run id (see rram runs)')
    .option('--format <fmt>', 'csv | json | hdf5 | event-model', 'csv')
    .option('--store <dir>', 'store folder', process.env.RRAM_STORE ?? 'rram-data')
    .option('--type <event>', 'only events of this type (pulse, read, cell-done, ...; csv and json)')
    .option('--array <n>', 'hdf5: the array to write (needed when the run touched several)', num('--array', { int: true, min: 0 }))
    .option('--out <file>', 'write here instead of stdout (required for hdf5)', outFile)
    .action(async (f: { run: string; format: string; store: string; type?: string; array?: number; out?: string }) => {
      const store = new EmbeddedStore(f.store);
      if (f.format === 'hdf5' && f.type) throw new InvalidArgumentError('--type', f.type, 'applies to csv and json: an HDF5 file holds every pulse and read');
      if (f.format !== 'hdf5' && f.array !== undefined) throw new InvalidArgumentError('--array', f.array, 'applies to hdf5 (csv and json hold every array)');
      if (f.format === 'hdf5') {
        if (!f.out) throw new InvalidArgumentError('--out', 'missing', 'an HDF5 file cannot go to stdout: give --out FILE.h5');
        const r = await exportHdf5(store, f.run, f.out, { array: f.array });
        process.stderr.write(`wrote ${r.file}: array ${r.array}, ${r.crosspoints} crosspoints, ${r.rows} pulse/read rows (ArC TWO layout)\n`);
        return;
      }
      if (f.format !== 'csv' && f.format !== 'json' && f.format !== 'event-model') throw new InvalidArgumentError('--format', f.format, 'must be csv, json, hdf5 or event-model');
      if (f.format === 'event-model' && f.type) throw new InvalidArgumentError('--type', f.type, 'applies to csv and json: event-model documents hold the whole run (its RunStart, every stream, its RunStop)');
      const n = await exportRun(store, f.run, f.format, f.out ? f.out : process.stdout, eventTypeFilter('--type', f.type));
      if (f.out) process.stderr.write(`wrote ${f.out}: ${n} events of run ${f.run} as ${f.format}\n`);
    });
}
