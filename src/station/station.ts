/**
 * A station (`rram serve`): the board(s) it owns, one queue per board, and the job manager that
 * runs a queue's items on its board. A queued run is held at its checkpoints while its queue is
 * paused: the board grounded, the pause and the resumption marked in its record. A board that is
 * down holds its queue (nothing starts) until its revival takes it back (board-revival.ts).
 */
import type { RunContext } from '../engine/run-context.js';
import type { JobManager } from '../server/job-manager.js';
import type { JobRequest } from '../server/job-requests.js';
import { BoardQueue, type QueueItem, type QueueView } from './board-queue.js';
import type { LineState, WatchedBoard } from './line-watch.js';
import type { RunGate } from './pause-gate.js';
import { parseJobRequest } from '../server/job-requests.js';
import { DataError } from '../../drivers/errors.js';
import { readQueueFile, writeQueueFile } from './queue-file.js';
import { BoardRevival, DEFAULT_REPROBE_MS, type LinkView } from './board-revival.js';

export const BOARD_ID = 'board0';

/** The batch of a wv-bench entry (its first entry's run id, POST .../queue/batch): entries run back to back. */
export function wvBenchBatch(item: QueueItem<unknown>): string | undefined {
  const w = (item.request as { kind?: string; wvBench?: { first?: string } }).wvBench;
  return (item.request as { kind?: string }).kind === 'characterize' && w ? (w.first ?? item.id) : undefined;
}

export class Station {
  readonly queue: BoardQueue<JobRequest>;

  readonly watched: WatchedBoard;

  /** Takes the board back when its link has given up: on request, and by a re-probe while down. */
  readonly revival: BoardRevival;

  /** The board's key (boardKey: what a CLI command's board flags name, the station entry lists), when the station was given it. */
  readonly key?: string;

  constructor(
    readonly jobs: JobManager,
    readonly boardId = BOARD_ID,
    /** Where the queue is kept across restarts (queue-file.ts), the queue key it belongs to (queueKey), and the board's key. */
    saved?: { file: string; boardKey: string; key: string; port?: string },
    /** reprobe_ms: between re-probes of a down board (rram serve --reprobe; 0: none). */
    o: { reprobe_ms?: number } = {},
  ) {
    this.watched = jobs.lineWatch;
    this.key = saved?.key;
    this.queue = new BoardQueue<JobRequest>(boardId, (item, x) => jobs.launch(item.request, { runId: item.id, signal: x.signal, checkpoint: (ctx, jobSignal) => this.checkpoint(ctx, x.gate, jobSignal), holdRequested: () => x.gate.pauseRequested }).done, wvBenchBatch);
    this.revival = new BoardRevival({ boardId, watched: this.watched, running: () => this.queue.runningId, after: () => this.queue.kick(), every_ms: o.reprobe_ms ?? DEFAULT_REPROBE_MS }).start();
    // Items waiting when the board went down wait for it (they start once it is back), instead of failing one by one.
    this.queue.held = () => this.revival.held();
    jobs.downHint = () => this.revival.hint();
    if (saved) this.keepQueue(saved.file, saved.boardKey, saved.port);
  }

  /** Takes back the queue saved in `file` (a bad file stops the station, naming it) and saves every change there. */
  private keepQueue(file: string, boardKey: string, port?: string): void {
    let snap: ReturnType<typeof readQueueFile>;
    try {
      snap = readQueueFile(file, boardKey);
    } catch (e) {
      throw e instanceof DataError ? new DataError(file, `${e.message.slice(file.length + 2)} (the station's saved queue: repair it, or move it away to start with an empty queue)`) : e;
    }
    const persist = (s: ReturnType<BoardQueue<JobRequest>['snapshot']>) => writeQueueFile(file, { format: 'rram-hil/station-queue', version: 1, boardKey, ...(port ? { port } : {}), ...s });
    if (snap) {
      const info = this.jobs.board.info();
      this.queue.restore(snap, (item) => {
        try {
          // A resume item (POST /api/runs/:id/resume) carries the queue's own mark, which no client may send.
          const { resume, ...request } = item.request as JobRequest & { resume?: unknown };
          const parsed = parseJobRequest(request, info);
          return resume === true ? (Object.assign(parsed, { resume: true }) as JobRequest) : parsed;
        } catch (e) {
          throw new DataError(file, `queued item ${item.id}: ${(e as Error).message}`);
        }
      });
    }
    this.queue.onPersist = persist;
    persist(this.queue.snapshot());
  }

  /** The queue with the board's line state and its link (down, why, the last re-probe). */
  view(): QueueView<JobRequest> & { lines: LineState; link: LinkView } {
    return { ...this.queue.view(), lines: this.watched.lines(), link: this.revival.view() };
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
