/**
 * `rram sweep`, `rram calibrate --from ...`, `rram twin`: measure a board, fit the device model to
 * it, and check the fitted emulator against the board.
 */
import { outFile } from '../out-path.js';
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCalibration, type Calibration } from '../../../calibration/calibration.js';
import { calibrateFromHfox } from '../../../calibration/apply-fit.js';
import { HFOX_DIR } from '../../../calibration/fit-hfox.js';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import type { BoardInfo } from '../../../drivers/board.js';
import { repoRoot } from '../../../lib/repo-root.js';
import { fitCalibration, type FitResult } from '../../calibrate/fit.js';
import { parseFrom, type Sources } from '../../calibrate/sources.js';
import { applyAging, fitAgingSources } from '../../calibrate/aging.js';
import { checkFresh } from '../../calibrate/contamination.js';
import { twin, type TwinResult } from '../../calibrate/twin.js';
import { runJob } from '../../jobs/run-job.js';
import type { LevelCdfDataset } from '../../procedures/characterize.js';
import type { SweepDataset } from '../../procedures/sweep.js';
import { EmbeddedStore } from '../../store/embedded-store.js';
import { addBoardOptions, addStoreOption, type BoardFlags } from '../board-options.js';
import { EXIT } from '../errors.js';
import { addJobOptions, type JobFlags } from '../job-options.js';
import { printJson, table, writeResultFile } from '../output.js';
import { num } from '../parse.js';
import { finish } from './programming.js';
import { runExperimentCommand } from '../experiment-route.js';
import { addStationOptions, type StationFlags } from '../station-route.js';

const sig = (x: number) => (Number.isFinite(x) ? String(+x.toPrecision(4)) : '-');

export function registerCalibrate(program: Command): void {
  addStationOptions(addJobOptions(addBoardOptions(program.command('sweep').description('calibration measurements: forming, gate transfer, RESET and ISPVA staircases, single SETs, read noise and HRS on fresh cells (for rram calibrate --from)'))))
    .requiredOption('--cells <M>', 'fresh cells to measure (>= 128 for a good fit)', num('--cells', { min: 1, int: true }))
    .option('--cycles <n>', 'gate and RESET staircases per cell', num('--cycles', { min: 1, max: 10, int: true }), 2)
    .option('--ispva-cycles <n>', 'ISPVA staircases per cell', num('--ispva-cycles', { min: 0, max: 10, int: true }), 2)
    .option('--noise-reads <K>', 'back-to-back reads per cell for read noise (at mid-LRS and at HRS)', num('--noise-reads', { min: 0, max: 100, int: true }), 8)
    .option('--gate-step <V>', 'gate staircase step', num('--gate-step', { min: 0.001, max: 0.5 }), 0.02)
    .option('--ispva-vg <V>', 'gate of the ISPVA staircases (default: where the calibration puts 25 uA)', num('--ispva-vg', { min: 0, max: 20 }))
    .option('--array <N>', 'first array to use', num('--array', { min: 0, int: true }), 0)
    .option('--json', 'print the dataset summary as JSON')
    .option('--out <file>', 'also write the dataset here', outFile)
    .action(async (f: BoardFlags & JobFlags & StationFlags & { cells: number; cycles: number; ispvaCycles: number; noiseReads: number; gateStep: number; ispvaVg?: number; array: number; json?: boolean; out?: string }, cmd: Command) => {
      if (f.resume) throw new InvalidArgumentError('--resume', f.resume, 'a sweep cannot be resumed: measure fresh cells again');
      const build = () => ({ cells: f.cells, cycles: f.cycles, ispvaCycles: f.ispvaCycles, noiseReads: f.noiseReads, gateStep_V: f.gateStep, ispvaVg_V: f.ispvaVg, array: f.array, seed: f.seed, concurrency: f.concurrency });
      const { out } = await runExperimentCommand<SweepDataset>('sweep', f, cmd, build);
      writeResultFile(f.out, out.result);
      await finish(
        out,
        f.json,
        (d) => process.stdout.write(`run ${d.runId}: swept ${d.summary.cells} cells (${d.summary.ok} formed; ${Object.entries(d.summary.failures).map(([k, v]) => `${k} ${v}`).join(', ') || 'no failures'}); fit it with \`rram calibrate --from ${d.runId},<characterize run> --out FILE\`\n`),
        (d) => ({ runId: d.runId, board: d.board.id, summary: d.summary, config: d.config }),
        false,
      );
    });

  addStoreOption(program.command('calibrate').description('fit the device model to a board\'s measurements (sweep and characterize runs) or to the public HfOx data'))
    .option('--from <list>', 'run ids (a sweep run, characterize runs with --relax re-reads) and/or hfox[:DIR] (the public HfOx data: relaxation and read noise)', 'hfox')
    .option('--base <file>', 'calibration to start from; what the data cannot identify is kept from it', join(repoRoot(), 'calibration', 'ihp-hfo2-4kbit.json'))
    .requiredOption('--out <file>', 'where to write the fitted calibration', outFile)
    .option('--id <id>', 'id of the fitted calibration (default <base id>-fit)', (raw: string) => {
      // The calibration file's own rule (calibration.ts), checked before any fit.
      if (!/^[\x20-\x7e]{1,100}$/.test(raw)) throw new InvalidArgumentError('--id', raw, 'must be 1..100 printable ASCII characters');
      return raw;
    })
    .option('--holdout', 'fit on the even cells of each run, check the twin against the odd ones')
    .option('--sim-cells <n>', 'cells per simulated sweep in the fit (default: the sweep\'s count, within 192..256)', num('--sim-cells', { min: 32, max: 4096, int: true }))
    .option('--json', 'JSON report')
    .action(async (f: { from: string; base: string; out: string; id?: string; holdout?: boolean; simCells?: number; store: string; json?: boolean }) => {
      const store = new EmbeddedStore(f.store);
      const src = parseFrom(f.from, store, join(repoRoot(), HFOX_DIR));
      let base: Calibration = loadCalibration(f.base);
      const baseId = base.id;
      let hfox;
      for (const dir of src.hfox) {
        const r = calibrateFromHfox(base, dir);
        base = r.calibration;
        hfox = r.report;
      }
      if (!src.sweeps.length && !src.cdfs.length && src.aging.length) return writeAgingFit(store, f, src, base);
      if (!src.sweeps.length && !src.cdfs.length) {
        // The public data alone: the relaxation table and read noise, as the shipped default was made.
        base = { ...base, id: f.id ?? `${baseId}-fit` };
        writeFileSync(f.out, JSON.stringify(base, null, 1) + '\n');
        if (f.json) printJson({ from: 'hfox', report: hfox, out: f.out });
        else process.stdout.write(`fitted on ${hfox!.cells} cells: hold-out sigma error median ${(hfox!.holdoutMedianRelErr * 100).toFixed(1)} %, max ${(hfox!.holdoutMaxRelErr * 100).toFixed(1)} %; read noise ${(hfox!.readNoise.a_S * 1e6).toFixed(3)} uS\nwrote ${f.out}\n`);
        return;
      }
      // Contaminated input is refused naming the cells, before any fit (contamination.ts).
      for (const r of [...src.sweeps, ...src.cdfs]) await checkFresh(store, r.runId, r.data, '--from');
      const keep = f.holdout ? (i: number) => i % 2 === 0 : undefined;
      const fit = await fitCalibration({ base, sweeps: src.sweeps, cdfs: src.cdfs, keep, simCells: f.simCells, id: f.id });
      // Measured aging on top of the fit (src/calibrate/aging.ts): its parameters replace the fit's.
      const agingFits = await fitAgingSources(fit.calibration, src.aging);
      fit.calibration = applyAging(fit.calibration, agingFits);
      for (const a of agingFits) for (const n of a.notes) process.stderr.write(`rram: aging: ${n}\n`);
      writeFileSync(f.out, JSON.stringify(fit.calibration, null, 1) + '\n');
      let holdout: TwinResult | undefined;
      if (f.holdout && src.cdfs.length) holdout = await twin({ calibration: fit.calibration, against: src.cdfs[0].data, keep: (i) => i % 2 === 1 });
      // Stored as a run, for the dashboard's calibration view.
      const first = src.sweeps[0]?.data ?? src.cdfs[0].data;
      const job = await runJob({ store }, async (ctx) => {
        ctx.begin({ kind: 'calibrate', params: { from: f.from, base: base.id, out: f.out, holdout: !!f.holdout, calibration: fit.calibration.id }, board: first.board, calibration: fit.calibration.id });
        return { format: 'rram-hil/calibration-fit', version: 1, ...fit, holdout };
      }, { resultName: 'calibration-fit' });
      if (f.json) printJson({ runId: job.runId, out: f.out, params: fit.params, quality: fit.quality, knots: fit.knots, transferForm: fit.transferForm, holdout, elapsed_s: fit.elapsed_s });
      else {
        const rows = Object.entries(fit.params).map(([k, p]) => [k, sig(p.value), p.unit, p.uncertainty !== undefined ? sig(p.uncertainty) : '-', p.status, p.method.length > 70 ? p.method.slice(0, 67) + '...' : p.method]);
        process.stdout.write(`fitted ${fit.calibration.id} from ${f.from} in ${fit.elapsed_s.toFixed(1)} s (run ${job.runId}); wrote ${f.out}\n`);
        process.stdout.write(table(['parameter', 'value', 'unit', '+-', 'status', 'method'], rows));
        if (fit.quality.length) process.stdout.write('\nfit quality: measured statistic vs the fitted model\'s simulation of the same sweep\n' + table(['statistic', 'measured', 'model', 'unit'], fit.quality.map((q) => [q.statistic, sig(q.measured), sig(q.model), q.unit])));
        if (fit.transferForm) process.stdout.write(`\ntransfer: ${formLine(fit.transferForm)}\n`);
        if (holdout) {
          process.stdout.write(`\nhold-out: twin of the even-cell fit against the odd cells: worst KS ${holdout.worstKs.toFixed(3)}, ${holdout.worstOverCritical.toFixed(2)}x its critical value (${holdout.pass ? 'pass' : 'FAIL'} at ${holdout.maxKs})\n`);
          for (const g of holdout.guidance) process.stdout.write(`  ${g}\n`);
        }
      }
      if (holdout && !holdout.pass) process.exitCode = EXIT.failure;
    });

  addStoreOption(program.command('twin').description('re-run a board\'s characterize run on the emulator with a calibration and compare, level by level (KS, median and spread ratios)'))
    .requiredOption('--calibration <file>', 'the (fitted) calibration')
    .requiredOption('--against <runId>', 'a characterize run of the board')
    .option('--max-ks <d>', 'largest KS distance allowed in any judged comparison', num('--max-ks', { min: 0, max: 1 }), 0.2)
    .option('--factor <n>', 'twin cells per board cell', num('--factor', { min: 1, max: 16, int: true }), 4)
    .option('--seed <n>', 'seed of the twin board', num('--seed', { min: 0, max: 4294967295, int: true }), 7)
    .option('--json', 'JSON output')
    .option('--out <file>', 'also write the comparison here', outFile)
    .action(async (f: { calibration: string; against: string; maxKs: number; factor: number; seed: number; store: string; json?: boolean; out?: string }) => {
      const store = new EmbeddedStore(f.store);
      const rec = store.getRun(f.against);
      if (rec.kind !== 'characterize') throw new InvalidArgumentError('--against', f.against, `is a ${rec.kind} run; the twin repeats characterize runs`);
      const d = store.loadResult<LevelCdfDataset>(f.against, 'level-cdf');
      await checkFresh(store, f.against, d, '--against');
      const cal = loadCalibration(f.calibration);
      const r = await twin({ calibration: cal, against: d, factor: f.factor, maxKs: f.maxKs, seed: f.seed });
      const job = await runJob({ store }, async (ctx) => {
        ctx.begin({ kind: 'twin', params: { calibration: cal.id, against: f.against, maxKs: f.maxKs, factor: f.factor, seed: f.seed }, board: d.board, calibration: cal.id });
        return r;
      }, { resultName: 'twin', summarize: (x: TwinResult) => ({ worstKs: x.worstKs, pass: x.pass }) });
      writeResultFile(f.out, r);
      if (f.json) printJson({ runId: job.runId, ...r, samples: undefined });
      else {
        process.stdout.write(`twin of run ${f.against} with ${cal.id} (${f.factor}x cells, run ${job.runId}): worst KS ${r.worstKs.toFixed(3)} (${r.worstOverCritical.toFixed(2)}x its critical value), ${r.pass ? 'PASS' : 'FAIL'} at --max-ks ${f.maxKs}\n`);
        if (r.ksNoise > 0.8 * f.maxKs) process.stdout.write(`note: with this many board cells per level a KS distance of ${r.ksNoise.toFixed(2)} happens by chance 5 % of the time in each comparison: --max-ks ${f.maxKs} is near the noise (characterize >= 128 cells per level)\n`);
        process.stdout.write(table(['level', 'quantity', 'n board', 'n twin', 'KS', 'critical', 'median twin/board', 'sigma twin/board', ''], r.rows.map((x) => [x.level, x.quantity, x.nBoard, x.nTwin, Number.isFinite(x.ks) ? x.ks.toFixed(3) : '-', Number.isFinite(x.ksCritical) ? x.ksCritical.toFixed(3) : '-', sig(x.medianRatio), sig(x.sigmaRatio), x.pass ? '' : 'FAIL'])));
        process.stdout.write('\ncells programmed per level, board vs twin\n' + table(['level', 'board', 'twin', 'z', ''], r.programmed.map((s) => [s.level, `${(100 * s.board).toFixed(1)} % of ${s.nBoard}`, `${(100 * s.twin).toFixed(1)} % of ${s.nTwin}`, s.z.toFixed(2), s.pass ? '' : 'FAIL'])));
        if (r.guidance.length) process.stdout.write('\nwhat would fix it:\n' + r.guidance.map((g) => `  ${g}\n`).join(''));
      }
      if (!r.pass) process.exitCode = EXIT.failure;
    });
}

export type { FitResult };

/** `rram calibrate --from` with device-experiment runs only: the base (HfOx-refitted if asked) with the measured aging set. */
async function writeAgingFit(store: EmbeddedStore, f: { from: string; out: string; id?: string; json?: boolean }, src: Sources, base: Calibration): Promise<void> {
  const fits = await fitAgingSources(base, src.aging);
  const cal = applyAging(base, fits, f.id ?? `${base.id}-aging`);
  writeFileSync(f.out, JSON.stringify(cal, null, 1) + '\n');
  const params = Object.assign({}, ...fits.map((x) => x.params));
  const notes = fits.flatMap((x) => x.notes);
  const first = src.aging[0].data as { board: BoardInfo };
  const job = await runJob({ store }, async (ctx) => {
    ctx.begin({ kind: 'calibrate', params: { from: f.from, base: base.id, out: f.out, calibration: cal.id }, board: first.board, calibration: cal.id });
    return { format: 'rram-hil/aging-fit', version: 1, calibration: cal, params, notes };
  }, { resultName: 'aging-fit' });
  if (f.json) return printJson({ runId: job.runId, out: f.out, params, notes });
  process.stdout.write(`fitted the aging of ${cal.id} from ${f.from} (run ${job.runId}); wrote ${f.out}\n`);
  process.stdout.write(table(['parameter', 'value', 'unit', '+-', 'method'], Object.entries(params).map(([k, p]) => { const q = p as { value: number; unit: string; uncertainty: number; method: string }; return [k, sig(q.value), q.unit, sig(q.uncertainty), q.method.length > 70 ? q.method.slice(0, 67) + '...' : q.method]; })));
  for (const n of notes) process.stdout.write(`note: ${n}\n`);
}

/** How the transfer's form was chosen, in words. */
function formLine(t: NonNullable<FitResult['transferForm']>): string {
  const h = t.heldOut;
  const name = t.model === 'spline' ? 'monotone spline' : 'saturating exponential';
  if (t.forced) return `${name}, set by RRAM_FORM=${t.forced}, not chosen by the held-out fit (odd cells against the even cells' fit: chi2 exponential ${h.exp.toFixed(1)}${h.spline === null ? '' : `, spline ${h.spline.toFixed(1)}`} over ${h.statistics} statistics)`;
  if (h.spline === null) return `${name}, chosen by a held-out fit (odd cells against the even cells' fit): the exponential's chi2 ${h.exp.toFixed(1)} over ${h.statistics} statistics is within their count, so the spline was not tried`;
  return `${name}, chosen by a held-out fit (odd cells against the even cells' fit: chi2 exponential ${h.exp.toFixed(1)}, spline ${h.spline.toFixed(1)} over ${h.statistics} statistics)`;
}
