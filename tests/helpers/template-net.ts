/** A small working net with no training, for tests that need accuracy to move (tests/drift-compensation, ir-drop). */
import type { CrossbarNet } from '../../src/inference/crossbar-net.js';
import { loadDataset } from '../../src/inference/datasets.js';

/**
 * A two-layer net with no training: hidden unit c = ReLU(image . (class-c mean - mean image)),
 * the output the identity on the hidden units (62 % on MNIST at 8 levels: far above chance, which
 * is all a loss needs). Built from the training split.
 */
export function templateNet(): CrossbarNet {
  const tr = loadDataset('mnist').train;
  const n = 6000;
  const mean = Array.from({ length: 10 }, () => new Float64Array(784));
  const all = new Float64Array(784);
  const count = new Float64Array(10);
  for (let i = 0; i < n; i++) {
    const y = tr.labels[i];
    count[y]++;
    for (let p = 0; p < 784; p++) mean[y][p] += tr.images[i * 784 + p];
  }
  mean.forEach((m, c) =>
    m.forEach((v, p) => {
      all[p] += v / n;
      m[p] = v / count[c];
    }),
  );
  const W1 = new Float32Array(785 * 10);
  for (let p = 0; p < 784; p++) for (let c = 0; c < 10; c++) W1[p * 10 + c] = mean[c][p] - all[p];
  const W2 = new Float32Array(11 * 10);
  for (let c = 0; c < 10; c++) W2[c * 10 + c] = 1;
  return {
    inputShape: [784],
    ops: [
      { op: 'dense', name: 'templates', fanIn: 784, units: 10, W: W1, act: 'relu' },
      { op: 'dense', name: 'out', fanIn: 10, units: 10, W: W2, act: 'linear' },
    ],
  };
}
