/** `rram study levels-variation | crossbar`: Monte Carlo studies of one trained net (seeds 001 and 002). */
import { MAX_TRIALS } from '../../inference/monte-carlo.js';
import { listItems } from '../../io/number-table.js';
import type { Command } from 'commander';
import { addAgingFromFlags, measuredAging, type AgingFromFlags } from '../aging-flags.js';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { weightOps } from '../../inference/crossbar-net.js';
import { loadDataset, parseDatasetName } from '../../inference/datasets.js';
import { loadMeasuredLevels, parseDeviceSpec } from '../../inference/device-models.js';
import { checkModelData, loadNet } from '../../inference/load-net.js';
import { MAX_LEVELS, MAX_TILE, MIN_TILE, parseQuantizer, parseScheme } from '../../inference/mapping.js';
import { initTf, tf } from '../../inference/tf-backend.js';
import { crossbarPoints, crossbarResult, deterministic, type CrossbarParams } from '../../studies/crossbar.js';
import { levelsVariationPoints, levelsVariationResult, type LevelsVariationParams } from '../../studies/levels-variation.js';
import type { McPoint, PointRow } from '../../studies/mc-point.js';
import { PointStore, type StudyParams } from '../../studies/point-store.js';
import { runStudyJobs } from '../../studies/run-jobs.js';
import { mcPointTask } from '../../studies/mc-point-job.js';
import { MAX_REPLICATES, mergeReplicates, replicateKey, replicateOf, replicateSeed, rowsOfReplicate } from '../../studies/replicates.js';
import { fileDigest, JobResources, modelDigest, splitDigest } from '../../inference/job-resources.js';
import type { QueueUrl } from '../../queue/redis-url.js';
import { executorFor, queueOption } from './run-where.js';
import { writeStudy, studyMarkdown, type StudyResult } from '../../studies/study-output.js';
import { csv, printJson } from '../output.js';
import { writeFileSync } from 'node:fs';
import { writeFolderFiles } from '../../io/folder-files.js';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArch } from '../../inference/arch-spec.js';
import { defaultArchs, synapseBudgetResult, TABLE_IDS, type NetRow, type SynapseBudgetParams } from '../../studies/synapse-budget.js';
import { netDir, synapseNetTask, type SynapseNetResult } from '../../studies/synapse-budget-run.js';
import { current, durations, fractionList, num, numList } from '../parse.js';

interface Common {
  model?: string;
  dataset?: string;
  data?: string;
  trials?: number;
  seed?: number;
  images?: number;
  workers?: number;
  replicates: number;
  queue?: QueueUrl;
  out?: string;
  resume?: string;
  json?: boolean;
}

/** Loads the net and data of a study's params, runs its points, writes and prints the result. */
type McParams = StudyParams & { model: string; dataset: string; trials: number; seed: number; images?: number; device?: string; replicates?: number };

interface McGrid {
  points: McPoint[];
  trialsFor: (p: McPoint) => number;
  /** Noise-free points: the same for every seed, so run once and shared by the replicates. */
  deterministic: (p: McPoint) => boolean;
}

async function runMcStudy<P extends McParams>(
  studyName: string,
  params: P | undefined,
  f: Common,
  dir: string,
  build: (p: P, weightLayers: number) => McGrid,
  result: (p: P, rows: PointRow[], layers: { name: string; op: 'dense' | 'conv' }[], elapsed: number) => Omit<StudyResult, 'points'>,
): Promise<void> {
  const t0 = performance.now();
  const exec = await executorFor(f);
  // --resume: the stored options, whatever the command line says now.
  const store = PointStore.open<PointRow>(dir, params, studyName);
  const p = store.params as P;
  const resources = new JobResources();
  const test = resources.testSplit({ name: p.dataset }, f.data);
  const { net } = await resources.net(resolve(p.model), undefined, { test, images: p.images });
  for (const w of checkModelData(p.model, p.dataset, test, net)) process.stderr.write(`rram: warning: ${w}\n`);
  const ops = weightOps(net);
  const grid = build(p, ops.length);
  const inputs = { model: modelDigest(p.model), dataset: { name: p.dataset, digest: splitDigest(test) }, device: p.device ? fileDigest(p.device) : undefined };
  const where = { model: p.model, data: f.data, device: p.device };
  const k = p.replicates ?? 1;
  const tasks = Array.from({ length: k }, (_, r) => grid.points.filter((x) => r === 0 || !grid.deterministic(x))).flatMap((pts, r) =>
    pts.map((x) => mcPointTask({ study: p, point: { ...x, key: replicateKey(x.key, r) }, seed: replicateSeed(p.seed, r), trials: grid.trialsFor(x), images: p.images, inputs }, where)),
  );
  const rows = await runStudyJobs(store, tasks, exec(resources), { label: `study ${p.study}`, describe: (r: PointRow) => `mean ${(100 * r.summary.mean).toFixed(2)} % over ${r.trials} trial(s)` });
  const layers = ops.map((o) => ({ name: o.name, op: o.op }));
  const elapsed = (performance.now() - t0) / 1000;
  const merged = k === 1 ? result(p, rows, layers, elapsed) : mergeReplicates(Array.from({ length: k }, (_, r) => result(p, rowsOfReplicate(rows, r), layers, elapsed)));
  const res: StudyResult = { ...merged, points: rows.length };
  const files = writeStudy(dir, res, rows);
  if (f.json) printJson(res);
  else process.stdout.write(studyMarkdown(res) + `\nwrote ${dir}: ${files.join(', ')}\n`);
}

/** Stored only when above 1: a single-seed study keeps the params.json it always had (and resumes old folders). */
const replicatesOf = (f: { replicates: number }) => (f.replicates > 1 ? { replicates: f.replicates } : {});

const common = (c: Command, trials: number) =>
  c
    .option('--model <dir>', 'trained model folder (rram train --out)')
    .option('--dataset <name>', 'mnist | fashion | cifar10 (test split; cifar10 needs --data DIR)')
    .option('--data <dir>', 'folder with the data set files')
    .option('--trials <n>', 'Monte Carlo trials per point (noise-free points run once)', num('--trials', { int: true, min: 1, max: MAX_TRIALS }), trials)
    .option('--seed <n>', 'seed of every point (the same trial draws across points)', num('--seed', { min: 0, max: 4294967295, int: true }), 1)
    .option('--replicates <k>', 'seeds per point: tables show mean ± sd over them (replicate 0 uses --seed)', num('--replicates', { int: true, min: 1, max: MAX_REPLICATES }), 1)
    .option('--images <n>', 'use only the first N test images', num('--images', { int: true, min: 1 }))
    .option('--workers <n>', 'worker threads per point (default: cores; in process only)', num('--workers', { int: true, min: 1, max: 64 }))
    .option('--queue <url>', 'run the points on rram workers through Redis: redis://HOST:PORT[/DB] (docs/queue.md)', queueOption)
    .option('--out <dir>', 'study folder (params.json, points.ndjson, points.csv, study.json, study.md)')
    .option('--resume <dir>', 'continue the study in DIR with its own options (finished points are kept)')
    .option('--json', 'print the study result as JSON');

/** --out or --resume, and the required flags of a fresh study. */
function target(f: Common, name: string): { dir: string; fresh: boolean } {
  if (f.resume && f.out) throw new InvalidArgumentError('--resume', f.resume, 'takes the folder itself: drop --out');
  if (f.resume) return { dir: f.resume, fresh: false };
  if (!f.model) throw new InvalidArgumentError('--model', '(missing)', `rram study ${name} needs --model DIR (or --resume DIR)`);
  if (!f.dataset) throw new InvalidArgumentError('--dataset', '(missing)', `rram study ${name} needs --dataset (or --resume DIR)`);
  parseDatasetName(f.dataset);
  return { dir: f.out ?? `study-${name}`, fresh: true };
}

export function registerMcStudies(study: Command): void {
  common(
    study
      .command('levels-variation')
      .description('seed 001: post-training quantization x dynamic range x variation (Table 1, Figs. 5-9, Table 2)')
      .option('--levels <list>', `quantization levels (2..${MAX_LEVELS})`, numList('--levels', { int: true, min: 2, max: MAX_LEVELS }), [4, 8, 16, 32, 64, 128])
      .option('--variation <list>', 'programming variation (relative sigma), e.g. 0,5%,10%,20%,30%', fractionList('--variation'), [0, 0.05, 0.1, 0.2, 0.3])
      .option('--dynamic-range <list>', 'on/off ratios', numList('--dynamic-range', { min: 1.000001 }), [10, 100, 1000])
      .option('--distribution <d>', 'truncnorm (the paper\'s, mu +- sigma) | gaussian | lognormal | cdf (the measured --device level-CDF, its spread scaled to each variation)', 'truncnorm')
      .option('--device <file>', 'level-CDF file for --distribution cdf (its levels replace --dynamic-range)')
      .option('--quantizer <q>', 'histogram-bins (the paper\'s) | nearest', 'histogram-bins')
      .option('--mapping <scheme>', 'signed (the paper\'s: one cell per weight against a reference) | diff | offset', 'signed')
      .option('--table2-levels <n>', 'Table 2 (whole net vs one layer at a time) at this many levels; 0 skips it', num('--table2-levels', { int: true, min: 0, max: MAX_LEVELS }), 16),
    1000,
  ).action(async (f: Common & { levels: number[]; variation: number[]; dynamicRange: number[]; distribution: string; device?: string; quantizer: string; mapping: string; table2Levels: number }) => {
    const { dir, fresh } = target(f, 'levels-variation');
    if (!fresh) return runMcStudy<LevelsVariationParams>('levels-variation', undefined, f, dir, lvBuild, lvResult);
    if (!['truncnorm', 'gaussian', 'lognormal', 'cdf'].includes(f.distribution)) throw new InvalidArgumentError('--distribution', f.distribution, 'must be truncnorm, gaussian, lognormal or cdf');
    if ((f.distribution === 'cdf') !== !!f.device) throw new InvalidArgumentError(f.device ? '--device' : '--distribution', f.device ?? f.distribution, '--distribution cdf and --device FILE go together');
    if (f.device) {
      const spec = parseDeviceSpec(f.device);
      if (spec.kind !== 'empirical') throw new InvalidArgumentError('--device', f.device, 'must be a level-CDF file (parametric spreads are --distribution)');
      const have = loadMeasuredLevels(spec.file!).pools.length;
      const over = f.levels.filter((L) => L > have);
      if (over.length) throw new InvalidArgumentError('--levels', over.join(','), `the level-CDF file has ${have} levels`);
    }
    const quantizer = parseQuantizer(f.quantizer);
    const mapping = parseScheme(f.mapping);
    if (quantizer === 'histogram-bins' && mapping !== 'signed') throw new InvalidArgumentError('--quantizer', quantizer, 'puts one cell per weight against a reference: use --mapping signed');
    const params: LevelsVariationParams = { study: 'levels-variation', model: f.model ?? '', dataset: f.dataset ?? '', levels: f.levels, variation: f.variation, dynamicRange: f.device ? [] : f.dynamicRange, distribution: f.distribution as 'truncnorm', device: f.device, quantizer, mapping, trials: f.trials!, seed: f.seed!, images: f.images, table2Levels: f.table2Levels, ...replicatesOf(f) };
    await runMcStudy('levels-variation', params, f, dir, lvBuild, lvResult);
  });

  common(
    addAgingFromFlags(study.command('crossbar'))
      .description('seed 002: tile size x ADC bits, sigma x conduction states, stuck-at HRS x LRS, max input voltage, endurance, retention')
      .option('--tiles <list>', `crossbar sides (${MIN_TILE}..${MAX_TILE})`, numList('--tiles', { int: true, min: MIN_TILE, max: MAX_TILE }), [64, 128, 256])
      .option('--adc-bits <list>', 'ADC resolutions', numList('--adc-bits', { int: true, min: 1, max: 16 }), [2, 4, 6, 8, 10])
      .option('--stuck-grid <list>', 'stuck-at rates for both HRS and LRS, e.g. 0,1%,5%', fractionList('--stuck-grid'), [0, 0.01, 0.05])
      .option('--sigma <list>', 'relative device variation, e.g. 0,5%,10%,20%', fractionList('--sigma'), [0, 0.05, 0.1, 0.2])
      .option('--states <list>', `conduction states (2..${MAX_LEVELS})`, numList('--states', { int: true, min: 2, max: MAX_LEVELS }), [2, 4, 8, 16, 32])
      .option('--levels <n>', 'levels of the tile/ADC, stuck-at, voltage and aging points', num('--levels', { int: true, min: 2, max: MAX_LEVELS }), 32)
      .option('--mapping <scheme>', 'diff | offset | signed', 'diff')
      .option('--max-input-V <list>', 'input voltages for Fig. 13, e.g. 0.02,0.05,0.1,0.2,0.5,1 ("none" skips them)', (raw: string) => (raw.trim() === 'none' ? [] : numList('--max-input-V', { min: 1e-6, max: 100 })(raw)), [0.02, 0.05, 0.1, 0.2, 0.5, 1])
      .option('--read-noise <current>', 'read noise (at 0.2 V) the input voltage acts against (default 1uA)', current('--read-noise'), 1e-6)
      .option('--endurance <cycles>', 'set/reset cycles of the endurance point', num('--endurance', { min: 0 }), 1e4)
      .option('--endurance-tau <cycles>', 'cycles over which the window shrinks by 1/e', num('--endurance-tau', { min: 1 }), 1e4)
      .option('--retention <time>', 'time of the retention point', durations('--retention'), [1e4])
      .option('--drift-nu <nu>', 'drift coefficient', num('--drift-nu', { min: 0, max: 10 }), 0.1)
      .option('--drift-nu-sigma <s>', 'device-to-device spread of nu', num('--drift-nu-sigma', { min: 0, max: 10 }), 0.02),
    100,
  ).action(async function (this: Command, f: Common & AgingFromFlags & { tiles: number[]; adcBits: number[]; stuckGrid: number[]; sigma: number[]; states: number[]; levels: number; mapping: string; maxInputV: number[]; readNoise: number; endurance: number; enduranceTau: number; retention: number[]; driftNu: number; driftNuSigma: number }) {
    const { dir, fresh } = target(f, 'crossbar');
    if (!fresh) return runMcStudy<CrossbarParams>('crossbar', undefined, f, dir, cbBuild, cbResult);
    if (f.retention.length !== 1) throw new InvalidArgumentError('--retention', f.retention.join(','), 'takes one time');
    const stated = { endurance: { cycles: f.endurance, tau: f.enduranceTau }, retention: { t_s: f.retention[0], nu: f.driftNu, nuSigma: f.driftNuSigma } };
    const aging = measuredAging(f, (k) => this.getOptionValueSource(k) === 'cli', stated, { cycles: f.endurance, t_s: f.retention[0] });
    const params: CrossbarParams = {
      study: 'crossbar',
      model: f.model!,
      dataset: f.dataset!,
      mapping: parseScheme(f.mapping),
      levels: f.levels,
      tiles: f.tiles,
      adcBits: f.adcBits,
      stuckGrid: f.stuckGrid,
      sigma: f.sigma,
      states: f.states,
      maxInputV: f.maxInputV,
      readNoise_A: f.readNoise,
      endurance: aging.endurance ?? stated.endurance,
      retention: aging.retention ?? stated.retention,
      trials: f.trials!,
      seed: f.seed!,
      images: f.images,
      ...replicatesOf(f),
    };
    await runMcStudy('crossbar', params, f, dir, cbBuild, cbResult);
  });
}

/** "2..8" or "2,4,8". */
function levelRange(raw: string): number[] {
  const m = /^\s*(\d+)\s*\.\.\s*(\d+)\s*$/.exec(raw);
  if (m) {
    const [a, b] = [Number(m[1]), Number(m[2])];
    if (a < 2 || b > MAX_LEVELS || b < a) throw new InvalidArgumentError('--levels', raw, `a range must ascend within 2..${MAX_LEVELS}`);
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  }
  return numList('--levels', { int: true, min: 2, max: MAX_LEVELS })(raw);
}

export function registerSynapseBudget(study: Command): void {
  study
    .command('synapse-budget')
    .description('seed 000: FdNN and CNN architectures under the 4096 / 8192 synapse budgets, full precision and 2..8 levels, Spearman and Kruskal-Wallis (Tables 1-12)')
    .option('--dataset <list>', 'mnist,fashion (cifar10 with --data cifar10=DIR)', 'mnist,fashion')
    .option('--data <list>', 'data folders per set, e.g. mnist=DIR,fashion=DIR')
    .option('--levels <range>', 'level counts, e.g. 2..8 or 2,4,8', levelRange, [2, 3, 4, 5, 6, 7, 8])
    .option('--archs <list>', 'architectures separated by ";" (default: those of Tables 4, 5, 7 and 12)')
    .option('--tables <list>', 'take the architectures of these tables (4, 5, 7, 12)', '4,5,7,12')
    .option('--epochs <n>', 'training epochs per net', num('--epochs', { int: true, min: 1, max: 1000 }), 5)
    .option('--batch-size <n>', 'training mini-batch', num('--batch-size', { int: true, min: 1 }), 32)
    .option('--lr <x>', 'SGD learning rate (momentum 0.9), as rram train', num('--lr', { min: 0 }), 0.01)
    .option('--device <spec>', 'level values and spread: ideal | gaussian:5% | a level-CDF file ...', 'ideal')
    .option('--mapping <scheme>', 'diff | offset | signed', 'diff')
    .option('--trials <n>', 'Monte Carlo trials per net and level count (ideal devices: 1)', num('--trials', { int: true, min: 1, max: MAX_TRIALS }), 20)
    .option('--seed <n>', 'seed of every net and trial', num('--seed', { min: 0, max: 4294967295, int: true }), 1)
    .option('--images <n>', 'evaluate quantized nets on the first N test images', num('--images', { int: true, min: 1 }))
    .option('--workers <n>', 'worker threads per Monte Carlo', num('--workers', { int: true, min: 1, max: 64 }))
    .option('--trainers <n>', 'nets trained at once, each in a worker thread (default: cores; in process only)', num('--trainers', { int: true, min: 1, max: 64 }))
    .option('--replicates <k>', 'seeds per net: tables show mean ± sd over them (replicate 0 uses --seed)', num('--replicates', { int: true, min: 1, max: MAX_REPLICATES }), 1)
    .option('--queue <url>', 'train and evaluate the nets on rram workers through Redis: redis://HOST:PORT[/DB] (docs/queue.md)', queueOption)
    .option('--out <dir>', 'study folder (nets/, points.ndjson, study.json, study.md, points.csv)')
    .option('--resume <dir>', 'continue the study in DIR with its own options')
    .option('--json', 'print the study result as JSON')
    .action(async (f: { dataset: string; data?: string; levels: number[]; archs?: string; tables: string; epochs: number; batchSize: number; lr: number; device: string; mapping: string; trials: number; seed: number; images?: number; workers?: number; trainers?: number; replicates: number; queue?: QueueUrl; out?: string; resume?: string; json?: boolean }) => {
      if (f.resume && f.out) throw new InvalidArgumentError('--resume', f.resume, 'takes the folder itself: drop --out');
      const dir = f.resume ?? f.out ?? 'study-synapse-budget';
      let params: SynapseBudgetParams | undefined;
      if (!f.resume) {
        const datasets = listItems('--dataset', f.dataset).map((s) => parseDatasetName(s));
        const tables = listItems('--tables', f.tables);
        for (const t of tables) if (!TABLE_IDS.includes(t)) throw new InvalidArgumentError('--tables', f.tables, `table ${t} is not one of ${TABLE_IDS.join(', ')}`);
        const archs = f.archs ? f.archs.split(';').map((s) => s.trim()).filter(Boolean) : defaultArchs(tables);
        archs.forEach((a) => parseArch(a));
        parseDeviceSpec(f.device);
        params = { study: 'synapse-budget', datasets, archs, levels: f.levels, device: f.device, mapping: parseScheme(f.mapping), epochs: f.epochs, batchSize: f.batchSize, learningRate: f.lr, trials: f.trials, seed: f.seed, images: f.images, ...replicatesOf(f) };
      }
      const data: Record<string, string> = {};
      for (const kv of f.data ? listItems('--data', f.data) : []) {
        const [k, v] = kv.split('=');
        if (!v) throw new InvalidArgumentError('--data', f.data, 'expected name=DIR pairs, e.g. mnist=/data/mnist');
        data[parseDatasetName(k.trim())] = v.trim();
      }
      const t0 = performance.now();
      const exec = await executorFor(f);
      const store = PointStore.open<NetRow>(dir, params, 'synapse-budget');
      const p = store.params as SynapseBudgetParams;
      const resources = new JobResources();
      const k = p.replicates ?? 1;
      const device = parseDeviceSpec(p.device).kind === 'empirical' ? { digest: fileDigest(p.device), path: p.device } : undefined;
      const refs = Object.fromEntries(p.datasets.map((d) => [d, { name: d, digest: splitDigest(resources.testSplit({ name: d }, data[d])) }]));
      const tasks = Array.from({ length: k }, (_, r) =>
        p.datasets.flatMap((d) =>
          p.archs.map((a) => {
            const key = replicateKey(`${d}/${a}`, r);
            return synapseNetTask({ study: p, key, dataset: d, arch: a, seed: replicateSeed(p.seed, r), inputs: { dataset: refs[d], device: device?.digest } }, { data: data[d], device: device?.path, net: netDir(dir, d, a, r) });
          }),
        ),
      ).flat();
      const rows = await runStudyJobs(store, tasks, exec(resources, f.trainers ?? availableParallelism()), {
        label: 'study synapse-budget',
        unit: 'nets',
        noun: 'nets',
        accept: (key, result) => {
          const { row, files } = result as SynapseNetResult;
          const { replicate } = replicateOf(key);
          if (files) writeFolderFiles(netDir(dir, row.dataset, row.arch, replicate), files);
          return row;
        },
        describe: (row) => `${row.synapses} synapses, test ${(100 * row.testAccuracy).toFixed(2)} %, ${p.levels.map((L) => `${L} lv ${(100 * row.quantized[String(L)]).toFixed(1)}`).join(', ')} (trained ${row.trainSeconds.toFixed(1)} s)`,
      });
      const elapsed = (performance.now() - t0) / 1000;
      const merged = k === 1 ? synapseBudgetResult(p, rows, elapsed) : mergeReplicates(Array.from({ length: k }, (_, r) => synapseBudgetResult(p, rowsOfReplicate(rows, r), elapsed)));
      const res: StudyResult = { ...merged, points: rows.length };
      writeFileSync(join(dir, 'study.json'), JSON.stringify({ ...res, rows }) + '\n');
      writeFileSync(join(dir, 'points.csv'), csv([['dataset', 'arch', 'kind', 'synapses', 'group', 'hidden_units', 'conv_layers', 'filters', 'pool', 'train', 'test', ...p.levels.map((L) => `L${L}`), 'epochs', 'seed', 'train_s'], ...rows.map((r) => [r.dataset, r.arch, r.kind, r.synapses, r.group, r.hiddenUnits, r.convLayers, r.filters, r.pool, r.trainAccuracy, r.testAccuracy, ...p.levels.map((L) => r.quantized[String(L)] ?? ''), r.epochs, r.seed, +r.trainSeconds.toFixed(1)])]));
      writeFileSync(join(dir, 'study.md'), studyMarkdown(res));
      if (f.json) printJson(res);
      else process.stdout.write(studyMarkdown(res) + `\nwrote ${dir}: study.json, points.csv, study.md, points.ndjson, params.json, nets/\n`);
    });
}

const lvNoiseFree = (x: McPoint) => x.device === 'ideal' || x.spreadTo === 0;
const lvBuild = (p: LevelsVariationParams, layers: number): McGrid => ({ points: levelsVariationPoints(p, layers), trialsFor: (x) => (lvNoiseFree(x) ? 1 : p.trials), deterministic: lvNoiseFree });
const lvResult = (p: LevelsVariationParams, rows: PointRow[], layers: { name: string; op: 'dense' | 'conv' }[], el: number) => levelsVariationResult(p, rows, layers, el);
const cbBuild = (p: CrossbarParams): McGrid => ({ points: crossbarPoints(p), trialsFor: (x) => (deterministic(x) ? 1 : p.trials), deterministic });
const cbResult = (p: CrossbarParams, rows: PointRow[], _layers: unknown, el: number) => crossbarResult(p, rows, el);

