/**
 * `rram calibrate`: refits the data-driven parts of a calibration file (relaxation table, read
 * noise) from the HfOx measurements, records where they came from, and reports the hold-out
 * check (fit on even cell addresses, compare with odd ones).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';

/** Paths recorded in provenance are relative to the project, never this machine's absolute paths. */
const rel = (p: string) => relative(repoRoot(), p);
import { validateCalibration, type Calibration } from './calibration.js';
import { TECH_A_BIN_EDGES_S, TECH_A_TIMES_S, fitLine, fitReadNoise, fitRelaxation, readRelaxData, techAFiles } from './fit-hfox.js';

export interface FitReport {
  cells: number;
  /** Largest |sigma_fit - sigma_holdout| / sigma_holdout over bins and times with >= 200 cells. */
  holdoutMaxRelErr: number;
  holdoutMedianRelErr: number;
  readNoise: { a_S: number; b: number };
}

export function fitFromData(dataDir: string): { relaxation: Calibration['relaxation']; readNoise: { a_S: number; b: number }; report: FitReport } {
  const f = techAFiles(dataDir);
  const samples = readRelaxData(f.relax);
  const src = `fitted by rram calibrate from ${rel(f.relax)} (tech A, Levy et al., MIT licence): std and mean of G(t)-G(0) per G(0) bin, even cell addresses`;
  const fit = fitRelaxation(samples, { binEdges_S: TECH_A_BIN_EDGES_S, times_s: TECH_A_TIMES_S, keep: (a) => a % 2 === 0, source: src });
  const hold = fitRelaxation(samples, { binEdges_S: TECH_A_BIN_EDGES_S, times_s: TECH_A_TIMES_S, keep: (a) => a % 2 === 1, source: 'holdout' });
  const errs: number[] = [];
  for (let b = 0; b < fit.g0_S.length; b++)
    for (let t = 0; t < fit.t_s.length; t++)
      if (fit.counts[b][t] >= 200 && hold.counts[b][t] >= 200) errs.push(Math.abs(fit.sigma_S[b][t] - hold.sigma_S[b][t]) / hold.sigma_S[b][t]);
  errs.sort((a, b) => a - b);
  const noise = fitReadNoise(f.ts);
  const line = fitLine(noise.map((n) => ({ x: n.g_S, y: n.sigma_S })));
  const { counts: _c, ...relaxation } = fit;
  return {
    relaxation,
    readNoise: { a_S: Math.max(0, line.a), b: Math.max(0, line.b) },
    report: {
      cells: new Set(samples.map((s) => s.addr)).size,
      holdoutMaxRelErr: errs[errs.length - 1] ?? NaN,
      holdoutMedianRelErr: errs[Math.floor(errs.length / 2)] ?? NaN,
      readNoise: { a_S: line.a, b: line.b },
    },
  };
}

/** The base calibration with its relaxation table and read noise refitted to the HfOx data. */
export function calibrateFromHfox(cal: Calibration, dataDir: string): { calibration: Calibration; report: FitReport } {
  cal = structuredClone(cal);
  const r = fitFromData(dataDir);
  cal.relaxation = r.relaxation;
  const src = `fitted by rram calibrate: sample-to-sample std / sqrt 2 of the 400 Hz traces in ${rel(techAFiles(dataDir).ts)} vs level conductance, least squares`;
  cal.params.read_noise_S = { value: r.readNoise.a_S, unit: 'S', source: src };
  cal.params.read_noise_rel = { value: r.readNoise.b, unit: '1', source: src };
  return { calibration: cal, report: r.report };
}

export function calibrateFile(base: string, dataDir: string, out: string): FitReport {
  const cal = validateCalibration(JSON.parse(readFileSync(base, 'utf8')));
  const r = fitFromData(dataDir);
  cal.relaxation = r.relaxation;
  const src = `fitted by rram calibrate: sample-to-sample std / sqrt 2 of the 400 Hz traces in ${rel(techAFiles(dataDir).ts)} vs level conductance, least squares`;
  cal.params.read_noise_S = { value: r.readNoise.a_S, unit: 'S', source: src };
  cal.params.read_noise_rel = { value: r.readNoise.b, unit: '1', source: src };
  writeFileSync(out, JSON.stringify(cal, null, 1) + '\n');
  return r.report;
}
