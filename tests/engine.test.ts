import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { RunContext } from '../src/engine/run-context.js';
import { RunEngine, type CellJob } from '../src/engine/run-engine.js';
import { resumeFrom } from '../src/jobs/run-job.js';
import type { RunEvent } from '../src/engine/events.js';
import { programCell } from '../src/plans/program-cell.js';
import { setupProgramming } from '../src/procedures/program-setup.js';
import { characterize } from '../src/procedures/characterize.js';
import { AbortedError, RramError } from '../drivers/errors.js';
import { EmbeddedStore, StoreSink } from '../src/store/embedded-store.js';
import fc from 'fast-check';
import { Rng } from '../lib/rng.js';
import { runWriteVerifyOnBoard } from '../drivers/emulated/onboard-write-verify.js';
import { jobViolation, wvJob } from '../src/engine/write-verify-job.js';
import { cellKey, recordPulses } from './helpers/record.js';

const cfg = setupProgramming({ algo: 'igvva', levels: 8 }, new EmulatedBoard().info()).config;
const jobsFor = (n: number, target = 30e-6): CellJob[] =>
  Array.from({ length: n }, (_, k) => ({ cell: { array: 0, row: Math.floor(k / 64), col: k % 64 }, level: 1, target_A: target, plan: () => programCell(cfg, { level: 1, target_A: target }) }));

test('engine: user limits stop a cell before the offending pulse is sent', async () => {
  const b = new EmulatedBoard({ seed: 2 });
  const ctx = new RunContext('lim');
  const events: RunEvent[] = [];
  ctx.events$.subscribe((e) => events.push(e));
  // A 2.0 V gate cap: the top level cannot be reached, the engine must refuse VG > 2.0.
  const res = await new RunEngine(b, ctx).runCells(jobsFor(4, 45e-6), { limits: { vg_max_V: 2.0 } });
  assert.equal(res.length, 4);
  assert.ok(res.every((r) => r.outcome.status === 'limit' && /limit: vg_V=[0-9.]+ is above the maximum 2/.test(r.outcome.note ?? '')));
  const maxVg = Math.max(...events.filter((e) => e.type === 'pulse').map((e) => (e as { vg_V: number }).vg_V));
  assert.ok(maxVg <= 2.0, `max VG sent ${maxVg}`);
  assert.ok(events.some((e) => e.type === 'warning'));
});

test('engine: the per-cell pulse budget caps a cell', async () => {
  const b = new EmulatedBoard({ seed: 2 });
  const res = await new RunEngine(b, new RunContext('b')).runCells(jobsFor(2), { pulseBudget: 10 });
  assert.ok(res.every((r) => r.outcome.status === 'budget'));
  assert.ok(b.countersSync({ array: 0, row: 0, col: 0 }).set + b.countersSync({ array: 0, row: 0, col: 0 }).reset + b.countersSync({ array: 0, row: 0, col: 0 }).form <= 10);
});

test('engine: abort stops cleanly, grounds the board, keeps what was measured; resume never re-pulses finished cells', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eng-'));
  const b = new EmulatedBoard({ seed: 4 });
  b.attachState(join(dir, 'boards'));
  const store = new EmbeddedStore(dir);
  const ctx = new RunContext('abort-run');
  const sink = new StoreSink(store, 'abort-run').attach(ctx.events$);
  sink.beforeWrite = (d) => b.persistDirty(d);
  ctx.onFlush((d) => sink.flushSync(d));
  const ac = new AbortController();
  let grounded = 0;
  let last = '';
  const ground = b.ground.bind(b);
  b.ground = async () => {
    grounded++;
    last = 'ground';
    return ground();
  };
  for (const op of ['form', 'set', 'reset', 'read', 'readArray'] as const) {
    const f = (b[op] as (...a: unknown[]) => Promise<unknown>).bind(b);
    (b as unknown as Record<string, unknown>)[op] = (...a: unknown[]) => {
      last = op;
      return f(...a);
    };
  }
  let cells = 0;
  ctx.events$.subscribe((e) => {
    if (e.type === 'cell-done' && ++cells === 40) ac.abort();
  });
  const opts = { algo: 'igvva' as const, levels: 4, cellsPerLevel: 32, reads: 1, relax_s: [], seed: 1 };
  await assert.rejects(characterize(b, ctx, { ...opts, engine: { signal: ac.signal, concurrency: 8 } }), AbortedError);
  await sink.close();
  assert.ok(grounded >= 1);
  assert.equal(last, 'ground', 'the last thing the aborted run did to the board was grounding it');
  const stored: RunEvent[] = [];
  for await (const e of store.events('abort-run', { type: 'cell-done' })) stored.push(e);
  assert.ok(stored.length >= 40 && stored.length < 128, `the record holds ${stored.length} finished cells`);
  // Snapshot pulse counters of finished cells, resume from the record, check they did not move.
  const snap = stored.map((e) => ({ cell: (e as { cell: { array: number; row: number; col: number } }).cell, c: b.countersSync((e as { cell: { array: number; row: number; col: number } }).cell) }));
  const ctx2 = new RunContext('abort-run', undefined, await resumeFrom(store, 'abort-run'));
  const ds = await characterize(b, ctx2, opts);
  for (const s of snap) {
    const now = b.countersSync(s.cell);
    assert.equal(now.form + now.set + now.reset, s.c.form + s.c.set + s.c.reset, 'finished cell not pulsed again');
  }
  assert.equal(ds.levels.reduce((n, l) => n + l.cells.length, 0), 128);
});

const wvCfg = setupProgramming({ algo: 'igvva', levels: 8, onboardVerify: 'on' }, new EmulatedBoard().info()).config;
const wvJobs = (n: number, rng: () => number): CellJob[] =>
  Array.from({ length: n }, (_, k) => {
    const target = 12e-6 + rng() * 30e-6;
    return { cell: { array: 0, row: Math.floor(k / 64), col: k % 64 }, level: 1, target_A: target, plan: () => programCell(wvCfg, { level: 1, target_A: target }) };
  });

test('engine, on-board write-verify: for every seed and cell the record (each job as the pulses it reports) equals the board\'s own counters, and the result\'s pulses equal the record\'s', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 24 }), fc.integer({ min: 40, max: 400 }), async (seed, n, budget) => {
      const b = new EmulatedBoard({ seed });
      const ctx = new RunContext('wv');
      const evs: RunEvent[] = [];
      ctx.events$.subscribe((e) => evs.push(e));
      const r = new Rng(seed);
      const res = await new RunEngine(b, ctx).runCells(wvJobs(n, () => r.uniform()), { pulseBudget: budget, concurrency: 8 });
      assert.ok(evs.some((e) => e.type === 'pulse' && e.kind === 'write-verify'), 'the climbs ran on the board');
      const rec = recordPulses(evs);
      for (const x of res) {
        const k = b.countersSync(x.cell);
        const got = k.form + k.set + k.reset;
        assert.equal(rec.get(cellKey(x.cell))?.confirmed ?? 0, got, `cell ${cellKey(x.cell)}`);
        assert.ok(got <= budget, `cell ${cellKey(x.cell)}: ${got} pulses over the budget ${budget}`);
        if (x.outcome.status !== 'budget' && x.outcome.status !== 'limit') assert.equal(x.outcome.pulses, got);
      }
    }),
    { numRuns: 12, seed: 31 },
  );
});

test('on-board write-verify: every summary of a board running the loop is a run of its job; one stepping past stop is caught, and the engine stops the run after recording what the board reported', async () => {
  const board = new EmulatedBoard({ seed: 31 });
  const dac = board.info().dacStep_V;
  let used = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 200 }), fc.double({ min: 1e-6, max: 60e-6, noNaN: true }), fc.boolean(), (s0, st, span, maxp, target, broken) => {
      // A fresh formed cell each time (4096 on the array).
      const n = used++ % 4096;
      const cell = { array: 0, row: n >> 6, col: n & 63 };
      board.formSync(cell, { vte_V: 3.9, vg_V: 1.6, width_s: 1e-5 });
      const c = { op: 'write-verify' as const, vte_V: 1.2, vgStart_V: +(0.5 + s0 * 0.01).toFixed(6), vgStep_V: +(st * 0.01).toFixed(6), vgStop_V: +(0.5 + (s0 + span) * 0.01).toFixed(6), target_A: target, maxPulses: maxp, width_s: 1e-6, vread_V: 0.2 };
      let s;
      try {
        s = runWriteVerifyOnBoard(board, cell, wvJob(c), { ignoreStop: broken });
      } catch (err) {
        // A loop past stop runs into the board's own gate limit: refused there, nothing to check.
        if (broken && err instanceof RramError && err.code === 'LIMIT') return;
        throw err;
      }
      const gates = Math.floor(span / st) + 1;
      const why = jobViolation(c, s, dac);
      if (!broken || s.pulses <= gates) assert.equal(why, undefined, JSON.stringify({ c, s }));
      else assert.match(why ?? '', /more than the job allows/);
    }),
    { numRuns: 300, seed: 31 },
  );
  // A board whose loop ignores stop (the 'wv-loop' deviation): the run stops, naming it; the record holds the job as the board reported it.
  const b = new EmulatedBoard({ seed: 5 });
  b.writeVerify = async (cell, job) => runWriteVerifyOnBoard(b, cell, job, { ignoreStop: true });
  const ctx = new RunContext('wv-broken');
  const evs: RunEvent[] = [];
  ctx.events$.subscribe((e) => evs.push(e));
  const low = setupProgramming({ algo: 'igvva', levels: 8, onboardVerify: 'on' }, b.info(), undefined, { vg_max_V: 1.2 }).config;
  const jobs: CellJob[] = [{ cell: { array: 0, row: 0, col: 0 }, level: 1, target_A: 45e-6, plan: () => programCell(low, { level: 1, target_A: 45e-6 }) }];
  await assert.rejects(new RunEngine(b, ctx).runCells(jobs, { limits: { vg_max_V: 1.2 } }), /board broke WRITE_VERIFY .*more than the job allows/);
  const k = b.countersSync({ array: 0, row: 0, col: 0 });
  assert.equal(recordPulses(evs).get('0:0:0')?.confirmed, k.form + k.set + k.reset, 'the record holds what the board reported');
});
