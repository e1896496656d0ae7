/** `rram conformance --port PATH`: the protocol suite a firmware author runs against a board. */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { runConformance, CHECK_COUNT, type CheckResult } from '../../conformance/checks.js';
import { Probe } from '../../conformance/probe.js';
import { printJson } from '../output.js';
import { num } from '../parse.js';
import { refuseOnStation } from '../station-route.js';
import { defaultStoreDir, type BoardFlags } from '../board-options.js';

/** The board flags of a command that has only --port (the store is the default one: RRAM_STORE, ./rram-data). */
const emptyBoardFlags = (): BoardFlags => ({ board: 'emulated', baud: 921600, seed: 1, arrays: 2, store: defaultStoreDir() });

function cellArg(raw: string) {
  const m = /^\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*$/.exec(raw);
  if (!m) throw new InvalidArgumentError('--cell', raw, 'expected ARRAY:ROW,COL, e.g. 1:63,63');
  return { array: Number(m[1]), row: Number(m[2]), col: Number(m[3]) };
}

export function registerConformance(program: Command): void {
  program
    .command('conformance')
    .description(`check a board against docs/protocol.md (${CHECK_COUNT} checks; pulses touch one cell with the gate or drive at 0 V)`)
    .requiredOption('--port <path>', 'serial port of the board (or of `rram emulate --pty`)')
    .option('--baud <n>', 'link baud rate (the timing rule uses it)', num('--baud', { min: 1200, int: true }), 921600)
    .option('--cell <A:R,C>', 'the cell the suite may pulse (default: the last cell of the last array)', cellArg)
    .option('--margin <ms>', 'latency allowance added to every timing bound', num('--margin', { min: 0, max: 10000 }), 250)
    .option('--json', 'JSON output')
    .action(async (o: { port: string; baud: number; cell?: { array: number; row: number; col: number }; margin: number; json?: boolean }) => {
      await refuseOnStation({ ...emptyBoardFlags(), port: o.port, baud: o.baud }, 'rram conformance', 'it speaks the raw protocol to the port itself (malformed frames, timing), and the station holds the link');
      const { serialTransport } = await import('../../../drivers/serial/transport.js'); // serialport loads only here
      const p = await Probe.open(serialTransport(o.port, o.baud), o.baud);
      let results: CheckResult[];
      try {
        results = await runConformance(p, { cell: o.cell, margin_ms: o.margin }, o.json ? undefined : (r) => {
          process.stdout.write(`${r.pass ? 'PASS' : 'FAIL'}  ${r.name}\n${r.evidence.map((e) => `      ${e}\n`).join('')}`);
        });
      } finally {
        await p.close();
      }
      const failed = results.filter((r) => !r.pass).length;
      if (o.json) printJson({ port: o.port, baud: o.baud, board: p.info ?? null, passed: results.length - failed, failed, checks: results });
      else process.stdout.write(`\n${results.length - failed} of ${results.length} checks passed${failed ? `; ${failed} failed` : ''}\n`);
      process.exitCode = failed ? 1 : 0;
    });
}
