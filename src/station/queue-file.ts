/**
 * A station's queue on disk (docs/server.md "The queue survives a restart"):
 * `<store>/stations/queues/<hash of the board's queue key>.json` (queueKey), rewritten after every change of the queue
 * (a temporary file, fsync, rename: a kill at any moment leaves the old file or the new one, never
 * a torn one), mode 0600. Read back with zod when the station starts; a file that does not parse
 * is refused naming it - never taken as an empty queue, which would silently drop what was queued.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { BoardInfo } from '../../drivers/board.js';
import { DataError } from '../../drivers/errors.js';
import { boardKey as historyKey } from '../store/board-history.js';
import { parseFile, parseJsonText } from '../io/validate.js';

const iso = z.string().datetime({ message: 'must be an ISO time' });
const runId = z.string().regex(/^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$/, 'must be a run id');

export const StoredItem = z
  .object({
    id: runId,
    kind: z.string().min(1),
    request: z.record(z.unknown(), { invalid_type_error: 'must be a job request object' }),
    submitter: z.string().optional(),
    state: z.enum(['queued', 'running', 'completed', 'failed', 'aborted', 'removed', 'interrupted']),
    added: iso,
    started: iso.optional(),
    ended: iso.optional(),
    error: z.string().optional(),
    errorCode: z.string().optional(),
    pausedAt: iso.optional(),
  })
  .strict();

export const QueueSnapshot = z
  .object({
    format: z.literal('rram-hil/station-queue'),
    version: z.literal(1),
    /** The board's queue key (queueKey; a file taken over from an earlier station: its port key): a file of another board is refused. */
    boardKey: z.string().min(1),
    /** The port key the board was on when the file was last written (a board on a port): what strandedQueues looks for. */
    port: z.string().startsWith('port:').optional(),
    rev: z.number().int().gte(0),
    /** Paused by a user (pause, halt), not by the station's own shutdown. */
    paused: z.boolean(),
    halted: z.boolean(),
    /** The lock's key is kept as its SHA-256 only. */
    lock: z.object({ keyHash: z.string().regex(/^[0-9a-f]{64}$/).optional(), since: iso.optional(), note: z.string().optional() }).strict(),
    running: StoredItem.nullable(),
    queued: z.array(StoredItem),
    history: z.array(StoredItem),
  })
  .strict();
export type QueueSnapshot = z.infer<typeof QueueSnapshot>;

/**
 * The key a board's queue is kept under: an in-process emulated board's key (its state key, what
 * its flags name); a board behind a port, its identity as HELLO reports it, as the store names the
 * board (board-history.ts boardKey: kind and id; an emulator behind a link, its boot) - not the
 * port, which a re-enumerating USB adapter or another name of the same tty changes.
 */
export function queueKey(key: string, info: Pick<BoardInfo, 'kind' | 'id' | 'state'>): string {
  return key.startsWith('port:') ? `board:${historyKey(info)}` : key;
}

/** A queue file written under a port key (by a station before queues were keyed by the board) and moved to its board's. */
const isTakenOver = (fileKey: string, key: string) => key.startsWith('board:') && fileKey.startsWith('port:');

/**
 * The file of the queue kept under `key`. A file an earlier station kept under the board's port
 * (`portKey`) is moved there (one rename: atomic, and the port's file is gone after it), unless
 * the board has a file of its own already, or the last run in that file's history ran on another
 * board (`ranOn`: the store's name of a run's board; `board` this one's): then it is left where it
 * is, and `note` says so.
 */
export function takeOverQueueFile(store: string, key: string, portKey: string, board: string, ranOn: (runId: string) => string | undefined): { file: string; note?: string } {
  const file = queueFilePath(store, key);
  const old = queueFilePath(store, portKey);
  if (key === portKey || !existsSync(old)) return { file };
  const left = (why: string) => ({ file, note: `${old} (the queue an earlier station kept for the board on ${portKey.slice(5)}) is left as it is: ${why}; this board's queue is ${file}` });
  if (existsSync(file)) return left('this board has a queue file of its own');
  const snap = QueueSnapshot.safeParse(parseJsonText(readFileSync(old, 'utf8'), old));
  const last = snap.success ? [...snap.data.history].reverse().find((i) => i.started !== undefined) : undefined;
  const other = last && ranOn(last.id);
  if (other !== undefined && other !== board) return left(`its last run ${last!.id} ran on board ${other}, not on ${board}`);
  renameSync(old, file);
  fsyncDir(dirname(file));
  return { file, note: `took over the queue an earlier station kept for the board on ${portKey.slice(5)} (now ${file})` };
}

/**
 * Queues kept for another board that was on this port (a restarted emulator, a reflashed board: a
 * new identity) and still holding work: never taken over (they are another board's), but said, so
 * what was queued there is not silently left behind. Files that do not parse are left to the
 * station that owns them.
 */
export function strandedQueues(store: string, portKey: string, key: string): string[] {
  const dir = join(store, 'stations', 'queues');
  if (!portKey.startsWith('port:') || !existsSync(dir)) return [];
  const out: string[] = [];
  for (const n of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    const f = join(dir, n);
    let snap: QueueSnapshot;
    try {
      snap = QueueSnapshot.parse(JSON.parse(readFileSync(f, 'utf8')));
    } catch {
      continue;
    }
    if (snap.port !== portKey || snap.boardKey === key) continue;
    const waiting = snap.queued.length + (snap.running ? 1 : 0) + snap.history.filter((i) => i.state === 'interrupted').length;
    if (waiting) out.push(`${f} holds ${waiting} queued or interrupted item(s) of board ${snap.boardKey.replace(/^board:/, '')}, which was on ${portKey.slice(5)}; the board answering there now is ${key.replace(/^board:/, '')}, another: its queue is left as it is (start a station on that board to run or remove them)`);
  }
  return out;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function queueFilePath(store: string, boardKey: string): string {
  return join(store, 'stations', 'queues', `${createHash('sha256').update(boardKey).digest('hex').slice(0, 16)}.json`);
}

/** Atomically replaces the file with `snap` (durable once this returns). */
export function writeQueueFile(file: string, snap: QueueSnapshot): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(snap));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDir(dirname(file));
}

/** The saved queue of board `boardKey`, or undefined when there is none; a bad file is a DataError naming it. */
export function readQueueFile(file: string, boardKey: string): QueueSnapshot | undefined {
  if (!existsSync(file)) return undefined;
  const snap = parseFile(QueueSnapshot, parseJsonText(readFileSync(file, 'utf8'), file), file);
  if (snap.boardKey !== boardKey && !isTakenOver(snap.boardKey, boardKey)) throw new DataError(file, `holds the queue of board ${snap.boardKey}, not of ${boardKey}`);
  return snap;
}
