/**
 * Issue 29, "select cells on the map and ... re-verify just those": `rram reverify --run RUN` (and
 * the map's button, the same request) reads exactly the chosen cells and programs again exactly
 * those read outside their band, by the source run's settings, against its targets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Subject } from 'rxjs';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { loadCalibration, values } from '../calibration/calibration.js';
import type { CellAddress } from '../drivers/board.js';
import { defaultLevels, levelSpecsFromTargets } from '../src/analysis/levels.js';
import { withValues } from '../src/calibrate/fit.js';
import type { RunEvent } from '../src/engine/events.js';
import { runExperimentJob } from '../src/jobs/experiment-jobs.js';
import { runJob } from '../src/jobs/run-job.js';
import { patternMap } from '../src/procedures/level-map.js';
import { programArray } from '../src/procedures/program-array.js';
import { pulseOnce } from '../src/procedures/single-ops.js';
import { reverifyBand } from '../src/procedures/reverify.js';
import type { ReverifySelectionDataset } from '../src/procedures/reverify-selection.js';
import type { ExperimentRequest } from '../src/server/experiment-requests.js';
import { parseJobRequest } from '../src/server/job-requests.js';
import { EmbeddedStore, StoreSink } from '../src/store/embedded-store.js';
import { runTargets } from '../src/store/run-targets.js';
import { RunContext } from '../src/engine/run-context.js';
import { setupProgramming } from '../src/procedures/program-setup.js';
import { ALGOS } from '../src/plans/program-cell.js';
import { cellKey, storedEvents } from './helpers/record.js';

const base = loadCalibration();
// Relaxing ten times as much as the default: after a wait a share of the cells leaves its band.
const strong = { ...withValues(base, { ...values(base), relaxation_scale: values(base).relaxation_scale * 10 }), id: 'strong-relax' };
const REGION = Array.from({ length: 4 * 16 }, (_, k) => Math.floor(k / 16) * 64 + (k % 16)); // rows 0-3, cols 0-15

async function programRun(store: EmbeddedStore, board: EmulatedBoard, levels = 4): Promise<string> {
  const out = await runJob({ store, board }, (ctx, signal) => programArray(board, ctx, { algo: 'igvva', levels, array: 0, map: patternMap('random', levels, 64, 64, 3), mapName: 'random', cells: REGION, calibration: strong, engine: { signal } }), { resultName: 'program' });
  assert.equal(out.status, 'completed');
  return out.runId;
}

async function reverify(store: EmbeddedStore, board: EmulatedBoard, body: Record<string, unknown>) {
  const req = parseJobRequest({ kind: 'reverify', ...body }, board.info()) as ExperimentRequest;
  return runExperimentJob({ store, board }, board, strong, req);
}

test('level specs rebuilt from a run\'s recorded targets are the ones programming used (every level count, any LRS range)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 8 }), fc.double({ min: 3e-6, max: 20e-6, noNaN: true }), fc.double({ min: 1, max: 4, noNaN: true }), fc.double({ min: 0.3e-6, max: 2.9e-6, noNaN: true }), (n, lo, span, hrs) => {
        const made = defaultLevels(n, lo, lo * span + (n > 2 ? 1e-7 : 0), hrs);
        const back = levelSpecsFromTargets(made.map((s) => s.target_A));
        for (let i = 0; i < n; i++) {
          assert.equal(back[i].kind, made[i].kind);
          for (let j = 0; j < 2; j++) assert.ok(Math.abs(back[i].band_A[j] - made[i].band_A[j]) <= 1e-12 * Math.max(1e-6, made[i].band_A[j]), `level ${i} band ${j}`);
        }
      }),
    { numRuns: 200 },
  );
});

test('reverify: only the chosen cells are read, exactly those read outside their band are programmed again (every pulse by an intent first), the rest untouched, all against the source run\'s targets', { timeout: 120000 }, async () => {
  const store = new EmbeddedStore(mkdtempSync(join(tmpdir(), 'rvs-')));
  const board = new EmulatedBoard({ seed: 4, calibration: strong });
  const src = await programRun(store, board);
  const srcDone = new Map(storedEvents(store.root, src).filter((e): e is Extract<RunEvent, { type: 'cell-done' }> => e.type === 'cell-done').map((e) => [cellKey(e.cell), e]));
  const levels = (JSON.parse(readFileSync(join(store.runDir(src), 'program.json'), 'utf8')) as { levels: ReturnType<typeof defaultLevels> }).levels;
  let outsideSeen = 0;
  let insideSeen = 0;
  await fc.assert(
    fc.asyncProperty(fc.subarray(REGION, { minLength: 1, maxLength: 24 }), fc.constantFrom('decision', 'inner'), fc.constantFrom(0, 3e3, 3e4), async (picked, band, after) => {
      const cells: CellAddress[] = picked.map((k) => ({ array: 0, row: Math.floor(k / 64), col: k % 64 }));
      const out = await reverify(store, board, { run: src, cells, band, after_s: after, passes: 1 });
      assert.equal(out.status, 'completed', String(out.error));
      const d = out.result as ReverifySelectionDataset;
      const evs = storedEvents(store.root, out.runId);
      const chosen = new Set(cells.map(cellKey));
      for (const e of evs) if ('cell' in e && e.cell) assert.ok(chosen.has(cellKey(e.cell)), `${e.type} of ${cellKey(e.cell)}, a cell not chosen`);
      // What each chosen, programmed cell read first, and whether that was outside its band.
      const step = band === 'decision' ? 'refresh' : 'reverify 1';
      const first = new Map<string, number | null>();
      for (const e of evs) if (e.type === 'read' && e.step === step && !first.has(cellKey(e.cell))) first.set(cellKey(e.cell), e.current_A);
      const expected = new Set<string>();
      for (const k of chosen) {
        const s = srcDone.get(k)!;
        if (s.outcome.status !== 'ok') {
          assert.ok(!first.has(k), `${k}: not programmed by the source, not re-verified`);
          continue;
        }
        assert.ok(first.has(k), `${k} is read`);
        const spec = levels[s.level];
        const [lo, hi] = band === 'decision' ? spec.band_A : reverifyBand(spec);
        const i = first.get(k)!;
        if (i !== null && (i < lo || i > hi)) expected.add(k);
      }
      const pulsed = new Set(evs.filter((e) => e.type === 'pulse').map((e) => cellKey((e as Extract<RunEvent, { type: 'pulse' }>).cell)));
      assert.deepEqual([...pulsed].sort(), [...expected].sort(), 'pulsed = the chosen cells read out of band');
      const redone = evs.filter((e): e is Extract<RunEvent, { type: 'cell-done' }> => e.type === 'cell-done');
      assert.deepEqual(redone.map((e) => cellKey(e.cell)).sort(), [...expected].sort(), 'each recorded done once');
      for (const e of redone) assert.equal(e.target_A, srcDone.get(cellKey(e.cell))!.target_A, 'programmed to the source run\'s target');
      const announced = new Map<string, number>();
      for (const e of evs) {
        if (e.type === 'intent') for (const p of e.pulses) announced.set(cellKey(p.cell), (announced.get(cellKey(p.cell)) ?? 0) + 1);
        if (e.type === 'pulse') {
          const k = cellKey(e.cell);
          announced.set(k, (announced.get(k) ?? 0) - 1);
          assert.ok(announced.get(k)! >= 0, `pulse of ${k} without its intent`);
        }
      }
      // The result says what the record says.
      assert.equal(d.summary.reprogrammed, expected.size);
      assert.equal(d.cells.length, cells.length);
      for (const r of d.cells) {
        const k = cellKey(r.cell);
        assert.equal(r.action, expected.has(k) ? 'reprogrammed' : srcDone.get(k)!.outcome.status === 'ok' ? 'in-band' : 'not-programmed', k);
        if (first.has(k)) assert.equal(r.before_A, first.get(k));
      }
      assert.deepEqual(JSON.parse(readFileSync(join(store.runDir(out.runId), 'reverify.json'), 'utf8')), JSON.parse(JSON.stringify(d)));
      outsideSeen += expected.size;
      insideSeen += [...chosen].filter((k) => first.has(k) && !expected.has(k)).length;
    }),
    { numRuns: 8, seed: 29 },
  );
  // The property saw both sides (a check that never met an out-of-band cell would test nothing).
  assert.ok(outsideSeen > 0 && insideSeen > 0, `out of band ${outsideSeen}, in band ${insideSeen}`);
});

test('reverify refuses, before anything is sent, what cannot be re-verified: another board, cells the run did not program, cells a later run pulsed (unless taken on purpose), a second pass on the decision band, a run with no targets', { timeout: 60000 }, async () => {
  const store = new EmbeddedStore(mkdtempSync(join(tmpdir(), 'rvr-')));
  const board = new EmulatedBoard({ seed: 6, calibration: strong });
  const src = await programRun(store, board, 2);
  const refused = async (b: EmulatedBoard, body: Record<string, unknown>, field: RegExp | null, why: RegExp) => {
    const before = store.listRuns().length;
    await assert.rejects(() => reverify(store, b, body), (e: Error & { field?: string }) => (field === null || field.test(String(e.field))) && why.test(e.message), JSON.stringify(body));
    assert.equal(store.listRuns().length, before, 'no run created');
  };
  await refused(new EmulatedBoard({ seed: 7, calibration: strong }), { run: src }, /run/, /not this board/);
  await refused(board, { run: src, cells: [{ array: 0, row: 0, col: 0 }, { array: 0, row: 10, col: 20 }] }, /cells/, /0:10:20.*not programmed by run/);
  await refused(board, { run: src, band: 'decision', passes: 2 }, /passes/, /one pass/);
  await refused(board, { run: '20261202-000000-abcd' }, null, /run 20261202-000000-abcd not found/);
  // A later run pulses one cell of the source's: refused naming it and the run, unless taken on purpose.
  const c = { array: 0, row: 1, col: 2 };
  const later = await runJob({ store, board }, (ctx) => pulseOnce(board, ctx, { kind: 'reset', cell: c, vte_V: 0, vsl_V: 2, vg_V: 2.7, width_s: 1e-6 }), { resultName: 'pulse' });
  assert.equal(later.status, 'completed');
  await refused(board, { run: src, cells: [c, { array: 0, row: 0, col: 0 }] }, /cells/, new RegExp(`0:1:2 \\(run ${later.runId}\\).*later run`));
  await refused(board, { run: later.runId }, /run/, /pulse run/);
  const ok = await reverify(store, board, { run: src, cells: [c], includePulsedLater: true });
  assert.equal(ok.status, 'completed');
  // A re-verify of a re-verify checks against the targets of the run that set them.
  const again = await reverify(store, board, { run: ok.runId, cells: [c], includePulsedLater: true });
  assert.equal((again.result as ReverifySelectionDataset).source.runId, src);
});

test('reverify stopped mid-way and resumed: no cell finished before the stop is pulsed again, each re-programmed cell done once, every cell\'s "before" its first stored read', { timeout: 120000 }, async () => {
  const store = new EmbeddedStore(mkdtempSync(join(tmpdir(), 'rvk-')));
  for (const [seed, stopAt] of [[11, 40], [12, 400]] as const) {
    // A board whose cells are kept in the store: a resume must find it holding what was programmed.
    const board = new EmulatedBoard({ seed, calibration: strong });
    board.attachState(join(store.root, 'boards'));
    const src = await programRun(store, board);
    const bus = new Subject<RunEvent>();
    const ac = new AbortController();
    let pulses = 0;
    bus.subscribe((e) => e.type === 'pulse' && ++pulses === stopAt && ac.abort(new Error('stopped by the test')));
    const body = { run: src, band: 'inner', passes: 2, after_s: 3e4 };
    const req = parseJobRequest({ kind: 'reverify', ...body }, board.info()) as ExperimentRequest;
    const first = await runExperimentJob({ store, board, bus, signal: ac.signal }, board, strong, req);
    assert.equal(first.status, 'aborted', `seed ${seed}: stopped after ${stopAt} pulses`);
    const stored = storedEvents(store.root, first.runId);
    const doneBefore = new Set(stored.filter((e) => e.type === 'cell-done').map((e) => `${(e as Extract<RunEvent, { type: 'cell-done' }>).step}|${cellKey((e as Extract<RunEvent, { type: 'cell-done' }>).cell)}`));
    const again = await runExperimentJob({ store, board, runId: first.runId, resume: true }, board, strong, req);
    assert.equal(again.status, 'completed', String(again.error));
    const all = storedEvents(store.root, first.runId);
    const after = all.slice(stored.length);
    for (const e of after) if (e.type === 'pulse' && e.step) assert.ok(!doneBefore.has(`${e.step}|${cellKey(e.cell)}`), `seed ${seed}: ${cellKey(e.cell)} pulsed again in ${e.step} after it was done`);
    const dones = all.filter((e): e is Extract<RunEvent, { type: 'cell-done' }> => e.type === 'cell-done').map((e) => `${e.step}|${cellKey(e.cell)}`);
    assert.equal(new Set(dones).size, dones.length, `seed ${seed}: each cell done once per pass`);
    const d = again.result as ReverifySelectionDataset;
    const firstRead = new Map<string, number | null>();
    for (const e of all) if (e.type === 'read' && e.step === 'reverify 1' && !firstRead.has(cellKey(e.cell))) firstRead.set(cellKey(e.cell), e.current_A);
    for (const r of d.cells) if (r.action !== 'not-programmed') assert.equal(r.before_A, firstRead.get(cellKey(r.cell)), `seed ${seed}: ${cellKey(r.cell)}'s before is its first stored read`);
    assert.ok(d.summary.reprogrammed > 0);
    await board.close();
  }
});

/** A run record written event by event (as an interrupted or older run would have left it). */
function crafted(store: EmbeddedStore, id: string, kind: 'program' | 'program-net', params: Record<string, unknown>, board: EmulatedBoard) {
  const ctx = new RunContext(id);
  const sink = new StoreSink(store, id).attach(ctx.events$);
  ctx.onFlush((d) => sink.flushSync(d));
  ctx.begin({ kind, params, board: board.info() });
  return ctx;
}

test('the targets a re-verify checks against are the ones the run recorded: a net\'s subset of a CDF\'s levels keeps that CDF\'s bands; a torn or edited record is refused naming the field', async () => {
  const store = new EmbeddedStore(mkdtempSync(join(tmpdir(), 'rvt-')));
  const board = new EmulatedBoard({ seed: 8, calibration: strong });
  const config = setupProgramming({ algo: 'igvva', levels: 8 }, board.info(), strong).config;
  const all = defaultLevels(8);
  const used = [all[0], all[7]]; // a net on levels 0 and 7 of an 8-level CDF, judged by the CDF's bands
  const cellDone = (k: number, s: (typeof all)[number]) => ({ type: 'cell-done' as const, cell: { array: 0, row: 0, col: k }, level: s.level, target_A: s.target_A, outcome: { status: 'ok' as const, pulses: 3, reads: 3, final_A: s.target_A, finalStepped_V: 1 } });
  const net = (id: string, extra: Record<string, unknown>) => {
    const ctx = crafted(store, id, 'program-net', { levels: 8, levelTargets_A: used.map((s) => s.target_A), config, ...extra }, board);
    ctx.emit(cellDone(0, used[0]));
    ctx.emit(cellDone(1, used[1]));
    ctx.commit(true);
  };
  net('net-with-specs', { levelSpecs: used });
  const t = await runTargets(store, 'net-with-specs');
  assert.deepEqual(t.specs, used, 'the bands it programmed by, not ones rebuilt from two targets');
  net('net-before-specs', {});
  await assert.rejects(() => runTargets(store, 'net-before-specs'), /2 of its device's 8 levels: the bands it programmed by cannot be rebuilt/);
  const edited = async (id: string, cfg: unknown, re: RegExp, extra: Record<string, unknown> = {}) => {
    const ctx = crafted(store, id, 'program', { levels: 8, levelTargets_A: all.map((s) => s.target_A), levelSpecs: all, config: cfg, ...extra }, board);
    ctx.emit(cellDone(0, all[3]));
    ctx.commit(true);
    await assert.rejects(() => runTargets(store, id), re, id);
  };
  await edited('bad-algo', { ...config, algo: 'bogus' }, /config\.algo.*(Invalid enum|expected)/i);
  await edited('null-field', { ...config, igvva: { ...config.igvva, vgStep_V: null } }, /config\.igvva\.vgStep_V.*must be a number/);
  await edited('text-field', { ...config, form: { ...config.form, vteStop_V: '4 V' } }, /config\.form\.vteStop_V.*must be a number/);
  await edited('no-radar', { ...config, algo: 'radar', radar: undefined }, /config\.radar.*radar needs its radar settings/);
  await edited('no-gates', { ...config, algo: 'ispva' }, /params\.ispvaGates_V gives no gate for level 3/);
});

test('every algorithm\'s recorded run can be re-verified against (its settings pass the record\'s check)', { timeout: 120000 }, async () => {
  const store = new EmbeddedStore(mkdtempSync(join(tmpdir(), 'rva-')));
  const board = new EmulatedBoard({ seed: 9, calibration: strong });
  for (const algo of ALGOS) {
    const out = await runJob({ store, board }, (ctx, signal) => programArray(board, ctx, { algo, levels: 4, array: 0, map: patternMap('random', 4, 64, 64, 3), mapName: 'random', cells: [0, 1, 2, 3].map((k) => k + 64 * ALGOS.indexOf(algo)), calibration: strong, minSuccess: 0, engine: { signal } }), { resultName: 'program' });
    assert.equal(out.status, 'completed', `${algo}: ${out.error}`);
    const t = await runTargets(store, out.runId);
    assert.equal(t.config.algo, algo);
    assert.equal(t.specs.length, 4);
    // The published one-sided band (no upper tolerance) is stored as null: re-verify programs with it, not with 0.
    if (algo !== 'bidir') assert.equal(t.config.igvva.tolerance_A, Infinity, `${algo}: igvva tolerance revived`);
    assert.equal(t.config.ispva.tolerance_A, Infinity, `${algo}: ispva tolerance revived`);
  }
});

test('a cell pulsed after the targets\' run by a run that started before it (interrupted, then resumed) is refused as pulsed later', { timeout: 60000 }, async () => {
  const store = new EmbeddedStore(mkdtempSync(join(tmpdir(), 'rvl-')));
  const board = new EmulatedBoard({ seed: 10, calibration: strong });
  const x = crafted(store, 'x-interrupted', 'program', { note: 'started first' }, board);
  x.commit(true);
  await new Promise((r) => setTimeout(r, 5));
  const src = await programRun(store, board);
  const c = { array: 0, row: 2, col: 3 };
  x.emit({ type: 'pulse', cell: c, kind: 'reset', vte_V: 0, vsl_V: 2, vg_V: 2.7, width_s: 1e-6 } as never);
  x.commit(true);
  await assert.rejects(() => reverify(store, board, { run: src, cells: [c] }), new RegExp('0:2:3 \\(run x-interrupted\\).*later run'));
});
