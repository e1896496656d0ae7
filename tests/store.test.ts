import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, appendFileSync, mkdirSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { runJob } from '../src/jobs/run-job.js';
import { characterize } from '../src/procedures/characterize.js';
import { exportRun } from '../src/store/export.js';
import { eventsBytes, eventsLayout, packEvents, PACKED, PLAIN, unpackEventsSync } from '../src/store/event-files.js';
import { pruneRuns } from '../src/store/retention.js';
import { resumeFrom } from '../src/jobs/run-job.js';
import { claimSpillDir } from '../src/store/spill-dir.js';
import { LineFormatter } from '../src/store/influx-points.js';
import type { RunEvent } from '../src/engine/events.js';

test('embedded store: one run = one record with every event; queries by cell and level; export csv/json', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-'));
  const store = new EmbeddedStore(dir);
  let emitted = 0;
  const out = await runJob({ store }, (ctx) => {
    ctx.events$.subscribe(() => emitted++);
    return characterize(new EmulatedBoard({ seed: 1 }), ctx, { algo: 'igvva', levels: 4, cellsPerLevel: 16, reads: 1, relax_s: [], seed: 1 });
  }, { resultName: 'level-cdf' });
  assert.equal(out.status, 'completed');
  const run = store.getRun(out.runId);
  assert.equal(run.status, 'completed');
  assert.equal(run.kind, 'characterize');
  assert.equal(run.events, emitted);
  assert.deepEqual(run.results, ['level-cdf']);
  assert.ok((run.board as { id: string }).id === 'emu-1');
  let n = 0;
  for await (const _ of store.events(out.runId)) n++;
  assert.equal(n, emitted);
  const oneCell = [];
  for await (const e of store.events(out.runId, { type: 'cell-done', level: 2 })) oneCell.push(e);
  assert.equal(oneCell.length, 16);
  const c = (oneCell[0] as { cell: { array: number; row: number; col: number } }).cell;
  const cellEvents = [];
  for await (const e of store.events(out.runId, { ...c })) cellEvents.push(e);
  // Exactly the cell's events: the same as filtering every event by hand.
  const all = [];
  for await (const e of store.events(out.runId)) all.push(e);
  const byHand = all.filter((e) => 'cell' in e && e.cell?.array === c.array && e.cell?.row === c.row && e.cell?.col === c.col);
  assert.ok(byHand.length > 10);
  assert.deepEqual(cellEvents.map((e) => e.seq), byHand.map((e) => e.seq));
  const page = [];
  for await (const e of store.events(out.runId, { offset: 10, limit: 5 })) page.push(e.seq);
  assert.deepEqual(page, [10, 11, 12, 13, 14]);
  let csv = '';
  await exportRun(store, out.runId, 'csv', new Writable({ write(ch, _e, cb) { csv += ch; cb(); } }));
  assert.equal(csv.trim().split('\n').length, emitted + 1);
  const jf = join(dir, 'x.json');
  await exportRun(store, out.runId, 'json', jf);
  assert.equal(JSON.parse(readFileSync(jf, 'utf8')).events.length, emitted);
  assert.equal(store.listRuns()[0].id, out.runId);
});

test('embedded store: a torn last line (crash mid-write) loses only that line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-'));
  const store = new EmbeddedStore(dir);
  const out = await runJob({ store }, (ctx) => characterize(new EmulatedBoard({ seed: 1 }), ctx, { algo: 'igvva', levels: 2, cellsPerLevel: 4, reads: 1, relax_s: [], seed: 1 }));
  const before = store.getRun(out.runId).events;
  unpackEventsSync(store.runDir(out.runId)); // as it is on disk while the run is written
  appendFileSync(join(store.runDir(out.runId), 'events.ndjson'), '{"type":"pulse","seq":99');
  let n = 0;
  for await (const _ of store.events(out.runId)) n++;
  assert.equal(n, before);
  assert.throws(() => store.getRun('../etc'), /not a valid run id/);
});

test('packed events: an ended run is gzipped below 30 bytes per event, read back identical; a crash between steps leaves one complete copy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-'));
  const store = new EmbeddedStore(dir);
  const seen: string[] = [];
  const out = await runJob({ store }, (ctx) => {
    ctx.events$.subscribe((e) => seen.push(JSON.stringify(e)));
    return characterize(new EmulatedBoard({ seed: 2 }), ctx, { algo: 'igvva', levels: 4, cellsPerLevel: 32, reads: 1, relax_s: [], seed: 2 });
  }, { resultName: 'level-cdf' });
  const rd = store.runDir(out.runId);
  assert.equal(eventsLayout(rd), 'packed');
  assert.ok(!existsSync(join(rd, PLAIN)));
  const run = store.getRun(out.runId);
  assert.equal(run.eventsBytes, eventsBytes(rd));
  const perEvent = run.eventsBytes! / run.events;
  assert.ok(perEvent <= 30, `bytes per event ${perEvent.toFixed(1)}`);
  const back: string[] = [];
  for await (const e of store.events(out.runId)) back.push(JSON.stringify(e));
  assert.deepEqual(back, seen);
  assert.equal(store.lastSeq(out.runId), JSON.parse(seen[seen.length - 1]).seq);
  assert.deepEqual(store.recount(out.runId).events, seen.length);
  // A crash after the rename, before the plain file went: both exist; the packed copy is read and the next pack removes the other.
  unpackEventsSync(rd);
  assert.equal(eventsLayout(rd), 'plain');
  writeFileSync(join(rd, PACKED), gzipSync(readFileSync(join(rd, PLAIN))));
  const again: string[] = [];
  for await (const e of store.events(out.runId)) again.push(JSON.stringify(e));
  assert.deepEqual(again, seen);
  assert.equal(await packEvents(rd), undefined);
  assert.ok(!existsSync(join(rd, PLAIN)) && existsSync(join(rd, PACKED)));
  // A crash mid-pack: a partial temporary file beside the plain one; the plain one is read, the next pack redoes it.
  unpackEventsSync(rd);
  writeFileSync(join(rd, PACKED + '.tmp'), 'partial');
  assert.equal(eventsLayout(rd), 'plain');
  assert.ok((await packEvents(rd))!.packed > 0);
  const third: string[] = [];
  for await (const e of store.events(out.runId)) third.push(JSON.stringify(e));
  assert.deepEqual(third, seen);
});

test('rram runs prune: old runs lose their events and journal, keep run record and results; running runs untouched; a pruned run cannot be resumed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-'));
  const store = new EmbeddedStore(dir);
  const done = await runJob({ store }, (ctx) => characterize(new EmulatedBoard({ seed: 3 }), ctx, { algo: 'igvva', levels: 2, cellsPerLevel: 4, reads: 1, relax_s: [], seed: 3 }), { resultName: 'level-cdf' });
  const aborted = await runJob({ store, signal: AbortSignal.abort() }, (ctx, sig) => characterize(new EmulatedBoard({ seed: 3 }), ctx, { algo: 'igvva', levels: 2, cellsPerLevel: 4, reads: 1, relax_s: [], seed: 3, engine: { signal: sig } }));
  const running = store.createRun('20200101-000000-0001', 'characterize', {});
  const rec = store.getRun(running.id);
  store.writeRun({ ...rec, started: '2020-01-01T00:00:00.000Z' });
  const later = new Date(Date.now() + 40 * 86400e3);
  assert.deepEqual(pruneRuns(store, { olderThan_s: 30 * 86400 }).map((e) => [e.id, e.action]), [[running.id, 'kept (running)']], 'today: only the old running run is old enough, and it is kept');
  const dry = pruneRuns(store, { olderThan_s: 30 * 86400, now: later, dryRun: true });
  assert.ok(dry.some((e) => e.id === done.runId && e.action === 'events removed' && e.freed_bytes > 0));
  assert.equal(eventsLayout(store.runDir(done.runId)), 'packed', 'dry run removes nothing');
  const res = pruneRuns(store, { olderThan_s: 30 * 86400, now: later });
  assert.deepEqual(res.map((e) => [e.id, e.action]).sort(), [[done.runId, 'events removed'], [running.id, 'kept (running)'], ...(aborted.stored ? [[aborted.runId, 'events removed']] : [])].sort());
  assert.equal(eventsLayout(store.runDir(done.runId)), 'none');
  assert.ok(store.loadResult(done.runId, 'level-cdf'), 'results kept');
  assert.ok(store.getRun(done.runId).pruned);
  if (aborted.stored) await assert.rejects(resumeFrom(store, aborted.runId), /pruned/);
  assert.deepEqual(pruneRuns(store, { olderThan_s: 30 * 86400, now: later }).filter((e) => e.freed_bytes), [], 'a second prune finds nothing');
  const gone = pruneRuns(store, { olderThan_s: 30 * 86400, now: later, deleteResults: true });
  assert.ok(gone.some((e) => e.id === done.runId && e.action === 'run removed'));
  assert.ok(!existsSync(store.runDir(done.runId)));
  assert.ok(existsSync(store.runDir(running.id)), 'the running run survives --delete-results');
});

test('InfluxDB spill folders: one per process; files of dead processes are adopted in order, live ones left alone', () => {
  const base = mkdtempSync(join(tmpdir(), 'spill-'));
  // A dead owner (pid far above any pid_max) with two segments, an older dead owner, a live owner, loose legacy files.
  const dead = join(base, '999999999-2000-0');
  const older = join(base, '999999998-1000-0');
  const live = join(base, `${process.ppid}-3000-0`);
  for (const d of [dead, older, live]) mkdirSync(d);
  writeFileSync(join(base, 'spill-1.lp'), 'legacy\n');
  writeFileSync(join(older, 'spill-7.lp'), 'older\n');
  writeFileSync(join(dead, 'spill-10.lp'), 'dead-b\n');
  writeFileSync(join(dead, 'spill-9.lp'), 'dead-a\n');
  writeFileSync(join(dead, 'rejected-1-0.lp'), 'bad\n');
  writeFileSync(join(live, 'spill-1.lp'), 'live\n');
  const own = claimSpillDir(base);
  const segs = readdirSync(own).filter((f) => f.startsWith('spill-')).sort((a, b) => Number(a.slice(6, -3)) - Number(b.slice(6, -3)));
  assert.deepEqual(segs.map((f) => readFileSync(join(own, f), 'utf8').trim()), ['legacy', 'older', 'dead-a', 'dead-b']);
  assert.ok(existsSync(join(own, 'rejected-1-0.lp')), 'refused batches move along');
  assert.ok(!existsSync(dead) && !existsSync(older), 'adopted folders are removed');
  assert.equal(readFileSync(join(live, 'spill-1.lp'), 'utf8'), 'live\n', "a live process's spill is not touched");
  // A second claim in the same process gets its own, empty folder.
  const second = claimSpillDir(base);
  assert.notEqual(second, own);
  assert.deepEqual(readdirSync(second).filter((f) => f !== '.owner'), []);
  assert.ok(existsSync(join(second, '.owner')), 'a claimed folder carries its heartbeat');
});

test('InfluxDB lines: escaping, float/int typing, non-finite values, interleaved runs keep their own tags', () => {
  const f = new LineFormatter();
  const board = { id: 'bench board,2', kind: 'emulated' } as never;
  const start = (runId: string, algo: string): RunEvent => ({ type: 'run-start', runId, seq: 0, t: 1795394626688.7, kind: 'program', params: { algo }, board });
  assert.equal(f.format(start('r1', 'igvva')), 'run,run=r1,board=bench\\ board\\,2,kind=program,algo=igvva params="{\\"algo\\":\\"igvva\\"}",seq=0i 1795394626688000000');
  f.format(start('r2', 'ispva'));
  const read = (runId: string, seq: number, current_A: number | null): RunEvent => ({ type: 'read', runId, seq, t: 1795394626690, cell: { array: 1, row: 2, col: 3 }, vread_V: 0.2, current_A, phase: 'verify', level: 4 });
  assert.equal(f.format(read('r1', 1234567, 1e-5)), 'read,run=r1,board=bench\\ board\\,2,array=1,row=2,col=3,algo=igvva,level=4,phase=verify current_A=0.00001,vread_V=0.2,relax_s=0.0,seq=1234567i 1795394626690234567');
  // A missing value is a missing field, never a made-up number (issue 25: NaN was written as -1.0).
  assert.equal(f.format(read('r2', 5, NaN)), 'read,run=r2,board=bench\\ board\\,2,array=1,row=2,col=3,algo=ispva,level=4,phase=verify vread_V=0.2,relax_s=0.0,seq=5i 1795394626690000005');
  assert.equal(f.format({ ...read('r2', 6, 0), current_A: null, unusable: 'malformed reply' } as RunEvent), 'read,run=r2,board=bench\\ board\\,2,array=1,row=2,col=3,algo=ispva,level=4,phase=verify vread_V=0.2,relax_s=0.0,unusable="malformed reply",seq=6i 1795394626690000006');
  const warn: RunEvent = { type: 'warning', runId: 'r1', seq: 7, t: 1795394626691, message: 'cell "3,4"\nstuck \\ here' };
  assert.equal(f.format(warn), 'warning,run=r1,board=bench\\ board\\,2 message="cell \\"3,4\\"\\nstuck \\\\ here",seq=7i 1795394626691000007');
});
