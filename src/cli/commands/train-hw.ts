/**
 * `rram train ... --hw-aware DEVICE`: trains the plain net and the hardware-aware one (same seed,
 * shuffles, optimizer, epochs) and reports float, quantized and Monte Carlo accuracy of both side by
 * side. The hardware-aware net is saved in --out, the plain one in --out/plain.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import type { ArchSpec } from '../../inference/arch-spec.js';
import { toCrossbarNet } from '../../inference/crossbar-net.js';
import type { Dataset } from '../../inference/datasets.js';
import { hwAccuracy, trainHwAware, type HwAccuracy, type HwAwareInfo, type HwComparison } from '../../inference/hw-aware-train.js';
import { NoiseInjector, type HwNoiseSpec } from '../../inference/hw-noise.js';
import { parseScheme } from '../../inference/mapping.js';
import { loadModel } from '../../inference/model-io.js';
import type { Tf } from '../../inference/tf-backend.js';
import { train, type TrainOptions } from '../../inference/train.js';
import { bnnCrossbarNet, mergeBn } from '../../inference/bnn/model.js';
import { trainBnn, type BnnTrainOptions } from '../../inference/bnn/train.js';
import { trainingDevice } from '../hw-device.js';
import { printJson, table } from '../output.js';
import { Rng } from '../../../lib/rng.js';

export interface HwFlags {
  hwAware: string;
  levels?: number;
  mapping: string;
  clip?: number;
  trials: number;
  readNoise?: number;
  hwAwareShare: number;
  json?: boolean;
}

const pct = (x: number) => (100 * x).toFixed(2);

async function setup(f: HwFlags, seed: number, bnn: boolean): Promise<{ hw: HwNoiseSpec; info: HwAwareInfo }> {
  const levels = f.levels ?? (bnn ? 2 : 8);
  const d = await trainingDevice(f.hwAware, levels, { readNoise_A: f.readNoise, seed });
  const hw: HwNoiseSpec = { device: d.device, scheme: parseScheme(f.mapping), clip: f.clip };
  return { hw, info: { device: d.text, levels, mapping: hw.scheme, clip: f.clip ?? 1, share: f.hwAwareShare } };
}

function print(c: HwComparison): void {
  process.stdout.write(`${c.device}, ${c.levels} levels, ${c.mapping} mapping${c.clip < 1 ? `, clip ${c.clip}` : ''}, ${(100 * c.share).toFixed(0)} % of the batches on hardware weights: same seed ${c.seed} and ${c.epochs} epochs, ${c.images} test images, ${c.plain.trials} Monte Carlo trials\n`);
  const row = (name: string, a: HwAccuracy) => [name, pct(a.float), pct(a.quantized), `${pct(a.monteCarlo.mean)} (${pct(a.monteCarlo.p5)}..${pct(a.monteCarlo.p95)})`];
  process.stdout.write(table(['net', 'float %', 'quantized %', 'Monte Carlo mean (p5..p95) %'], [row('plain', c.plain), row('hardware-aware', c.hwAware)]));
  process.stdout.write(`hardware-aware - plain: Monte Carlo mean ${(100 * (c.hwAware.monteCarlo.mean - c.plain.monteCarlo.mean)).toFixed(2)} points, float ${(100 * (c.hwAware.float - c.plain.float)).toFixed(2)} points\n`);
}

/** Adds the comparison to the hardware-aware net's report.json and prints it. */
function finishReport(out: string, c: HwComparison, json: boolean | undefined): void {
  const f = join(out, 'report.json');
  const rep = JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
  writeFileSync(f, JSON.stringify({ ...rep, comparison: c }, null, 2) + '\n');
  if (json) printJson({ ...rep, comparison: c });
  else print(c);
}

/** Dense and conv nets (tfjs models). */
export async function trainHwCommand(tf: Tf, backend: string, ds: Dataset, o: TrainOptions & { arch: ArchSpec }, f: HwFlags): Promise<void> {
  const { hw, info } = await setup(f, o.seed, false);
  const plainDir = join(o.out, 'plain');
  mkdirSync(plainDir, { recursive: true });
  process.stderr.write(`rram: training the plain net (${plainDir}), then the hardware-aware one (${o.out}) on ${info.device}, ${info.levels} levels\n`);
  await train(tf, backend, ds, { ...o, out: plainDir });
  const r = await trainHwAware(tf, backend, ds, o, { ...hw, info });
  const mc = { trials: f.trials, seed: o.seed };
  const plain = await hwAccuracy(tf, backend, toCrossbarNet(await loadModel(tf, plainDir)), ds.test, hw, mc);
  const aware = await hwAccuracy(tf, backend, toCrossbarNet(await loadModel(tf, o.out)), ds.test, hw, mc);
  finishReport(o.out, { device: info.device, levels: info.levels, mapping: info.mapping, clip: info.clip, share: info.share, seed: o.seed, epochs: r.epochs, images: ds.test.n, plain, hwAware: aware }, f.json);
}

/** Binary nets: the crossbar holds the grid weights; noise from the device model on them, per batch. */
export async function trainBnnHwCommand(tf: Tf, backend: string, ds: Dataset, o: BnnTrainOptions & { out: string }, f: HwFlags): Promise<void> {
  if (f.clip !== undefined) throw new InvalidArgumentError('--clip', f.clip, 'a binary net\'s weights are on their grid: every level is used');
  const { hw, info } = await setup(f, o.seed, true);
  const plainDir = join(o.out, 'plain');
  process.stderr.write(`rram: training the plain binary net (${plainDir}), then the hardware-aware one (${o.out}) on ${info.device}, ${info.levels} levels\n`);
  const plainNet = (await trainBnn(tf, backend, ds, { ...o, out: plainDir })).model;
  const noise = new NoiseInjector(hw, o.seed);
  const pick = new Rng(o.seed ^ 0x4e015e);
  let hwBatch = false;
  let batchLayer = -1;
  const awareNet = (
    await trainBnn(tf, backend, ds, {
      ...o,
      perturb: (layer, grid, fanIn, units) => {
        // A new draw per batch (layer 0 starts each batch), on a share of the batches.
        if (layer <= batchLayer || batchLayer < 0) {
          hwBatch = info.share >= 1 || pick.uniform() < info.share;
          if (hwBatch) noise.next();
        }
        batchLayer = layer;
        return hwBatch ? noise.delta({ name: `bnn_${layer + 1}`, op: 'dense', fanIn, units, W: grid }) : new Float32Array(grid.length);
      },
    })
  ).model;
  const reportFile = join(o.out, 'report.json');
  writeFileSync(reportFile, JSON.stringify({ ...JSON.parse(readFileSync(reportFile, 'utf8')), hwAware: info }, null, 2) + '\n');
  const mc = { trials: f.trials, seed: o.seed };
  const plain = await hwAccuracy(tf, backend, bnnCrossbarNet(mergeBn(plainNet, 'signed')), ds.test, hw, mc);
  const aware = await hwAccuracy(tf, backend, bnnCrossbarNet(mergeBn(awareNet, 'signed')), ds.test, hw, mc);
  finishReport(o.out, { device: info.device, levels: info.levels, mapping: info.mapping, clip: 1, share: info.share, seed: o.seed, epochs: o.epochs, images: ds.test.n, plain, hwAware: aware }, f.json);
}
