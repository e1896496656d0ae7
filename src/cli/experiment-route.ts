/**
 * A device experiment's command (iv, endurance, retention, sweep): its request built from the
 * flags on the board's geometry, then run through the station serving the board (its queue, the
 * run followed here as if local) or directly on the board - the same request either way
 * (src/jobs/experiment-jobs.ts), so a run through a station is the run the command makes itself.
 */
import type { Command } from 'commander';
import type { BoardInfo } from '../../drivers/board.js';
import { runExperimentJob, EXPERIMENT_RESULT } from '../jobs/experiment-jobs.js';
import type { JobOutcome } from '../jobs/run-job.js';
import type { ExperimentRequest } from '../server/experiment-requests.js';
import { parseJobRequest } from '../server/job-requests.js';
import { openBoardWithCalibration, type BoardFlags } from './board-options.js';
import { abortOnSigint, openSinks, type JobFlags } from './job-options.js';
import { consoleSinks, stationMetadata } from './commands/programming.js';
import { runOnStation, stationBoardInfo } from './station-client.js';
import { refuseNotCarried, stationTarget, type StationFlags } from './station-route.js';

export type ExperimentKind = ExperimentRequest['kind'];

/** Runs the request `build` makes for this board; `viaStation` says where it ran (a station's run is not resumed from here). */
export async function runExperimentCommand<T>(kind: ExperimentKind, f: BoardFlags & JobFlags & StationFlags, cmd: Command, build: (info: BoardInfo) => Record<string, unknown>): Promise<{ out: JobOutcome<T>; viaStation: boolean }> {
  const st = await stationTarget(f);
  if (st) {
    refuseNotCarried(cmd, st, { resume: 'a device experiment queued on a station is not resumed through it (characterize, program and program-net are)' });
    const info = (await stationBoardInfo(st, true)).info();
    // Checked here as the station will check it: a bad flag fails before anything is queued.
    const request = { ...build(info), kind, ...stationMetadata(f) };
    parseJobRequest(request, info);
    return { out: await runOnStation<T>(st, request, EXPERIMENT_RESULT[kind], `rram ${kind}`, consoleSinks), viaStation: true };
  }
  const { store, sinks, metadata } = await openSinks(f);
  const { board, calibration } = await openBoardWithCalibration(f);
  const ac = abortOnSigint();
  try {
    const req = parseJobRequest({ ...build(board.info()), kind }, board.info()) as ExperimentRequest;
    const out = await runExperimentJob({ store, sinks, signal: ac.signal, runId: f.resume, resume: !!f.resume, board, metadata }, board, calibration, req, (ctx) => consoleSinks(ctx.events$));
    return { out: out as JobOutcome<T>, viaStation: false };
  } finally {
    await board.close();
  }
}
