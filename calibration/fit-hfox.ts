/**
 * Fits the emulator's relaxation table and read noise to the public HfOx measurements (tech A,
 * gmax 240 uS, MIT licence), shipped in calibration/data/hfox-techA. Cells are split by address
 * parity: the table is fitted on even addresses and checked on odd ones.
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { DataError } from '../drivers/errors.js';
import type { RelaxationTable } from './calibration.js';

export interface RelaxSample {
  addr: number;
  t: number;
  g: number;
  gi: number;
}

export function readRelaxData(file: string): RelaxSample[] {
  let text: string;
  try {
    text = gunzipSync(readFileSync(file)).toString('utf8');
  } catch (e) {
    throw new DataError(file, `cannot read gzipped TSV: ${(e as Error).message}`);
  }
  const out: RelaxSample[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split('\t');
    if (f.length < 7) throw new DataError(file, `line with ${f.length} fields, expected 7`);
    out.push({ addr: +f[0], t: +f[6], g: +f[3], gi: +f[4] });
  }
  return out;
}

/** Per G(0)-bin and time: mean and std of G(t) - G(0). */
export function fitRelaxation(
  samples: RelaxSample[],
  opts: { binEdges_S: number[]; times_s: number[]; keep?: (addr: number) => boolean; source: string },
): RelaxationTable & { counts: number[][] } {
  const nb = opts.binEdges_S.length - 1;
  const nt = opts.times_s.length;
  const sum = Array.from({ length: nb }, () => new Float64Array(nt));
  const sum2 = Array.from({ length: nb }, () => new Float64Array(nt));
  const n = Array.from({ length: nb }, () => new Float64Array(nt));
  for (const s of samples) {
    if (opts.keep && !opts.keep(s.addr)) continue;
    const ti = opts.times_s.indexOf(s.t);
    if (ti < 0) continue;
    let b = -1;
    for (let i = 0; i < nb; i++) if (s.gi >= opts.binEdges_S[i] && s.gi < opts.binEdges_S[i + 1]) b = i;
    if (b < 0) continue;
    const d = s.g - s.gi;
    sum[b][ti] += d;
    sum2[b][ti] += d * d;
    n[b][ti] += 1;
  }
  const mean_S: number[][] = [];
  const sigma_S: number[][] = [];
  const counts: number[][] = [];
  for (let b = 0; b < nb; b++) {
    mean_S.push([]);
    sigma_S.push([]);
    counts.push([]);
    for (let t = 0; t < nt; t++) {
      const m = n[b][t] ? sum[b][t] / n[b][t] : 0;
      const v = n[b][t] > 1 ? sum2[b][t] / n[b][t] - m * m : 0;
      mean_S[b].push(m);
      sigma_S[b].push(Math.sqrt(Math.max(0, v)));
      counts[b].push(n[b][t]);
    }
  }
  const g0_S = opts.binEdges_S.slice(0, -1).map((e, i) => (e + opts.binEdges_S[i + 1]) / 2);
  return { g0_S, t_s: opts.times_s, mean_S, sigma_S, counts, source: opts.source };
}

/** Read noise: sample-to-sample std (diff / sqrt 2 removes slow drift) vs the level's mean G. */
export function fitReadNoise(file: string): { g_S: number; sigma_S: number }[] {
  const text = gunzipSync(readFileSync(file)).toString('utf8');
  const out: { g_S: number; sigma_S: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split('\t').slice(2).map(Number);
    let s = 0;
    let s2 = 0;
    for (let i = 1; i < f.length; i++) {
      const d = f[i] - f[i - 1];
      s2 += d * d;
    }
    for (const x of f) s += x;
    out.push({ g_S: s / f.length, sigma_S: Math.sqrt(s2 / (f.length - 1) / 2) });
  }
  return out;
}

/** Least-squares line sigma = a + b * G. */
export function fitLine(pts: { x: number; y: number }[]): { a: number; b: number } {
  const n = pts.length;
  const sx = pts.reduce((s, p) => s + p.x, 0);
  const sy = pts.reduce((s, p) => s + p.y, 0);
  const sxx = pts.reduce((s, p) => s + p.x * p.x, 0);
  const sxy = pts.reduce((s, p) => s + p.x * p.y, 0);
  const b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  return { a: (sy - b * sx) / n, b };
}

export const TECH_A_TIMES_S = [0.01, 0.1, 1, 100, 1000, 10000];
export const TECH_A_BIN_EDGES_S = [0, 30e-6, 60e-6, 90e-6, 120e-6, 150e-6, 180e-6, 210e-6, 250e-6];

/** The tech-A files in `dir` itself (the subset shipped in calibration/data/hfox-techA) or in its techA/ folder (the full data set). */
export function techAFiles(dir: string): { relax: string; ts: string } {
  const d = existsSync(join(dir, 'relaxdata.min.tsv.gz')) ? dir : join(dir, 'techA');
  return { relax: join(d, 'relaxdata.min.tsv.gz'), ts: join(d, 'tsdata.min.tsv.gz') };
}

/** The shipped subset (MIT licence, see SOURCE.txt there). */
export const HFOX_DIR = 'calibration/data/hfox-techA';
