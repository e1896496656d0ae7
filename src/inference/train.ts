/**
 * `rram train`: train a reference net (SGD with momentum 0.9 as seed 000; learning rate 0.01 and keras's batch 32 by default:
 * seed 000's stated 0.1 with momentum 0.9 plateaus or diverges on its CNNs, docs/benchmarks.md)
 * and save it with a report. Epoch shuffles come from our seeded RNG (tfjs's own shuffle uses
 * Math.random), so a (spec, seed) pair gives the same net on the same backend.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { Rng } from '../../lib/rng.js';
import { buildModel, inputShape, synapses, type ArchSpec } from './arch-spec.js';
import { toCrossbarNet, weightOps, synapseCount } from './crossbar-net.js';
import { pixelsOf, type Dataset, type Split } from './datasets.js';
import { mapLayer, SCHEMES, type Scheme } from './mapping.js';
import { nominalLevels } from './device-models.js';
import { saveModel } from './model-io.js';
import type { Tf } from './tf-backend.js';

export interface TrainOptions {
  arch: ArchSpec;
  epochs: number;
  seed: number;
  learningRate: number;
  momentum: number;
  batchSize: number;
  out: string;
  onEpoch?: (epoch: number, loss: number, acc: number) => void;
}

export interface TrainReport {
  format: 'rram-hil/train-report';
  arch: string;
  dataset: string;
  epochs: number;
  seed: number;
  optimizer: { kind: 'sgd-momentum'; learningRate: number; momentum: number; batchSize: number };
  synapses: number;
  arraysNeeded: Record<Scheme, { arrays: number; cells: number }>;
  trainAccuracy: number;
  testAccuracy: number;
  tfBackend: string;
  elapsed_s: number;
  created: string;
}

export function validateTrain(o: TrainOptions): void {
  if (!Number.isInteger(o.epochs) || o.epochs < 1 || o.epochs > 1000) throw new InvalidArgumentError('epochs', o.epochs, 'must be an integer in 1..1000');
  if (!(o.learningRate > 0)) throw new InvalidArgumentError('lr', o.learningRate, 'must be > 0');
  if (!(o.momentum >= 0 && o.momentum < 1)) throw new InvalidArgumentError('momentum', o.momentum, 'must be in [0, 1)');
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new InvalidArgumentError('batch-size', o.batchSize, 'must be a positive integer');
}

export function evaluate(tf: Tf, model: TF.LayersModel, split: Split, shape: number[]): number {
  return tf.tidy(() => {
    const x = tf.tensor(split.images, [split.n, ...shape]);
    const pred = (model.predict(x, { batchSize: 2000 }) as TF.Tensor).argMax(-1).dataSync();
    let c = 0;
    for (let i = 0; i < split.n; i++) if (pred[i] === split.labels[i]) c++;
    return c / split.n;
  });
}

/** Cells and 64x64 arrays a net needs under each mapping (weights + bias rows). */
export function arraysNeeded(model: TF.LayersModel): Record<Scheme, { arrays: number; cells: number }> {
  const ops = weightOps(toCrossbarNet(model));
  const lv = nominalLevels(8);
  const out = {} as Record<Scheme, { arrays: number; cells: number }>;
  for (const s of SCHEMES) {
    const m = ops.map((op) => mapLayer(op, lv, s));
    out[s] = { arrays: m.reduce((a, l) => a + l.arrays, 0), cells: m.reduce((a, l) => a + l.cells, 0) };
  }
  return out;
}

export async function train(tf: Tf, backend: string, ds: Dataset, o: TrainOptions): Promise<TrainReport> {
  validateTrain(o);
  const t0 = performance.now();
  if (ds.train.rows !== ds.train.cols) throw new InvalidArgumentError('dataset', ds.name, `images are ${ds.train.rows}x${ds.train.cols}; the net specs take square images`);
  const geometry = { side: ds.train.rows, channels: ds.train.channels };
  const shape = inputShape(o.arch, geometry);
  const px = pixelsOf(ds.train);
  const model = buildModel(tf, o.arch, o.seed, geometry);
  model.compile({ optimizer: tf.train.momentum(o.learningRate, o.momentum), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const count = synapseCount(toCrossbarNet(model));
  if (count !== synapses(o.arch, geometry)) throw new Error(`internal: model has ${count} synapses, spec says ${synapses(o.arch, geometry)}`);
  const rng = new Rng(o.seed);
  const n = ds.train.n;
  const order = Array.from({ length: n }, (_, i) => i);
  const xs = new Float32Array(n * px);
  const ys = new Float32Array(n * 10);
  for (let e = 0; e < o.epochs; e++) {
    rng.shuffle(order);
    ys.fill(0);
    order.forEach((src, i) => {
      xs.set(ds.train.images.subarray(src * px, src * px + px), i * px);
      ys[i * 10 + ds.train.labels[src]] = 1;
    });
    const x = tf.tensor(xs, [n, ...shape]);
    const y = tf.tensor2d(ys, [n, 10]);
    const h = await model.fit(x, y, { epochs: 1, batchSize: o.batchSize, shuffle: false, verbose: 0 });
    x.dispose();
    y.dispose();
    o.onEpoch?.(e + 1, Number(h.history.loss[0]), Number(h.history.acc?.[0] ?? h.history.accuracy?.[0]));
  }
  return saveTrained(tf, backend, model, ds, o, shape, t0);
}

/** Evaluates the trained model, saves it with its report.json (plus `extra`), and frees it. */
export async function saveTrained<X extends object>(tf: Tf, backend: string, model: TF.LayersModel, ds: Dataset, o: TrainOptions, shape: number[], t0: number, extra?: X): Promise<TrainReport & X> {
  const report = {
    format: 'rram-hil/train-report' as const,
    arch: o.arch.text,
    dataset: ds.name,
    epochs: o.epochs,
    seed: o.seed,
    optimizer: { kind: 'sgd-momentum' as const, learningRate: o.learningRate, momentum: o.momentum, batchSize: o.batchSize },
    synapses: synapseCount(toCrossbarNet(model)),
    arraysNeeded: arraysNeeded(model),
    trainAccuracy: evaluate(tf, model, ds.train, shape),
    testAccuracy: evaluate(tf, model, ds.test, shape),
    tfBackend: backend,
    elapsed_s: (performance.now() - t0) / 1000,
    created: new Date().toISOString(),
    ...(extra as X),
  };
  await saveModel(tf, model, o.out);
  writeFileSync(join(o.out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  model.dispose();
  return report;
}
