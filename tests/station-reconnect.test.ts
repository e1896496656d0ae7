/**
 * A station's board whose link gave up, brought back without a restart (issue 29, "The lab's
 * hub"), on a real pty (PtyServer: socat, the emulator's firmware) through the station's HTTP API.
 * Invariants:
 *  - the board comes back through POST /api/boards/:board/reconnect (the server's token needed:
 *    refused without it, nothing sent) and by the station's own re-probe; its lines are grounded
 *    (a GROUND acknowledged) before anything else reaches it;
 *  - while it is down a job is refused, saying the station retries by itself and how to ask now;
 *    an item that was waiting stays queued and runs once the board is back, as does a job sent
 *    again then;
 *  - a different board answering at the port is refused, by the route and by the re-probe: the
 *    board stays down naming why, and nothing but HELLO reaches the other board;
 *  - the re-probe never runs while the board is up: the firmware sees no request at all; nor while
 *    an item still runs on a board gone down (held at a checkpoint): the route answers BUSY, and the
 *    board comes back once the item has ended;
 *  - the dashboard's queue card says the board is down, why and when it was last tried, and its
 *    Reconnect button takes it back;
 *  - as a user meets it: `rram serve --port` on `rram emulate --pty` (its path behind a link the
 *    test points at one emulator or another), a CLI command through the station told what the
 *    station does and how to ask, the board back by itself once the same board answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { PtyServer } from '../drivers/emulated/pty-server.js';
import { SerialBoard } from '../drivers/serial/serial-board.js';
import { JobManager } from '../src/server/job-manager.js';
import { createApp } from '../src/server/app.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { Station } from '../src/station/station.js';
import { StationBoards } from '../src/station/station-boards.js';
import { RECONNECTED } from '../src/station/line-watch.js';
import type { LinkView } from '../src/station/board-revival.js';
import { waitFor } from './helpers/server.js';
import { needTool } from './helpers/env.js';
import { cli, emulatePty, serveStation, stationToken } from './helpers/station.js';
import { CHROMIUM_ARGS } from './helpers/browser.js';
import { chromium } from 'playwright-core';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TOKEN = 'reconnect-test-token';
const READ = { kind: 'read', cell: { row: 0, col: 0 } };

/** What reached an emulated board, in order (its cell operations and GROUNDs). */
function opsOf(emu: EmulatedBoard): string[] {
  const ops: string[] = [];
  for (const name of ['read', 'ground'] as const) {
    const f = emu[name].bind(emu) as (...a: unknown[]) => Promise<unknown>;
    (emu as unknown as Record<string, unknown>)[name] = (...a: unknown[]) => (ops.push(name), f(...a));
  }
  return ops;
}

/** A station (its HTTP API) serving one board on a pty; `reprobe_ms` its re-probe (0: none); `pageToken`: the per-server token the page reads, not TOKEN. */
async function rig(reprobe_ms: number, o: { pageToken?: boolean } = {}) {
  const emu = new EmulatedBoard({ seed: 1 });
  const ops = opsOf(emu);
  const srv = new PtyServer(emu, { firmware: { time: 'virtual' } });
  await srv.start();
  const drv = await SerialBoard.open({ path: srv.hostPath, keepAlive_ms: 0, margin_ms: 100, reconnect_ms: 600, reopen_ms: 1500 });
  const jobs = new JobManager(drv, new EmbeddedStore(mkdtempSync(join(tmpdir(), 'rram-reconnect-'))));
  const station = new Station(jobs, 'board0', undefined, { reprobe_ms });
  const server: Server = createApp(jobs, { boards: new StationBoards([station]), token: o.pageToken ? undefined : TOKEN }).listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const ours = o.pageToken ? ((await (await fetch(`${url}/api/config`)).json()) as { sessionToken: string }).sessionToken : TOKEN;
  const post = (path: string, body: unknown, token: string | null = ours) => fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { 'x-rram-token': token } : {}) }, body: JSON.stringify(body) });
  const link = async () => ((await (await fetch(`${url}/api/boards`)).json()) as { link: LinkView }[])[0].link;
  const ended = (id: string, ms = 10000) => waitFor(() => { const i = station.queue.item(id); return i && !['queued', 'running'].includes(i.state) ? i : undefined; }, ms, `item ${id} to end`);
  /** The cable pulled past the reconnect time: the link gives up. */
  const pull = async () => {
    await srv.unplug();
    await drv.read({ array: 0, row: 0, col: 0 }).catch(() => undefined);
    await waitFor(() => drv.linkDown(), 5000, 'the link to give up');
  };
  return {
    emu, ops, srv, drv, jobs, station, url, post, link, ended, pull,
    done: async () => {
      station.revival.stop();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await drv.close().catch(() => undefined);
      await srv.stop();
    },
  };
}

test('a down board back through POST /api/boards/:board/reconnect: refused without the token; jobs refused while down run once back, the lines grounded first', { timeout: 60000 }, async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await rig(0);
  try {
    // An item waiting (the queue paused) when the board goes down.
    assert.equal((await r.post('/api/boards/board0/queue/pause', {})).status, 200);
    const waiting = ((await (await r.post('/api/jobs', READ)).json()) as { runId: string }).runId;
    await r.pull();
    assert.equal((await r.post('/api/boards/board0/queue/resume', {})).status, 200);
    await sleep(300);
    assert.equal(r.station.queue.item(waiting)?.state, 'queued', 'held while the board is down, not failed');

    const refused = await r.post('/api/jobs', READ);
    assert.equal(refused.status, 503);
    const body = (await refused.json()) as { error: string; code: string };
    assert.equal(body.code, 'DISCONNECTED');
    assert.match(body.error, /board emu-1 is down \(.*given up.*\): nothing was sent to it; the station does not try it again by itself .*POST \/api\/boards\/board0\/reconnect/);
    assert.doesNotMatch(body.error, /restart the station/);
    const down = await r.link();
    assert.equal(down.state, 'down');
    assert.match(down.down ?? '', /given up/);
    assert.equal(down.reprobe_s, null);

    await r.srv.replug();
    const before = r.srv.firmware.stats.requests;
    const anon = await r.post('/api/boards/board0/reconnect', {}, null);
    assert.equal(anon.status, 401);
    assert.equal((await r.post('/api/boards/board0/reconnect', {}, 'wrong-token-wrong-token')).status, 401);
    await sleep(300);
    assert.equal(r.srv.firmware.stats.requests, before, 'nothing sent without the token');
    assert.ok(r.drv.linkDown(), 'still down');

    const ops0 = r.ops.length;
    const res = await r.post('/api/boards/board0/reconnect', {});
    const back = (await res.json()) as { reconnected: boolean; link: LinkView; lines: { state: string; groundedBy?: string } };
    assert.equal(res.status, 200, JSON.stringify(back));
    assert.equal(back.reconnected, true);
    assert.equal(back.link.state, 'up');
    assert.equal(back.link.lastAttempt?.by, 'request');
    assert.notEqual(back.lines.state, 'unknown', 'the lines known again: the reconnect grounded them');
    assert.equal(r.drv.linkDown(), undefined);

    const w = await r.ended(waiting);
    assert.equal(w.state, 'completed', w.error);
    const afterBack = r.ops.slice(ops0);
    const ops1 = r.ops.length;
    const again = await r.post('/api/jobs', READ);
    assert.equal(again.status, 202);
    const a = await r.ended(((await again.json()) as { runId: string }).runId);
    assert.equal(a.state, 'completed', a.error);
    // What the board saw once back: one GROUND (the reconnect's), then the waiting item as any read item goes.
    assert.deepEqual(afterBack, ['ground', ...r.ops.slice(ops1)], 'grounded before the waiting item reached the board');
    // Up: a reconnect changes nothing.
    const idle = (await (await r.post('/api/boards/board0/reconnect', {})).json()) as { reconnected: boolean };
    assert.equal(idle.reconnected, false);
  } finally {
    await r.done();
  }
});

test('the re-probe: never while the board is up (no request at the firmware); while down, tried again by itself and shown; back by itself, its queue going on', { timeout: 60000 }, async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await rig(300);
  try {
    const sent = r.drv.stats.sent;
    const requests = r.srv.firmware.stats.requests;
    await sleep(1500); // five re-probe periods
    assert.equal(r.srv.firmware.stats.requests, requests, 'no HELLO (nor anything) while up');
    assert.equal(r.drv.stats.sent, sent);
    assert.equal((await r.link()).lastReprobeAt, undefined);

    await r.pull();
    const refused = (await (await r.post('/api/jobs', READ)).json()) as { error: string };
    assert.match(refused.error, /is down .*nothing was sent to it; the station tries it again by itself every 0\.3 s .*only the same board is taken back.*POST \/api\/boards\/board0\/reconnect/);
    // Tried while the port is absent: still down, the attempt shown with its time and why.
    const tried = await waitFor(async () => { const k = await r.link(); return k.lastAttempt?.by === 're-probe' ? k : undefined; }, 5000, 'a re-probe');
    assert.equal(tried.state === 'down' || tried.state === 'reconnecting', true, tried.state);
    assert.match(tried.down ?? '', /given up/);
    assert.equal(tried.lastAttempt?.ok, false);
    assert.ok(tried.lastReprobeAt && Date.now() - Date.parse(tried.lastReprobeAt) < 5000, tried.lastReprobeAt);
    assert.equal((await r.post('/api/boards/board0/queue/pause', {})).status, 200);
    await r.srv.replug();
    const back = await waitFor(async () => { const k = await r.link(); return k.state === 'up' ? k : undefined; }, 5000, 'the re-probe to take the board back');
    assert.equal(back.lastAttempt?.by, 're-probe');
    assert.equal(back.lastAttempt?.ok, true);
    assert.equal(back.nextReprobeAt, undefined);
    assert.equal(r.station.watched.lines().groundedBy, RECONNECTED);
    const id = ((await (await r.post('/api/jobs', READ)).json()) as { runId: string }).runId;
    assert.equal((await r.post('/api/boards/board0/queue/resume', {})).status, 200);
    const item = await r.ended(id);
    assert.equal(item.state, 'completed', item.error);
    // Up again: the re-probe is silent again.
    const n = r.srv.firmware.stats.requests;
    await sleep(1200);
    assert.equal(r.srv.firmware.stats.requests, n, 'no request once back and up');
  } finally {
    await r.done();
  }
});

test('never while an item runs: a run held at a checkpoint when the link gives up keeps the board untouched (no re-probe, the route BUSY); once it has ended the re-probe takes the board back', { timeout: 60000 }, async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await rig(300);
  try {
    const id = ((await (await r.post('/api/jobs', { kind: 'characterize', levels: 2, cellsPerLevel: 8 })).json()) as { runId: string }).runId;
    await waitFor(() => r.station.queue.view().running?.id === id, 10000, 'the run to start');
    assert.equal((await r.post('/api/boards/board0/queue/pause', {})).status, 200);
    await waitFor(() => r.station.queue.view().running?.pausedAt, 30000, 'the run to hold at a checkpoint');
    await r.pull();
    await r.srv.replug(); // the board is there again: only the running item keeps the station away
    const requests = r.srv.firmware.stats.requests;
    await sleep(1500); // five re-probe periods
    assert.equal(r.srv.firmware.stats.requests, requests, 'no HELLO while the item runs');
    assert.equal((await r.link()).lastReprobeAt, undefined);
    const busy = await r.post('/api/boards/board0/reconnect', {});
    assert.equal(busy.status, 409);
    assert.match(((await busy.json()) as { error: string }).error, new RegExp(`item ${id} still runs`));
    assert.ok(r.drv.linkDown(), 'still down');
    await r.station.queue.abort(id);
    assert.equal((await r.post('/api/boards/board0/queue/resume', {})).status, 200);
    const back = await waitFor(async () => { const k = await r.link(); return k.state === 'up' ? k : undefined; }, 5000, 'the re-probe to take the board back');
    assert.equal(back.lastAttempt?.by, 're-probe');
    const item = await r.ended(((await (await r.post('/api/jobs', READ)).json()) as { runId: string }).runId);
    assert.equal(item.state, 'completed', item.error);
  } finally {
    await r.done();
  }
});

test('a different board answering at the port: refused by the route and by the re-probe, the board stays down naming why, the other board gets HELLO only; the right board back, taken back', { timeout: 60000 }, async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await rig(300);
  const otherEmu = new EmulatedBoard({ seed: 2 });
  const otherOps = opsOf(otherEmu);
  const other = new PtyServer(otherEmu, { dir: r.srv.dir, firmware: { time: 'virtual' } });
  try {
    assert.equal((await r.post('/api/boards/board0/queue/pause', {})).status, 200);
    const waiting = ((await (await r.post('/api/jobs', READ)).json()) as { runId: string }).runId;
    await r.pull();
    assert.equal((await r.post('/api/boards/board0/queue/resume', {})).status, 200);
    await other.start(); // another board behind the same path
    const res = await r.post('/api/boards/board0/reconnect', {});
    const err = (await res.json()) as { error: string; code: string };
    assert.equal(res.status, 503, JSON.stringify(err));
    assert.equal(err.code, 'DISCONNECTED');
    assert.match(err.error, /board0 is still down: a different board answered at .*: id emu-1 -> emu-2/);
    const k = await r.link();
    assert.equal(k.state, 'down');
    assert.match(k.down ?? '', /given up: a different board answered/);
    // The re-probe meets it too, and refuses it the same way.
    const hellos = other.firmware.stats.requests;
    const probed = await waitFor(async () => { const x = await r.link(); return x.lastAttempt?.by === 're-probe' ? x : undefined; }, 5000, 'a re-probe');
    assert.match(probed.lastAttempt?.error ?? '', /a different board answered/);
    await sleep(700);
    assert.ok(other.firmware.stats.requests > hellos, 'the re-probe asked again');
    assert.equal(other.firmware.stats.executed, 0, 'HELLOs only: nothing executed on the other board');
    assert.deepEqual(otherOps, [], 'no cell operation nor GROUND reached the other board');
    assert.match(r.drv.linkDown() ?? '', /different board/);
    assert.equal(r.station.queue.item(waiting)?.state, 'queued');
    // The right board back on the port: taken back, the waiting item runs.
    await other.stop();
    await r.srv.replug();
    const w = await r.ended(waiting);
    assert.equal(w.state, 'completed', w.error);
    assert.equal((await r.link()).state, 'up');
  } finally {
    await other.stop().catch(() => undefined);
    await r.done();
  }
});

test('the dashboard: a down board shown with why and its last attempt; Reconnect takes it back', { timeout: 60000 }, async (t) => {
  if (!needTool(t, 'socat', 'socat') || !needTool(t, 'chromium', 'chromium')) return;
  const r = await rig(0, { pageToken: true });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${r.url}/#live`);
    await page.waitForSelector('body[data-ready="1"]');
    assert.equal(await page.isVisible('#queue-reconnect'), false, 'no Reconnect while the board is up');
    await r.pull();
    // A failed attempt first (the port still absent): shown with its time and why.
    assert.equal((await r.post('/api/boards/board0/reconnect', {})).status, 503);
    await page.waitForFunction(() => document.querySelector('#queue-link')?.getAttribute('data-link') === 'down' && /board down: .*given up.*; last tried .*\(request: .*\); no re-probe by itself/.test(document.querySelector('#queue-link')?.textContent ?? ''), undefined, { timeout: 10000 });
    assert.equal(await page.isVisible('#queue-reconnect'), true);
    await r.srv.replug();
    await page.click('#queue-reconnect');
    await page.waitForFunction(() => document.querySelector('#queue-link')?.getAttribute('data-link') === 'up' && (document.querySelector('#queue-reconnect') as HTMLElement | null)?.hidden === true, undefined, { timeout: 10000 });
    assert.equal(await page.textContent('#queue-message'), '');
    const k = await r.link();
    assert.equal(k.state, 'up');
    assert.equal(k.lastAttempt?.by, 'request');
    assert.equal(k.lastAttempt?.ok, true);
  } finally {
    await browser.close();
    await r.done();
  }
});

test('as a user meets it: rram serve --port --reprobe, the emulator gone then back; a CLI command through the station told what happens; another board refused; the same one back by itself', { timeout: 60000 }, async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const dir = mkdtempSync(join(tmpdir(), 'rram-reconnect-cli-'));
  const port = join(dir, 'board');
  const store = join(dir, 'store');
  const emus: Awaited<ReturnType<typeof emulatePty>>[] = [];
  /** `rram emulate --pty` with `seed` behind the station's port path. */
  const plugIn = async (seed: number) => {
    const e = await emulatePty(['--seed', String(seed)]);
    emus.push(e);
    rmSync(port, { force: true });
    symlinkSync(e.path, port);
    return e;
  };
  const unplug = async (e: Awaited<ReturnType<typeof emulatePty>>) => {
    const gone = new Promise((r) => e.proc.once('exit', r));
    e.proc.kill('SIGTERM');
    await gone;
  };
  const first = await plugIn(1);
  const st = await serveStation(store, ['--port', port, '--reprobe', '0.5']);
  try {
    const link = async () => ((await (await fetch(`${st.url}/api/boards`)).json()) as { link: LinkView }[])[0].link;
    const read = async () => {
      const c = cli(['read', '--cell', '0,0', '--json', '--station', st.url, '--port', port, '--store', store]);
      return { code: await c.done, err: c.err() };
    };
    assert.equal((await read()).code, 0);
    await unplug(first);
    // The station's keep-alive finds the port gone; the link gives up after its reconnect time (10 s).
    const down = await waitFor(async () => { const k = await link(); return k.state !== 'up' ? k : undefined; }, 25000, 'the board to go down');
    assert.match(down.down ?? '', /given up/);
    const refused = await read();
    assert.equal(refused.code, 1, refused.err);
    assert.match(refused.err, /station http:\/\/127\.0\.0\.1:\d+: the station's board emu-1 is down \(.*\): nothing was sent to it; the station tries it again by itself every 0\.5 s .*POST \/api\/boards\/board0\/reconnect/);
    // Another board on the port: refused by the re-probe, never adopted.
    await plugIn(2);
    const other = await waitFor(async () => { const k = await link(); return /different board/.test(k.lastAttempt?.error ?? '') ? k : undefined; }, 10000, 'the re-probe to meet the other board');
    assert.equal(other.state === 'up', false);
    assert.match(other.lastAttempt?.error ?? '', /id emu-1 -> emu-2/);
    assert.equal((await read()).code, 1);
    // The same board back (an emulator of its seed): taken back by the re-probe, the command runs.
    await unplug(emus[1]);
    await plugIn(1);
    const back = await waitFor(async () => { const k = await link(); return k.state === 'up' ? k : undefined; }, 10000, 'the re-probe to take the board back');
    assert.equal(back.lastAttempt?.by, 're-probe');
    const ok = await read();
    assert.equal(ok.code, 0, ok.err);
    // The route, as the dashboard calls it: an up board is left alone.
    const r = await fetch(`${st.url}/api/boards/board0/reconnect`, { method: 'POST', headers: { 'x-rram-token': stationToken(store), 'content-type': 'application/json' }, body: '{}' });
    assert.deepEqual(((await r.json()) as { reconnected: boolean }).reconnected, false);
  } finally {
    await st.stop();
    for (const e of emus) if (e.proc.exitCode === null && e.proc.signalCode === null) await unplug(e);
  }
});
