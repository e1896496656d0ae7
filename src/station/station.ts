/**
 * A station (`rram serve`): the board(s) it owns, one queue per board, and the job manager that
 * runs a queue's items on its board. A queued run is held at its checkpoints while its queue is
 * paused: the board grounded, the pause and the resumption marked in its record.
 */
import type { RunContext } from '../engine/run-context.js';
import type { JobManager } from '../server/job-manager.js';
import type { JobRequest } from '../server/job-requests.js';
import { BoardQueue, type QueueView } from './board-queue.js';
import type { LineState, WatchedBoard } from './line-watch.js';
import type { RunGate } from './pause-gate.js';

export const BOARD_ID = 'board0';

export class Station {
  readonly queue: BoardQueue<JobRequest>;

  readonly watched: WatchedBoard;

  constructor(
    readonly jobs: JobManager,
    readonly boardId = BOARD_ID,
  ) {
    this.watched = jobs.lineWatch;
    this.queue = new BoardQueue<JobRequest>(boardId, (item, x) => jobs.launch(item.request, { runId: item.id, signal: x.signal, checkpoint: (ctx, jobSignal) => this.checkpoint(ctx, x.gate, jobSignal), holdRequested: () => x.gate.pauseRequested }).done);
  }

  /** The queue with the board's line state. */
  view(): QueueView<JobRequest> & { lines: LineState } {
    return { ...this.queue.view(), lines: this.watched.lines() };
  }

  halt(key?: string) {
    return this.queue.halt(() => this.watched.ground('halt'), key);
  }

  private async checkpoint(ctx: RunContext, gate: RunGate, jobSignal: AbortSignal): Promise<void> {
    if (!gate.pauseRequested) return;
    await this.watched.ground('pause');
    ctx.emit({ type: 'mark', name: 'station-pause', value: { lines: 'grounded' } });
    ctx.commit(true);
    await gate.hold(jobSignal);
    ctx.emit({ type: 'mark', name: 'station-resume', value: {} });
  }
}
