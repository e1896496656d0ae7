/**
 * What every study writes beside its points: DIR/study.json (params, rows with every trial's
 * accuracy, the paper-vs-ours tables, statistics), DIR/points.csv (one line per point) and
 * DIR/study.md (the tables as Markdown, each difference explained in a note).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { csv } from '../io/csv-text.js';
import type { PointRow } from './mc-point.js';
import type { StudyParams } from './point-store.js';

/** A table as the paper prints it, ours beside theirs where the paper has a number. */
export interface StudyTable {
  id: string;
  title: string;
  header: string[];
  rows: (string | number)[][];
  /** Sentences under the table: how it was made, why ours differs. */
  notes: string[];
  /** Columns that hold wall times (blanked when two runs of a study are compared). */
  timing?: number[];
}

/** A figure's data for the dashboard (series of points, or boxes). */
export interface StudyFigure {
  id: string;
  title: string;
  kind: 'line' | 'box' | 'histogram' | 'cdf' | 'scatter' | 'heatmap';
  x: string;
  y: string;
  series: { name: string; points: (number | string)[][] }[];
}

export interface StudyResult {
  format: 'rram-hil/study';
  version: 1;
  study: string;
  params: StudyParams;
  tables: StudyTable[];
  figures: StudyFigure[];
  /** Named checks of the paper's qualitative claims: what was claimed, what we measured, whether it holds. */
  checks: { claim: string; measured: string; holds: boolean }[];
  statistics?: unknown;
  points: number;
  elapsed_s: number;
}

export const pct2 = (x: number): number => +(100 * x).toFixed(2);

const POINT_COLUMNS = ['key', 'device', 'levels', 'scheme', 'dynamic_range', 'quantizer', 'scope', 'adc_bits', 'tile', 'stuck_hrs', 'stuck_lrs', 'max_input_V', 'endurance_cycles', 'retention_s', 'only_layer', 'trials', 'images', 'float', 'noise_free', 'mean', 'std', 'min', 'p5', 'p25', 'p50', 'p75', 'p95', 'max', 'arrays', 'elapsed_s'];

export function pointsCsv(rows: PointRow[]): string {
  return csv([
    POINT_COLUMNS,
    ...rows.map((r) => [r.key, r.device, r.levels, r.scheme, r.dynamicRange ?? '', r.quantizer ?? 'nearest', r.scope ?? 'layer', r.adcBits ?? '', r.tile ?? 64, r.stuckHrs ?? 0, r.stuckLrs ?? 0, r.maxInput_V ?? '', r.endurance?.cycles ?? '', r.retention?.t_s ?? '', r.onlyLayer ?? '', r.trials, r.images, r.floatAccuracy, r.quantizedAccuracy, r.summary.mean, r.summary.std, r.summary.min, r.summary.p5, r.summary.p25, r.summary.p50, r.summary.p75, r.summary.p95, r.summary.max, r.arrays, +r.elapsed_s.toFixed(3)]),
  ]);
}

export function studyMarkdown(res: StudyResult): string {
  const out: string[] = [`# rram study ${res.study}`, '', `Options: \`${JSON.stringify(res.params)}\``, ''];
  for (const t of res.tables) {
    out.push(`## ${t.title}`, '', `| ${t.header.join(' | ')} |`, `|${t.header.map(() => '---').join('|')}|`);
    for (const r of t.rows) out.push(`| ${r.join(' | ')} |`);
    out.push('', ...t.notes.map((n) => `- ${n}`), '');
  }
  if (res.checks.length) {
    out.push('## The paper\'s claims, checked', '', '| claim | measured | holds |', '|---|---|---|');
    for (const c of res.checks) out.push(`| ${c.claim} | ${c.measured} | ${c.holds ? 'yes' : 'no'} |`);
    out.push('');
  }
  return out.join('\n');
}

/** Fields that hold wall times: everything else in study.json is the same however the points were run. */
export const TIMING_FIELDS = ['elapsed_s', 'trainSeconds'];

/** study.json without its timings (the timing fields, the tables' timing columns): equal across worker counts and job orders. */
export function withoutTimings(study: unknown): unknown {
  return JSON.parse(JSON.stringify(study, function (this: unknown, k, v) {
    if (TIMING_FIELDS.includes(k)) return undefined;
    const t = v as Partial<StudyTable> | undefined;
    if (t && typeof t === 'object' && Array.isArray(t.timing) && Array.isArray(t.rows)) return { ...t, rows: t.rows.map((r) => r.map((c, j) => (t.timing!.includes(j) ? 'timing' : c))) };
    return v;
  }));
}

/** Writes study.json, points.csv and study.md; returns the file names. */
export function writeStudy(dir: string, res: StudyResult, rows: PointRow[]): string[] {
  writeFileSync(join(dir, 'study.json'), JSON.stringify({ ...res, rows }) + '\n');
  writeFileSync(join(dir, 'points.csv'), pointsCsv(rows));
  writeFileSync(join(dir, 'study.md'), studyMarkdown(res));
  return ['study.json', 'points.csv', 'study.md', 'points.ndjson', 'params.json'];
}
