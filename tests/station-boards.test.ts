/**
 * A station with several boards (issue 29: `rram serve` owns its boards, one queue per board).
 * Invariants:
 *  - the serve's board flags name each board once, by the key a one-board command's flags give it
 *    (so a CLI command finds its board), ids board0.. in the documented order; a repeated board,
 *    a bad spelling or a bare number as --port is refused by name; the one-board spellings open
 *    the board they always did;
 *  - a job names its board: an unknown one is refused by name, none is refused while several
 *    are served (with one board the field stays optional), and nothing is queued then;
 *  - under concurrent submitters (HTTP clients and CLI processes), per board: every run on the
 *    board its submitter named (its run.json names that board), in the order its queue took them,
 *    never two overlapping on one board (the stored time spans); runs on different boards overlap;
 *  - halt on one board aborts that board's run and grounds that board only: the others go on
 *    running their queues, not paused, their runs completing;
 *  - after kill -9 with items queued on two boards (and a run running on one), each
 *    board's queue, halt and lock come back as they were - following the board (its key), not
 *    its place on the command line; the interrupted run pauses its own board only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readdirSync, readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { boardKey, type BoardFlags } from '../src/cli/board-options.js';
import { refuseTwins, serveBoards, type ServeBoardFlags } from '../src/cli/serve-boards.js';
import { pickStationBoard } from '../src/cli/station-board.js';
import { StationBoards } from '../src/station/station-boards.js';
import type { Station as BoardStation } from '../src/station/station.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { probeStation } from '../src/hub/station-probe.js';
import { cli, emulatePty, serveStation, type Station } from './helpers/station.js';
import { waitFor } from './helpers/server.js';

const STORE = mkdtempSync(join(tmpdir(), 'rram-boards-unit-'));
const base: ServeBoardFlags = { baud: 921600, seed: 1, arrays: 2, store: STORE };
const one = (f: Partial<BoardFlags>): BoardFlags => ({ baud: base.baud, seed: base.seed, arrays: base.arrays, store: base.store, board: 'emulated', ...f });

test('serve board flags: each board once, by the key its own flags give it; one-board spellings unchanged; bad ones refused by name', () => {
  // The spellings of one board, as every command reads them.
  assert.deepEqual(serveBoards(base).map((b) => [b.id, b.key]), [['board0', boardKey(one({}))]]);
  assert.deepEqual(serveBoards({ ...base, seed: 9 }).map((b) => b.key), [boardKey(one({ seed: 9 }))]);
  assert.deepEqual(serveBoards({ ...base, board: ['emulated'], port: ['/dev/null'] }).map((b) => [b.key, b.flags.baud]), [['port:/dev/null', 921600]], '--port overrides a bare --board emulated');
  assert.deepEqual(serveBoards({ ...base, port: ['/dev/null@115200'] }).map((b) => [b.key, b.flags.baud]), [['port:/dev/null', 115200]]);
  fc.assert(
    fc.property(fc.uniqueArray(fc.nat(2 ** 32 - 1), { minLength: 1, maxLength: 4 }), fc.uniqueArray(fc.constantFrom('/dev/null', '/dev/zero', '/dev/full', '/dev/random'), { maxLength: 3 }), (seeds, ports) => {
      const got = serveBoards({ ...base, board: seeds.map((s) => `emulated:${s}`), port: ports });
      assert.deepEqual(got.map((b) => b.id), got.map((_, k) => `board${k}`));
      assert.deepEqual(got.map((b) => b.key), [...seeds.map((s) => boardKey(one({ seed: s }))), ...ports.map((p) => boardKey(one({ port: p })))]);
      // The same board twice: refused, naming the flag and the board it repeats.
      const k = seeds.length - 1;
      assert.throws(() => serveBoards({ ...base, board: [...seeds.map((s) => `emulated:${s}`), `emulated:${seeds[k]}`] }), (e: Error) => e.message.includes(`--board="emulated:${seeds[k]}"`) && e.message.includes(`same board as board${k}`));
    }),
    { numRuns: 15 },
  );
  assert.throws(() => serveBoards({ ...base, port: ['/dev/null', '/dev/null@9600'] }), /--port="\/dev\/null@9600".*same board as board0/);
  assert.throws(() => serveBoards({ ...base, port: ['8080'] }), /--port="8080".*--listen 127\.0\.0\.1:8080/);
  assert.throws(() => serveBoards({ ...base, board: ['serial'] }), /--board="serial": must be "emulated" or "emulated:SEED"/);
  assert.throws(() => serveBoards({ ...base, board: ['emulated:-1'] }), /--board="-1": must be >= 0/);
  assert.throws(() => serveBoards({ ...base, port: ['/dev/null@12'] }), /--port="12": must be >= 1200/);
  // Two boards that answer as one (a real board's HELLO id twice; an emulated board's state twice) are refused, the second named.
  const opened = (infos: { id: string; kind: string; state?: string }[]) => infos.map((info, k) => ({ id: `board${k}`, flags: one({ port: `/dev/ttyUSB${k}` }), board: { info: () => info as never } }));
  fc.assert(
    fc.property(fc.array(fc.record({ id: fc.constantFrom('b1', 'b2', 'b3'), kind: fc.constantFrom('serial', 'emulated'), state: fc.option(fc.constantFrom('s1', 's2'), { nil: undefined }) }), { minLength: 1, maxLength: 5 }), (infos) => {
      const keys = infos.map((i) => (i.kind === 'emulated' && i.state ? `emulated:${i.state}` : `${i.kind}:${i.id}`));
      const first = keys.findIndex((k, j) => keys.indexOf(k) !== j);
      for (let n = 1; n <= infos.length; n++) {
        const o = opened(infos.slice(0, n));
        if (first >= 0 && n - 1 === first) assert.throws(() => refuseTwins(o), new RegExp(`--port="/dev/ttyUSB${first}": answers as the same board as board${keys.indexOf(keys[first])} \\(--port /dev/ttyUSB${keys.indexOf(keys[first])}\\)`));
        else if (first < 0 || n - 1 < first) refuseTwins(o);
      }
    }),
    { numRuns: 100 },
  );
});

test('which board a job or a command is for: refused by name when unknown, or when missing while several are served', () => {
  const fake = (id: string) => ({ boardId: id, queue: { view: () => ({ running: null, queued: [] }) } }) as unknown as BoardStation;
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5 }), fc.string({ minLength: 1, maxLength: 12 }), fc.nat(4), (n, stranger, pick) => {
      const ids = Array.from({ length: n }, (_, k) => `board${k}`);
      const boards = new StationBoards(ids.map(fake));
      const id = ids[pick % n];
      const t = boards.target({ kind: 'read', board: id, cell: { row: 1, col: 2 } });
      assert.equal(t.station.boardId, id);
      assert.deepEqual(t.request, { kind: 'read', cell: { row: 1, col: 2 } }, 'the job request without the board');
      if (!ids.includes(stranger)) assert.throws(() => boards.target({ kind: 'read', board: stranger }), (e: Error) => e.message.startsWith(`board=${JSON.stringify(stranger)}: no such board`) && e.message.includes(ids.join(', ')));
      if (n === 1) assert.equal(boards.target({ kind: 'read' }).station.boardId, 'board0', 'one board: the field is optional');
      else assert.throws(() => boards.target({ kind: 'read' }), (e: Error) => e.message.includes(`serves ${n} boards: name one (${ids.join(', ')})`));
      // --station URL: the board the command's flags name, or a refusal naming every board.
      const served = ids.map((x, k) => ({ id: x, key: boardKey(one({ seed: 100 + k })) }));
      assert.equal(pickStationBoard(served, one({ seed: 100 + (pick % n) }), 'http://s'), id);
      if (n > 1) assert.throws(() => pickStationBoard(served, one({ seed: 99 }), 'http://s'), (e: Error) => ids.every((x) => e.message.includes(x)) && e.message.includes(boardKey(one({ seed: 99 }))));
      else assert.equal(pickStationBoard(served, one({ seed: 99 }), 'http://s'), 'board0', 'one board: as before, whatever the flags');
    }),
    { numRuns: 25 },
  );
  assert.throws(() => new StationBoards([fake('board0'), fake('board0')]), /board ids repeat/);
});

interface Item {
  id: string;
  kind: string;
  state: string;
  submitter?: string;
  request: Record<string, unknown>;
}
interface BoardView {
  id: string;
  key: string;
  info: { id: string };
  lines: { state: string; groundedBy?: string };
  queue: { paused: boolean; halted: boolean; locked: boolean; running: string | null; queued: string[] };
}

const entryOf = (store: string, pid: number) => {
  const dir = join(store, 'stations');
  for (const n of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    const e = JSON.parse(readFileSync(join(dir, n), 'utf8')) as { pid: number; token: string; boards: { id: string; key: string }[] };
    if (e.pid === pid) return e;
  }
  return undefined;
};

/** A small seeded generator: the test's random choices are the same on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

test('one station, two emulated boards and a pty board: per-board order under concurrent submitters, overlap across boards, halt on one only, kill -9 keeps every queue', { timeout: 240000 }, async () => {
  const store = mkdtempSync(join(tmpdir(), 'rram-boards-'));
  const pty = await emulatePty(['--seed', '7']);
  let st: Station = await serveStation(store, ['--board', 'emulated:1', '--board', 'emulated:2', '--port', pty.path]);
  const token = () => entryOf(store, st.proc.pid!)!.token;
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${st.url}${path}`, { method, headers: { 'content-type': 'application/json', 'x-rram-token': token() }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const boards = async () => (await (await fetch(`${st.url}/api/boards`)).json()) as BoardView[];
  const history = async (b: string) => ((await (await fetch(`${st.url}/api/boards/${b}/queue/history`)).json()) as { items: Item[] }).items;
  const queue = async (b: string) => (await (await fetch(`${st.url}/api/boards/${b}/queue`)).json()) as { paused: boolean; halted: boolean; running: Item | null; queued: Item[] };
  const idle = async () => (await boards()).every((b) => !b.queue.running && !b.queue.queued.length) || undefined;
  const runs = new EmbeddedStore(store);
  try {
    const entry = await waitFor(() => entryOf(store, st.proc.pid!), 10000, 'the station file');
    const served = await boards();
    assert.deepEqual(served.map((b) => b.id), ['board0', 'board1', 'board2']);
    assert.deepEqual(entry.boards, served.map((b) => ({ id: b.id, key: b.key })), 'the station entry lists every board with its key');
    assert.deepEqual(served.map((b) => b.key), [boardKey(one({ seed: 1 })), boardKey(one({ seed: 2 })), boardKey(one({ port: pty.path }))]);
    const infoId = Object.fromEntries(served.map((b) => [b.id, b.info.id]));
    // The hub's poll of this station (its Stations page) lists every board with its queue.
    const probed = await probeStation({ url: st.url, token: token() }, 5000);
    assert.deepEqual(probed.boards.map((b) => [b.id, b.queue.queued.length]), [['board0', 0], ['board1', 0], ['board2', 0]]);
    assert.equal(new Set(Object.values(infoId)).size, 3, `three different boards: ${JSON.stringify(infoId)}`);

    // A job for no board, or an unknown one: refused by name, nothing queued.
    const none = await call('POST', '/api/jobs', { kind: 'read', cell: { row: 0, col: 0 } });
    assert.equal(none.status, 400);
    assert.equal(none.body.field, 'board');
    assert.match(String(none.body.error), /serves 3 boards: name one \(board0, board1, board2\)/);
    const unknown = await call('POST', '/api/jobs', { kind: 'read', board: 'board9', cell: { row: 0, col: 0 } });
    assert.equal(unknown.status, 400);
    assert.match(String(unknown.body.error), /board="board9": no such board on this station \(boards: board0, board1, board2\)/);
    const unknownQ = await call('POST', '/api/boards/board9/queue', { request: { kind: 'read' } });
    assert.equal(unknownQ.status, 404);
    assert.match(String(unknownQ.body.error), /no board "board9" on this station \(boards: board0, board1, board2\)/);
    assert.ok((await boards()).every((b) => !b.queue.queued.length && !b.queue.running), 'nothing queued by a refused job');

    // Concurrent submitters: 15 HTTP jobs on boards drawn at random, and three CLI processes that
    // find their boards from the store (--seed 2), by --station with --port, and by --station with --seed 1.
    const r = rng(29);
    const wanted = Array.from({ length: 15 }, (_, k) => {
      const board = `board${Math.floor(r() * 3)}`;
      const cellsPerLevel = board === 'board2' ? 2 : 8 + Math.floor(r() * 24);
      return { board, request: { kind: 'characterize', levels: 2, cellsPerLevel, seed: k } };
    });
    // The first run on each emulated board is longer, so the two boards surely run at once.
    wanted.unshift({ board: 'board0', request: { kind: 'characterize', levels: 4, cellsPerLevel: 48, seed: 100 } }, { board: 'board1', request: { kind: 'characterize', levels: 4, cellsPerLevel: 48, seed: 101 } });
    const clis = [
      { board: 'board1', c: cli(['characterize', '--levels', '2', '--cells-per-level', '8', '--seed', '2', '--store', store, '--json']) },
      { board: 'board2', c: cli(['read', '--cell', '3,3', '--station', st.url, '--port', pty.path, '--store', store, '--json']) },
      { board: 'board0', c: cli(['read', '--cell', '4,4', '--station', st.url, '--seed', '1', '--store', store, '--json']) },
    ];
    const answers = await Promise.all(wanted.map((w) => call('POST', '/api/jobs', { ...w.request, board: w.board })));
    for (const a of answers) assert.equal(a.status, 202, JSON.stringify(a.body));
    const codes = await Promise.all(clis.map((x) => x.c.done));
    codes.forEach((code, k) => assert.equal(code, 0, clis[k].c.out() + clis[k].c.err()));
    await waitFor(idle, 120000, 'every queue to drain');
    const spans: { board: string; id: string; t0: number; t1: number }[] = [];
    for (const b of ['board0', 'board1', 'board2']) {
      const h = await history(b);
      assert.ok(h.every((i) => i.state === 'completed'), JSON.stringify(h.map((i) => [i.id, i.state, (i as { error?: string }).error])));
      // The HTTP jobs for this board, in the order the queue took them (the rev of their answers), ran in that order.
      const mine = answers.filter((a) => a.body.board === b).sort((x, y) => Number(x.body.rev) - Number(y.body.rev)).map((a) => a.body.runId as string);
      assert.deepEqual(h.map((i) => i.id).filter((id) => mine.includes(id)), mine, `board ${b}: queue order`);
      // The CLI commands aimed at this board are on its queue, and nowhere else.
      for (const x of clis) {
        const runId = (JSON.parse(x.c.out()) as { runId: string }).runId;
        assert.equal(h.some((i) => i.id === runId), x.board === b, `${x.board}'s CLI run ${runId} on ${b}'s queue`);
      }
      assert.equal(h.length, wanted.filter((w) => w.board === b).length + clis.filter((x) => x.board === b).length);
      // Never two runs at once on one board: each stored run ends before the next one starts.
      let last = 0;
      for (const i of h) {
        const rec = runs.getRun(i.id);
        assert.equal((rec.board as { id: string }).id, infoId[b], `run ${i.id} is on ${b}'s board`);
        const t0 = Date.parse(rec.started);
        const t1 = Date.parse(rec.ended!);
        assert.ok(t0 >= last, `${b}: run ${i.id} started ${rec.started}, before the previous run on the board ended`);
        last = t1;
        spans.push({ board: b, id: i.id, t0, t1 });
      }
    }
    const overlap = spans.some((a) => spans.some((c) => c.board !== a.board && a.t0 < c.t1 && c.t0 < a.t1));
    assert.ok(overlap, 'runs on different boards ran at the same time');

    // Halt on board1: its run aborted, board1 grounded and held; board0 goes on running and completes.
    const long = await call('POST', '/api/jobs', { kind: 'characterize', board: 'board1', levels: 8, cellsPerLevel: 200 });
    const other = await call('POST', '/api/jobs', { kind: 'characterize', board: 'board0', levels: 4, cellsPerLevel: 120 });
    await waitFor(async () => ((await queue('board1')).running?.id === long.body.runId && (await queue('board0')).running?.id === other.body.runId) || undefined, 30000, 'both runs to start');
    const seqAtHalt = runs.lastSeq(other.body.runId as string);
    const halt = await call('POST', '/api/boards/board1/queue/halt', {});
    assert.equal(halt.status, 200, JSON.stringify(halt.body));
    assert.equal(halt.body.aborted, long.body.runId);
    assert.equal((halt.body.lines as { state: string }).state, 'grounded');
    const afterHalt = Object.fromEntries((await boards()).map((b) => [b.id, b]));
    assert.deepEqual([afterHalt.board1.queue.halted, afterHalt.board1.queue.paused, afterHalt.board1.lines.groundedBy], [true, true, 'halt']);
    for (const b of ['board0', 'board2']) assert.deepEqual([afterHalt[b].queue.halted, afterHalt[b].queue.paused], [false, false], `${b} is not halted by board1's halt`);
    assert.equal(afterHalt.board0.queue.running, other.body.runId, "board0's run goes on");
    assert.notEqual(afterHalt.board0.lines.groundedBy, 'halt');
    // board1 takes jobs but holds them; board0 and board2 run theirs.
    const held = await call('POST', '/api/jobs', { kind: 'read', board: 'board1', cell: { row: 5, col: 5 } });
    const onPty = await call('POST', '/api/jobs', { kind: 'read', board: 'board2', cell: { row: 5, col: 5 } });
    await waitFor(async () => (!(await queue('board0')).running && !(await queue('board2')).running && !(await queue('board2')).queued.length) || undefined, 60000, 'board0 and board2 to finish');
    assert.equal(runs.getRun(other.body.runId as string).status, 'completed');
    assert.ok(runs.lastSeq(other.body.runId as string) > seqAtHalt, "board0's run went on after board1's halt");
    assert.equal(runs.getRun(onPty.body.runId as string).status, 'completed');
    assert.equal(runs.getRun(long.body.runId as string).status, 'aborted');
    assert.deepEqual((await queue('board1')).queued.map((i) => i.id), [held.body.runId], 'board1 holds its queue after the halt');
    // The halted run resumes on the board it ran on (its record names emu-2), not on the first board.
    const rs = (await (await fetch(`${st.url}/api/runs/${String(long.body.runId)}/resume`)).json()) as { resumable: boolean; reason?: string };
    assert.equal(rs.resumable, true, rs.reason);

    // kill -9 mid-run on board0 (not paused) with items queued behind the run, board1 halted with
    // its items; board2 idle, locked, not paused.
    const held0 = await call('POST', '/api/jobs', { kind: 'characterize', board: 'board0', levels: 8, cellsPerLevel: 200 });
    await waitFor(async () => (await queue('board0')).running?.id === held0.body.runId || undefined, 30000, 'the board0 run to start');
    for (const [b, k] of [['board0', 0], ['board0', 1], ['board0', 2], ['board0', 3], ['board1', 4]] as const) assert.equal((await call('POST', '/api/jobs', { kind: 'read', board: b, cell: { row: k, col: 1 } })).status, 202);
    // A job aborted by id leaves the queue of whichever board holds it.
    const gone = (await queue('board0')).queued[0].id;
    const ab = await call('POST', `/api/jobs/${gone}/abort`, {});
    assert.deepEqual([ab.status, ab.body.removed], [200, true]);
    assert.equal((await history('board0')).find((i) => i.id === gone)?.state, 'removed');
    const q0 = (await queue('board0')).queued;
    assert.equal((await call('POST', `/api/boards/board0/queue/${q0[2].id}/move`, { position: 0 })).status, 200);
    assert.equal((await call('POST', '/api/boards/board2/lock', { key: 'boards-test-key', note: 'night' })).status, 200);
    const before = new Map<string, { queued: [string, Record<string, unknown>][]; paused: boolean; halted: boolean; locked: boolean; running: string | null }>();
    for (const b of await boards()) {
      const q = await queue(b.id);
      before.set(b.key, { queued: q.queued.map((i) => [i.id, i.request]), paused: q.paused, halted: q.halted, locked: b.queue.locked, running: q.running?.id ?? null });
    }
    assert.deepEqual([...before.values()].map((v) => [v.queued.length, v.running, v.paused]), [[3, held0.body.runId, false], [2, null, true], [0, null, false]]);
    st.proc.kill('SIGKILL');
    await new Promise((res) => st.proc.once('exit', res));
    // The boards given in another order: each queue follows its board, not its id.
    st = await serveStation(store, ['--port', pty.path, '--board', 'emulated:2', '--board', 'emulated:1']);
    await waitFor(() => entryOf(store, st.proc.pid!), 10000, 'the new station file');
    const again = await boards();
    assert.deepEqual(again.map((b) => b.key), [boardKey(one({ seed: 2 })), boardKey(one({ seed: 1 })), boardKey(one({ port: pty.path }))]);
    for (const b of again) {
      const q = await queue(b.id);
      const was = before.get(b.key)!;
      // The same queue, halt and lock; paused as it was - and the board whose run was interrupted, that board only.
      assert.deepEqual({ queued: q.queued.map((i) => [i.id, i.request]), paused: q.paused, halted: q.halted, locked: b.queue.locked, running: q.running }, { ...was, paused: was.paused || was.running !== null, running: null }, `the queue of ${b.key} (now ${b.id})`);
      const h = await history(b.id);
      assert.equal(h.some((i) => i.id === held0.body.runId && i.state === 'interrupted'), was.running !== null, `${b.key}: the interrupted run in its own board's history only`);
    }
    for (const b of again) if (before.get(b.key)!.paused || before.get(b.key)!.running) assert.equal((await call('POST', `/api/boards/${b.id}/queue/resume`, {})).status, 200);
    await waitFor(idle, 60000, 'the restored queues to drain');
    for (const b of again) {
      const ran = (await history(b.id)).filter((i) => before.get(b.key)!.queued.some(([id]) => id === i.id));
      assert.deepEqual(ran.map((i) => [i.id, i.state]), before.get(b.key)!.queued.map(([id]) => [id, 'completed']), `${b.key}: ran in the saved order`);
      for (const i of ran) assert.equal((runs.getRun(i.id).board as { id: string }).id, b.info.id);
    }
  } finally {
    await st.stop();
    pty.proc.kill('SIGTERM');
  }
});
