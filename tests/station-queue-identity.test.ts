/**
 * A board's saved queue follows the board, not its port (docs/server.md "The queue survives a
 * restart"). Invariants:
 * - a board behind a port keeps its queue under its HELLO identity: served again on another port
 *   (a USB-serial adapter re-enumerated), it gets back the same queued items in the same order;
 * - a queue an earlier station kept under the port is taken over by the board on that port, moved
 *   once (the port's file is gone after), unless the board has its own file already or the last run
 *   in that queue's history ran on another board (then it is left as it is);
 * (Two ports answering as one board are refused naming both: tests/station-boards.test.ts refuseTwins.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queueFilePath, queueKey, readQueueFile, takeOverQueueFile, writeQueueFile, type QueueSnapshot } from '../src/station/queue-file.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { emulatePty, serveStation, type Station } from './helpers/station.js';
import { waitFor } from './helpers/server.js';

const INFO = { kind: 'hardware' as const, id: 'chip-7' };
const item = (n: number, started?: boolean) => ({ id: `20260101-000000-000${n}`, kind: 'read', request: { kind: 'read', cell: { row: n, col: 0 } }, state: started ? ('completed' as const) : ('queued' as const), added: '2026-01-01T00:00:00.000Z', ...(started ? { started: '2026-01-01T00:00:01.000Z' } : {}) });
const snapshot = (boardKey: string, queued: number[], history: number[] = []): QueueSnapshot => ({ format: 'rram-hil/station-queue', version: 1, boardKey, rev: 3, paused: true, halted: false, lock: {}, running: null, queued: queued.map((n) => item(n)), history: history.map((n) => item(n, true)) });

test('a queue kept under a port is taken over by its board once, unless the board has its own or the queue is another board\'s', () => {
  const store = mkdtempSync(join(tmpdir(), 'rram-queue-takeover-'));
  const key = queueKey('port:/dev/ttyUSB0', INFO);
  assert.equal(key, queueKey('port:/dev/ttyUSB1', INFO), 'the port does not name the queue');
  assert.equal(queueKey('emulated:abc', INFO), 'emulated:abc', 'an in-process board keeps its state key');
  const old = queueFilePath(store, 'port:/dev/ttyUSB0');
  writeQueueFile(old, snapshot('port:/dev/ttyUSB0', [1, 2], [0]));
  const ranOn = (board: string) => () => board;
  // The last run of that queue ran on another board: left as it is.
  const other = takeOverQueueFile(store, key, 'port:/dev/ttyUSB0', 'hardware:chip-7', ranOn('hardware:chip-9'));
  assert.match(other.note!, /left as it is: its last run 20260101-000000-0000 ran on board hardware:chip-9/);
  assert.ok(existsSync(old) && !existsSync(other.file));
  // Its own board: moved, read back under the board's key with its items in order.
  const took = takeOverQueueFile(store, key, 'port:/dev/ttyUSB0', 'hardware:chip-7', ranOn('hardware:chip-7'));
  assert.match(took.note!, /took over/);
  assert.ok(!existsSync(old), 'the port file is gone');
  assert.deepEqual(readQueueFile(took.file, key)!.queued.map((i) => i.id), [item(1).id, item(2).id]);
  // Once: a port file seen again beside the board's own is left alone.
  writeQueueFile(old, snapshot('port:/dev/ttyUSB0', [5]));
  const again = takeOverQueueFile(store, key, 'port:/dev/ttyUSB0', 'hardware:chip-7', ranOn('hardware:chip-7'));
  assert.match(again.note!, /has a queue file of its own/);
  assert.deepEqual(readQueueFile(again.file, key)!.queued.map((i) => i.id), [item(1).id, item(2).id]);
  assert.ok(existsSync(old));
  // A file of another board (by its identity) is still refused by name.
  writeQueueFile(took.file, snapshot(queueKey('port:/dev/ttyUSB0', { ...INFO, id: 'chip-8' }), [3]));
  assert.throws(() => readQueueFile(took.file, key), /holds the queue of board board:hardware:chip-8, not of board:hardware:chip-7/);
});

test('a board served on another port gets its queue back; a queue kept under its old port is taken over', { timeout: 60000 }, async () => {
  const store = mkdtempSync(join(tmpdir(), 'rram-queue-identity-'));
  const board = await emulatePty(['--seed', '7']);
  let relay: ChildProcess | undefined;
  let st: Station | undefined;
  try {
    // A queue an earlier station kept under the board's port (its key then was the port's real path).
    const portKey = `port:${realpathSync(board.path)}`;
    writeQueueFile(queueFilePath(store, portKey), snapshot(portKey, [1, 2]));
    st = await serveStation(store, ['--port', board.path]);
    const ids = async () => ((await (await fetch(`${st!.url}/api/boards/board0/queue`)).json()) as { queued: { id: string }[] }).queued.map((i) => i.id);
    assert.deepEqual(await ids(), [item(1).id, item(2).id], `taken over: ${st.err()}`);
    assert.match(st.err(), /took over the queue/);
    assert.ok(!existsSync(queueFilePath(store, portKey)), 'the port file is gone');
    await st.stop();
    // The board's file says which port it was on (what a later station on that port warns from, if another board answers there).
    const files = readdirSync(join(store, 'stations', 'queues')).filter((n) => n.endsWith('.json')).map((n) => JSON.parse(readFileSync(join(store, 'stations', 'queues', n), 'utf8')) as QueueSnapshot);
    assert.deepEqual(files.map((f) => f.port), [portKey]);
    // The same board (the same emulator, its boot) behind another tty: a re-enumerated adapter.
    const other = join(mkdtempSync(join(tmpdir(), 'rram-relay-')), 'tty');
    relay = spawn('socat', [`pty,raw,echo=0,link=${other}`, `OPEN:${board.path},raw,echo=0`], { stdio: 'ignore' });
    await waitFor(() => existsSync(other) || undefined, 10000, 'the relay tty');
    assert.notEqual(realpathSync(other), realpathSync(board.path));
    st = await serveStation(store, ['--port', other]);
    assert.deepEqual(await ids(), [item(1).id, item(2).id], `the same board on another port: its queue (${st.err()})`);
    await st.stop();
  } finally {
    await st?.stop();
    relay?.kill('SIGTERM');
    board.proc.kill('SIGTERM');
  }
});

test('a queue of another board that was on this port, still holding work, is said (never taken over); an empty one, another port\'s, or this board\'s own is not', async () => {
  const { strandedQueues } = await import('../src/station/queue-file.js');
  const store = mkdtempSync(join(tmpdir(), 'rram-queue-stranded-'));
  const port = 'port:/dev/ttyUSB0';
  const now = queueKey(port, { kind: 'emulated', id: 'emu-1', state: 'boot-00000002' } as never);
  const put = (boardKey: string, queued: number[], p: string | undefined, history: number[] = []) => writeQueueFile(queueFilePath(store, boardKey), { ...snapshot(boardKey, queued, history), ...(p ? { port: p } : {}) });
  put('board:emulated:boot-00000001', [1, 2], port); // the emulator before its restart: 2 queued
  put('board:emulated:boot-00000000', [], port, [0]); // nothing waiting
  put('board:hardware:chip-3', [5], 'port:/dev/ttyUSB1'); // another port's
  put(now, [7], port); // this board's own
  const said = strandedQueues(store, port, now);
  assert.equal(said.length, 1, said.join('\n'));
  assert.match(said[0], /holds 2 queued or interrupted item\(s\) of board emulated:boot-00000001, which was on \/dev\/ttyUSB0; the board answering there now is .* another: its queue is left as it is/);
  assert.ok(existsSync(queueFilePath(store, 'board:emulated:boot-00000001')), 'left where it is');
  assert.deepEqual(strandedQueues(store, 'emulated:abc', 'emulated:abc'), [], 'an in-process board has no port');
});
