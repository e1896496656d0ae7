/**
 * Monte Carlo results of any size up to the cap (issue 25: `--trials 200000` ran every trial, then
 * overflowed the stack summarizing them, and the result was lost). Every consumer of the per-trial
 * accuracies handles MAX_TRIALS of them; above the cap is refused before any work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accuracyHistogram, MAX_TRIALS, summarize } from '../src/inference/monte-carlo.js';
import { report } from '../src/inference/prediction.js';
import { extent } from '../src/analysis/stats.js';
import { csv, table } from '../src/cli/output.js';
import { Rng } from '../lib/rng.js';

test(`summaries, histograms, predictions and CSV of ${MAX_TRIALS} trials: no recursion limit, same answers as a direct count`, () => {
  const rng = new Rng(25);
  const acc = Array.from({ length: MAX_TRIALS }, () => 0.9 + 0.05 * rng.normal());
  const [lo, hi] = extent(acc);
  let min = Infinity;
  let max = -Infinity;
  for (const a of acc) {
    min = a < min ? a : min;
    max = a > max ? a : max;
  }
  assert.deepEqual([lo, hi], [min, max]);
  const s = summarize(acc);
  assert.equal(s.min, min);
  assert.equal(s.max, max);
  const h = accuracyHistogram(acc);
  assert.equal(h.reduce((n, b) => n + b.count, 0), MAX_TRIALS, 'every trial in one bin');
  assert.equal(h[0].lo, min);
  const r = report({ accuracies: acc, summary: s, trials: acc.length }, 0.9);
  assert.ok(r.readbackPercentile > 0.45 && r.readbackPercentile < 0.55, `read-back at the median: percentile ${r.readbackPercentile}`);
  const text = csv([['trial', 'accuracy'], ...acc.map((a, i) => [i, a])]);
  assert.equal(text.split('\n').length, MAX_TRIALS + 2);
  assert.ok(table(['k'], acc.slice(0, 200000).map((a) => [a])).length > 0);
});
