/**
 * `rram study levels-variation` (seed 001, Halawani et al.): post-training quantization to 4..128
 * levels x dynamic range (on/off ratio) x programming variation (truncated Gaussian by default,
 * as the paper's MATLAB), N trials each; Table 1 (quantization alone), Figs. 5-9 (histograms,
 * CDFs, mean accuracy per levels and range, boxplots per variation) and Table 2 (the whole net
 * vs one layer at a time quantized, with variation).
 */
import { sorted } from '../analysis/stats.js';
import type { QuantizeScope, Quantizer, Scheme } from '../inference/mapping.js';
import type { McPoint, PointRow } from './mc-point.js';
import { pct2, type StudyFigure, type StudyResult, type StudyTable } from './study-output.js';

export interface LevelsVariationParams {
  study: 'levels-variation';
  model: string;
  dataset: string;
  levels: number[];
  /** Fractions (0.1 = 10 %). */
  variation: number[];
  dynamicRange: number[];
  /** A parametric spread around evenly spaced levels, or `cdf`: the measured level-CDF `device`, its spread scaled. */
  distribution: 'truncnorm' | 'gaussian' | 'lognormal' | 'cdf';
  device?: string;
  quantizer: Quantizer;
  mapping: Scheme;
  trials: number;
  seed: number;
  images?: number;
  /** Table 2: whole net vs one layer at a time, at these levels (0: skip). */
  table2Levels: number;
  /** Seeds per point (absent: 1). */
  replicates?: number;
  [k: string]: unknown;
}

/** Seed 001 Table 1 (784-32-10 ANN, 10x DR, quantization only) and Table 2 (CIFAR-10 3C2F CNN, 16 QL). */
export const PAPER_T1: Record<number, number> = { 128: 94.43, 64: 92.46, 32: 84.46, 16: 50.6, 8: 9.28, 4: 10.09 };
export const PAPER_T1_BASELINE = 94.58;
export const PAPER_T2 = {
  baseline: 57.12,
  whole: { q: 30.52, noVar: 31.12, v1: 29.88, v3: 23.5, v10: 15.4 },
  layers: [
    { name: 'ConV1', q: 46.14, noVar: 46.84, v10: 36.03 },
    { name: 'ConV2', q: 41.0, noVar: 42.22, v10: 39.67 },
    { name: 'ConV3', q: 47.73, noVar: 47.66, v10: 45.33 },
    { name: 'FC1', q: 52.84, noVar: 41.39, v10: 29.26 },
    { name: 'FC2', q: 56.07, noVar: 54.28, v10: 55.11 },
  ],
};
const T2_WHOLE_VAR = [0, 0.01, 0.03, 0.1];

const fmtVar = (v: number) => `${+(v * 100).toFixed(3)}%`;

export function levelsVariationPoints(p: LevelsVariationParams, weightLayers: number): McPoint[] {
  const base = { scheme: p.mapping, quantizer: p.quantizer };
  const cdf = p.distribution === 'cdf';
  // A measured CDF brings its own levels (dynamic range 0 stands for "measured") and keeps its shape at every spread.
  const dev = (v: number) => (cdf ? { device: p.device!, spreadTo: v } : { device: v === 0 ? 'ideal' : `${p.distribution}:${fmtVar(v)}` });
  const drs = cdf ? [0] : p.dynamicRange;
  const drOf = (dr: number) => (cdf ? {} : { dynamicRange: dr });
  const pts: McPoint[] = [];
  for (const L of p.levels) for (const dr of drs) for (const v of p.variation) pts.push({ key: `L${L}_dr${dr}_v${fmtVar(v)}`, ...dev(v), levels: L, ...drOf(dr), ...base });
  if (p.table2Levels) {
    const dr = drs.includes(10) ? 10 : drs[0];
    for (const v of T2_WHOLE_VAR) pts.push({ key: `t2_whole_v${fmtVar(v)}`, ...dev(v), levels: p.table2Levels, ...drOf(dr), scope: 'network' as QuantizeScope, ...base });
    for (let k = 0; k < weightLayers; k++) for (const v of [0, 0.1]) pts.push({ key: `t2_layer${k}_v${fmtVar(v)}`, ...dev(v), levels: p.table2Levels, ...drOf(dr), onlyLayer: k, ...base });
  }
  return pts;
}

/** The variation in the list nearest to `want`. */
const nearestOf = (xs: number[], want: number) => xs.reduce((b, x) => (Math.abs(x - want) < Math.abs(b - want) ? x : b), xs[0]);

export function levelsVariationResult(p: LevelsVariationParams, rows: PointRow[], layers: { name: string; op: 'dense' | 'conv' }[], elapsed_s: number): Omit<StudyResult, 'points'> {
  const at = (L: number, dr: number, v: number) => rows.find((r) => r.key === `L${L}_dr${dr}_v${fmtVar(v)}`);
  const drs = p.distribution === 'cdf' ? [0] : p.dynamicRange;
  const drName = (d: number) => (d === 0 ? 'measured levels' : `${d}x DR`);
  const dr10 = drs.includes(10) ? 10 : drs[0];
  const v10 = nearestOf(p.variation, 0.1);
  const levelsDesc = [...p.levels].sort((a, b) => b - a);
  const float = rows[0]?.floatAccuracy ?? NaN;
  const tables: StudyTable[] = [];
  const figures: StudyFigure[] = [];
  const checks: StudyResult['checks'] = [];

  // Table 1: quantization only (variation 0) at 10x DR.
  if (p.variation.includes(0)) {
    tables.push({
      id: 't1',
      title: `Table 1: quantization only (${drName(dr10)}, ${p.quantizer}, ${p.mapping} mapping)`,
      header: ['levels (QL)', 'bits', 'ours %', 'paper %'],
      rows: [['full precision', 'FP', pct2(float), PAPER_T1_BASELINE], ...levelsDesc.map((L) => [L, +Math.log2(L).toFixed(2), at(L, dr10, 0) ? pct2(at(L, dr10, 0)!.quantizedAccuracy) : '-', PAPER_T1[L] ?? '-'])],
      notes: [
        `Noise-free quantized accuracy on ${rows[0]?.images ?? '?'} ${p.dataset} test images; the paper's 784-32-10 ANN on MNIST.`,
        'The paper falls to chance at 4-8 levels because its MATLAB also keeps the shift by the minimum weight in the conductances and rescales the outputs; our signed mapping puts the reference on a level and keeps zero representable, so few levels cost less.',
      ],
    });
  }
  // Fig. 7: mean accuracy per QL and DR at ~10 % variation.
  if (v10 > 0) {
    tables.push({
      id: 'fig7',
      title: `Fig. 7: mean accuracy over ${p.trials} trials per levels and dynamic range, ${fmtVar(v10)} ${p.distribution === 'cdf' ? 'measured-CDF (scaled)' : p.distribution} variation`,
      header: ['levels', ...drs.map((d) => `${drName(d)} %`)],
      rows: levelsDesc.map((L) => [L, ...drs.map((d) => (at(L, d, v10) ? pct2(at(L, d, v10)!.summary.mean) : '-'))]),
      notes: ['The paper: the mean saturates at 16 levels, no higher level count helps, and the dynamic range makes little difference.'],
    });
    figures.push({ id: 'fig7', title: 'Mean accuracy vs levels per dynamic range', kind: 'line', x: 'levels', y: 'mean accuracy', series: drs.map((d) => ({ name: drName(d), points: [...p.levels].sort((a, b) => a - b).filter((L) => at(L, d, v10)).map((L) => [L, at(L, d, v10)!.summary.mean]) })) });
    const drH = drs.includes(100) ? 100 : dr10;
    figures.push({ id: 'fig5', title: `Accuracy histograms per levels (${drName(drH)}, ${fmtVar(v10)})`, kind: 'histogram', x: 'accuracy', y: 'trials', series: p.levels.filter((L) => at(L, drH, v10)).map((L) => ({ name: `${L} QL`, points: at(L, drH, v10)!.accuracies.map((a) => [a]) })) });
    figures.push({ id: 'fig6', title: `Accuracy CDFs per levels (${drName(dr10)}, ${fmtVar(v10)})`, kind: 'cdf', x: 'accuracy', y: 'P(accuracy <= x)', series: p.levels.filter((L) => at(L, dr10, v10)).map((L) => ({ name: `${L} QL`, points: sorted(at(L, dr10, v10)!.accuracies).map((a, i, s) => [a, (i + 1) / s.length]) })) });
    // Saturation: the fewest levels whose mean is within 1 point of the best mean.
    const means = [...p.levels].sort((a, b) => a - b).map((L) => [L, at(L, dr10, v10)?.summary.mean ?? NaN] as const).filter(([, m]) => Number.isFinite(m));
    // The claim is about 16 levels: only a grid with fewer and more than 16 can test it.
    if (means.some(([L]) => L < 16) && means.some(([L]) => L > 16)) {
      const best = Math.max(...means.map(([, m]) => m));
      const sat = means.find(([, m]) => m >= best - 0.01)![0];
      checks.push({ claim: `accuracy saturates from ~16 levels at 10 % variation (${drName(dr10)})`, measured: `within 1 point of the best mean (${pct2(best)} %) from ${sat} levels (${means.map(([L, m]) => `${L}: ${pct2(m)}`).join(', ')})`, holds: sat <= 16 });
    }
  }
  // Figs. 8-9: variation at 16 levels.
  const L16 = nearestOf(p.levels, 16);
  const vs = p.variation.filter((v) => at(L16, dr10, v));
  if (vs.length > 1) {
    tables.push({
      id: 'fig89',
      title: `Figs. 8-9: accuracy per variation at ${L16} levels (${drName(dr10)}), ${p.trials} trials`,
      header: ['variation', 'mean %', 'min %', 'p25 %', 'p50 %', 'p75 %', 'max %'],
      rows: vs.map((v) => {
        const s = at(L16, dr10, v)!.summary;
        return [fmtVar(v), pct2(s.mean), pct2(s.min), pct2(s.p25), pct2(s.p50), pct2(s.p75), pct2(s.max)];
      }),
      notes: ['The paper: narrow boxes above 90 % at small variation, wide boxes with many outliers at 20-30 %, the mean falling as variation grows.'],
    });
    figures.push({ id: 'fig8', title: `Accuracy per variation at ${L16} levels`, kind: 'box', x: 'variation', y: 'accuracy', series: [{ name: `${L16} QL`, points: vs.map((v) => { const s = at(L16, dr10, v)!.summary; return [fmtVar(v), s.min, s.p25, s.p50, s.p75, s.max]; }) }] });
    const v0 = at(L16, dr10, 0);
    const v5 = at(L16, dr10, 0.05);
    if (v0 && v5) {
      const drop = 100 * (v0.summary.mean - v5.summary.mean);
      checks.push({ claim: `~5 % drop at 5 % variation (${L16} levels)`, measured: `${drop.toFixed(2)} points (${pct2(v0.summary.mean)} -> ${pct2(v5.summary.mean)} %)`, holds: drop >= 2.5 && drop <= 7.5 });
    }
    const means = vs.map((v) => at(L16, dr10, v)!.summary.mean);
    checks.push({ claim: 'the mean falls as the variation grows (Fig. 9)', measured: vs.map((v, i) => `${fmtVar(v)}: ${pct2(means[i])}`).join(', '), holds: means.every((m, i) => i === 0 || m <= means[i - 1] + 0.002) });
  }
  // Table 2.
  if (p.table2Levels) {
    const t2 = (key: string) => rows.find((r) => r.key === key);
    const whole = T2_WHOLE_VAR.map((v) => t2(`t2_whole_v${fmtVar(v)}`));
    const vcell = (r: PointRow | undefined) => (r ? pct2(r.summary.mean) : '-');
    const trows: (string | number)[][] = [['full net (baseline)', pct2(float), PAPER_T2.baseline, '-', '-']];
    trows.push(['whole net quantized (one range)', whole[0] ? pct2(whole[0].quantizedAccuracy) : '-', PAPER_T2.whole.q, `${vcell(whole[1])} / ${vcell(whole[2])} / ${vcell(whole[3])}`, `${PAPER_T2.whole.v1} / ${PAPER_T2.whole.v3} / ${PAPER_T2.whole.v10}`]);
    // The paper's row for a layer is the one of the same kind and rank (its k-th conv is ConVk, its k-th dense FCk).
    const rank = (k: number) => layers.slice(0, k + 1).filter((l) => l.op === layers[k].op).length;
    layers.forEach(({ name, op }, k) => {
      const q = t2(`t2_layer${k}_v0%`);
      const v = t2(`t2_layer${k}_v10%`);
      const paper = PAPER_T2.layers.find((x) => x.name === `${op === 'conv' ? 'ConV' : 'FC'}${rank(k)}`);
      trows.push([`only ${name}`, q ? pct2(q.quantizedAccuracy) : '-', paper ? `${paper.q} (${paper.name})` : '-', vcell(v), paper ? paper.v10 : '-']);
    });
    tables.push({
      id: 't2',
      title: `Table 2: whole net vs one layer at a time, ${p.table2Levels} levels, ${drName(dr10)}`,
      header: ['quantized', 'ours %', 'paper %', 'ours with 1 / 3 / 10 % (whole) or 10 % (layer)', 'paper'],
      rows: trows,
      notes: [`Ours: ${p.model} on ${p.dataset}; the paper's: a CIFAR-10 3-conv 2-FC net trained in Caffe (57.12 %). Rows compare in kind (which layers suffer most), not in value.`],
    });
  }
  return { format: 'rram-hil/study', version: 1, study: 'levels-variation', params: p, tables, figures, checks, elapsed_s };
}
