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
import { InvalidArgumentError } from '../../drivers/errors.js';
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
}

/** Refused when queued: the board must be one the station can lend its port out of. */
export function checkConformanceBoard(board: Board): void {
  if (!board.outOfService) throw new InvalidArgumentError('kind', 'conformance', `the station's board (${board.info().kind}) has no serial link to check: conformance runs against a board on a port (rram serve --port PATH; for the emulator, rram emulate --pty)`);
}

/** The suite on the station's port, the board out of service meanwhile. */
export async function runConformanceJob(board: Board, ctx: RunContext, req: ConformanceRequest, ground: () => Promise<void>, signal?: AbortSignal): Promise<ConformanceReport> {
  checkConformanceBoard(board);
  ctx.begin({ kind: 'conformance', params: { cell: req.cell, margin_ms: req.margin_ms }, board: board.info() });
  await ground();
  const { runConformance } = await import('../conformance/checks.js');
  const { Probe } = await import('../conformance/probe.js');
  const { serialTransport } = await import('../../drivers/serial/transport.js');
  return board.outOfService!(async (port) => {
    const p = await Probe.open(serialTransport(port.path, port.baud), port.baud);
    let checks: CheckResult[];
    try {
      checks = await runConformance(p, { cell: req.cell, margin_ms: req.margin_ms, signal });
    } finally {
      await p.close();
    }
    const failed = checks.filter((c) => !c.pass).length;
    return { port: port.path, baud: port.baud, board: p.info ?? null, passed: checks.length - failed, failed, checks };
  });
}
