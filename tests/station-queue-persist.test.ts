/**
 * A station's queue survives a restart (issue 29; src/station/queue-file.ts).
 * Invariants: for any sequence of queue operations, the queue read back from its file has the
 * same queued items in the same order, the same history, the same lock (the same key opens it,
 * another does not; the key itself is not in the file) and the same pause; the item that was
 * running comes back as `interrupted` in the history, never queued or run again, and the queue
 * comes back paused. Across a real kill -9 of `rram serve`: the same, the interrupted run's record
 * untouched by the new station, the rest running in order once resumed. A corrupt file stops the
 * station with an error naming the file, which is left as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoardQueue } from '../src/station/board-queue.js';
import { QueueSnapshot, readQueueFile, writeQueueFile } from '../src/station/queue-file.js';
import { parseFile } from '../src/io/validate.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { MAIN, serveStation, type Station } from './helpers/station.js';
import { waitFor } from './helpers/server.js';

const KEY = 'lab-key-0001';
type Op = { op: 'add'; at: number } | { op: 'move'; k: number; to: number } | { op: 'remove'; k: number } | { op: 'pause' } | { op: 'resume' } | { op: 'lock' } | { op: 'unlock' };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('add' as const), at: fc.nat(10) }),
  fc.record({ op: fc.constant('move' as const), k: fc.nat(10), to: fc.nat(10) }),
  fc.record({ op: fc.constant('remove' as const), k: fc.nat(10) }),
  fc.constant({ op: 'pause' as const }),
  fc.constant({ op: 'resume' as const }),
  fc.constant({ op: 'lock' as const }),
  fc.constant({ op: 'unlock' as const }),
);

test('queue file round trip: order, history, lock and pause kept; the running item comes back interrupted, the queue paused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rram-queue-file-'));
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
      const file = join(dir, 'q.json');
      rmSync(file, { force: true });
      // The first item taken up runs until the station dies (its promise never settles).
      const q = new BoardQueue<{ kind: string; n: number }>('board0', () => new Promise(() => undefined));
      q.onPersist = (s) => writeQueueFile(file, { format: 'rram-hil/station-queue', version: 1, boardKey: 'emulated:x', ...s });
      let n = 0;
      for (const o of ops) {
        const queued = q.view().queued;
        try {
          if (o.op === 'add') q.add({ id: `20260101-000000-${(n++).toString(16).padStart(4, '0')}`, kind: 'read', request: { kind: 'read', n }, position: Math.min(o.at, queued.length) }, KEY);
          else if (o.op === 'move' && queued.length) q.move(queued[o.k % queued.length].id, o.to % queued.length, KEY);
          else if (o.op === 'remove' && queued.length) q.remove(queued[o.k % queued.length].id, KEY);
          else if (o.op === 'pause') q.pause(KEY);
          else if (o.op === 'resume') q.resume(KEY);
          else if (o.op === 'lock') q.lock(KEY, 'calibration in progress');
          else if (o.op === 'unlock' && q.view().lock.locked) q.unlock(KEY);
        } catch (e) {
          assert.fail(`operation ${JSON.stringify(o)} refused: ${(e as Error).message}`);
        }
      }
      const before = q.view();
      const beforeHistory = q.history();
      // Every accepted change rewrote the file; with none, write the empty queue once.
      if (q.revision === 0) q.onPersist!(q.snapshot());
      const r = new BoardQueue<{ kind: string; n: number }>('board0', () => new Promise(() => undefined));
      r.restore(readQueueFile(file, 'emulated:x')!, (i) => i.request);
      const after = r.view();
      assert.deepEqual(after.queued.map((i) => [i.id, i.state, i.request]), before.queued.map((i) => [i.id, i.state, i.request]), 'same queued items, same order');
      assert.deepEqual(after.lock.locked, before.lock.locked);
      assert.equal(after.lock.note, before.lock.note);
      const wasRunning = before.running;
      assert.equal(after.running, null, 'nothing runs after a restore');
      assert.deepEqual(r.history().map((i) => [i.id, i.state]), [...beforeHistory.map((i) => [i.id, i.state]), ...(wasRunning ? [[wasRunning.id, 'interrupted']] : [])]);
      assert.equal(after.paused, before.paused || !!wasRunning, 'paused as it was, and always after an interrupted run');
      if (before.lock.locked) {
        assert.throws(() => r.pause('not-the-key'), /locked/);
        assert.doesNotThrow(() => r.pause(KEY));
      }
      assert.ok(!readFileSync(file, 'utf8').includes(KEY), 'the lock key is not in the file');
    }),
    { numRuns: 150 },
  );
});

const token = (store: string, pid: number): string => {
  const dir = join(store, 'stations');
  for (const n of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    const e = JSON.parse(readFileSync(join(dir, n), 'utf8')) as { pid: number; token: string };
    if (e.pid === pid) return e.token;
  }
  throw new Error(`no station file of pid ${pid}`);
};

interface Item {
  id: string;
  state: string;
  request: Record<string, unknown>;
}

test('kill -9 of rram serve with jobs queued: the restarted station has the same queue, lock and history; the running run is interrupted, not re-run; a corrupt queue file is refused by name', { timeout: 180000 }, async () => {
  const store = mkdtempSync(join(tmpdir(), 'rram-queue-kill-'));
  let st: Station = await serveStation(store);
  const call = async (s: Station, method: string, path: string, body?: unknown, lock?: string) => {
    const r = await fetch(`${s.url}${path}`, { method, headers: { 'content-type': 'application/json', 'x-rram-token': token(store, s.proc.pid!), ...(lock ? { 'x-rram-lock': lock } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const queueOf = async (s: Station) => (await (await fetch(`${s.url}/api/boards/board0/queue`)).json()) as { paused: boolean; lock: { locked: boolean; note?: string }; running: Item | null; queued: Item[] };
  try {
    await waitFor(() => { try { return token(store, st.proc.pid!); } catch { return undefined; } }, 10000, 'the station file');
    // A long run starts, then holds at a checkpoint (paused): it is running when the station dies.
    const long = await call(st, 'POST', '/api/boards/board0/queue', { request: { kind: 'characterize', levels: 8, cellsPerLevel: 200 }, submitter: 'test' });
    assert.equal(long.status, 202, JSON.stringify(long.body));
    const runId = long.body.runId as string;
    await waitFor(async () => (await queueOf(st)).running?.id === runId || undefined, 30000, 'the long run to start');
    assert.equal((await call(st, 'POST', '/api/boards/board0/queue/pause', {})).status, 200);
    await waitFor(async () => ((await queueOf(st)).running as { pausedAt?: string } | null)?.pausedAt || undefined, 60000, 'the run held at a checkpoint');
    const ids: string[] = [];
    for (const k of [0, 1, 2]) ids.push((await call(st, 'POST', '/api/boards/board0/queue', { request: { kind: 'read', cell: { row: k, col: 0 } }, submitter: `t${k}` })).body.runId as string);
    assert.equal((await call(st, 'POST', `/api/boards/board0/queue/${ids[2]}/move`, { position: 0 })).status, 200);
    assert.equal((await call(st, 'POST', '/api/boards/board0/lock', { key: KEY, note: 'night run' })).status, 200);
    const before = await queueOf(st);
    assert.deepEqual(before.queued.map((i) => i.id), [ids[2], ids[0], ids[1]]);
    const seqBefore = new EmbeddedStore(store).lastSeq(runId);

    st.proc.kill('SIGKILL');
    await new Promise((r) => st.proc.once('exit', r));
    st = await serveStation(store);
    await waitFor(() => { try { return token(store, st.proc.pid!); } catch { return undefined; } }, 10000, 'the new station file');
    const after = await queueOf(st);
    assert.deepEqual(after.queued.map((i) => [i.id, i.state, i.request]), before.queued.map((i) => [i.id, i.state, i.request]), 'same queue, same order');
    assert.equal(after.running, null, 'the interrupted run is not run again');
    assert.equal(after.paused, true, 'paused after an interrupted run');
    assert.deepEqual([after.lock.locked, after.lock.note], [true, 'night run']);
    const hist = ((await (await fetch(`${st.url}/api/boards/board0/queue/history`)).json()) as { items: Item[] }).items;
    assert.deepEqual(hist.map((i) => [i.id, i.state]), [[runId, 'interrupted']]);
    // The lock holds with the same key; the file is the user's alone.
    assert.equal((await call(st, 'POST', '/api/boards/board0/queue/resume', {})).status, 423);
    assert.equal(statSync(join(store, 'stations', 'queues', readdirSync(join(store, 'stations', 'queues')).find((n) => n.endsWith('.json'))!)).mode & 0o777, 0o600);
    assert.equal(new EmbeddedStore(store).lastSeq(runId), seqBefore, 'the interrupted run got no event from the new station');
    assert.notEqual(new EmbeddedStore(store).getRun(runId).status, 'completed');
    // The user resumes the interrupted run (the queue's own resume item), and the station dies again
    // before it starts: the next station keeps it queued as a resume, which continues the run.
    const rs = await call(st, 'POST', `/api/runs/${runId}/resume`, {}, KEY);
    assert.equal(rs.status, 202, JSON.stringify(rs.body));
    st.proc.kill('SIGKILL');
    await new Promise((r) => st.proc.once('exit', r));
    st = await serveStation(store);
    await waitFor(() => { try { return token(store, st.proc.pid!); } catch { return undefined; } }, 10000, 'the third station file');
    const third = await queueOf(st);
    assert.deepEqual(third.queued.map((i) => i.id), [ids[2], ids[0], ids[1], runId], 'the resume item kept, last');
    assert.equal((third.queued[3].request as { resume?: unknown }).resume, true, 'still a resume of the stored run');
    assert.equal((await call(st, 'POST', '/api/boards/board0/queue/resume', {}, KEY)).status, 200);
    await waitFor(async () => (await queueOf(st)).queued.length === 0 && !(await queueOf(st)).running || undefined, 120000, 'the queue to drain');
    const done = ((await (await fetch(`${st.url}/api/boards/board0/queue/history`)).json()) as { items: Item[] }).items;
    assert.deepEqual(done.map((i) => [i.id, i.state]), [[runId, 'interrupted'], [ids[2], 'completed'], [ids[0], 'completed'], [ids[1], 'completed'], [runId, 'completed']], 'the rest ran in the saved order, the resume last');
    const rec = new EmbeddedStore(store).getRun(runId);
    assert.equal(rec.status, 'completed');
    assert.equal((rec as { resumes?: number }).resumes, 1, 'the stored run continued, not started again');
  } finally {
    await st.stop();
  }
  // A corrupt queue file: rram serve refuses to start, naming it; the file is left as it was.
  const qdir = join(store, 'stations', 'queues');
  const file = join(qdir, readdirSync(qdir).find((n) => n.endsWith('.json'))!);
  const good = readFileSync(file, 'utf8');
  parseFile(QueueSnapshot, JSON.parse(good), file);
  for (const bad of [good.slice(0, good.length >> 1), good.replace('"state":"queued"', '"state":"later"').replace('"state":"completed"', '"state":"later"')]) {
    writeFileSync(file, bad);
    const r = spawnSync(process.execPath, [MAIN, 'serve', '--listen', '127.0.0.1:0', '--store', store], { encoding: 'utf8', timeout: 60000 });
    assert.notEqual(r.status, 0, 'the station does not start on a corrupt queue');
    assert.ok(r.stderr.includes(file), `the error names the file: ${r.stderr}`);
    assert.match(r.stderr, /not valid JSON|state/);
    assert.equal(readFileSync(file, 'utf8'), bad, 'the file is not emptied');
  }
});
