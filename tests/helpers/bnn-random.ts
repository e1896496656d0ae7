/** A binary net with random weights and batch norm (seeded): for tests of the plumbing around nets, not of training. */
import { Rng } from '../../lib/rng.js';
import type { BnnModel } from '../../src/inference/bnn/model.js';
import { parseBnn, quantizeWeight, weightGrid } from '../../src/inference/bnn/spec.js';

export function randomNet(seed: number, sizes: number[], weightBits: number, actBits: number, equalScale = false): BnnModel {
  const rng = new Rng(seed);
  const g = weightGrid(weightBits);
  const spec = parseBnn(`bnn:${sizes.join('-')}`, { crop: Math.round(Math.sqrt(sizes[0])), weightBits, actBits });
  return {
    format: 'rram-hil/bnn',
    version: 1,
    spec,
    layers: sizes.slice(1).map((units, l) => {
      const fanIn = sizes[l];
      const variance = Array.from({ length: units }, () => 1 + rng.uniform() * fanIn);
      return {
        fanIn,
        units,
        W: Array.from({ length: fanIn * units }, () => quantizeWeight(g.min + rng.uniform() * (g.max - g.min + 1) - 0.5, weightBits)),
        bn: {
          gamma: variance.map((v) => (equalScale ? 0.7 * Math.sqrt(v + 1e-4) : (rng.uniform() < 0.2 ? -1 : 1) * (0.2 + rng.uniform()))),
          beta: Array.from({ length: units }, () => rng.normal() * 0.5),
          mean: Array.from({ length: units }, () => rng.normal() * Math.sqrt(fanIn)),
          variance,
          eps: 1e-4,
        },
      };
    }),
  };
}
