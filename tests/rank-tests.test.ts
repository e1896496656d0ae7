/** Spearman and Kruskal-Wallis against scipy 1.17's values for the same data (computed once, pasted here). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { kruskalWallis, ranks, spearman } from '../src/analysis/rank-tests.js';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('ranks give ties their average rank', () => {
  assert.deepEqual(ranks([10, 20, 20, 5, 30]), [2, 3.5, 3.5, 1, 5]);
});

test('spearman matches scipy.stats.spearmanr', () => {
  const a = spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]);
  close(a.rho, 0.8207826816681233, 1e-12, 'rho');
  close(a.p, 0.08858700531354384, 1e-9, 'p');
  const b = spearman([3.1, 1.2, 5.5, 2.2, 8.9, 7.7, 4.4, 6.0, 9.9, 0.5, 2.2, 7.7], [10, 20, 15, 30, 25, 60, 40, 35, 80, 5, 20, 55]);
  close(b.rho, 0.7152910870852872, 1e-12, 'rho (ties)');
  close(b.p, 0.008917902887036361, 1e-9, 'p (ties)');
  const c = spearman(Array.from({ length: 30 }, (_, i) => i), Array.from({ length: 30 }, (_, i) => (i * 7) % 13));
  close(c.rho, 0.08298972591670424, 1e-12, 'rho (n=30)');
  close(c.p, 0.662842370263471, 1e-9, 'p (n=30)');
});

test('kruskal-wallis matches scipy.stats.kruskal', () => {
  const a = kruskalWallis([[1, 3, 5, 7, 9], [2, 4, 6, 8, 10]]);
  close(a.h, 0.2727272727272734, 1e-12, 'H');
  close(a.p, 0.6015081344405895, 1e-9, 'p');
  const b = kruskalWallis([[1, 1, 1], [2, 2, 2], [2, 2]]);
  close(b.h, 7.0, 1e-12, 'H (ties)');
  close(b.p, 0.0301973834223185, 1e-9, 'p (ties)');
  const c = kruskalWallis([[95.1, 96.2, 94.8, 97.0, 96.5, 95.9], [97.2, 98.1, 97.9, 96.8, 98.4], [92.0, 93.5, 94.1, 92.8, 93.3, 95.0, 94.0]]);
  close(c.h, 14.222556390977445, 1e-10, 'H (3 groups)');
  close(c.p, 0.0008158515076419959, 1e-9, 'p (3 groups)');
  assert.equal(c.df, 2);
});

test('rank statistics are invariant under monotone transforms and bounded', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: -50, max: 50 }), fc.integer({ min: -50, max: 50 })), { minLength: 3, maxLength: 40 }), (pairs) => {
      const x = pairs.map((p) => p[0]);
      const y = pairs.map((p) => p[1]);
      const r = spearman(x, y);
      if (Number.isNaN(r.rho)) return new Set(x).size === 1 || new Set(y).size === 1;
      const r2 = spearman(x.map((v) => Math.exp(v / 10)), y.map((v) => v * 3 + 1));
      return Math.abs(r.rho - r2.rho) < 1e-9 && r.rho >= -1 - 1e-12 && r.rho <= 1 + 1e-12 && r.p >= 0 && r.p <= 1 + 1e-12;
    }),
  );
});

test('bad input is refused by name', () => {
  assert.throws(() => spearman([1, 2], [1, 2]), /spearman/);
  assert.throws(() => spearman([1, 2, 3], [1, 2]), /equal length/);
  assert.throws(() => kruskalWallis([[1, 2, 3]]), /kruskal-wallis/);
  assert.ok(Number.isNaN(kruskalWallis([[1, 1], [1, 1]]).h));
});
