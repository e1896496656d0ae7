/** `rram info`, `rram read`, `rram pulse`: direct, single operations on a board. */
import type { Command } from 'commander';
import { InvalidArgumentError, OutcomeUnknownError } from '../../../drivers/errors.js';
import { addBoardOptions, openBoard, type BoardFlags } from '../board-options.js';
import { cellRC, num } from '../parse.js';
import { csv, printJson, table, uA } from '../output.js';

export function registerBoardCommands(program: Command): void {
  addBoardOptions(program.command('info').description('show board id, firmware, protocol version, geometry and safety limits'))
    .option('--json', 'machine-readable output')
    .action(async (o: BoardFlags & { json?: boolean }) => {
      const b = await openBoard(o);
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

  addBoardOptions(program.command('read').description('read one cell, a row or a whole array (current at the read voltage)'))
    .option('--cell <R,C>', 'one cell', cellRC)
    .option('--row <R>', 'one row', num('--row', { min: 0, int: true }))
    .option('--all', 'the whole array')
    .option('--array <N>', 'array index', num('--array', { min: 0, int: true }), 0)
    .option('--vread <V>', 'read voltage', num('--vread', { min: 0 }), 0.2)
    .option('--json', 'JSON output')
    .option('--csv', 'CSV output (row,col,current_A,conductance_S)')
    .action(async (o: BoardFlags & { cell?: { row: number; col: number }; row?: number; all?: boolean; array: number; vread: number; json?: boolean; csv?: boolean }) => {
      const modes = [o.cell !== undefined, o.row !== undefined, !!o.all].filter(Boolean).length;
      if (modes !== 1) throw new InvalidArgumentError('--cell/--row/--all', modes, 'give exactly one of --cell R,C, --row R or --all');
      const b = await openBoard(o);
      try {
        const { cols } = b.info();
        let rows: { row: number; col: number; current_A: number }[];
        if (o.cell) rows = [{ ...o.cell, current_A: await b.read({ array: o.array, ...o.cell }, { vread_V: o.vread }) }];
        else if (o.row !== undefined) {
          const r = o.row;
          rows = Array.from(await b.readRow(o.array, r, { vread_V: o.vread }), (i, col) => ({ row: r, col, current_A: i }));
        } else rows = Array.from(await b.readArray(o.array, { vread_V: o.vread }), (i, k) => ({ row: Math.floor(k / cols), col: k % cols, current_A: i }));
        const out = rows.map((r) => ({ array: o.array, ...r, conductance_S: r.current_A / o.vread }));
        if (o.json) printJson({ vread_V: o.vread, cells: out });
        else if (o.csv) process.stdout.write(csv([['array', 'row', 'col', 'current_A', 'conductance_S'], ...out.map((r) => [r.array, r.row, r.col, r.current_A, r.conductance_S])]));
        else process.stdout.write(table(['array', 'row', 'col', 'I (uA)', 'G (uS)'], out.map((r) => [r.array, r.row, r.col, uA(r.current_A), uA(r.conductance_S)])));
      } finally {
        await b.close();
      }
    });

  addBoardOptions(
    program
      .command('pulse')
      .description('apply one form, set or reset pulse to one cell')
      .argument('<kind>', 'form | set | reset'),
  )
    .requiredOption('--cell <R,C>', 'the cell', cellRC)
    .option('--array <N>', 'array index', num('--array', { min: 0, int: true }), 0)
    .option('--vte <V>', 'top-electrode (bit line) amplitude, form/set', num('--vte'))
    .option('--vsl <V>', 'source-line amplitude, reset', num('--vsl'))
    .requiredOption('--vg <V>', 'gate (word line) voltage', num('--vg'))
    .option('--width <s>', 'pulse width in seconds', num('--width'), 1e-6)
    .option('--verify', 'read the cell at 0.2 V after the pulse')
    .option('--json', 'JSON output')
    .action(async (kind: string, o: BoardFlags & { cell: { row: number; col: number }; array: number; vte?: number; vsl?: number; vg: number; width: number; verify?: boolean; json?: boolean }) => {
      if (kind !== 'form' && kind !== 'set' && kind !== 'reset') throw new InvalidArgumentError('kind', kind, 'must be form, set or reset');
      if (kind === 'reset' && o.vsl === undefined) throw new InvalidArgumentError('--vsl', o.vsl, 'reset needs --vsl V');
      if (kind !== 'reset' && o.vte === undefined) throw new InvalidArgumentError('--vte', o.vte, `${kind} needs --vte V`);
      const b = await openBoard(o);
      try {
        const cell = { array: o.array, ...o.cell };
        // Report exactly what the board confirmed: a pulse whose reply never came is "unknown", not "applied".
        let outcome: 'applied' | 'unknown' = 'applied';
        let why = '';
        try {
          if (kind === 'reset') await b.reset(cell, { vsl_V: o.vsl!, vg_V: o.vg, width_s: o.width });
          else await b[kind](cell, { vte_V: o.vte!, vg_V: o.vg, width_s: o.width });
        } catch (e) {
          if (!(e instanceof OutcomeUnknownError)) throw e;
          outcome = 'unknown';
          why = e.message;
        }
        const after = o.verify ? await b.read(cell) : undefined;
        const res = { kind, cell, outcome, vte_V: o.vte ?? 0, vsl_V: o.vsl ?? 0, vg_V: o.vg, width_s: o.width, verify_A: after, ...(why ? { reason: why } : {}) };
        if (o.json) printJson(res);
        else if (outcome === 'applied') process.stdout.write(`${kind} applied to ${cell.array}:${cell.row},${cell.col}${after !== undefined ? `; read ${uA(after)} uA at 0.2 V` : ''}\n`);
        else process.stdout.write(`${kind} on ${cell.array}:${cell.row},${cell.col}: outcome UNKNOWN (${why})${after !== undefined ? `; the cell now reads ${uA(after)} uA at 0.2 V` : '; read the cell before trusting its state'}\n`);
        if (outcome === 'unknown') process.exitCode = 1;
      } finally {
        await b.close();
      }
    });
}
