/**
 * `rram study synapse-budget` (seed 000, Romero-Zaliz et al.): FdNN and CNN architectures under
 * the one-array (< 4096 synapses) and two-array (4096-8192) budgets, trained on MNIST and
 * Fashion-MNIST, evaluated at full precision and quantized to 2..8 levels; the paper's statistics
 * (Spearman of accuracy with synapses, hidden units, conv layers, filters and pool size;
 * Kruskal-Wallis between the budget groups) and its Tables 4, 5, 7 and 12 beside ours.
 */
import { kruskalWallis, spearman } from '../analysis/rank-tests.js';
import { parseArch, synapses, type ArchSpec, type ImageGeometry } from '../inference/arch-spec.js';
import type { StudyFigure, StudyResult, StudyTable } from './study-output.js';

export interface SynapseBudgetParams {
  study: 'synapse-budget';
  datasets: string[];
  archs: string[];
  levels: number[];
  device: string;
  mapping: 'diff' | 'offset' | 'signed';
  epochs: number;
  batchSize: number;
  learningRate: number;
  trials: number;
  seed: number;
  images?: number;
  /** Seeds per net (absent: 1). */
  replicates?: number;
  [k: string]: unknown;
}

/** One trained net's numbers. */
export interface NetRow {
  key: string;
  dataset: string;
  arch: string;
  kind: 'fdnn' | 'cnn';
  synapses: number;
  group: '<4096' | '4096-8192' | '>8192';
  hiddenUnits: number;
  convLayers: number;
  filters: number;
  pool: number;
  trainAccuracy: number;
  testAccuracy: number;
  /** Mean test accuracy per level count (string keys: JSON). */
  quantized: Record<string, number>;
  epochs: number;
  seed: number;
  trainSeconds: number;
}

type PaperArch = { arch: string; mnist: [number, number]; fashion: [number, number] };
/** Seed 000 Tables 4, 5, 7 (one duplicate row dropped) and 12: train / test accuracy. */
export const PAPER_ARCHS: Record<string, PaperArch[]> = {
  '4': [
    { arch: 'dense:4', mnist: [0.88, 0.87], fashion: [0.84, 0.81] },
    { arch: 'dense:4,4', mnist: [0.84, 0.85], fashion: [0.79, 0.79] },
    { arch: 'dense:4,4,4', mnist: [0.83, 0.83], fashion: [0.77, 0.76] },
    { arch: 'dense:4,4,4,4', mnist: [0.82, 0.81], fashion: [0.74, 0.76] },
  ],
  '5': [
    { arch: 'dense:8', mnist: [0.927, 0.914], fashion: [NaN, NaN] },
    { arch: 'dense:8,8', mnist: [0.933, 0.917], fashion: [NaN, NaN] },
    { arch: 'dense:8,8,8', mnist: [0.929, 0.918], fashion: [NaN, NaN] },
    { arch: 'dense:8,8,8,8', mnist: [0.925, 0.911], fashion: [NaN, NaN] },
  ],
  '7': [
    { arch: 'cnn:1x16/p4/h8', mnist: [0.985, 0.974], fashion: [0.883, 0.857] },
    { arch: 'cnn:1x8/p4/h16', mnist: [0.984, 0.977], fashion: [0.887, 0.858] },
    { arch: 'cnn:2x16/p3/h32', mnist: [0.989, 0.982], fashion: [0.88, 0.847] },
    { arch: 'cnn:2x16/p2/h8', mnist: [0.99, 0.981], fashion: [0.892, 0.853] },
    { arch: 'cnn:1x16/p5/h16', mnist: [0.989, 0.977], fashion: [0.892, 0.862] },
    { arch: 'cnn:1x32/p5/h8', mnist: [0.988, 0.975], fashion: [0.893, 0.864] },
    { arch: 'cnn:1x8/p5/h32', mnist: [0.984, 0.971], fashion: [0.894, 0.863] },
    { arch: 'cnn:2x16/p3/h64', mnist: [0.992, 0.985], fashion: [0.885, 0.858] },
    { arch: 'cnn:2x8/p2/h32', mnist: [0.99, 0.981], fashion: [0.891, 0.859] },
  ],
  '12': [
    { arch: 'cnn:1x8/p5/h8', mnist: [0.968, 0.966], fashion: [0.861, 0.841] },
    { arch: 'cnn:1x16/p6/h8', mnist: [0.973, 0.968], fashion: [0.865, 0.847] },
    { arch: 'cnn:1x8/p4/h8', mnist: [0.978, 0.972], fashion: [0.875, 0.843] },
    { arch: 'cnn:2x16/p3/h8', mnist: [0.98, 0.975], fashion: [0.872, 0.847] },
    { arch: 'cnn:2x16/p4/h32', mnist: [0.974, 0.965], fashion: [0.871, 0.844] },
    { arch: 'cnn:2x8/p3/h64', mnist: [0.982, 0.978], fashion: [0.867, 0.841] },
    { arch: 'cnn:1x16/p5/h8', mnist: [0.977, 0.965], fashion: [0.88, 0.858] },
    { arch: 'cnn:1x8/p5/h16', mnist: [0.978, 0.97], fashion: [0.879, 0.859] },
    { arch: 'cnn:2x16/p3/h16', mnist: [0.986, 0.982], fashion: [0.881, 0.848] },
    { arch: 'cnn:2x8/p2/h16', mnist: [0.988, 0.984], fashion: [0.882, 0.846] },
  ],
};
/** The paper's Table 5 prints one set of numbers (MNIST); Fashion-MNIST is not given. */

/** Seed 000 Tables 1 and 6 (full precision, test subset) and 11 (quantized, per level): the numbers ours stand beside. */
export const PAPER_STATS = {
  t1: { mnist: { fdnn: { p: 2.16e-14, rho: 0.97 }, cnn: { p: 2.2e-16, rho: 0.81 } }, fashion: { fdnn: { p: 3.13e-6, rho: 0.93 }, cnn: { p: 2.2e-16, rho: 0.8 } } },
  t2: { mnist: { fdnn: { p: 2.2e-16, rho: 0.98 }, cnn: { p: 2.2e-16, rho: 0.57 } }, fashion: { fdnn: { p: 6.53e-12, rho: 0.95 }, cnn: { p: 3.63e-10, rho: 0.38 } } },
  t6: { mnist: { fdnn: 0.021, cnn: 1.79e-7 }, fashion: { fdnn: 0.021, cnn: 2.52e-8 } },
  /** Tables 8-9: mean over levels 2..8 of Spearman (p, rho) of accuracy with synapses (t8) and hidden units (t9). */
  t8: { mnist: { fdnn: { p: 2.639e-6, rho: 0.92 }, cnn: { p: 6.05e-18, rho: 0.65 } }, fashion: { fdnn: { p: 0.0007, rho: 0.83 }, cnn: { p: 9.28e-18, rho: 0.69 } } },
  t9: { mnist: { fdnn: { p: 9.88e-11, rho: 0.95 }, cnn: { p: 8.0e-17, rho: 0.62 } }, fashion: { fdnn: { p: 5.85e-5, rho: 0.89 }, cnn: { p: 5.62e-15, rho: 0.58 } } },
  t11: {
    mnist: { fdnn: [0.08, 0.39, 0.56, 0.77, 0.04, 0.15, 0.08], cnn: [1.34e-3, 2.4e-3, 3.19e-4, 0.37e-5, 4.07e-6, 7.02e-6, 2.5e-4] },
    fashion: { fdnn: [1.0, 0.25, 0.39, 0.25, 0.15, 0.25, 0.15], cnn: [3.24e-2, 5.14e-4, 9.45e-2, 2.49e-3, 3.19e-4, 1.57e-5, 9.75e-6] },
  } as Record<string, { fdnn: number[]; cnn: number[] }>,
};

export const TABLE_IDS = ['4', '5', '7', '12'];

export function defaultArchs(tables: string[] = TABLE_IDS): string[] {
  return [...new Set(tables.flatMap((t) => PAPER_ARCHS[t].map((a) => a.arch)))];
}

export function describeArch(text: string, g?: ImageGeometry): Pick<NetRow, 'kind' | 'synapses' | 'group' | 'hiddenUnits' | 'convLayers' | 'filters' | 'pool'> {
  const a: ArchSpec = parseArch(text);
  const n = synapses(a, g);
  const group = n < 4096 ? '<4096' : n <= 8192 ? '4096-8192' : '>8192';
  return a.kind === 'dense'
    ? { kind: 'fdnn', synapses: n, group, hiddenUnits: a.hidden.reduce((s, h) => s + h, 0), convLayers: 0, filters: 0, pool: 0 }
    : { kind: 'cnn', synapses: n, group, hiddenUnits: a.hidden, convLayers: a.convLayers, filters: a.filters, pool: a.pool };
}

// Below 1e-16 the tails' floating point says nothing more (R prints < 2.2e-16 there).
const fmtP = (p: number) => (Number.isNaN(p) ? 'n/a' : p < 1e-16 ? '< 1e-16' : p < 1e-3 ? p.toExponential(2) : p.toFixed(3));
/** The paper's p-values: R prints its floor as "< 2.2e-16" (stored here as 2.2e-16). */
const fmtPaperP = (p: number) => (p === 2.2e-16 ? '< 2.2e-16' : Number.isNaN(p) ? 'n/a' : p < 1e-3 ? p.toExponential(2) : p.toFixed(3));
const fmtR = (r: number) => (Number.isNaN(r) ? 'n/a' : r.toFixed(2));
const accOf = (r: NetRow, level?: number) => (level === undefined ? r.testAccuracy : r.quantized[String(level)]);

/** Spearman of accuracy with a property over a set of nets; n/a below 3 nets or when either side is constant. */
function corr(rows: NetRow[], prop: (r: NetRow) => number, level?: number): { rho: number; p: number; n: number } {
  const use = rows.filter((r) => Number.isFinite(accOf(r, level)));
  if (use.length < 3) return { rho: NaN, p: NaN, n: use.length };
  return spearman(use.map(prop), use.map((r) => accOf(r, level)));
}

/** Kruskal-Wallis between the < 4096 and 4096-8192 groups. */
function kw(rows: NetRow[], level?: number): { h: number; p: number; n: number } {
  const g = (name: string) => rows.filter((r) => r.group === name && Number.isFinite(accOf(r, level))).map((r) => accOf(r, level));
  const a = g('<4096');
  const b = g('4096-8192');
  if (!a.length || !b.length) return { h: NaN, p: NaN, n: a.length + b.length };
  return kruskalWallis([a, b]);
}

export function synapseBudgetResult(p: SynapseBudgetParams, rows: NetRow[], elapsed_s: number): Omit<StudyResult, 'points'> {
  const tables: StudyTable[] = [];
  const figures: StudyFigure[] = [];
  const checks: StudyResult['checks'] = [];
  const statistics: Record<string, unknown> = {};
  const by = (ds: string, kind: 'fdnn' | 'cnn') => rows.filter((r) => r.dataset === ds && r.kind === kind);
  const pct = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : (100 * x).toFixed(1));

  // Tables 4, 5, 7, 12: the paper's architectures, ours beside.
  for (const t of TABLE_IDS) {
    const archs = PAPER_ARCHS[t].filter((a) => p.archs.includes(a.arch));
    if (!archs.length) continue;
    tables.push({
      id: `t${t}`,
      title: `Table ${t}: ${t === '4' || t === '5' ? 'FdNN' : 'CNN'} ${t === '4' || t === '12' ? '< 4096' : '4096-8192'} synapses (accuracy %, train / test)`,
      header: ['architecture', 'synapses', ...p.datasets.flatMap((d) => [`${d} ours`, `${d} paper`])],
      rows: archs.map((a) => [
        a.arch,
        describeArch(a.arch).synapses,
        ...p.datasets.flatMap((d) => {
          const r = rows.find((x) => x.dataset === d && x.arch === a.arch);
          const pp = d === 'fashion' ? a.fashion : a.mnist;
          return [r ? `${pct(r.trainAccuracy)} / ${pct(r.testAccuracy)}` : '-', Number.isNaN(pp[0]) ? 'not given' : `${(100 * pp[0]).toFixed(1)} / ${(100 * pp[1]).toFixed(1)}`];
        }),
      ]),
      notes: [`Ours: ${p.epochs} epochs, SGD lr ${p.learningRate} momentum 0.9, batch ${p.batchSize}, seed ${p.seed} (one net per architecture and data set).`],
    });
  }

  // Tables 1-3 and 6 (full precision, test subset).
  const st: (string | number)[][] = [];
  const kwRows: (string | number)[][] = [];
  for (const d of p.datasets) {
    for (const kind of ['fdnn', 'cnn'] as const) {
      const rs = by(d, kind);
      if (!rs.length) continue;
      const s = corr(rs, (r) => r.synapses);
      const h = corr(rs, (r) => r.hiddenUnits);
      const ref1 = PAPER_STATS.t1[d as 'mnist']?.[kind];
      const ref2 = PAPER_STATS.t2[d as 'mnist']?.[kind];
      st.push([d, kind, rs.length, `${fmtR(s.rho)} (p ${fmtP(s.p)})`, ref1 ? `${ref1.rho} (p ${fmtPaperP(ref1.p)})` : '-', `${fmtR(h.rho)} (p ${fmtP(h.p)})`, ref2 ? `${ref2.rho} (p ${fmtPaperP(ref2.p)})` : '-']);
      const k = kw(rs);
      kwRows.push([d, kind, `${fmtP(k.p)} (H ${Number.isNaN(k.h) ? 'n/a' : k.h.toFixed(2)}, n ${k.n})`, fmtPaperP(PAPER_STATS.t6[d as 'mnist']?.[kind] ?? NaN)]);
      statistics[`${d}/${kind}/full`] = { synapses: s, hiddenUnits: h, kruskalWallis: k };
      if (kind === 'cnn') {
        const c = { convLayers: corr(rs, (r) => r.convLayers), filters: corr(rs, (r) => r.filters), pool: corr(rs, (r) => r.pool) };
        statistics[`${d}/cnn/full`] = { ...(statistics[`${d}/cnn/full`] as object), ...c };
      }
    }
  }
  tables.push({ id: 't1t2', title: 'Tables 1-2: Spearman of test accuracy with synapses and with hidden units (full precision)', header: ['dataset', 'net', 'nets', 'synapses: ours', 'paper', 'hidden units: ours', 'paper'], rows: st, notes: ['The paper\'s correlations run over every architecture it trained (up to 150,000 synapses); ours over the architectures of this study.'] });
  tables.push({ id: 't6', title: 'Table 6: Kruskal-Wallis between < 4096 and 4096-8192 synapses (test, full precision)', header: ['dataset', 'net', 'p ours', 'p paper'], rows: kwRows, notes: [] });
  const t3 = p.datasets.filter((d) => by(d, 'cnn').length).map((d) => {
    const c = statistics[`${d}/cnn/full`] as Record<string, { rho: number; p: number }>;
    return [d, ...['convLayers', 'filters', 'pool'].map((k) => `${fmtR(c[k].rho)} (p ${fmtP(c[k].p)})`)];
  });
  if (t3.length) tables.push({ id: 't3', title: 'Table 3: CNN test accuracy vs conv layers, filters and pool size (Spearman, full precision)', header: ['dataset', 'conv layers', 'filters', 'pool size'], rows: t3, notes: ['Paper (test): MNIST 0.182 (p 0.0041) / 0.399 (7.08e-11) / -0.375 (1.05e-9); Fashion -0.219 (0.0005) / 0.358 (6.46e-9) / -0.253 (5.41e-5).'] });

  // Tables 10-11: per level.
  const t11: (string | number)[][] = [];
  const t10: (string | number)[][] = [];
  for (const d of p.datasets) {
    for (const L of p.levels) {
      const f = kw(by(d, 'fdnn'), L);
      const c = kw(by(d, 'cnn'), L);
      const ref = PAPER_STATS.t11[d];
      t11.push([d, L, fmtP(f.p), ref ? fmtPaperP(ref.fdnn[L - 2] ?? NaN) : '-', fmtP(c.p), ref ? fmtPaperP(ref.cnn[L - 2] ?? NaN) : '-']);
      const cn = by(d, 'cnn');
      if (cn.length) t10.push([d, L, ...[(r: NetRow) => r.convLayers, (r: NetRow) => r.filters, (r: NetRow) => r.pool].map((fn) => { const x = corr(cn, fn, L); return `${fmtR(x.rho)} (p ${fmtP(x.p)})`; })]);
      statistics[`${d}/L${L}`] = { fdnn: { kruskalWallis: f, synapses: corr(by(d, 'fdnn'), (r) => r.synapses, L) }, cnn: { kruskalWallis: c, synapses: corr(cn, (r) => r.synapses, L) } };
    }
  }
  // Tables 8-9: the per-level correlations, averaged over the level counts (the paper's "mean values regardless of the quantization level").
  const t89: (string | number)[][] = [];
  for (const d of p.datasets)
    for (const kind of ['fdnn', 'cnn'] as const) {
      const rs = by(d, kind);
      if (rs.length < 3) continue;
      const avg = (prop: (r: NetRow) => number) => {
        const cs = p.levels.map((L) => corr(rs, prop, L)).filter((c) => Number.isFinite(c.rho));
        return cs.length ? { rho: cs.reduce((a, c) => a + c.rho, 0) / cs.length, p: cs.reduce((a, c) => a + c.p, 0) / cs.length, levels: cs.length } : { rho: NaN, p: NaN, levels: 0 };
      };
      const sy = avg((r) => r.synapses);
      const hu = avg((r) => r.hiddenUnits);
      const r8 = PAPER_STATS.t8[d as 'mnist']?.[kind];
      const r9 = PAPER_STATS.t9[d as 'mnist']?.[kind];
      t89.push([d, kind, rs.length, `${fmtR(sy.rho)} (p ${fmtP(sy.p)})`, r8 ? `${r8.rho} (p ${fmtPaperP(r8.p)})` : '-', `${fmtR(hu.rho)} (p ${fmtP(hu.p)})`, r9 ? `${r9.rho} (p ${fmtPaperP(r9.p)})` : '-']);
      statistics[`${d}/${kind}/levels-mean`] = { synapses: sy, hiddenUnits: hu };
    }
  if (t89.length) tables.push({ id: 't8t9', title: 'Tables 8-9: Spearman of quantized test accuracy with synapses and with hidden units, mean over the level counts', header: ['dataset', 'net', 'nets', 'synapses: ours', 'paper', 'hidden units: ours', 'paper'], rows: t89, notes: ['Per level count the correlation over the nets, then rho and p averaged over the level counts (the paper gives "mean values regardless of the quantization level").'] });
  tables.push({ id: 't11', title: `Table 11: Kruskal-Wallis between the budget groups per level count (device ${p.device})`, header: ['dataset', 'levels', 'FdNN p ours', 'FdNN p paper', 'CNN p ours', 'CNN p paper'], rows: t11, notes: ['Quantized accuracy: the mean test accuracy over the Monte Carlo trials of each net at that level count.'] });
  if (t10.length) tables.push({ id: 't10', title: 'Table 10: CNN accuracy vs conv layers / filters / pool size per level count (Spearman)', header: ['dataset', 'levels', 'conv layers', 'filters', 'pool size'], rows: t10, notes: [] });

  // Figures: accuracy vs synapses, boxplots per group.
  figures.push({ id: 'fig5', title: 'Test accuracy vs synapses (full precision)', kind: 'scatter', x: 'synapses', y: 'accuracy', series: p.datasets.flatMap((d) => (['fdnn', 'cnn'] as const).map((k) => ({ name: `${d} ${k}`, points: by(d, k).map((r) => [r.synapses, r.testAccuracy, r.arch]) }))) });
  const box = (vals: number[]) => {
    const s = [...vals].sort((a, b) => a - b);
    const q = (f: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(f * (s.length - 1))))];
    return [s[0], q(0.25), q(0.5), q(0.75), s[s.length - 1]];
  };
  figures.push({
    id: 'fig6',
    title: 'Test accuracy per synapse budget (full precision and per level count)',
    kind: 'box',
    x: 'group',
    y: 'accuracy',
    series: p.datasets.map((d) => ({
      name: d,
      points: ['<4096', '4096-8192'].flatMap((g) =>
        [undefined, ...p.levels].map((L) => {
          const v = rows.filter((r) => r.dataset === d && r.group === g).map((r) => accOf(r, L)).filter((x) => Number.isFinite(x));
          return v.length ? [`${g} ${L === undefined ? 'FP' : `${L} lv`}`, ...box(v)] : [`${g} ${L === undefined ? 'FP' : `${L} lv`}`];
        }),
      ),
    })),
  });
  // The paper's headline: 8192 synapses do better than 4096 whatever the net.
  for (const d of p.datasets) {
    const med = (g: string) => {
      const v = rows.filter((r) => r.dataset === d && r.group === g).map((r) => r.testAccuracy).sort((a, b) => a - b);
      return v.length ? v[Math.floor(v.length / 2)] : NaN;
    };
    const a = med('<4096');
    const b = med('4096-8192');
    if (Number.isFinite(a) && Number.isFinite(b)) checks.push({ claim: `${d}: nets with 4096-8192 synapses beat those under 4096 (medians, full precision)`, measured: `${pct(a)} % vs ${pct(b)} %`, holds: b > a });
    const cnn = by(d, 'cnn');
    const fd = by(d, 'fdnn');
    if (cnn.length && fd.length) {
      const bestC = Math.max(...cnn.map((r) => r.testAccuracy));
      const bestF = Math.max(...fd.map((r) => r.testAccuracy));
      checks.push({ claim: `${d}: the best CNN beats the best FdNN at these budgets`, measured: `${pct(bestC)} % vs ${pct(bestF)} %`, holds: bestC > bestF });
    }
  }
  return { format: 'rram-hil/study', version: 1, study: 'synapse-budget', params: p, tables, figures, checks, statistics, elapsed_s };
}
