/**
 * A station's queue on disk (docs/server.md "The queue survives a restart"):
 * `<store>/stations/queues/<hash of the board key>.json`, rewritten after every change of the queue
 * (a temporary file, fsync, rename: a kill at any moment leaves the old file or the new one, never
 * a torn one), mode 0600. Read back with zod when the station starts; a file that does not parse
 * is refused naming it - never taken as an empty queue, which would silently drop what was queued.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { DataError } from '../../drivers/errors.js';
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
    /** The board's key (src/cli/board-options.ts boardKey): a file of another board is refused. */
    boardKey: z.string().min(1),
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
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** The saved queue of board `boardKey`, or undefined when there is none; a bad file is a DataError naming it. */
export function readQueueFile(file: string, boardKey: string): QueueSnapshot | undefined {
  if (!existsSync(file)) return undefined;
  const snap = parseFile(QueueSnapshot, parseJsonText(readFileSync(file, 'utf8'), file), file);
  if (snap.boardKey !== boardKey) throw new DataError(file, `holds the queue of board ${snap.boardKey}, not of ${boardKey}`);
  return snap;
}
