/** `rram conformance --port PATH`: the protocol suite a firmware author runs against a board. */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { runConformance, CHECK_COUNT, type CheckResult } from '../../conformance/checks.js';
import { Probe } from '../../conformance/probe.js';
import { printJson } from '../output.js';
import { num } from '../parse.js';
import { stationTarget } from '../station-route.js';
import { conformanceOnStation } from './conformance-station.js';
import type { ConformanceReport } from '../../server/conformance-job.js';
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
    .option('--station <url>', 'run the suite through the station (rram serve) at this URL; by default the station the store names for this port, if one runs')
    .option('--token <secret>', "the station's token (env RRAM_TOKEN; default: the one the station wrote in the store)")
    .action(async (o: { port: string; baud: number; cell?: { array: number; row: number; col: number }; margin: number; json?: boolean; station?: string; token?: string }, cmd: Command) => {
      // A station holding the port: the suite runs there, the link out of service meanwhile (conformance-station.ts).
      const st = await stationTarget({ ...emptyBoardFlags(), port: o.port, baud: o.baud, station: o.station, token: o.token });
      if (st) return conformanceOnStation(st, o, cmd, printReport);
      const { serialTransport } = await import('../../../drivers/serial/transport.js'); // serialport loads only here
      const p = await Probe.open(serialTransport(o.port, o.baud), o.baud);
      let results: CheckResult[];
      try {
        results = await runConformance(p, { cell: o.cell, margin_ms: o.margin }, o.json ? undefined : printCheck);
      } finally {
        await p.close();
      }
      const failed = results.filter((r) => !r.pass).length;
      printReport({ port: o.port, baud: o.baud, board: p.info ?? null, passed: results.length - failed, failed, checks: results }, !!o.json, false);
    });
}

/** The report (JSON, or the closing line after the checks printed one by one, `each`: print them here; a partial one says so), and the exit code: 1 when a check failed. */
function printReport(r: ConformanceReport, json: boolean, each: boolean): void {
  if (json) printJson(r);
  else {
    if (each) for (const c of r.checks) printCheck(c);
    if (r.partial) process.stdout.write(`\nPARTIAL: ${r.partial}; ${CHECK_COUNT - r.checks.length} of ${CHECK_COUNT} checks did not run`);
    process.stdout.write(`\n${r.passed} of ${r.checks.length} checks passed${r.failed ? `; ${r.failed} failed` : ''}\n`);
  }
  process.exitCode = r.failed ? 1 : 0;
}

const printCheck = (r: CheckResult) => process.stdout.write(`${r.pass ? 'PASS' : 'FAIL'}  ${r.name}\n${r.evidence.map((e) => `      ${e}\n`).join('')}`);
