/**
 * BoardRevival's rules with a scripted board (the pty tests in station-reconnect.test.ts show
 * them end to end): a board given up because another host uses it (or for a version/protocol
 * error) is never tried by the timer, only by a request; a link back whose GROUND was not
 * acknowledged keeps the queue held until a GROUND is; a request during a re-probe gets its own
 * attempt with retries; a throwing queue callback never escapes the timer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoardRevival } from '../src/station/board-revival.js';
import type { WatchedBoard } from '../src/station/line-watch.js';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';

interface Script {
  down?: string;
  allowed: boolean;
  reconnects: { within_ms?: number }[];
  grounds: string[];
  /** What the next reconnect does: bring the link back, fail, or bring it back with the GROUND failing. */
  next: 'back' | 'fail' | 'back-ground-fails';
  groundFails: boolean;
  /** Outcomes of the next reconnects in order, before `next` applies. */
  plan?: Script['next'][];
}

function scripted(s: Script): WatchedBoard {
  const board = {
    linkDown: () => s.down,
    reprobeAllowed: () => s.allowed,
    reconnect: async (o?: { within_ms?: number }) => {
      s.reconnects.push(o ?? {});
      const what = s.plan?.shift() ?? s.next;
      await new Promise((r) => setTimeout(r, 5));
      if (what === 'fail') throw new Error('no HELLO reply');
      s.down = undefined;
      // As line-watch.ts does: the GROUND right after the link is back.
      if (what === 'back-ground-fails') throw new Error('GROUND: ERROR reply');
    },
  };
  return {
    board: board as unknown as WatchedBoard['board'],
    lines: () => ({ state: 'idle', inFlight: 0 }) as ReturnType<WatchedBoard['lines']>,
    ground: async (by: string) => {
      s.grounds.push(by);
      if (s.groundFails) throw new Error('GROUND timed out');
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fresh = (o: Partial<Script> = {}): Script => ({ allowed: true, reconnects: [], grounds: [], next: 'back', groundFails: false, ...o });

test('a board given up because another host uses it is never re-probed by the timer; a request still takes it back', async () => {
  const s = fresh({ down: 'another host is probably using it', allowed: false });
  let kicks = 0;
  const r = new BoardRevival({ boardId: 'board0', watched: scripted(s), running: () => undefined, after: () => kicks++, every_ms: 20 }).start();
  await sleep(150);
  assert.equal(s.reconnects.length, 0, 'the timer sent a HELLO to a board another host is using');
  assert.equal(r.view().state, 'down');
  const out = await r.reconnect();
  assert.equal(out.reconnected, true);
  assert.equal(s.reconnects.length, 1);
  assert.equal(kicks, 1);
  r.stop();
});

test('a lost link is re-probed by the timer (the same rule does not stop every re-probe)', async () => {
  const s = fresh({ down: 'not back within 5000 ms' });
  const r = new BoardRevival({ boardId: 'board0', watched: scripted(s), running: () => undefined, after: () => undefined, every_ms: 20 }).start();
  await sleep(150);
  assert.equal(s.reconnects.length, 1, 'one re-probe, then the board is up and left alone');
  assert.equal(r.view().state, 'up');
  r.stop();
});

test('the link back but its GROUND not acknowledged: the queue stays held, the next attempt sends the GROUND alone, then it goes on', async () => {
  const s = fresh({ down: 'gave up', next: 'back-ground-fails' });
  let kicks = 0;
  const r = new BoardRevival({ boardId: 'board0', watched: scripted(s), running: () => undefined, after: () => kicks++, every_ms: 0 });
  await assert.rejects(r.reconnect(), /answers again, but the GROUND sent then was not acknowledged/);
  assert.equal(s.down, undefined, 'the link is up');
  assert.match(r.held() ?? '', /lines are not grounded yet/);
  assert.equal(r.view().state, 'ungrounded');
  s.groundFails = true;
  await assert.rejects(r.reconnect(), /not acknowledged/);
  assert.ok(r.held(), 'still held while no GROUND is acknowledged');
  s.groundFails = false;
  const out = await r.reconnect();
  assert.equal(out.reconnected, true);
  assert.equal(r.held(), undefined);
  assert.equal(r.view().state, 'up');
  assert.equal(s.reconnects.length, 1, 'the link was reopened once; the later attempts only grounded');
  assert.deepEqual(s.grounds, ['the board back (reconnected)', 'the board back (reconnected)']);
  assert.equal(kicks, 3);
});

test("a request during a re-probe's single try gets its own attempt with retries when that try fails", async () => {
  // The re-probe's try fails, the request's own attempt succeeds.
  const s = fresh({ down: 'gave up', plan: ['fail'], next: 'back' });
  const r = new BoardRevival({ boardId: 'board0', watched: scripted(s), running: () => undefined, after: () => undefined, every_ms: 10, within_ms: 3000 }).start();
  while (s.reconnects.length === 0) await sleep(1);
  const out = await r.reconnect();
  r.stop();
  assert.equal(out.reconnected, true);
  assert.deepEqual(s.reconnects, [{ within_ms: 0 }, { within_ms: 3000 }]);
});

test('a queue callback that throws after a re-probe is reported, never an unhandled rejection', async () => {
  const s = fresh({ down: 'gave up' });
  const unhandled: unknown[] = [];
  const on = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', on);
  const r = new BoardRevival({ boardId: 'board0', watched: scripted(s), running: () => undefined, after: () => { throw new Error('ENOSPC writing the queue file'); }, every_ms: 10 }).start();
  await sleep(100);
  r.stop();
  process.off('unhandledRejection', on);
  assert.equal(s.reconnects.length, 1);
  assert.deepEqual(unhandled, []);
});

test('a reconnect asked while the station stops is refused', async () => {
  const s = fresh({ down: 'gave up' });
  const r = new BoardRevival({ boardId: 'board0', watched: scripted(s), running: () => undefined, after: () => undefined, every_ms: 0 });
  r.stop();
  await assert.rejects(r.reconnect(), /the station is stopping/);
  assert.equal(s.reconnects.length, 0);
});

test("a refused job is told the station will not retry a board another host uses, and that it will retry a lost one", () => {
  const s = fresh({ down: 'another host is probably using it', allowed: false });
  const r = new BoardRevival({ boardId: 'board0', watched: scripted(s), running: () => undefined, after: () => undefined, every_ms: 10000 });
  assert.match(r.hint(), /does not try it again by itself \(another host/);
  s.allowed = true;
  assert.match(r.hint(), /tries it again by itself every 10 s/);
});

test('rram serve --reprobe: a period under 0.5 s is refused by name before anything opens (0 turns the re-probe off)', () => {
  const r = spawnSync(process.execPath, [join(repoRoot(), 'dist', 'src', 'cli', 'main.js'), 'serve', '--reprobe', '0.1'], { encoding: 'utf8', timeout: 20000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--reprobe="0\.1": must be 0 \(no re-probe\) or at least 0\.5 s/);
});
