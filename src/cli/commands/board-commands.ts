/** `rram info`, `rram read`, `rram pulse`: direct, single operations on a board. */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { runJob } from '../../jobs/run-job.js';
import { pulseOnce, readOnce } from '../../procedures/single-ops.js';
import { attachConsoleWarnings } from '../../sinks/console-warnings.js';
import { addJobOptions, openSinks, type JobFlags } from '../job-options.js';
import { addBoardOptions, openBoard, type BoardFlags } from '../board-options.js';
import { cellRC, num } from '../parse.js';
import { csv, printJson, table, uA } from '../output.js';
import { addStationOptions, refuseUncarried, stationTarget, type StationFlags } from '../station-route.js';
import { stationMetadata } from './programming.js';
import { runOnStation, stationBoardInfo } from '../station-client.js';

export function registerBoardCommands(program: Command): void {
  addStationOptions(addBoardOptions(program.command('info').description('show board id, firmware, protocol version, geometry and safety limits')))
    .option('--json', 'machine-readable output')
    .action(async (o: BoardFlags & StationFlags & { json?: boolean }) => {
      // A board a station holds: its HELLO as the station has it (the board is not opened twice).
      const st = await stationTarget(o);
      const b = st ? await stationBoardInfo(st) : await openBoard(o);
      try {
        const info = b.info();
        if (o.json) printJson(info);
        else {
          process.stdout.write(`board ${info.id} (${info.kind}${info.calibration ? `, calibration ${info.calibration}` : ''})\n`);
          process.stdout.write(`firmware ${info.firmware}, protocol v${info.protocolVersion}\n`);
          process.stdout.write(`${info.arrays} array(s) of ${info.rows}x${info.cols} cells, DAC step ${info.dacStep_V * 1e3} mV\n`);
          process.stdout.write(table(['limit', 'value'], Object.entries(info.limits).map(([k, v]) => [k, v])));
        }
      } finally {
        await b.close();
      }
    });

  addStationOptions(addJobOptions(addBoardOptions(program.command('read').description('read one cell, a row or a whole array (current at the read voltage); stored as a run'))))
    .option('--cell <R,C>', 'one cell', cellRC)
    .option('--row <R>', 'one row', num('--row', { min: 0, int: true }))
    .option('--all', 'the whole array')
    .option('--array <N>', 'array index', num('--array', { min: 0, int: true }), 0)
    .option('--vread <V>', 'read voltage (above 0, at most the board\'s vread_max)', num('--vread', { min: 0 }), 0.2)
    .option('--json', 'JSON output')
    .option('--csv', 'CSV output (row,col,current_A,conductance_S)')
    .action(async (o: BoardFlags & JobFlags & StationFlags & { cell?: { row: number; col: number }; row?: number; all?: boolean; array: number; vread: number; json?: boolean; csv?: boolean }, cmd: Command) => {
      const modes = [o.cell !== undefined, o.row !== undefined, !!o.all].filter(Boolean).length;
      if (modes !== 1) throw new InvalidArgumentError('--cell/--row/--all', modes ? [o.cell && '--cell', o.row !== undefined && '--row', o.all && '--all'].filter(Boolean).join(' ') : 'none', 'give exactly one of --cell R,C, --row R or --all');
      if (o.json && o.csv) throw new InvalidArgumentError('--csv', true, 'with --json: give one output format');
      if (!(o.vread > 0)) throw new InvalidArgumentError('--vread', o.vread, 'must be above 0 V (a read at 0 V measures no current)');
      if (o.resume) throw new InvalidArgumentError('--resume', o.resume, 'a read is not resumed: read again');
      let out: Awaited<ReturnType<typeof runJob<Awaited<ReturnType<typeof readOnce>>>>>;
      const st = await stationTarget(o);
      if (st) {
        // The station's board: the read joins its queue.
        refuseUncarried(cmd, ['cell', 'row', 'all', 'array', 'vread'], st);
        const request = { kind: 'read', array: o.array, vread_V: o.vread, ...(o.cell ? { cell: o.cell } : {}), ...(o.row !== undefined ? { row: o.row } : {}), ...(o.all ? { all: true } : {}), ...stationMetadata(o) };
        out = await runOnStation(st, request, 'read', 'rram read', (e$) => attachConsoleWarnings(e$));
      } else {
        const { store, sinks, metadata } = await openSinks(o);
        const b = await openBoard(o);
        try {
          out = await runJob({ store, sinks, board: b, metadata }, (ctx) => readOnce(b, ctx, { array: o.array, cell: o.cell, row: o.row, vread_V: o.vread }), { resultName: 'read' }, (ctx) => attachConsoleWarnings(ctx.events$));
        } finally {
          await b.close();
        }
      }
      if (out.status !== 'completed') throw out.error;
      const rows = out.result!.cells.map((r) => ({ ...r, conductance_S: r.current_A === null ? null : r.current_A / o.vread }));
      if (o.json) printJson({ runId: out.runId, vread_V: o.vread, cells: rows });
      else if (o.csv) process.stdout.write(csv([['array', 'row', 'col', 'current_A', 'conductance_S'], ...rows.map((r) => [r.array, r.row, r.col, r.current_A ?? '', r.conductance_S ?? ''])]));
      else process.stdout.write(table(['array', 'row', 'col', 'I (uA)', 'G (uS)'], rows.map((r) => [r.array, r.row, r.col, r.current_A === null ? 'unreadable' : uA(r.current_A), r.conductance_S === null ? '-' : uA(r.conductance_S)])));
      const bad = rows.filter((r) => r.current_A === null).length;
      if (bad) {
        process.stderr.write(`rram: ${bad} cell(s) unreadable (their replies were malformed or impossible; run ${out.runId} records why)\n`);
        process.exitCode = 1;
      }
    });

  addStationOptions(
    addJobOptions(
      addBoardOptions(
        program
          .command('pulse')
          .description('apply one form, set or reset pulse to one cell; stored as a run')
          .argument('<kind>', 'form | set | reset'),
      ),
    ),
  )
    .requiredOption('--cell <R,C>', 'the cell', cellRC)
    .option('--array <N>', 'array index', num('--array', { min: 0, int: true }), 0)
    .option('--vte <V>', 'top-electrode (bit line) amplitude, form/set', num('--vte'))
    .option('--vsl <V>', 'source-line amplitude, reset', num('--vsl'))
    .requiredOption('--vg <V>', 'gate (word line) voltage', num('--vg'))
    .option('--width <s>', 'pulse width in seconds', num('--width'), 1e-6)
    .option('--verify', 'read the cell at 0.2 V after the pulse')
    .option('--json', 'JSON output')
    .action(async (kind: string, o: BoardFlags & JobFlags & StationFlags & { cell: { row: number; col: number }; array: number; vte?: number; vsl?: number; vg: number; width: number; verify?: boolean; json?: boolean }, cmd: Command) => {
      if (kind !== 'form' && kind !== 'set' && kind !== 'reset') throw new InvalidArgumentError('kind', kind, 'must be form, set or reset');
      if (kind === 'reset' && o.vsl === undefined) throw new InvalidArgumentError('--vsl', o.vsl, 'reset needs --vsl V');
      if (kind !== 'reset' && o.vte === undefined) throw new InvalidArgumentError('--vte', o.vte, `${kind} needs --vte V`);
      // The other line's amplitude is not applied by this pulse: refused rather than ignored.
      if (kind === 'reset' && o.vte !== undefined) throw new InvalidArgumentError('--vte', o.vte, 'a reset drives the source line (--vsl); the top electrode stays at 0 V');
      if (kind !== 'reset' && o.vsl !== undefined) throw new InvalidArgumentError('--vsl', o.vsl, `a ${kind} drives the top electrode (--vte); the source line stays at 0 V`);
      if (o.resume) throw new InvalidArgumentError('--resume', o.resume, 'a single pulse is not resumed');
      const cell = { array: o.array, ...o.cell };
      let out: Awaited<ReturnType<typeof runJob<Awaited<ReturnType<typeof pulseOnce>>>>>;
      const st = await stationTarget(o);
      if (st) {
        refuseUncarried(cmd, ['cell', 'array', 'vte', 'vsl', 'vg', 'width', 'verify'], st);
        const request = { kind: 'pulse', pulse: kind, array: o.array, cell: o.cell, vte_V: o.vte ?? 0, vsl_V: o.vsl ?? 0, vg_V: o.vg, width_s: o.width, ...(o.verify ? { verify_V: 0.2 } : {}), ...stationMetadata(o) };
        out = await runOnStation(st, request, 'pulse', 'rram pulse', (e$) => attachConsoleWarnings(e$));
      } else {
        const { store, sinks, metadata } = await openSinks(o);
        const b = await openBoard(o);
        try {
          out = await runJob({ store, sinks, board: b, metadata }, (ctx) => pulseOnce(b, ctx, { kind, cell, vte_V: o.vte ?? 0, vsl_V: o.vsl ?? 0, vg_V: o.vg, width_s: o.width, verify_V: o.verify ? 0.2 : undefined }), { resultName: 'pulse' }, (ctx) => attachConsoleWarnings(ctx.events$));
        } finally {
          await b.close();
        }
      }
      if (out.status !== 'completed') throw out.error;
      // Report exactly what the board confirmed: a pulse whose reply never came is "unknown", not "applied".
      const res = out.result!;
      const after = res.verify_A;
      if (o.json) printJson(res);
      else if (res.outcome === 'applied') process.stdout.write(`${kind} applied to ${cell.array}:${cell.row},${cell.col}${after !== undefined ? `; read ${after === null ? 'unreadable' : `${uA(after)} uA`} at 0.2 V` : ''} (run ${res.runId})\n`);
      else process.stdout.write(`${kind} on ${cell.array}:${cell.row},${cell.col}: outcome UNKNOWN (${res.reason})${after !== undefined ? `; the cell now reads ${after === null ? 'unreadable' : `${uA(after)} uA`} at 0.2 V` : '; read the cell before trusting its state'} (run ${res.runId})\n`);
      if (res.outcome === 'unknown') process.exitCode = 1;
    });
}
