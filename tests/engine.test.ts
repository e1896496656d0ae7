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
import { AbortedError } from '../drivers/errors.js';
import { EmbeddedStore, StoreSink } from '../src/store/embedded-store.js';

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
