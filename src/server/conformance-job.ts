/**
 * `rram conformance` through a station (issue 29, docs/server.md): a queue item of kind
 * `conformance`. At its turn no other item runs (the queue runs one at a time); the station grounds
 * the lines, takes its board's serial link out of service (closed, no recovery), runs the protocol
 * suite (src/conformance/) on the port itself, reopens its board (HELLO again: a reboot meanwhile
 * is seen as one) and stores the report as the run's result `conformance` - what `rram
 * conformance --json` prints directly. A board without a serial port (in-process emulated) has no
 * link to check: refused when the item is added.
 */
import { z } from 'zod';
import type { Board, BoardInfo } from '../../drivers/board.js';
import { AbortedError, DisconnectedError, InvalidArgumentError } from '../../drivers/errors.js';
import type { RunContext } from '../engine/run-context.js';
import { RunMetadata } from '../io/schemas/run-metadata.js';
import type { CheckResult } from '../conformance/checks.js';

export const conformanceRequest = (board: BoardInfo) =>
  z
    .object({
      kind: z.literal('conformance'),
      cell: z.object({ array: z.number().int().gte(0).lte(board.arrays - 1), row: z.number().int().gte(0).lte(board.rows - 1), col: z.number().int().gte(0).lte(board.cols - 1) }).strict().optional(),
      margin_ms: z.number({ invalid_type_error: 'must be a time (ms) in 0..10000' }).gte(0, 'must be a time (ms) in 0..10000').lte(10000, 'must be a time (ms) in 0..10000').default(250),
      metadata: RunMetadata.optional(),
    })
    .strict();
export type ConformanceRequest = z.infer<ReturnType<typeof conformanceRequest>>;

/** What `rram conformance --json` prints (and the run's stored result). */
export interface ConformanceReport {
  port: string;
  baud: number;
  board: BoardInfo | null;
  passed: number;
  failed: number;
  checks: CheckResult[];
  /** Set when the suite stopped early (an abort or halt between checks): why; `checks` holds those that ran. Never in a direct run's report. */
  partial?: string;
}

/** Refused when queued: the board must be one the station can lend its port out of. */
export function checkConformanceBoard(board: Board): void {
  if (!board.outOfService) throw new InvalidArgumentError('kind', 'conformance', `the station's board (${board.info().kind}) has no serial link to check: conformance runs against a board on a port (rram serve --port PATH; for the emulator, rram emulate --pty)`);
}

/**
 * The suite on the station's port, the board out of service meanwhile. What the suite measured is
 * never lost: aborted between checks, the checks that ran are stored as a partial report (the run
 * ends aborted); when the board does not come back after the suite, the report is stored and the
 * run fails saying both (the link is down then, and the station refuses later items, saying so).
 */
export async function runConformanceJob(board: Board, ctx: RunContext, req: ConformanceRequest, ground: () => Promise<void>, save: (r: ConformanceReport) => void, signal?: AbortSignal): Promise<ConformanceReport> {
  checkConformanceBoard(board);
  ctx.begin({ kind: 'conformance', params: { cell: req.cell, margin_ms: req.margin_ms }, board: board.info() });
  await ground();
  const { runConformance, CHECK_COUNT } = await import('../conformance/checks.js');
  const { Probe } = await import('../conformance/probe.js');
  const { serialTransport } = await import('../../drivers/serial/transport.js');
  const checks: CheckResult[] = [];
  let lent: { path: string; baud: number; info: BoardInfo | null } | undefined;
  /** How the suite itself ended when it did not finish (an abort, the probe not opening): not the board's coming back. */
  let suiteError: unknown;
  const t0 = performance.now();
  const report = (partial?: string): ConformanceReport => {
    const failed = checks.filter((c) => !c.pass).length;
    return { port: lent!.path, baud: lent!.baud, board: lent!.info, passed: checks.length - failed, failed, checks, ...(partial ? { partial } : {}) };
  };
  const progress = (r: CheckResult) => {
    checks.push(r);
    const s = (performance.now() - t0) / 1000;
    ctx.emit({ type: 'progress', done: checks.length, total: CHECK_COUNT, rate_per_s: checks.length / Math.max(s, 1e-3), eta_s: ((CHECK_COUNT - checks.length) * s) / checks.length, phase: 'conformance' });
  };
  try {
    await board.outOfService!(async (port) => {
      lent = { ...port, info: null };
      try {
        const p = await Probe.open(serialTransport(port.path, port.baud), port.baud);
        try {
          await runConformance(p, { cell: req.cell, margin_ms: req.margin_ms, signal }, progress);
        } finally {
          lent.info = p.info ?? null;
          await p.close();
        }
      } catch (e) {
        suiteError = e;
        throw e;
      }
    });
  } catch (e) {
    // Refused before the port was lent out (the link recovering, grounding failed): nothing ran, the board was never away.
    if (!lent) throw e;
    const why = (suiteError as Error | undefined)?.message;
    const stopped = why === undefined ? undefined : suiteError instanceof AbortedError ? why : `stopped after ${checks.length} of ${CHECK_COUNT} checks: ${why}`;
    const ran = lent && checks.length ? report(stopped) : undefined;
    if (ran) save(ran);
    if (e === suiteError) {
      if (!(e instanceof AbortedError) || !ran) throw e;
      throw new AbortedError(`conformance aborted after ${checks.length} of ${CHECK_COUNT} checks (${ran.passed} passed, ${ran.failed} failed; stored as a partial report); the board is back in service`);
    }
    // The board did not come back: the link is down now; what the suite found is kept all the same.
    const suite = ran ? `the conformance suite ${stopped ? `(partial: ${stopped})` : 'ran'}: ${ran.passed} passed, ${ran.failed} failed (the report is stored as the run's result)` : `the port was lent out but no check ran${why ? ` (${why})` : ''}`;
    throw new DisconnectedError(`${suite}, but the board did not come back after it: ${(e as Error).message}`);
  }
  return report();
}
