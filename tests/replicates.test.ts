/** `--replicates K` (issue 30): seeds per replicate, and the K results merged into mean ± sd, checked over random tables. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { replicateKey, replicateSeed } from '../lib/replicate-seed.js';
import { mergeReplicates, mergeText, replicateOf, rowsOfReplicate } from '../src/studies/replicates.js';
import type { StudyResult } from '../src/studies/study-output.js';

test('replicate seeds: replicate 0 keeps the study seed, the others are distinct 32-bit seeds that depend on nothing else', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4294967295 }), fc.integer({ min: 2, max: 30 }), (seed, k) => {
      const seeds = Array.from({ length: k }, (_, r) => replicateSeed(seed, r));
      assert.equal(seeds[0], seed);
      assert.equal(new Set(seeds).size, k);
      assert.ok(seeds.every((s) => Number.isInteger(s) && s >= 0 && s <= 4294967295));
      assert.deepEqual(Array.from({ length: k }, (_, r) => replicateSeed(seed, r)), seeds);
      for (let r = 0; r < k; r++) assert.deepEqual(replicateOf(replicateKey(`L16_dr10_v${r}%`, r)), { key: `L16_dr10_v${r}%`, replicate: r });
    }),
  );
});

const sd = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
};

test('merged tables: a cell the seeds agree on stays as it is; one they differ on becomes mean ± sample sd in its own precision', () => {
  const cell = fc.oneof(fc.integer({ min: -500, max: 500 }).map((x) => x / 100), fc.constantFrom('-', 'FP', 'n/a'));
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 6 }), fc.array(fc.array(cell, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 4 }), fc.array(fc.array(fc.boolean(), { maxLength: 4 }), { maxLength: 4 }), fc.infiniteStream(fc.integer({ min: -300, max: 300 })), (k, base, vary, noise) => {
      const it = noise[Symbol.iterator]();
      // Replicate r: the base table, with some numeric cells moved by seed-dependent amounts.
      const tables = Array.from({ length: k }, (_, r) => base.map((row, i) => row.map((c, j) => (typeof c === 'number' && vary[i]?.[j] && r > 0 ? +(c + it.next().value / 100).toFixed(2) : c))));
      const res = (rows: (string | number)[][]): Omit<StudyResult, 'points'> => ({ format: 'rram-hil/study', version: 1, study: 't', params: { study: 't' }, tables: [{ id: 'x', title: 'T', header: base[0].map((_, j) => `c${j}`), rows, notes: [] }], figures: [], checks: [], elapsed_s: 0 });
      const merged = mergeReplicates(tables.map(res)).tables[0];
      base.forEach((row, i) =>
        row.forEach((_, j) => {
          const vals = tables.map((t) => t[i][j]);
          const got = merged.rows[i][j];
          if (vals.every((v) => v === vals[0])) assert.equal(got, vals[0]);
          else {
            const xs = vals as number[];
            // The inputs' own precision: as many decimals as the most precise of them.
            const d = Math.max(...xs.map((x) => String(x).split('.')[1]?.length ?? 0));
            const m = new RegExp(`^(-?\\d+${d ? `\\.\\d{${d}}` : ''}) ± (\\d+${d ? `\\.\\d{${d}}` : ''})$`).exec(String(got));
            assert.ok(m, `cell ${i},${j}: ${got} from ${vals}`);
            const tol = 0.5 * 10 ** -d + 1e-9;
            assert.ok(Math.abs(Number(m[1]) - xs.reduce((a, b) => a + b, 0) / k) <= tol, `${got} mean of ${xs}`);
            assert.ok(Math.abs(Number(m[2]) - sd(xs)) <= tol, `${got} sd of ${xs}`);
          }
        }),
      );
      assert.match(merged.notes.at(-1)!, new RegExp(`over ${k} seeds`));
    }),
  );
});

test('merged text, figures and checks: numbers merged in place, shared coordinates exact, a claim holds only for every seed', () => {
  assert.equal(mergeText(['mean 90.50 % at 16 levels', 'mean 91.50 % at 16 levels']), 'mean 91.00 ± 0.71 % at 16 levels');
  assert.equal(mergeText(['p 1.2e-5 (n 8)', 'p 3.4e-5 (n 8)']), 'p 2.30e-5 ± 1.6e-5 (n 8)');
  assert.equal(mergeText(['a 1', 'b 2']), 'seed 1: a 1 | seed 2: b 2');
  const r = (acc: number[], holds: boolean): Omit<StudyResult, 'points'> => ({
    format: 'rram-hil/study',
    version: 1,
    study: 't',
    params: { study: 't' },
    tables: [],
    figures: [
      { id: 'heat', title: 'h', kind: 'heatmap', x: 'l', y: 'h', series: [{ name: 'm', points: [[0.05, 0.01, acc[0]], [0.1, 0.01, acc[1]]] }] },
      { id: 'hist', title: 'h', kind: 'histogram', x: 'a', y: 'n', series: [{ name: 's', points: acc.map((a) => [a]) }] },
      { id: 'cdf', title: 'c', kind: 'cdf', x: 'a', y: 'p', series: [{ name: 's', points: acc.map((a, i) => [a, (i + 1) / acc.length]) }] },
    ],
    checks: [{ claim: 'falls', measured: `${acc[0]} > ${acc[1]}`, holds }],
    elapsed_s: 0,
  });
  const m = mergeReplicates([r([0.9, 0.8], true), r([0.7, 0.6], false), r([0.8, 0.7], true)]);
  const heat = m.figures[0].series[0].points;
  assert.deepEqual(heat.map((p) => [p[0], p[1]]), [[0.05, 0.01], [0.1, 0.01]], 'coordinates exact');
  assert.ok(Math.abs(Number(heat[0][2]) - 0.8) < 1e-12 && Math.abs(Number(heat[1][2]) - 0.7) < 1e-12);
  assert.equal(m.figures[1].series[0].points.length, 6, 'histograms pool every seed\'s trials');
  assert.deepEqual(m.figures[2].series[0].points.map((p) => p[1]), [1, 2, 3, 4, 5, 6].map((i) => i / 6));
  assert.deepEqual(m.checks, [{ claim: 'falls', measured: '0.8 ± 0.1 > 0.7 ± 0.1 (holds for 2 of 3 seeds)', holds: false }]);
  // Rows of a replicate: its own where it has them, replicate 0's noise-free rows elsewhere.
  const rows = [{ key: 'a', v: 0 }, { key: 'b', v: 0 }, { key: 'b@r1', v: 1 }, { key: 'b@r2', v: 2 }];
  for (const k of [0, 1, 2]) assert.deepEqual(rowsOfReplicate(rows, k), [{ key: 'a', v: 0 }, { key: 'b', v: k }]);
});
