/**
 * The streaming engine (issue 31): requests of many cells in flight, a cell's next request sent as
 * soon as its answer is handled, the record unweakened. Properties over random seeds, answer
 * timings and kill points, on an in-process emulated board behind a test proxy that answers late
 * (and out of order) and can die at any moment like a process killed with kill -9.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, openSync, readSync, closeSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Subject } from 'rxjs';
import type { Board, CellAddress } from '../drivers/board.js';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { runWriteVerifyOnBoard } from '../drivers/emulated/onboard-write-verify.js';
import { RunContext } from '../src/engine/run-context.js';
import { CellLedger } from '../src/engine/cell-ledger.js';
import type { RunEvent } from '../src/engine/events.js';
import { RunEngine, type CellJob } from '../src/engine/run-engine.js';
import { programCells } from '../src/procedures/program-cells.js';
import { programCell } from '../src/plans/program-cell.js';
import { setupProgramming } from '../src/procedures/program-setup.js';
import { EmbeddedStore, StoreSink } from '../src/store/embedded-store.js';
import { resumeFrom } from '../src/jobs/run-job.js';
import { runInEngineOrder } from '../src/calibrate/simulate.js';
import { Rng } from '../lib/rng.js';
import { loadCalibration } from '../calibration/calibration.js';
import { cellKey, recordPulses, storedEvents } from './helpers/record.js';

const info0 = new EmulatedBoard().info();
// igvva-predict (the board's calibration predicts each level's gate): a few dozen requests per cell.
const cal = loadCalibration();
const host = setupProgramming({ algo: 'igvva-predict', levels: 4 }, info0, cal);
const onBoard = setupProgramming({ algo: 'igvva-predict', levels: 4, onboardVerify: 'on' }, info0, cal);

/** n cells of mixed levels (seeded), climbing from the host or as on-board jobs. */
function jobsFor(n: number, seed: number, onboard: boolean): CellJob[] {
  const r = new Rng(seed);
  const su = onboard ? onBoard : host;
  return Array.from({ length: n }, (_, k) => {
    const level = Math.floor(r.uniform() * 4);
    const lvl = { level, target_A: su.levels[level].target_A, vgStart_V: su.startGates_V?.[level], vgRetry_V: su.retryGates_V?.[level] };
    return { cell: { array: 0, row: 3 + (k >> 4), col: (k * 5) & 63 }, level, target_A: lvl.target_A, plan: () => programCell(su.config, lvl) };
  });
}

const never = <T>() => new Promise<T>(() => undefined);

/**
 * A board that executes each operation when it is called (the emulated board's state moves at
 * once) and answers after a random delay, so answers arrive out of order. `onCall` runs before an
 * operation executes; once `dead` is set nothing executes and nothing answers any more (a killed
 * host: its requests in flight are never heard of).
 */
function lateBoard(b: EmulatedBoard, rng: Rng, s: { dead: boolean; onCall?: (op: string, cell: CellAddress, p: unknown) => void; log?: string[] }): Board {
  const op = <T>(name: string, cell: CellAddress, p: unknown, run: () => T): Promise<T> => {
    if (s.dead) return never();
    s.onCall?.(name, cell, p);
    if (s.dead) return never();
    s.log?.push(`${name} ${cellKey(cell)}`);
    let out: { v?: T; e?: unknown };
    try {
      out = { v: run() };
    } catch (e) {
      out = { e };
    }
    const wait = Math.floor(rng.uniform() * 3);
    return new Promise<T>((res, rej) => setTimeout(() => !s.dead && (out.e !== undefined ? rej(out.e) : res(out.v as T)), wait));
  };
  return {
    info: () => b.info(),
    form: (c, p) => op('form', c, p, () => b.formSync(c, p)),
    set: (c, p) => op('set', c, p, () => b.setSync(c, p)),
    reset: (c, p) => op('reset', c, p, () => b.resetSync(c, p)),
    read: (c, o) => op('read', c, o, () => b.readSync(c, o)),
    writeVerify: (c, j) => op('write-verify', c, j, () => runWriteVerifyOnBoard(b, c, j)),
    readRow: (a, r, o) => b.readRow(a, r, o),
    readArray: (a, o) => b.readArray(a, o),
    wait: (x) => b.wait(x),
    ground: () => (s.dead ? never() : b.ground()),
    counters: (c) => b.counters(c),
    close: async () => undefined,
  };
}

/** The run's events file as a record reader sees it, folded as it grows (what a kill -9 would leave). */
class OnDisk {
  private pos = 0;
  private rest = '';
  readonly ledger = new CellLedger();
  constructor(private readonly file: string) {}
  catchUp(): void {
    if (!existsSync(this.file)) return;
    const fd = openSync(this.file, 'r');
    const buf = Buffer.alloc(1 << 16);
    for (let n; (n = readSync(fd, buf, 0, buf.length, this.pos)) > 0; ) {
      this.pos += n;
      this.rest += buf.toString('utf8', 0, n);
    }
    closeSync(fd);
    const lines = this.rest.split('\n');
    this.rest = lines.pop()!;
    for (const l of lines) if (l) this.ledger.observe(JSON.parse(l) as RunEvent);
  }
}

/** Every pulse the board receives was written ahead: the file holds its intent, the cell's only open one. */
function checkWriteAhead(disk: OnDisk, op: string, cell: CellAddress, p: unknown): void {
  if (op === 'read') return;
  disk.catchUp();
  const open = disk.ledger.openIntents().filter((x) => cellKey(x.cell) === cellKey(cell));
  assert.equal(open.length, 1, `${op} on ${cellKey(cell)}: ${open.length} open intents on disk when it was sent`);
  assert.equal(open[0].kind, op, `${op} on ${cellKey(cell)}: the open intent is a ${open[0].kind}`);
  const q = p as { vg_V?: number; start_V?: number };
  assert.equal(open[0].vg_V, op === 'write-verify' ? q.start_V : q.vg_V, `${op} on ${cellKey(cell)}: the gate written ahead is the one sent`);
}

function wire(store: EmbeddedStore, id: string, resume?: Awaited<ReturnType<typeof resumeFrom>>) {
  const ctx = new RunContext(id, new Subject<RunEvent>(), resume);
  const sink = new StoreSink(store, id).attach(ctx.events$);
  return { ctx, sink };
}

test('streaming engine, kill -9 at a random point (a board call, before or after a commit) with answers arriving late and out of order, then resume: every pulse was written ahead, no cell done in the record is pulsed again, the board got what the record says, every cell ends done', { timeout: 300000 }, async () => {
  let killed = 0;
  let runs = 0;
  let recovered = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 1e6 }),
      fc.integer({ min: 3, max: 14 }),
      fc.integer({ min: 1, max: 8 }),
      fc.boolean(),
      fc.constantFrom('call', 'before-commit', 'after-commit'),
      fc.integer({ min: 1, max: 120 }),
      async (seed, n, concurrency, onboard, where, at) => {
        runs++;
        const dir = mkdtempSync(join(tmpdir(), 'stream-kill-'));
        const b = new EmulatedBoard({ seed });
        b.attachState(join(dir, 'boards'));
        const store = new EmbeddedStore(join(dir, 'a'));
        const id = 'k';
        const jobs = jobsFor(n, seed, onboard);
        const rng = new Rng(seed + 7);
        const disk = new OnDisk(join(store.runDir(id), 'events.ndjson'));
        const s: { dead: boolean; onCall?: (op: string, cell: CellAddress, p: unknown) => void } = { dead: false };
        const copy = join(dir, 'b');
        const kill = () => {
          if (s.dead) return;
          // What a kill -9 leaves: the files as written so far (buffered events are lost), the board as it is.
          cpSync(store.runDir(id), join(copy, 'runs', id), { recursive: true });
          s.dead = true;
          killed++;
        };
        let calls = 0;
        let commits = 0;
        s.onCall = (op, cell, p) => {
          if (where === 'call' && ++calls === at) return kill();
          checkWriteAhead(disk, op, cell, p);
        };
        const { ctx, sink } = wire(store, id);
        if (where === 'before-commit') ctx.onFlush(() => ++commits === at && kill());
        ctx.onFlush((d) => sink.flushSync(d));
        if (where === 'after-commit') ctx.onFlush(() => ++commits === at && kill());
        ctx.begin({ kind: 'program', params: { seed, n }, board: b.info() });
        let finished = false;
        let failed: unknown;
        programCells(lateBoard(b, rng, s), ctx, jobs, { concurrency }).then(
          () => (finished = true),
          (e: unknown) => (failed = e ?? new Error('rejected')),
        );
        // Either the run ends or it was killed (its promises then never settle).
        while (!finished && !s.dead && failed === undefined) await new Promise((r) => setTimeout(r, 2));
        if (failed !== undefined) throw failed;
        if (finished) {
          await sink.close();
          const rec = recordPulses(storedEvents(join(dir, 'a'), id));
          for (const j of jobs) {
            const k = b.countersSync(j.cell);
            assert.equal(k.form + k.set + k.reset, rec.get(cellKey(j.cell))?.confirmed ?? 0, `uninterrupted run: cell ${cellKey(j.cell)}`);
          }
          await b.close();
          return;
        }
        // Resume from the copy, on the same (live) board.
        const store2 = new EmbeddedStore(copy);
        const before = storedEvents(copy, id);
        const doneBefore = new Set(before.filter((e) => e.type === 'cell-done').map((e) => cellKey((e as { cell: CellAddress }).cell)));
        const r = await resumeFrom(store2, id);
        const w = wire(store2, id, r);
        w.ctx.onFlush((d) => w.sink.flushSync(d));
        const disk2 = new OnDisk(join(store2.runDir(id), 'events.ndjson'));
        const s2 = { dead: false, onCall: (op: string, cell: CellAddress, p: unknown) => checkWriteAhead(disk2, op, cell, p) };
        w.ctx.begin({ kind: 'program', params: { seed, n }, board: b.info() });
        const res = await programCells(lateBoard(b, rng, s2), w.ctx, jobs, { concurrency });
        await w.sink.close();
        const all = storedEvents(copy, id);
        assert.deepEqual(all.map((e) => e.seq), all.map((_, k) => k), 'seq contiguous across the kill');
        const after = all.slice(all.findIndex((e) => e.type === 'run-resume'));
        const repulsed = after.filter((e) => e.type === 'pulse' && !e.recovered && doneBefore.has(cellKey(e.cell)));
        assert.equal(repulsed.length, 0, `${repulsed.length} pulses on cells the record had done`);
        recovered += after.filter((e) => e.type === 'pulse' && e.recovered).length;
        assert.equal(res.size, jobs.length, 'every cell has its result');
        const ledger = await CellLedger.fromEvents(all);
        for (const j of jobs) assert.ok(ledger.done(undefined, j.cell), `cell ${cellKey(j.cell)} done in the record`);
        assert.equal(ledger.openIntents().length, 0, 'no intent left open');
        // The board's own counters lie between the record's confirmed pulses and those plus its unknown ones.
        const rec = recordPulses(all);
        for (const j of jobs) {
          const k = b.countersSync(j.cell);
          const got = k.form + k.set + k.reset;
          const x = rec.get(cellKey(j.cell)) ?? { confirmed: 0, unknown: 0 };
          assert.ok(got >= x.confirmed && got <= x.confirmed + x.unknown, `cell ${cellKey(j.cell)}: the board applied ${got}, the record says ${x.confirmed} confirmed + ${x.unknown} unknown`);
        }
        await b.close();
      },
    ),
    { numRuns: 20, seed: 3131 },
  );
  // Most runs are killed before their end: 35 of 40 with these seeds, 17 of their first 20 (the runs
  // here). The bar keeps the share the 40-run version asked for (25 of 40): 13 of 20.
  process.stdout.write(`# ${killed} of ${runs} runs killed before their end, ${recovered} pulses recovered on resume\n`);
  assert.ok(killed >= Math.ceil((25 / 40) * runs), `only ${killed} of ${runs} runs were killed before their end`);
  assert.ok(recovered > 0, 'some kills landed with pulses written ahead and not answered (recorded unknown on resume)');
});

test('streaming engine: the board receives the same operations in the same order whatever the answers\' timing, and the replay of src/calibrate gives every cell\'s outcome', { timeout: 120000 }, async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 32 }), fc.boolean(), async (seed, n, concurrency, onboard) => {
      const jobs = jobsFor(n, seed, onboard);
      // timing 0: the emulated board itself (answers in microtasks); others: late answers, each its own random delays.
      const run = async (timing: number) => {
        const b = new EmulatedBoard({ seed });
        const log: string[] = [];
        const board = timing ? lateBoard(b, new Rng(seed * 7 + timing), { dead: false, log }) : b;
        const res = await new RunEngine(board, new RunContext('o')).runCells(jobs, { concurrency });
        return { log, res: new Map(res.map((r) => [cellKey(r.cell), r.outcome])), order: res.map((r) => cellKey(r.cell)) };
      };
      const late = await run(1);
      const late2 = await run(2);
      assert.deepEqual(late2.log, late.log, 'the same operations in the same order under other answer timings');
      const now = await run(0);
      assert.deepEqual(now.order, late.order, 'cells finish in the same order');
      assert.deepEqual(now.res, late.res, 'every cell the same outcome with immediate and with late answers');
      const replay = runInEngineOrder(new EmulatedBoard({ seed }), jobs, concurrency);
      assert.deepEqual([...replay.keys()].map(cellKey), now.order, 'the replay finishes cells in the engine\'s order');
      for (const [c, o] of replay) assert.deepEqual(o, now.res.get(cellKey(c)), `replay of cell ${cellKey(c)}`);
    }),
    { numRuns: 20, seed: 77 },
  );
});

/**
 * A board behind a link as the protocol has it: one operation at a time, in arrival order, each
 * taking `ms`. It counts the times it finished an operation and found nothing queued while at
 * least two cells were still unfinished: the link ran dry although there was work.
 */
function sequentialBoard(b: EmulatedBoard, ms: number, s: { dry: number; unfinished: () => number }): Board {
  const queue: (() => void)[] = [];
  let busy = false;
  const next = () => {
    const job = queue.shift();
    busy = !!job;
    if (!job) return;
    setTimeout(() => {
      job();
      if (!queue.length && s.unfinished() >= 2) s.dry++;
      next();
    }, ms);
  };
  const op = <T>(run: () => T) =>
    new Promise<T>((res, rej) => {
      queue.push(() => {
        try {
          res(run());
        } catch (e) {
          rej(e);
        }
      });
      if (!busy) next();
    });
  return {
    info: () => b.info(),
    form: (c, p) => op(() => b.formSync(c, p)),
    set: (c, p) => op(() => b.setSync(c, p)),
    reset: (c, p) => op(() => b.resetSync(c, p)),
    read: (c, o) => op(() => b.readSync(c, o)),
    writeVerify: (c, j) => op(() => runWriteVerifyOnBoard(b, c, j)),
    readRow: (a, r, o) => b.readRow(a, r, o),
    readArray: (a, o) => b.readArray(a, o),
    wait: (x) => b.wait(x),
    ground: () => b.ground(),
    close: async () => undefined,
  };
}

test('streaming engine keeps the link full: a board that runs one operation at a time never finds its queue empty while two or more cells are unfinished (on-board jobs and host climbs, concurrency 2-32)', { timeout: 120000 }, async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 2, max: 32 }), fc.boolean(), async (seed, concurrency, onboard) => {
      // Up to 32 at once: beyond 16 requests out, a batch waits for several answers (run-engine.ts, GATHER).
      const jobs = jobsFor(24, seed, onboard);
      const ctx = new RunContext('full');
      let done = 0;
      ctx.events$.subscribe((e) => e.type === 'cell-done' && done++);
      const s = { dry: 0, unfinished: () => jobs.length - done };
      const res = await new RunEngine(sequentialBoard(new EmulatedBoard({ seed }), 1, s), ctx).runCells(jobs, { concurrency });
      assert.equal(res.length, jobs.length);
      assert.equal(s.dry, 0, `the board ran dry ${s.dry} times with work left (concurrency ${concurrency})`);
    }),
    { numRuns: 6, seed: 5 },
  );
});
