/**
 * Calibration benchmark (issues 14, 26), the goals of issue 26 measured:
 *  - the board with hidden parameters (transfer +0.25 V, saturation -15 %, cycle-to-cycle spreads
 *    and read noise x1.5; emulated, seed 11): an 8x128 IGVVA characterize (3 read-backs, re-reads
 *    at 1 s and 60 s) and a 256-cell sweep on fresh cells; fitted from the characterize run alone
 *    and from both; the twin's worst per-level KS on final gate voltage and read current, over all
 *    quantities, and over each row's critical value (the noise floor); the hidden truth itself and
 *    the shipped default for scale;
 *  - the independent board ../shared/boards/foreign-v2/ (Python firmware on a pty, WAIT virtual),
 *    measured the same way through the CLI; skipped when the board cannot run here;
 *  - fit wall times; sweep + characterize + fit on the emulator.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { loadCalibration, type Calibration } from '../calibration/calibration.js';
import { hiddenBoard } from '../tests/helpers/hidden-board.js';
import { RunContext } from '../src/engine/run-context.js';
import { cellKey } from '../src/engine/events.js';
import { characterize, type LevelCdfDataset } from '../src/procedures/characterize.js';
import { sweep, type SweepDataset } from '../src/procedures/sweep.js';
import { fitCalibration } from '../src/calibrate/fit.js';
import { twin } from '../src/calibrate/twin.js';
import { FOREIGN_DIR, startForeign } from '../tests/helpers/foreign-board.js';
import { repoRoot } from '../lib/repo-root.js';

async function twinOf(cal: Calibration, cdf: LevelCdfDataset) {
  const t = await twin({ calibration: cal, against: cdf });
  const worst = (q: string) => Math.max(...t.rows.filter((r) => r.quantity === q).map((r) => (Number.isFinite(r.ks) ? r.ks : 1)));
  return { worstKs: +t.worstKs.toFixed(3), readCurrent: +worst('read current').toFixed(3), finalVoltage: +worst('final stepped voltage').toFixed(3), pulses: +worst('pulses per cell').toFixed(3), worstOverCritical: +t.worstOverCritical.toFixed(2), ksCritical: +t.ksNoise.toFixed(3), pass: t.pass };
}

async function fitBoth(base: Calibration, cdf: LevelCdfDataset, sw: SweepDataset) {
  const alone = await fitCalibration({ base, sweeps: [], cdfs: [{ runId: 'cdf', data: cdf }] });
  const both = await fitCalibration({ base, sweeps: [{ runId: 'sw', data: sw }], cdfs: [{ runId: 'cdf', data: cdf }] });
  return {
    fit_s_characterize_only: +alone.elapsed_s.toFixed(1),
    fit_s_sweep_and_characterize: +both.elapsed_s.toFixed(1),
    transfer_form: { characterize_only: alone.transferForm?.model, sweep_and_characterize: both.transferForm?.model },
    twin_characterize_only: await twinOf(alone.calibration, cdf),
    twin_sweep_and_characterize: await twinOf(both.calibration, cdf),
  };
}

async function hidden(base: Calibration) {
  const cal = hiddenBoard(base);
  const t0 = performance.now();
  const board = new EmulatedBoard({ seed: 11, calibration: cal });
  const cdf = await characterize(board, new RunContext('cdf'), { algo: 'igvva', levels: 8, cellsPerLevel: 128, reads: 3, relax_s: [1, 60], seed: 11, calibration: cal });
  const sw = await sweep(board, new RunContext('sw'), { cells: 256, seed: 12, usedCells: new Set(cdf.levels.flatMap((l) => l.cells.map(cellKey))) });
  const measure_s = (performance.now() - t0) / 1000;
  const r = await fitBoth(base, cdf, sw);
  return { ...r, measure_s: +measure_s.toFixed(1), sweep_characterize_and_fit_s: +(measure_s + r.fit_s_sweep_and_characterize).toFixed(1), twin_hidden_truth: await twinOf(cal, cdf), twin_shipped_default: await twinOf(base, cdf) };
}

async function foreign(base: Calibration) {
  if (!existsSync(join(FOREIGN_DIR, 'board.sh'))) return { skipped: `no ${FOREIGN_DIR}` };
  const fb = startForeign(['--wait', 'virtual']);
  const cwd = mkdtempSync(join(tmpdir(), 'bench-foreign-'));
  const rram = (...a: string[]) => {
    const r = spawnSync(process.execPath, [join(repoRoot(), 'dist', 'src', 'cli', 'main.js'), ...a, '--port', fb.dev, '--json'], { encoding: 'utf8', cwd, timeout: 900000 });
    if (r.status !== 0) throw new Error(`rram ${a.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout).runId as string;
  };
  try {
    const t0 = performance.now();
    const sw = rram('sweep', '--cells', '256');
    const ch = rram('characterize', '--levels', '8', '--cells-per-level', '128', '--reads', '3', '--relax', '1s,60s', '--fresh-cells');
    const measure_s = (performance.now() - t0) / 1000;
    const load = <T>(id: string, name: string) => JSON.parse(readFileSync(join(cwd, 'rram-data', 'runs', id, `${name}.json`), 'utf8')) as T;
    return { ...(await fitBoth(base, load<LevelCdfDataset>(ch, 'level-cdf'), load<SweepDataset>(sw, 'sweep'))), measure_s_over_pty: +measure_s.toFixed(1), twin_shipped_default: await twinOf(base, load<LevelCdfDataset>(ch, 'level-cdf')) };
  } finally {
    fb.stop();
  }
}

export async function calibrateBench(): Promise<Record<string, unknown>> {
  const base = loadCalibration();
  return { hidden_board: await hidden(base), foreign_v2: await foreign(base) };
}
