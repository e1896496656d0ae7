/**
 * `rram conformance --port PATH` when a station holds that port (issue 29): a queue item of kind
 * `conformance` (src/server/conformance-job.ts) - at its turn the station takes its link out of
 * service, runs the suite on the port, reopens the board - and the report printed here as the direct
 * command prints it, with its exit code (1 when a check failed). A suite that did not complete
 * but stored its checks (aborted: a partial report; the board not back after it: the whole one)
 * has them printed the same way, marked partial where they are, then its error and exit code. The
 * station uses the baud it opened the port with; --baud is only how the station is found.
 */
import type { Command } from 'commander';
import type { ConformanceReport } from '../../server/conformance-job.js';
import { runOnStation, storedResultOnStation, type StationTarget } from '../station-client.js';
import { finish } from './programming.js';

export async function conformanceOnStation(st: StationTarget, o: { cell?: { array: number; row: number; col: number }; margin: number; json?: boolean }, cmd: Command, print: (r: ConformanceReport, json: boolean, each: boolean) => void): Promise<void> {
  const given = (a: string) => cmd.getOptionValueSource(a) === 'cli';
  const request = { kind: 'conformance', ...(o.cell ? { cell: o.cell } : {}), ...(given('margin') ? { margin_ms: o.margin } : {}) };
  const out = await runOnStation<ConformanceReport>(st, request, 'conformance', 'rram conformance', () => undefined);
  if (out.status !== 'completed') {
    const stored = await storedResultOnStation<ConformanceReport>(st, out.runId, 'conformance');
    if (stored) print(stored, !!o.json, true);
    return finish(out, o.json, () => undefined, (x) => x, false);
  }
  print(out.result!, !!o.json, true);
}
