/**
 * A station's board queue (issue 29). Invariants:
 *  - the queue is a linearizable list: for every sequence of add / move / remove / lock / unlock,
 *    from one client or several concurrent HTTP clients in any interleaving, replaying every answer
 *    in the order of the `rev` it carries on a plain-array model accepts exactly what the queue
 *    accepted, refuses exactly what it refused (same code), and ends in the queue's order;
 *  - while locked, only requests with the key change anything;
 *  - runs of one board never interleave on it (each run's events lie after the previous run's end),
 *    in queue order;
 *  - pause holds a running run at a checkpoint (nothing pulsed while held, the board grounded,
 *    marked in the record) and resume continues it; halt aborts it and leaves every line grounded
 *    (the board's line state says so), with the queue held until resumed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BoardQueue, QueueError } from '../src/station/board-queue.js';
import { startServer, waitFor, type TestServer } from './helpers/server.js';

type Op =
  | { op: 'add'; position?: number; key?: boolean }
  | { op: 'move'; pick: number; position: number; key?: boolean }
  | { op: 'remove'; pick: number; key?: boolean }
  | { op: 'lock'; own: boolean }
  | { op: 'unlock'; own: boolean };

const KEY = 'the-lock-key-1';
const OTHER = 'another-key-22';

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('add' as const), position: fc.option(fc.nat(6), { nil: undefined }), key: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('move' as const), pick: fc.nat(20), position: fc.nat(6), key: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), pick: fc.nat(20), key: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('lock' as const), own: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('unlock' as const), own: fc.boolean() }) },
);

/** What the queue must do, as a plain array (the specification). */
class Model {
  order: string[] = [];
  lock?: string;
  apply(a: Applied): string | undefined {
    const locked = (k?: string) => this.lock !== undefined && k !== this.lock;
    switch (a.op) {
      case 'add':
        if (locked(a.key)) return 'LOCKED';
        if (a.position !== undefined && a.position > this.order.length) return 'INVALID_ARGUMENT';
        this.order.splice(a.position ?? this.order.length, 0, a.id!);
        return undefined;
      case 'move': {
        if (locked(a.key)) return 'LOCKED';
        const k = this.order.indexOf(a.id!);
        if (k < 0) return 'NOT_FOUND';
        if (a.position! >= this.order.length) return 'INVALID_ARGUMENT';
        this.order.splice(k, 1);
        this.order.splice(a.position!, 0, a.id!);
        return undefined;
      }
      case 'remove': {
        if (locked(a.key)) return 'LOCKED';
        const k = this.order.indexOf(a.id!);
        if (k < 0) return 'NOT_FOUND';
        this.order.splice(k, 1);
        return undefined;
      }
      case 'lock':
        if (this.lock !== undefined && this.lock !== a.key) return 'LOCKED';
        this.lock = a.key;
        return undefined;
      case 'unlock':
        if (this.lock === undefined) return 'INVALID_ARGUMENT';
        if (a.key !== this.lock) return 'LOCKED';
        this.lock = undefined;
        return undefined;
    }
  }
}

/** One answered operation: what was asked, and the queue's verdict with the rev it saw. */
interface Applied {
  op: Op['op'];
  id?: string;
  position?: number;
  key?: string;
  rev: number;
  code?: string;
}

/** Replays answers in rev order (an accepted change made rev r; a refusal saw rev r) on the model. */
function checkLinearizable(answers: Applied[], finalOrder: string[], rev0: number): void {
  const m = new Model();
  const sorted = [...answers].sort((a, b) => (a.code ? a.rev + 0.5 : a.rev) - (b.code ? b.rev + 0.5 : b.rev));
  const accepted = sorted.filter((a) => !a.code).map((a) => a.rev);
  assert.deepEqual(accepted, accepted.map((_, k) => rev0 + k + 1), 'every accepted change has its own rev, without gaps');
  for (const a of sorted) assert.equal(m.apply(a), a.code, `${JSON.stringify(a)} on ${JSON.stringify(m.order)} (lock ${m.lock})`);
  assert.deepEqual(finalOrder, m.order);
}

const nextId = (() => {
  let n = 0;
  return () => `20260101-000000-${(n++ % 0xffff).toString(16).padStart(4, '0')}`;
})();

/** An op against a BoardQueue in process, as the routes call it. */
function applyLocal(q: BoardQueue, o: Op, known: string[]): Applied {
  const key = 'key' in o && o.key ? KEY : undefined;
  const pickId = (pick: number) => (known.length ? known[pick % known.length] : 'none');
  const asked: Applied =
    o.op === 'add'
      ? { op: 'add', id: nextId(), position: o.position, key, rev: 0 }
      : o.op === 'move'
        ? { op: 'move', id: pickId(o.pick), position: o.position, key, rev: 0 }
        : o.op === 'remove'
          ? { op: 'remove', id: pickId(o.pick), key, rev: 0 }
          : { op: o.op, key: o.own ? KEY : OTHER, rev: 0 };
  try {
    const r =
      asked.op === 'add'
        ? q.add({ id: asked.id!, kind: 'characterize', request: {}, position: asked.position }, key)
        : asked.op === 'move'
          ? q.move(asked.id!, asked.position!, key)
          : asked.op === 'remove'
            ? q.remove(asked.id!, key)
            : asked.op === 'lock'
              ? q.lock(asked.key!)
              : q.unlock(asked.key!);
    if (asked.op === 'add') known.push(asked.id!);
    return { ...asked, rev: r.rev };
  } catch (e) {
    if (!(e instanceof QueueError)) throw e;
    return { ...asked, rev: e.context.rev as number, code: e.code };
  }
}

test('queue: any sequence of add/move/remove/lock/unlock behaves as the list model, refusals included', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const q = new BoardQueue('b', async () => ({ status: 'completed' }));
      q.pause(); // nothing starts: the order alone is under test
      const rev0 = q.revision;
      const known: string[] = [];
      const answers = ops.map((o) => applyLocal(q, o, known));
      checkLinearizable(answers, q.view().queued.map((i) => i.id), rev0);
    }),
    { numRuns: 300 },
  );
});

/** Unlocked (whichever key holds it) and empty. */
function reset<R>(q: BoardQueue<R>): void {
  for (const k of [KEY, OTHER]) {
    try {
      q.unlock(k);
    } catch {
      // not locked, or locked with the other key
    }
  }
  for (const i of q.view().queued) q.remove(i.id);
}

/** The same ops over HTTP, as a client of the station sends them. */
async function applyHttp(s: TestServer, o: Op, known: string[]): Promise<Applied> {
  const base = `${s.url}/api/boards/board0`;
  const key = 'key' in o && o.key ? KEY : undefined;
  const h: Record<string, string> = key ? { 'x-rram-lock': key } : {};
  const pickId = (pick: number) => (known.length ? known[pick % known.length] : '20260101-000000-ffff');
  let asked: Applied;
  let res: Response;
  if (o.op === 'add') {
    asked = { op: 'add', position: o.position, key, rev: 0 };
    res = await s.post(`${base}/queue`, { request: { kind: 'characterize', levels: 2, cellsPerLevel: 1 }, ...(o.position !== undefined ? { position: o.position } : {}) }, h);
  } else if (o.op === 'move') {
    asked = { op: 'move', id: pickId(o.pick), position: o.position, key, rev: 0 };
    res = await s.post(`${base}/queue/${asked.id}/move`, { position: o.position }, h);
  } else if (o.op === 'remove') {
    asked = { op: 'remove', id: pickId(o.pick), key, rev: 0 };
    res = await fetch(`${base}/queue/${asked.id}`, { method: 'DELETE', headers: { 'x-rram-token': s.token, ...h } });
  } else {
    asked = { op: o.op, key: o.own ? KEY : OTHER, rev: 0 };
    res = await s.post(`${base}/${o.op}`, { key: asked.key });
  }
  const body = (await res.json()) as { rev: number; runId?: string; code?: string };
  if (res.ok) {
    if (o.op === 'add') {
      asked.id = body.runId;
      known.push(body.runId!);
    }
    return { ...asked, rev: body.rev };
  }
  assert.ok([400, 404, 409, 423].includes(res.status), `${res.status} ${JSON.stringify(body)}`);
  return { ...asked, rev: body.rev, code: body.code };
}

test('queue over HTTP: several concurrent clients in random interleavings, order and locks hold', { timeout: 180000 }, async () => {
  const s = await startServer();
  try {
    assert.equal((await s.post(`${s.url}/api/boards/board0/queue/pause`, {})).status, 200);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.tuple(opArb, fc.nat(3)), { minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 4 }), async (clients) => {
        // A fresh queue: unlocked and empty.
        const q = s.station.queue;
        reset(q);
        const rev0 = q.revision;
        const answers: Applied[] = [];
        // Each client sends its ops one after another, waiting 0-3 ms before each: the clients' requests interleave.
        await Promise.all(
          clients.map(async (ops) => {
            const known: string[] = [];
            for (const [o, wait] of ops) {
              await new Promise((r) => setTimeout(r, wait));
              answers.push(await applyHttp(s, o, known));
            }
          }),
        );
        const view = (await (await fetch(`${s.url}/api/boards/board0/queue`)).json()) as { queued: { id: string }[]; rev: number };
        checkLinearizable(answers, view.queued.map((i) => i.id), rev0);
        assert.equal(view.rev, rev0 + answers.filter((a) => !a.code).length);
      }),
      { numRuns: 25 },
    );
  } finally {
    reset(s.station.queue);
    await s.close();
  }
});

interface RunRec {
  id: string;
  status: string;
  started: string;
  ended?: string;
}

test('station: concurrent submitters, runs in queue order, never interleaved on the board; locks', { timeout: 180000 }, async () => {
  const s = await startServer();
  try {
    const base = `${s.url}/api/boards/board0`;
    // A lock with a key: without it nothing is added; with it, it is.
    assert.equal((await s.post(`${base}/lock`, { key: KEY, note: 'calibration in progress' })).status, 200);
    const refused = await s.post(`${base}/queue`, { request: { kind: 'characterize', levels: 2, cellsPerLevel: 2 } });
    assert.equal(refused.status, 423);
    assert.match(((await refused.json()) as { error: string }).error, /locked \(calibration in progress\)/);
    assert.equal((await s.post(`${base}/unlock`, { key: OTHER })).status, 423);
    assert.equal((await s.post(`${base}/queue/pause`, {})).status, 423, 'pausing needs the key too');
    assert.equal((await s.post(`${base}/unlock`, { key: KEY })).status, 200);
    // Bodies are validated, naming the field.
    const bad = await s.post(`${base}/queue`, { request: { kind: 'characterize' }, position: -1 });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /position/);
    // Four clients at once, each adding a small characterize.
    const adds = await Promise.all(
      [0, 1, 2, 3].map(async (k) => {
        const r = await s.post(`${base}/queue`, { request: { kind: 'characterize', levels: 2, cellsPerLevel: 3, seed: k + 1 }, submitter: `client ${k}` });
        assert.equal(r.status, 202);
        return (await r.json()) as { runId: string; rev: number };
      }),
    );
    await waitFor(() => s.station.queue.history().length === 4, 120000, 'four runs to end');
    const hist = s.station.queue.history();
    // Started in the order they were queued (by rev), each one completed.
    assert.deepEqual(hist.map((h) => h.id), [...adds].sort((a, b) => a.rev - b.rev).map((a) => a.runId));
    const recs = hist.map((h) => s.jobs.store.getRun(h.id) as unknown as RunRec);
    for (const r of recs) assert.equal(r.status, 'completed', `${r.id}: ${r.status}`);
    // Never interleaved: every event of a run comes after the previous run's last event.
    let prevEnd = -Infinity;
    for (const h of hist) {
      const ts: number[] = [];
      for await (const e of s.jobs.store.events(h.id)) ts.push(e.t);
      assert.ok(Math.min(...ts) >= prevEnd, `run ${h.id} began before the previous run ended`);
      prevEnd = Math.max(...ts);
    }
  } finally {
    await s.close();
  }
});

test('station: pause holds a run at a checkpoint (grounded, marked), resume continues; halt aborts and grounds every line', { timeout: 180000 }, async () => {
  const s = await startServer();
  try {
    const base = `${s.url}/api/boards/board0`;
    const add = async (body: unknown) => ((await (await s.post(`${base}/queue`, body)).json()) as { runId: string }).runId;
    const id = await add({ request: { kind: 'characterize', levels: 4, cellsPerLevel: 24 } });
    const cellDones = () => s.jobs.liveRun(id).delta(-1).cells.filter((c) => c[5] !== null).length;
    await waitFor(() => cellDones() > 0, 60000, 'the run to finish its first cells');
    assert.equal((await s.post(`${base}/queue/pause`, {})).status, 200);
    await waitFor(() => s.station.queue.view().running?.pausedAt, 30000, 'the run to hold at a checkpoint');
    const seqHeld = s.jobs.liveRun(id).seq;
    const lines = ((await (await fetch(`${s.url}/api/boards`)).json()) as { lines: { state: string; groundedBy?: string } }[])[0].lines;
    assert.equal(lines.state, 'grounded', 'a held run leaves the board grounded');
    assert.equal(lines.groundedBy, 'pause');
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(s.jobs.liveRun(id).seq, seqHeld, 'nothing happens on the board while the run is held');
    // A second item waits behind it while paused.
    const second = await add({ request: { kind: 'characterize', levels: 2, cellsPerLevel: 2 } });
    assert.equal((await s.post(`${base}/queue/resume`, {})).status, 200);
    await waitFor(() => s.station.queue.history().some((h) => h.id === second), 120000, 'the first run to complete and the second after it');
    assert.deepEqual(s.station.queue.history().map((h) => [h.id, h.state]), [[id, 'completed'], [second, 'completed']]);
    const marks: string[] = [];
    for await (const e of s.jobs.store.events(id, { type: 'mark' })) marks.push((e as { name: string }).name);
    assert.deepEqual(marks.filter((m) => m.startsWith('station-')), ['station-pause', 'station-resume']);
    assert.equal(s.jobs.store.getRun(id).status, 'completed');
    // Halt: the running run aborted, the queue held, every line grounded with nothing sent since.
    const third = await add({ request: { kind: 'characterize', levels: 4, cellsPerLevel: 24 } });
    const fourth = await add({ request: { kind: 'characterize', levels: 2, cellsPerLevel: 2 } });
    await waitFor(() => s.jobs.liveRun(third).seq > 50, 60000, 'the third run to be under way');
    // While a run pulses, the lines are not claimed grounded (the last run's closing GROUND no longer holds).
    assert.notEqual(s.station.view().lines.state, 'grounded');
    const halt = (await (await s.post(`${base}/queue/halt`, {})).json()) as { aborted: string; lines: { state: string; inFlight: number; groundedBy: string } };
    assert.equal(halt.aborted, third);
    assert.deepEqual([halt.lines.state, halt.lines.inFlight, halt.lines.groundedBy], ['grounded', 0, 'halt']);
    assert.equal(s.jobs.store.getRun(third).status, 'aborted');
    await new Promise((r) => setTimeout(r, 500));
    const boards = ((await (await fetch(`${s.url}/api/boards`)).json()) as { lines: { state: string }; queue: { halted: boolean; queued: string[] } }[])[0];
    assert.equal(boards.lines.state, 'grounded', 'still grounded: nothing started after the halt');
    assert.deepEqual([boards.queue.halted, boards.queue.queued], [true, [fourth]]);
    assert.equal((await s.post(`${base}/queue/resume`, {})).status, 200);
    await waitFor(() => s.station.queue.history().some((h) => h.id === fourth && h.state === 'completed'), 60000, 'the queue to go on after resume');
    // A held run aborted by its job (a server stopping) ends at once: the hold never outlives the run.
    const fifth = await add({ request: { kind: 'characterize', levels: 4, cellsPerLevel: 24 } });
    await waitFor(() => s.jobs.liveRun(fifth).seq > 50, 60000, 'the fifth run to be under way');
    await s.post(`${base}/queue/pause`, {});
    await waitFor(() => s.station.queue.view().running?.pausedAt, 30000, 'the fifth run to hold');
    assert.equal(s.jobs.abort(fifth), true);
    await waitFor(() => s.station.queue.history().some((h) => h.id === fifth && h.state === 'aborted'), 10000, 'the held run to end aborted');
  } finally {
    await s.close();
  }
});
