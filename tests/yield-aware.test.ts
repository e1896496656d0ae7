/**
 * Yield-aware mapping (issue 27): for any layer shapes, arrays and set of known-bad cells, no
 * weight's cell lands on a known-bad cell, every weight's cell is placed exactly once, the read-back
 * maps back to each weight, and the placement is a function of shapes and bad cells alone.
 * The board's store knows a cell as bad from its last verdict or repeated out-of-band reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { placeTiles } from '../src/inference/placement.js';
import { tileNet, UNUSED, valuesFromTiles } from '../src/inference/tiling.js';
import type { MappedLayer } from '../src/inference/mapping.js';
import { EmbeddedStore, StoreSink } from '../src/store/embedded-store.js';
import { RunContext } from '../src/engine/run-context.js';
import { boardHistory } from '../src/store/board-history.js';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';

/** A mapped layer of this shape whose level at each cell encodes nothing (placement does not read levels). */
function layer(name: string, rows: number, cols: number, scheme: 'diff' | 'signed' | 'offset'): MappedLayer {
  const physCols = scheme === 'diff' ? 2 * cols : scheme === 'offset' ? cols + 1 : cols;
  const pos = Uint8Array.from({ length: rows * cols }, (_, i) => i % 4);
  const neg = scheme === 'diff' ? Uint8Array.from({ length: rows * cols }, (_, i) => (i + 1) % 4) : scheme === 'offset' ? new Uint8Array(rows).fill(2) : undefined;
  return { name, scheme, rows, cols, alpha: 1, pos, neg, ref: scheme === 'signed' ? 0 : undefined, clip: 1, quantized: new Float32Array(rows * cols), physCols, cells: rows * physCols, arrays: 1 };
}

const shapes = fc.array(fc.record({ rows: fc.integer({ min: 1, max: 200 }), cols: fc.integer({ min: 1, max: 70 }), scheme: fc.constantFrom('diff' as const, 'signed' as const, 'offset' as const) }), { minLength: 1, maxLength: 3 });
const badCells = (arrays: number) => fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: arrays - 1 }), fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 63 })), { maxLength: 40, selector: (t) => t.join(':') });

test('yield-aware placement: no weight on a known-bad cell, every weight placed once, read-back maps back to it (property)', () => {
  fc.assert(
    fc.property(shapes, fc.integer({ min: 1, max: 3 }).chain((a) => fc.tuple(fc.constant(a), badCells(a))), (sh, [nArrays, bad]) => {
      const layers = sh.map((s, i) => layer(`l${i}`, s.rows, s.cols, s.scheme));
      const arrays = Array.from({ length: nArrays }, (_, k) => k);
      const avoid = new Set(bad.map((b) => b.join(':')));
      const { tiles: geo, report } = placeTiles(layers, arrays, avoid);
      const tiles = tileNet(layers, geo);
      // No used cell of any tile is a known-bad cell of the tile's array.
      for (const t of tiles) for (let i = 0; i < t.levels.length; i++) if (t.levels[i] !== UNUSED) assert.ok(!avoid.has(`${t.array}:${Math.floor(i / 64)}:${i % 64}`), `tile ${t.index} puts a weight on bad cell ${t.array}:${Math.floor(i / 64)}:${i % 64}`);
      // Tiles take their arrays in turn; a tile's rows and columns are distinct cells of one array.
      tiles.forEach((t, k) => assert.equal(t.array, arrays[k % arrays.length]));
      for (const t of tiles) assert.equal(t.levels.filter((v) => v !== UNUSED).length, t.used);
      // Every physical cell of every layer is in exactly one tile, and a read-back encoding the tile
      // and array cell returns each weight's own cell.
      assert.equal(tiles.reduce((s, t) => s + t.used, 0), layers.reduce((s, l) => s + l.cells, 0));
      const rb = tiles.map((t, k) => Float32Array.from({ length: 4096 }, (_, i) => (t.levels[i] === UNUSED ? NaN : k * 4096 + i)));
      const values = valuesFromTiles(layers, tiles, rb);
      layers.forEach((l, li) => {
        const all = [...values[li].gp, ...(values[li].gn ?? [])];
        assert.ok(all.every((v) => Number.isFinite(v)), `${l.name}: a cell no tile covers`);
        for (const v of values[li].gp) {
          const t = tiles[Math.floor(v / 4096)];
          assert.equal(t.layer, li);
          // The cell read back for a weight is the one its tile programmed to the weight's level.
          assert.notEqual(t.levels[v % 4096], UNUSED);
        }
        // A weight and its partner are different cells.
        if (values[li].gn && l.scheme === 'diff') values[li].gp.forEach((v, i) => assert.notEqual(v, values[li].gn![i]));
      });
      assert.equal(report.tiles, tiles.length);
      if (!avoid.size) assert.equal(report.tiles, report.tilesPlain);
      // The same shapes and bad cells always give the same placement (a resume finds its tiles).
      assert.deepEqual(placeTiles(layers, arrays, new Set([...avoid].reverse())).tiles, geo);
    }),
    { numRuns: 150, seed: 27 },
  );
});

test('yield-aware placement: the plain placement would have used the bad cells it reports, and none is used', () => {
  const l = [layer('big', 785, 32, 'diff')];
  const avoid = new Set(['0:5:7', '0:40:63', '1:0:0', '1:63:1']);
  const { tiles, report } = placeTiles(l, [0, 1], avoid);
  assert.equal(report.knownBad, 4);
  // 13 plain tiles alternate arrays 0,1 (7 on array 0, 6 on array 1; the 13th, on array 0, has 17 rows):
  // array 0's bad cells in rows 5 and 40 sit in its 6 full tiles + 1 (row 5 only) in the short one, array 1's in all 6.
  assert.equal(report.avoided, 6 * 2 + 1 + 6 * 2);
  assert.ok(report.layers[0].giveUp === 'rows', 'a 64-column layer gives up rows, not columns');
  // Two bad rows per array: blocks of 62 rows, all 64 columns.
  assert.deepEqual([report.layers[0].blockRows, report.layers[0].blockCols], [62, 64]);
  assert.equal(report.tiles, Math.ceil(785 / 62));
  for (const t of tileNet(l, tiles)) for (const k of avoid) {
    const [a, r, c] = k.split(':').map(Number);
    if (a === t.array) assert.equal(t.levels[r * 64 + c], UNUSED);
  }
});

test('board history: a cell is known bad by its last verdict (stuck, unformable, leaky, failed) or when out of band in two runs; a later ok clears a verdict', async () => {
  const store = new EmbeddedStore(mkdtempSync(join(tmpdir(), 'bh-')));
  const board = new EmulatedBoard({ seed: 3 }).info();
  const run = async (id: string, t0: number, events: Parameters<RunContext['emit']>[0][]) => {
    const ctx = new RunContext(id);
    const sink = new StoreSink(store, id).attach(ctx.events$);
    ctx.onFlush((d) => sink.flushSync(d));
    ctx.begin({ kind: 'program', params: {}, board });
    for (const e of events) ctx.emit(e);
    ctx.emit({ type: 'run-end', status: 'completed' });
    await sink.close();
    // Runs are ordered by their start time.
    const rec = store.getRun(id);
    store.writeRun({ ...rec, started: new Date(t0).toISOString() });
  };
  const done = (row: number, status: string, leaky = false) => ({ type: 'cell-done' as const, cell: { array: 0, row, col: 0 }, level: 1, target_A: 1e-5, outcome: { status: status as 'ok', pulses: 1, reads: 1, final_A: 1e-5, finalStepped_V: 1, ...(leaky ? { leaky: true as const } : {}) } });
  const oob = (row: number) => ({ type: 'warning' as const, code: 'out-of-band', cell: { array: 0, row, col: 0 }, message: 'x' });
  await run('20260101-000000-0001', 1e12, [done(1, 'stuck'), done(2, 'unformable'), done(3, 'ok', true), done(4, 'budget'), done(5, 'failed'), done(6, 'ok'), oob(6), oob(7)]);
  await run('20260101-000000-0002', 2e12, [done(5, 'ok'), oob(6), oob(8)]);
  const h = await boardHistory(store, board);
  assert.deepEqual([...h.bad.entries()].sort(), [['0:1:0', 'stuck'], ['0:2:0', 'unformable'], ['0:3:0', 'leaky'], ['0:6:0', 'out-of-band']]);
});
