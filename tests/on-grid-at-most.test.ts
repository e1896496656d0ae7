/** A drive voltage put on the DAC grid never rounds past the board's limit (a HELLO limit need not lie on the grid). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { onGrid, onGridAtMost } from '../drivers/limits.js';

test('onGridAtMost: on the grid, never above the limit, within one step below the wanted value', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 50000 }), fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 600000 }), (maxUV, stepUV, vUV) => {
      const max = maxUV / 1e6;
      const step = stepUV / 1e6;
      const v = vUV / 1e6;
      const g = onGridAtMost(v, max, step);
      assert.ok(g <= max + 1e-12, `${g} above ${max}`);
      assert.equal(onGrid(g, step), g, 'on the grid');
      assert.ok(g >= Math.min(v, max) - step - 1e-12, `${g} more than a step below ${Math.min(v, max)}`);
    }),
    { numRuns: 2000 },
  );
});
