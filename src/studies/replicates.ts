/**
 * `--replicates K`: every table cell measured with K seeds. Replicate 0 runs with the study's
 * seed and keeps the point keys it always had (a K = 1 study is exactly the study it was);
 * replicate r > 0 runs with a seed derived from (study seed, r) and the key `KEY@rR`. Every cell
 * of a replicate shares its seed, as every cell of a study always did (common draws: differences
 * between cells are not blurred by draw noise). The tables, figures and checks of the K
 * replicates are merged: a number that differs between them becomes "mean ± sd" (sample standard
 * deviation over the seeds), one that does not stays as it is.
 */
import { replicateKey, replicateSeed } from '../../lib/replicate-seed.js';
import type { StudyFigure, StudyResult, StudyTable } from './study-output.js';

export const MAX_REPLICATES = 100;

export { replicateKey, replicateSeed };

export function replicateOf(key: string): { key: string; replicate: number } {
  const m = /^(.*)@r(\d+)$/.exec(key);
  return m ? { key: m[1], replicate: Number(m[2]) } : { key, replicate: 0 };
}

/** Rows of replicate r with their plain keys; a point run once for every replicate (noise-free) stands in for each. */
export function rowsOfReplicate<R extends { key: string }>(rows: R[], r: number): R[] {
  const mine = new Map<string, R>();
  for (const row of rows) {
    const { key, replicate } = replicateOf(row.key);
    if (replicate === r || (replicate === 0 && !mine.has(key))) mine.set(key, { ...row, key });
  }
  return [...mine.values()];
}

const NUMBER = /(?<![\w.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.])/gi;

const decimals = (t: string) => (/e/i.test(t) ? -1 : (t.split('.')[1]?.length ?? 0));

function meanSd(xs: number[]): [number, number] {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1) : 0;
  return [m, Math.sqrt(v)];
}

/** "m ± sd" in the inputs' own precision (exponent form if any input had one). */
function fmtMeanSd(texts: string[]): string {
  const [m, sd] = meanSd(texts.map(Number));
  const d = texts.map(decimals);
  if (d.includes(-1)) return `${m.toExponential(2)} ± ${sd.toExponential(1)}`;
  const k = Math.max(...d);
  return `${m.toFixed(k)} ± ${sd.toFixed(k)}`;
}

/** The replicates' versions of one text merged number by number when they differ only in numbers; else each seed's text. */
export function mergeText(texts: string[]): string {
  if (texts.every((t) => t === texts[0])) return texts[0];
  const skel = texts.map((t) => t.split(NUMBER));
  const nums = texts.map((t) => t.match(NUMBER) ?? []);
  const same = skel.every((s) => s.length === skel[0].length && s.every((x, i) => x === skel[0][i]));
  if (!same) return texts.map((t, r) => `seed ${r + 1}: ${t}`).join(' | ');
  return skel[0].map((s, i) => s + (i < nums[0].length ? (nums.every((n) => n[i] === nums[0][i]) ? nums[0][i] : fmtMeanSd(nums.map((n) => n[i]))) : '')).join('');
}

export function mergeCell(cells: (string | number)[]): string | number {
  if (cells.every((c) => c === cells[0])) return cells[0];
  if (cells.every((c) => typeof c === 'number' && Number.isFinite(c))) return fmtMeanSd(cells.map(String));
  return mergeText(cells.map(String));
}

function mergeTable(ts: StudyTable[], k: number): StudyTable {
  const t0 = ts[0];
  const rows = t0.rows.map((row, i) => row.map((_, j) => mergeCell(ts.map((t) => t.rows[i]?.[j] ?? '-'))));
  const notes = t0.notes.map((_, i) => mergeText(ts.map((t) => t.notes[i] ?? '')));
  return { ...t0, title: mergeText(ts.map((t) => t.title)), rows, notes: [...notes, `Mean ± standard deviation over ${k} seeds (--replicates ${k}); a value the same for every seed is shown once.`] };
}

function mergeFigure(fs: StudyFigure[]): StudyFigure {
  const f0 = fs[0];
  return {
    ...f0,
    series: f0.series.map((s0) => {
      const all = fs.map((f) => f.series.find((s) => s.name === s0.name)?.points ?? []);
      // Distributions pool every seed's trials; everything else averages point by point.
      if (f0.kind === 'histogram') return { ...s0, points: all.flat() };
      if (f0.kind === 'cdf') {
        const xs = all.flat().map((p) => Number(p[0])).sort((a, b) => a - b);
        return { ...s0, points: xs.map((x, i) => [x, (i + 1) / xs.length]) };
      }
      // A coordinate every seed shares (an x, a grid position) stays exact; only measured values are averaged.
      const at = (i: number, j: number) => all.map((ps) => Number(ps[i]?.[j] ?? NaN));
      return { ...s0, points: s0.points.map((pt, i) => pt.map((v, j) => (typeof v !== 'number' || at(i, j).every((x) => x === v) ? v : meanSd(at(i, j))[0]))) };
    }),
  };
}

/** One result from the K replicates' results (same tables, figures and checks, by position and id). */
export function mergeReplicates(rs: Omit<StudyResult, 'points'>[]): Omit<StudyResult, 'points'> {
  const k = rs.length;
  const r0 = rs[0];
  const tables = r0.tables.map((t) => mergeTable(rs.map((r) => r.tables.find((x) => x.id === t.id) ?? t), k));
  const figures = r0.figures.map((f) => mergeFigure(rs.map((r) => r.figures.find((x) => x.id === f.id) ?? f)));
  const checks = r0.checks.map((c, i) => {
    const cs = rs.map((r) => r.checks.find((x) => x.claim === c.claim) ?? r.checks[i] ?? c);
    const holds = cs.filter((x) => x.holds).length;
    return { claim: c.claim, measured: `${mergeText(cs.map((x) => x.measured))} (holds for ${holds} of ${k} seeds)`, holds: holds === k };
  });
  return { ...r0, tables, figures, checks, ...(r0.statistics !== undefined ? { statistics: { replicates: rs.map((r) => r.statistics) } } : {}) };
}
