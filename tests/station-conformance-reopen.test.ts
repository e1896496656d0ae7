/**
 * A station's board lent out to the conformance suite and taken back (issue 29), on a real pty
 * (PtyServer: socat). Invariants:
 *  - the reopen rides out a port absent a moment (a USB adapter re-enumerating) within its bound,
 *    and gives up past it naming the port; a different board answering is a hard stop at the first
 *    HELLO (never retried: the board is not ours);
 *  - a close() meanwhile stops the reopen: it settles with a clear error, no port stays open, no
 *    unhandled rejection;
 *  - what the suite measured is never lost: aborted mid-suite through the queue, the item ends
 *    aborted with its checks stored as a partial report and the board serves the next item; the
 *    board not coming back after a whole suite stores the report, fails the run saying both, and
 *    the board is down from then on (said in the line view, every later item refused by name, the
 *    items queued behind it held until the board is back: tests/station-reconnect.test.ts);
 *  - the line view never says grounded while the port is lent out or before the board, back, has
 *    acknowledged a GROUND sent through the reopened link.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { PtyServer } from '../drivers/emulated/pty-server.js';
import { SerialBoard } from '../drivers/serial/serial-board.js';
import { portDebugStates } from '../drivers/serial/transport.js';
import { DisconnectedError, PortError } from '../drivers/errors.js';
import { JobManager } from '../src/server/job-manager.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { Station } from '../src/station/station.js';
import { boardJobRequest, enqueue } from '../src/server/queue-routes.js';
import { CHECK_COUNT } from '../src/conformance/checks.js';
import type { ConformanceReport } from '../src/server/conformance-job.js';
import type { RunEvent } from '../src/engine/events.js';
import { waitFor } from './helpers/server.js';
import { needTool } from './helpers/env.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rig(reopen_ms = 3000) {
  const emu = new EmulatedBoard({ seed: 1 });
  const srv = new PtyServer(emu, { firmware: { time: 'virtual' } });
  await srv.start();
  const drv = await SerialBoard.open({ path: srv.hostPath, keepAlive_ms: 0, margin_ms: 100, reopen_ms });
  return { emu, srv, drv, done: async () => { await drv.close().catch(() => undefined); await srv.stop(); } };
}

/** A station on the pty board, and a way to queue a request and wait for its end. */
function stationOn(drv: SerialBoard) {
  const jobs = new JobManager(drv, new EmbeddedStore(mkdtempSync(join(tmpdir(), 'rram-conf-reopen-'))));
  // No re-probe: what reaches the other board in the last test is the reopen's alone.
  const station = new Station(jobs, undefined, undefined, { reprobe_ms: 0 });
  const add = (request: Record<string, unknown>) => enqueue(station, boardJobRequest(request, station), {}).runId;
  const ended = (id: string) => waitFor(() => { const i = station.queue.item(id); return i && !['queued', 'running'].includes(i.state) ? i : undefined; }, 14000, `item ${id} to end`);
  const progress: ((e: RunEvent & { type: 'progress' }) => void)[] = [];
  jobs.bus.subscribe((e) => { if (e.type === 'progress' && e.phase === 'conformance') progress.forEach((f) => f(e)); });
  return { jobs, station, add, ended, onProgress: (f: (e: RunEvent & { type: 'progress' }) => void) => progress.push(f) };
}

test('reopen after a port absent a moment: retried within its bound, the board back and serving; absent past it: given up naming the port', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await rig(3000);
  try {
    const boot = r.drv.link.boot;
    await r.drv.outOfService(async () => {
      await r.srv.unplug(); // the port vanishes as the lent program lets it go, and is back 0.6 s later
      setTimeout(() => void r.srv.replug(), 600);
    });
    assert.equal(r.drv.linkDown(), undefined);
    assert.ok(Number.isFinite(await r.drv.read({ array: 0, row: 0, col: 0 })), 'serving');
    assert.equal(r.drv.link.boot, boot, 'the same board, not rebooted');
  } finally {
    await r.done();
  }
  const g = await rig(600);
  try {
    const err = await g.drv.outOfService(() => g.srv.unplug()).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof PortError, String(err));
    assert.match(g.drv.linkDown() ?? '', /given up: .*missing/);
    await assert.rejects(g.drv.read({ array: 0, row: 0, col: 0 }), PortError);
  } finally {
    await g.done();
  }
});

test('reopen finding a different board on the port: a hard stop at its first HELLO, never retried', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await rig(3000);
  const other = new PtyServer(new EmulatedBoard({ seed: 2 }), { dir: r.srv.dir, firmware: { time: 'virtual' } });
  try {
    let sent = 0;
    const err = await r.drv
      .outOfService(async () => {
        sent = r.drv.link.stats.sent;
        await r.srv.unplug();
        await other.start(); // another board behind the same path
      })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof DisconnectedError && /a different board answered/.test(err.message), String(err));
    assert.equal(r.drv.link.stats.sent - sent, 1, 'one HELLO, not retried');
    assert.equal(other.firmware.stats.requests, 1);
    assert.match(r.drv.linkDown() ?? '', /different board/);
  } finally {
    await other.stop();
    await r.done();
  }
});

test('close() while the reopen is in flight: the reopen settles with a clear error, no port left open, the link stays closed', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await rig(4000);
  try {
    let settled = false;
    const out = r.drv.outOfService(() => r.srv.unplug()).then(() => undefined, (e: unknown) => e).finally(() => (settled = true));
    await sleep(300); // the reopen retries meanwhile: the port is absent
    await r.drv.close();
    await new Promise(setImmediate);
    assert.ok(settled, 'close() returned with the reopen settled, not still going');
    const err = await out;
    assert.ok(err instanceof DisconnectedError && /closed while it was being reopened/.test(err.message), String(err));
    await r.srv.replug();
    await sleep(400); // past the reopen's next retry, were it still going
    assert.deepEqual(portDebugStates(), [], 'no port open in this process');
    await assert.rejects(r.drv.read({ array: 0, row: 0, col: 0 }), /closed/);
  } finally {
    await r.done();
  }
});

test('conformance aborted mid-suite through the queue: the item ends aborted, its checks stored as a partial report; the lines unknown until a GROUND through the reopened link; the board serves the next item', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await rig();
  const grounds = { n: 0 };
  const ground = r.emu.ground.bind(r.emu);
  r.emu.ground = async () => { grounds.n++; return ground(); };
  try {
    const s = stationOn(r.drv);
    const seen: string[] = [];
    let atLast = { grounds: 0, at: '' };
    let id = '';
    s.onProgress((e) => {
      seen.push(s.station.watched.lines().state);
      atLast = { grounds: grounds.n, at: new Date().toISOString() };
      if (e.done === 3) void s.station.queue.abort(id);
    });
    id = s.add({ kind: 'conformance', margin_ms: 100 });
    const item = await s.ended(id);
    assert.equal(item.state, 'aborted', item.error);
    assert.match(item.error ?? '', new RegExp(`aborted after 3 of ${CHECK_COUNT} checks`));
    const rep = s.jobs.store.loadResult<ConformanceReport>(id, 'conformance');
    assert.equal(rep.checks.length, 3);
    assert.equal(rep.passed + rep.failed, 3);
    assert.match(rep.partial ?? '', /aborted after 3/);
    assert.deepEqual(seen, ['unknown', 'unknown', 'unknown'], 'never grounded while the port is lent out');
    const lines = s.station.watched.lines();
    assert.equal(lines.state, 'grounded');
    assert.equal(lines.groundedBy, 'the port back in service');
    assert.ok(lines.groundedAt! >= atLast.at && grounds.n > atLast.grounds, 'grounded by a GROUND after the suite');
    const read = await s.ended(s.add({ kind: 'read', cell: { row: 0, col: 0 } }));
    assert.equal(read.state, 'completed', read.error);
  } finally {
    await r.done();
  }
});

test('the board not coming back after a whole suite: the report is stored, the run fails saying both, the board is down, refuses every later item by name and holds those queued', { timeout: 20000 }, async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await rig(1000);
  const other = new PtyServer(new EmulatedBoard({ seed: 2 }), { firmware: { time: 'virtual' } });
  await other.start();
  try {
    const s = stationOn(r.drv);
    // At the first check the probe has the port open: the path now leads to another board, for the reopen.
    s.onProgress((e) => { if (e.done === 1) renameSync(other.hostPath, r.srv.hostPath); });
    const id = s.add({ kind: 'conformance', margin_ms: 100 });
    const behind = s.add({ kind: 'read', cell: { row: 0, col: 0 } });
    const item = await s.ended(id);
    assert.equal(item.state, 'failed');
    assert.equal(item.errorCode, 'DISCONNECTED');
    const m = /suite ran: (\d+) passed, (\d+) failed .*did not come back.*a different board answered/.exec(item.error ?? '');
    assert.ok(m, item.error);
    const rep = s.jobs.store.loadResult<ConformanceReport>(id, 'conformance');
    assert.equal(rep.checks.length, CHECK_COUNT);
    assert.deepEqual([rep.passed, rep.failed], [Number(m[1]), Number(m[2])]);
    assert.equal(rep.partial, undefined);
    assert.equal(s.jobs.store.getRun(id).status, 'failed');
    // Down, and said so: the line view, the item queued behind, a new item.
    const lines = s.station.watched.lines();
    assert.equal(lines.state, 'unknown');
    assert.match(lines.down ?? '', /different board/);
    await sleep(300);
    assert.equal(s.station.queue.item(behind)?.state, 'queued', 'the item behind waits for the board, not started on it');
    assert.equal(other.firmware.stats.requests, 1, 'the other board got the HELLO only');
    assert.throws(() => s.add({ kind: 'read', cell: { row: 0, col: 0 } }), (e: Error) => e instanceof DisconnectedError && /board emu-1 is down .*nothing was sent to it; .*reconnect/.test(e.message));
  } finally {
    await other.stop();
    await r.done();
  }
});
