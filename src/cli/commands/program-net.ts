/**
 * `rram program-net`: program a trained net onto the board's arrays by write-verify, read it back
 * and evaluate it from the read-back currents, beside the Monte Carlo prediction.
 */
import { MAX_TRIALS } from '../../inference/monte-carlo.js';
import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../errors.js';
import type { NetOnArraysResult } from '../../procedures/net-on-arrays.js';
import { addBoardOptions } from '../board-options.js';
import { addJobOptions } from '../job-options.js';
import { csv, printJson, table } from '../output.js';
import { formatFailures } from '../../analysis/levels.js';
import { current, duration, durations, fraction, num, quantileArg } from '../parse.js';
import { addProgramFlags } from '../program-flags.js';
import { finish } from './programming.js';
import { addStationOptions, stationTarget } from '../station-route.js';
import { programNetOnStation } from './program-net-station.js';
import { pct, programNetDirect, type NetFlags } from './program-net-run.js';
import { addFineTuneFlags, printFineTune } from './program-net-fine-tune.js';


export interface Coverage {
  repeats: { runId: string; readback: number; interval: [number, number]; percentile: number; inside: boolean; posteriorInterval?: [number, number]; posteriorInside?: boolean; failedCells: number }[];
  /** Share of repeats whose read-back fell inside the prediction's 5-95 % interval (and the posterior's). */
  coverage: number;
  posteriorCoverage: number;
  meanWidth: number;
  /** How the intervals' variance split by source, averaged over the repeats. */
  sources?: { devices: number; measuredDistributions: number; failureRates: number };
}

export function coverage(rs: NetOnArraysResult[]): Coverage {
  const rows = rs.map((x) => ({
    runId: x.runId,
    readback: x.readbackAccuracy,
    interval: x.prediction?.interval ?? [NaN, NaN] as [number, number],
    percentile: x.prediction?.readbackPercentile ?? NaN,
    inside: !!x.prediction?.inside,
    posteriorInterval: x.posterior?.interval,
    posteriorInside: x.posterior?.inside,
    failedCells: x.programming.failed,
  }));
  const srcs = rs.map((x) => x.prediction?.sources).filter((x): x is NonNullable<typeof x> => !!x);
  const avg = (f: (x: (typeof srcs)[number]) => number) => srcs.reduce((a, x) => a + f(x), 0) / srcs.length;
  return {
    repeats: rows,
    coverage: rows.filter((x) => x.inside).length / rows.length,
    posteriorCoverage: rows.filter((x) => x.posteriorInside).length / rows.length,
    meanWidth: rows.reduce((a, x) => a + (x.interval[1] - x.interval[0]), 0) / rows.length,
    sources: srcs.length ? { devices: avg((x) => x.devices), measuredDistributions: avg((x) => x.measuredDistributions), failureRates: avg((x) => x.failureRates) } : undefined,
  };
}

function printCoverage(c: Coverage): void {
  process.stdout.write(table(['repeat', 'run', 'read-back %', 'prediction 5..95 %', 'percentile', 'inside', 'posterior 5..95 %', 'inside', 'cells not programmed'], c.repeats.map((x, r) => [r + 1, x.runId, pct(x.readback), `${pct(x.interval[0])}..${pct(x.interval[1])}`, (100 * x.percentile).toFixed(0), x.inside ? 'yes' : 'NO', x.posteriorInterval ? `${pct(x.posteriorInterval[0])}..${pct(x.posteriorInterval[1])}` : '-', x.posteriorInside ? 'yes' : 'NO', x.failedCells])));
  process.stdout.write(`coverage: ${(100 * c.coverage).toFixed(0)} % of ${c.repeats.length} read-backs inside the prediction's 5-95 % interval (posterior ${(100 * c.posteriorCoverage).toFixed(0)} %); mean width ${pct(c.meanWidth)} points\n`);
  if (c.sources) process.stdout.write(`interval variance by source: devices ${(100 * c.sources.devices).toFixed(0)} %, measured distributions ${(100 * c.sources.measuredDistributions).toFixed(0)} %, failure rates ${(100 * c.sources.failureRates).toFixed(0)} %\n`);
}



export function registerProgramNet(program: Command): void {
  addStationOptions(addFineTuneFlags(addProgramFlags(addJobOptions(addBoardOptions(program.command('program-net'))))))
    .description('program a trained net onto the arrays (write-verify), read back, evaluate from the read-back vs the Monte Carlo prediction')
    .requiredOption('--model <dir>', 'tfjs layers model folder (rram train --out)')
    .option('--dataset <name>', 'mnist | fashion | cifar10 (cifar10 needs --data DIR)', 'mnist')
    .option('--data <dir>', 'folder with the IDX files')
    .option('--mapping <scheme>', 'diff | offset | signed', 'diff')
    .option('--clip <q>', 'levels span this quantile of each layer\'s weights instead of the largest |w|, e.g. 0.999', quantileArg('--clip'))
    .option('--device <spec>', 'level values and prediction: a level-CDF file (rram characterize --out), gaussian:5%, ... or ideal', 'ideal')
    .option('--trials <n>', 'Monte Carlo trials of the prediction', num('--trials', { int: true, min: 1, max: MAX_TRIALS }), 200)
    .option('--images <n>', 'use only the first N test images', num('--images', { int: true, min: 1 }))
    .option('--stuck-hrs <p>', 'prediction: fraction of devices stuck at HRS', num('--stuck-hrs', { min: 0, max: 1 }), 0)
    .option('--stuck-lrs <p>', 'prediction: fraction of devices stuck at the top level (a level CDF of a few hundred cells cannot resolve 0.1 %)', num('--stuck-lrs', { min: 0, max: 1 }), 0)
    .option('--read-noise <current>', 'prediction: read-noise sigma per device (e.g. 0.07uA)', current('--read-noise'))
    .option('--relax <time>', 'wait this long (board grounded) before each tile\'s read-back, e.g. 60s or 1h; the prediction is aged alike (the CDF\'s re-reads at that time, else the calibration\'s relaxation, as its emulated board relaxes)', durations('--relax'))
    .option('--refresh-after <time>', 'refresh: this long after programming each tile, re-read it and program again only the cells that relaxed out of their level\'s decision band (through the run engine, step "tile K refresh"); the read-back follows (after --relax, if given)', duration('--refresh-after'))
    .option('--refresh-budget <share>', 'with --refresh-after: rewrite at most this share of each tile\'s cells (e.g. 5%), those farthest from their target first (out of band first), none still inside the inner half of its band', fraction('--refresh-budget'))
    .option('--use-arrays <list>', 'board arrays to program, in turn (default: all); fewer than tiles are reused after each read-back')
    .option('--json', 'print the result as JSON (without the per-cell read-back)')
    .option('--out <dir>', 'write result.json, readback.csv and confusion.csv here (with --repeat: one folder per repeat and coverage.json)')
    .option('--bn-merge <how>', 'binary nets (bnn.json): arithmetic | signed | sbn | none, how batch norm reaches the crossbar (default signed)')
    .option('--keep', 'store the layers\' scaling and the tiles\' places with the result, every tile on its own array (kept programmed), for `rram infer --on-board`')
    .option('--repeat <n>', 'program the net N times on fresh devices (a new emulated board per repeat, seeded; a board on --port is reprogrammed) and report how many read-backs fall inside the prediction\'s 5-95 % interval', num('--repeat', { int: true, min: 1, max: 100 }), 1)
    .action(async (f: NetFlags, cmd: Command) => {
      // A station serving the board: the run joins its queue (program-net-station.ts).
      const st = await stationTarget(f);
      if (st) return programNetOnStation(st, f, cmd, printText, writeOut);
      const { repeats, last } = await programNetDirect(f, cmd);
      if (f.repeat === 1 || last?.status !== 'completed') {
        if (last!.result && f.out) writeOut(f.out, last!.result);
        if (last!.result && f.out) process.stderr.write(`wrote ${f.out}: result.json, readback.csv, confusion.csv\n`);
        await finish(last!, f.json, printText, (x) => ({ ...x, readback: undefined }), true, (x) => x.programming.summary);
        return;
      }
      const cov = coverage(repeats);
      if (f.out) {
        repeats.forEach((x, r) => writeOut(join(f.out!, `repeat-${r + 1}`), x));
        writeFileSync(join(f.out, 'coverage.json'), JSON.stringify(cov, null, 1) + '\n');
        process.stderr.write(`wrote ${f.out}: coverage.json, repeat-1..${repeats.length}/{result.json,readback.csv,confusion.csv}\n`);
      }
      if (f.json) printJson(cov);
      else printCoverage(cov);
      if (repeats.some((x) => x.programming.summary.belowThreshold)) process.exitCode = EXIT.belowThreshold;
    });
}

function printText(r: NetOnArraysResult): void {
  const p = r.programming;
  process.stdout.write(
    `run ${r.runId}: ${r.model} on ${r.dataset} (${r.images} test images), ${r.levels} levels, ${r.mapping.scheme} mapping, device ${r.device}\n` +
      `programmed ${p.summary.ok} of ${p.cells} cells (failures: ${formatFailures(p.summary.failures)}) in ${p.tiles} tiles on arrays ${p.arrays.join(',')} with ${p.algo}: ${p.pulses} pulses, ${p.misplaced} programmed cells outside their band, ${p.elapsed_s.toFixed(1)} s${p.relax_s ? `; read back ${p.relax_s} s after programming` : ''}\n` +
      (p.refresh ? `refresh ${p.refresh.after_s} s after programming: rewrote ${p.refresh.rewritten} of ${p.refresh.checked} programmed cells (${(100 * p.refresh.share).toFixed(2)} %) ${p.refresh.budget !== undefined ? `farthest from target (budget ${(100 * p.refresh.budget).toFixed(2)} %; ${p.refresh.leftOutOfBand} out of band left as they are)` : 'that left their decision band'}, ${p.refresh.ok} ok again, ${p.refresh.pulses} pulses\n` : ''),
  );
  const rows: (string | number)[][] = [
    ['float (trained weights)', pct(r.floatAccuracy)],
    ['quantized, noise-free', pct(r.quantizedAccuracy)],
    ['from the read-back currents', pct(r.readbackAccuracy)],
  ];
  if (r.prediction) {
    const s = r.prediction.summary;
    rows.push([`prediction, ${r.prediction.trials} trials: mean (p5..p95)`, `${pct(s.mean)} (${pct(s.p5)}..${pct(s.p95)})`]);
    rows.push(['read-back percentile in the prediction', `${(100 * r.prediction.readbackPercentile).toFixed(0)}${r.prediction.inside ? '' : ' (outside the 5-95 % interval)'}`]);
    if (r.posterior) rows.push([`posterior (${r.posterior.fixedCells} unprogrammed cells as read): mean (p5..p95)`, `${pct(r.posterior.summary.mean)} (${pct(r.posterior.interval[0])}..${pct(r.posterior.interval[1])})`]);
  }
  process.stdout.write(table(['accuracy', '%'], rows));
  const src = r.prediction?.sources;
  if (src) process.stdout.write(`prediction interval variance by source: devices ${(100 * src.devices).toFixed(0)} %, measured distributions ${(100 * src.measuredDistributions).toFixed(0)} %, failure rates ${(100 * src.failureRates).toFixed(0)} %\n`);
  process.stdout.write(table(['layer', 'tiles', 'cells', 'weight error (rms / max|w|)'], r.layers.map((l) => [l.name, l.tiles, l.cells, l.weightErrorRel.toFixed(4)])));
  const pl = r.placement;
  process.stdout.write(`yield-aware mapping: ${pl.knownBad} cells the store knows are bad left out (${pl.avoided} weight cells would have sat on them); ${pl.inRun} weight cells moved off cells earlier tiles of this run left unprogrammed; ${pl.tiles} tiles (${pl.tilesPlain} without avoiding any)\n`);
  printFineTune(r);
}

function writeOut(dir: string, r: NetOnArraysResult): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'result.json'), JSON.stringify({ ...r, readback: undefined }, null, 1) + '\n');
  writeFileSync(join(dir, 'readback.csv'), csv([['tile', 'layer', 'array', 'row', 'col', 'level', 'current_A', 'programmed'], ...r.readback.map(([t, row, col, lv, i, bad]) => [t, r.tiles[t].layer, r.tiles[t].array, row, col, lv, i, bad ? 0 : 1])]));
  writeFileSync(join(dir, 'confusion.csv'), csv([['true\\pred', ...Array.from({ length: 10 }, (_, k) => String(k))], ...r.readbackConfusion.map((row, k) => [k, ...row])]));
}
