/**
 * The boards of one station (`rram serve --port A --port B`, `--board emulated:1 --board
 * emulated:2`): each a Station (its queue, lock, pause/halt, line watch, saved queue) with ids
 * board0, board1, ... in the order they were opened. A job names its board (`board`, POST
 * /api/jobs); with one board served the field may be left out, as before.
 */
import { z } from 'zod';
import { InvalidArgumentError, RramError } from '../../drivers/errors.js';
import { boardProblems } from '../engine/run-context.js';
import { parseBody } from '../io/validate.js';
import type { Station } from './station.js';

/** The `board` field of POST /api/jobs (the rest of the body is the job request). */
const BoardField = z.object({ board: z.string({ invalid_type_error: 'must be a board id such as board0' }).min(1, 'must not be empty').max(64, 'at most 64 characters').optional() }).passthrough();

export class StationBoards {
  constructor(readonly stations: readonly Station[]) {
    if (!stations.length) throw new Error('a station serves at least one board');
    const ids = new Set(stations.map((s) => s.boardId));
    if (ids.size !== stations.length) throw new Error(`board ids repeat: ${stations.map((s) => s.boardId).join(', ')}`);
  }

  /** The first board: its job manager carries the store, the bus and the live runs every board shares. */
  get primary(): Station {
    return this.stations[0];
  }

  private list(): string {
    return this.stations.map((s) => s.boardId).join(', ');
  }

  /** The board `id` (a path's :board), or NOT_FOUND naming the boards served. */
  get(id: string): Station {
    const s = this.stations.find((x) => x.boardId === id);
    if (!s) throw new RramError('NOT_FOUND', `no board ${JSON.stringify(id)} on this station (boards: ${this.list()})`);
    return s;
  }

  /**
   * The board a job is for, and the job request without the field. Unknown is refused by name;
   * missing is refused while more than one board is served.
   */
  target(body: unknown): { station: Station; request: Record<string, unknown> } {
    // Not an object: the job request's own check refuses it (`body=...`), as with one board.
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return { station: this.primary, request: body as Record<string, unknown> };
    const { board, ...request } = parseBody(BoardField, body);
    if (board === undefined) {
      if (this.stations.length > 1) throw new InvalidArgumentError('board', 'missing', `this station serves ${this.stations.length} boards: name one (${this.list()})`);
      return { station: this.primary, request };
    }
    const s = this.stations.find((x) => x.boardId === board);
    if (!s) throw new InvalidArgumentError('board', board, `no such board on this station (boards: ${this.list()})`);
    return { station: s, request };
  }

  /** The board whose queue holds (queued or running) item `id`. */
  holding(id: string): Station | undefined {
    return this.stations.find((s) => {
      const v = s.queue.view();
      return v.running?.id === id || v.queued.some((i) => i.id === id);
    });
  }

  /** The board a stored run ran on (its record's board), or the first when none is (the resume check says why). */
  ofRun(board: unknown): Station {
    if (this.stations.length === 1) return this.primary;
    return this.stations.find((s) => !boardProblems(board as never, s.jobs.board.info()).length) ?? this.primary;
  }
}
