/**
 * `rram program-net`: program a trained net onto the board's arrays by write-verify, read it back
 * and evaluate it from the read-back currents, beside the Monte Carlo prediction.
 */
import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { runJob } from '../../jobs/run-job.js';
import { toCrossbarNet } from '../../inference/crossbar-net.js';
import { loadDataset, parseDatasetName } from '../../inference/datasets.js';
import { buildDeviceModel, loadMeasuredLevels, parseDeviceSpec } from '../../inference/device-models.js';
import { parseScheme } from '../../inference/mapping.js';
import { loadModel } from '../../inference/model-io.js';
import { netOnArrays, type NetOnArraysResult } from '../../inference/net-on-arrays.js';
import { initTf, tf } from '../../inference/tf-backend.js';
import { attachProgressBar } from '../../sinks/progress-bar.js';
import { addBoardOptions, openBoardWithCalibration } from '../board-options.js';
import { abortOnSigint, addJobOptions, openSinks } from '../job-options.js';
import { csv, table } from '../output.js';
import { formatFailures } from '../../analysis/levels.js';
import { current, durations, num, quantileArg } from '../parse.js';
import { loadCalibration } from '../../../calibration/calibration.js';
import { addProgramFlags, programOptions } from '../program-flags.js';
import { finish, printSetupNotes, type ProgFlags } from './programming.js';

interface NetFlags extends ProgFlags {
  model: string;
  dataset: string;
  data?: string;
  mapping: string;
  device: string;
  trials: number;
  images?: number;
  useArrays?: string;
  stuckHrs: number;
  stuckLrs: number;
  readNoise?: number;
  relax?: number[];
  clip?: number;
}

const pct = (x: number) => (100 * x).toFixed(2);

function parseArrayList(s: string): number[] {
  const a = s.split(',').map((x) => Number(x.trim()));
  if (!a.length || a.some((x) => !Number.isInteger(x) || x < 0)) throw new InvalidArgumentError('--use-arrays', s, 'expected array indices like 0,1');
  return a;
}

export function registerProgramNet(program: Command): void {
  addProgramFlags(addJobOptions(addBoardOptions(program.command('program-net'))))
    .description('program a trained net onto the arrays (write-verify), read back, evaluate from the read-back vs the Monte Carlo prediction')
    .requiredOption('--model <dir>', 'tfjs layers model folder (rram train --out)')
    .option('--dataset <name>', 'mnist | fashion', 'mnist')
    .option('--data <dir>', 'folder with the IDX files')
    .option('--mapping <scheme>', 'diff | offset | signed', 'diff')
    .option('--clip <q>', 'levels span this quantile of each layer\'s weights instead of the largest |w|, e.g. 0.999', quantileArg('--clip'))
    .option('--device <spec>', 'level values and prediction: a level-CDF file (rram characterize --out), gaussian:5%, ... or ideal', 'ideal')
    .option('--trials <n>', 'Monte Carlo trials of the prediction', num('--trials', { int: true, min: 1 }), 200)
    .option('--images <n>', 'use only the first N test images', num('--images', { int: true, min: 1 }))
    .option('--stuck-hrs <p>', 'prediction: fraction of devices stuck at HRS', num('--stuck-hrs', { min: 0, max: 1 }), 0)
    .option('--stuck-lrs <p>', 'prediction: fraction of devices stuck at the top level (a level CDF of a few hundred cells cannot resolve 0.1 %)', num('--stuck-lrs', { min: 0, max: 1 }), 0)
    .option('--read-noise <current>', 'prediction: read-noise sigma per device (e.g. 0.07uA)', current('--read-noise'))
    .option('--relax <time>', 'wait this long (board grounded) before each tile\'s read-back, e.g. 60s or 1h; the prediction is aged alike (the CDF\'s re-reads at that time, else the calibration\'s relaxation table)', durations('--relax'))
    .option('--use-arrays <list>', 'board arrays to program, in turn (default: all); fewer than tiles are reused after each read-back')
    .option('--json', 'print the result as JSON (without the per-cell read-back)')
    .option('--out <dir>', 'write result.json, readback.csv and confusion.csv here')
    .action(async (f: NetFlags) => {
      const po = programOptions(f);
      // Tiles reuse arrays, so a cell's journal entry may belong to a tile since overwritten.
      if (f.resume) throw new InvalidArgumentError('--resume', f.resume, 'program-net runs cannot be resumed: start it again (every tile is reprogrammed and read back)');
      const scheme = parseScheme(f.mapping);
      const spec = parseDeviceSpec(f.device);
      const measured = spec.kind === 'empirical' ? loadMeasuredLevels(spec.file!) : undefined;
      const programLevels = measured ? measured.pools.length : f.levels;
      if (programLevels > 8) throw new InvalidArgumentError('--device', f.device, `has ${programLevels} levels; programming supports 2..8`);
      if (f.relax && f.relax.length !== 1) throw new InvalidArgumentError('--relax', f.relax.join(','), 'takes one time');
      const relax_s = f.relax?.[0];
      const device = buildDeviceModel(spec, f.levels, { shared: false, stuckHrs: f.stuckHrs, stuckLrs: f.stuckLrs, readNoise_A: f.readNoise ?? 0, vread_V: 0.2, relax_s, relaxTable: relax_s !== undefined ? loadCalibration(f.calibration).relaxation : undefined }, measured);
      const arrays = f.useArrays ? parseArrayList(f.useArrays) : undefined;
      const ds = loadDataset(parseDatasetName(f.dataset), f.data, true);
      const backend = await initTf();
      const net = toCrossbarNet(await loadModel(tf, f.model));
      const { store, sinks } = await openSinks(f);
      const { board, calibration } = await openBoardWithCalibration(f);
      const ac = abortOnSigint();
      const out = await runJob(
        { store, sinks, signal: ac.signal, board },
        (ctx, signal) =>
          netOnArrays(tf, backend, board, ctx, {
            ...po,
            // ISPVA gates are per level of the programming level set, which the CDF decides.
            ispvaGates_V: po.ispvaGates_V,
            calibration,
            programSpecs: measured?.specs,
            model: f.model,
            dataset: ds.name,
            net,
            test: ds.test,
            images: f.images,
            scheme,
            clip: f.clip,
            device,
            programLevels,
            trials: f.trials,
            seed: f.seed,
            arrays,
            relax_s,
            engine: { concurrency: f.concurrency, onUnknownOutcome: f.onUnknownOutcome as 're-verify' },
            signal,
          }),
        {
          resultName: 'program-net',
          summarize: (r: NetOnArraysResult) => ({ readbackAccuracy: r.readbackAccuracy, quantizedAccuracy: r.quantizedAccuracy, pulses: r.programming.pulses, cells: r.programming.summary }),
          verdict: (r) => (r.programming.summary.belowThreshold ? { belowMinSuccess: true, ...r.programming.summary } : undefined),
        },
        (ctx) => {
          attachProgressBar(ctx.events$);
          printSetupNotes(ctx);
        },
      ).finally(() => board.close());
      if (out.result && f.out) writeOut(f.out, out.result);
      await finish(out, f.json, printText, (r) => ({ ...r, readback: undefined }), false, (r) => r.programming.summary);
    });
}

function printText(r: NetOnArraysResult): void {
  const p = r.programming;
  process.stdout.write(
    `run ${r.runId}: ${r.model} on ${r.dataset} (${r.images} test images), ${r.levels} levels, ${r.mapping.scheme} mapping, device ${r.device}\n` +
      `programmed ${p.summary.ok} of ${p.cells} cells (failures: ${formatFailures(p.summary.failures)}) in ${p.tiles} tiles on arrays ${p.arrays.join(',')} with ${p.algo}: ${p.pulses} pulses, ${p.misplaced} programmed cells outside their band, ${p.elapsed_s.toFixed(1)} s${p.relax_s ? `; read back ${p.relax_s} s after programming` : ''}\n`,
  );
  const rows: (string | number)[][] = [
    ['float (trained weights)', pct(r.floatAccuracy)],
    ['quantized, noise-free', pct(r.quantizedAccuracy)],
    ['from the read-back currents', pct(r.readbackAccuracy)],
  ];
  if (r.monteCarlo) {
    const s = r.monteCarlo.summary;
    rows.push([`Monte Carlo ${r.monteCarlo.trials} trials: mean (p5..p95)`, `${pct(s.mean)} (${pct(s.p5)}..${pct(s.p95)})`]);
    rows.push(['read-back percentile in the prediction', (100 * r.monteCarlo.readbackPercentile).toFixed(0)]);
  }
  process.stdout.write(table(['accuracy', '%'], rows));
  process.stdout.write(table(['layer', 'tiles', 'cells', 'weight error (rms / max|w|)'], r.layers.map((l) => [l.name, l.tiles, l.cells, l.weightErrorRel.toFixed(4)])));
}

function writeOut(dir: string, r: NetOnArraysResult): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'result.json'), JSON.stringify({ ...r, readback: undefined }, null, 1) + '\n');
  writeFileSync(join(dir, 'readback.csv'), csv([['tile', 'layer', 'array', 'row', 'col', 'level', 'current_A'], ...r.readback.map(([t, row, col, lv, i]) => [t, r.tiles[t].layer, r.tiles[t].array, row, col, lv, i])]));
  writeFileSync(join(dir, 'confusion.csv'), csv([['true\\pred', ...Array.from({ length: 10 }, (_, k) => String(k))], ...r.readbackConfusion.map((row, k) => [k, ...row])]));
}
