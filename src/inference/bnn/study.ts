/**
 * `rram study bnn`: seed 003's Tables 1-5 regenerated on this machine - input crop, hidden size,
 * weight precision at a constant synapse-bit budget, activation precision with the ways batch
 * norm reaches the hardware, and multi-bit weights after merging - our accuracy beside the
 * paper's for every row. Every net is trained once and kept (`DIR/nets/KEY/`), so an interrupted
 * study resumes where it stopped.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from '../datasets.js';
import type { Tf } from '../tf-backend.js';
import { loadBnn, mergeBn, mergedAccuracy, type BnMerge, type BnnModel } from './model.js';
import { parseBnn, synapseBits } from './spec.js';
import { trainBnn } from './train.js';

export interface StudyRow {
  table: number;
  row: string;
  /** What was measured: the column name (e.g. "baseline", "signed merge"). */
  column: string;
  ours: number;
  paper: number;
  net: string;
  synapseBits?: number;
  /** Epochs and seed the row's net was trained with (a kept net may come from an earlier run with others). */
  epochs?: number;
  seed?: number;
}

export interface StudyOptions {
  out: string;
  epochs: number;
  seed: number;
  tables: number[];
  onNet?: (key: string, accuracy: number, seconds: number, trained: boolean) => void;
}

interface NetKey {
  sizes: number[];
  crop: number;
  weightBits: number;
  actBits: number;
  bn: boolean;
}

const key = (k: NetKey) => `bnn-${k.sizes.join('-')}_c${k.crop}_w${k.weightBits}_a${k.actBits}${k.bn ? '' : '_nobn'}`;

/** Seed 003's numbers, row by row (Tables 1-5). */
export const PAPER = {
  t1: [
    { crop: 28, acc: 96.08, bits: 118016 },
    { crop: 24, acc: 96.16, bits: 91392 },
    { crop: 20, acc: 96.23, bits: 68864 },
    { crop: 16, acc: 95.46, bits: 50432 },
    { crop: 12, acc: 90.38, bits: 36096 },
  ],
  t2: [
    { hidden: 192, acc: 96.74, bits: 115584 },
    { hidden: 160, acc: 96.61, bits: 91200 },
    { hidden: 128, acc: 96.23, bits: 68864 },
    { hidden: 96, acc: 94.82, bits: 48576 },
    { hidden: 64, acc: 93.49, bits: 30336 },
  ],
  t3: [
    { bits: 1, acc: 96.23 },
    { bits: 2, acc: 92.99 },
    { bits: 3, acc: 91.92 },
    { bits: 4, acc: 90.81 },
    { bits: 6, acc: 87.28 },
    { bits: 8, acc: 66.08 },
  ],
  t4: [
    { act: 1, baseline: 96.23, noBn: 9.57, sbn: 95.72, arithmetic: 87.54, signed: 95.97 },
    { act: 2, baseline: 95.97, noBn: 8.82, sbn: 91.36, arithmetic: 69.23, signed: 93.39 },
    { act: 3, baseline: 96.25, noBn: 8.99, sbn: 90.17, arithmetic: 65.98, signed: 88.14 },
    { act: 6, baseline: 96.71, noBn: 9.3, sbn: 90.21, arithmetic: 58.06, signed: 89.19 },
    { act: 8, baseline: 97.3, noBn: 9.27, sbn: 89.11, arithmetic: 57.89, signed: 89.0 },
  ],
  t5: [
    { bits: 1, baseline: 96.23, arithmetic: 87.54, signed: 95.97 },
    { bits: 2, baseline: 96.84, arithmetic: 9.58, signed: 96.87 },
    { bits: 3, baseline: 97.08, arithmetic: 95.09, signed: 97.06 },
    { bits: 4, baseline: 96.83, arithmetic: 96.43, signed: 96.82 },
    { bits: 6, baseline: 97.17, arithmetic: 96.97, signed: 97.16 },
    { bits: 8, baseline: 96.82, arithmetic: 96.87, signed: 96.76 },
  ],
};

/** Hidden width that keeps 400-H-H-10 at the 1-bit net's synapse bits (68,864) with B-bit weights (Table 3). */
export function hiddenForBudget(bits: number, budget = 68864): number {
  // (400 H + H^2 + 10 H) B = budget
  const c = budget / bits;
  return Math.max(1, Math.round((-410 + Math.sqrt(410 * 410 + 4 * c)) / 2));
}

export async function bnnStudy(tf: Tf, backend: string, ds: Dataset, o: StudyOptions): Promise<StudyRow[]> {
  mkdirSync(join(o.out, 'nets'), { recursive: true });
  const cache = new Map<string, BnnModel>();
  // What each net was trained with, from its report.json: a rerun keeps nets whatever --epochs says now.
  const trainedWith = new Map<string, { epochs?: number; seed?: number }>();
  const net = async (k: NetKey): Promise<BnnModel> => {
    const name = key(k);
    const dir = join(o.out, 'nets', name);
    if (cache.has(name)) return cache.get(name)!;
    let m: BnnModel;
    const t0 = performance.now();
    let trained = false;
    if (existsSync(join(dir, 'bnn.json'))) m = loadBnn(dir);
    else {
      const spec = parseBnn(`bnn:${k.sizes.join('-')}`, { crop: k.crop, weightBits: k.weightBits, actBits: k.actBits, bn: k.bn });
      m = (await trainBnn(tf, backend, ds, { spec, epochs: o.epochs, seed: o.seed, learningRate: 0.01, batchSize: 200, out: dir })).model;
      trained = true;
    }
    cache.set(name, m);
    try {
      const r = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { epochs?: number; seed?: number };
      trainedWith.set(name, { epochs: r.epochs, seed: r.seed });
    } catch {
      trainedWith.set(name, {}); // no report: unknown, and the tables say so
    }
    o.onNet?.(name, acc(m, 'none'), (performance.now() - t0) / 1000, trained);
    return m;
  };
  const acc = (m: BnnModel, merge: BnMerge) => 100 * mergedAccuracy(mergeBn(m, merge), ds.test);
  const rows: StudyRow[] = [];
  const add = (table: number, row: string, column: string, ours: number, paper: number, m: BnnModel) => {
    const net = key({ sizes: m.spec.sizes, crop: m.spec.crop, weightBits: m.spec.weightBits, actBits: m.spec.actBits, bn: m.spec.bn });
    rows.push({ table, row, column, ours: +ours.toFixed(2), paper, net, synapseBits: synapseBits(m.spec), ...trainedWith.get(net) });
  };
  const base = (sizes: number[], crop: number, weightBits = 1, actBits = 1, bn = true): NetKey => ({ sizes, crop, weightBits, actBits, bn });

  if (o.tables.includes(1))
    for (const p of PAPER.t1) {
      const m = await net(base([p.crop * p.crop, 128, 128, 10], p.crop));
      add(1, `${p.crop}x${p.crop}`, 'accuracy', acc(m, 'none'), p.acc, m);
    }
  if (o.tables.includes(2))
    for (const p of PAPER.t2) {
      const m = await net(base([400, p.hidden, p.hidden, 10], 20));
      add(2, `${p.hidden}, ${p.hidden}`, 'accuracy', acc(m, 'none'), p.acc, m);
    }
  if (o.tables.includes(3))
    for (const p of PAPER.t3) {
      const h = hiddenForBudget(p.bits);
      const m = await net(base([400, h, h, 10], 20, p.bits));
      add(3, `${p.bits}-bit (hidden ${h})`, 'accuracy', acc(m, 'none'), p.acc, m);
    }
  if (o.tables.includes(4))
    for (const p of PAPER.t4) {
      const m = await net(base([400, 128, 128, 10], 20, 1, p.act));
      const nobn = await net(base([400, 128, 128, 10], 20, 1, p.act, false));
      add(4, `${p.act}-bit`, 'baseline (w/ BN)', acc(m, 'none'), p.baseline, m);
      add(4, `${p.act}-bit`, 'w/o BN', acc(nobn, 'none'), p.noBn, nobn);
      add(4, `${p.act}-bit`, 'w/ SBN', acc(m, 'sbn'), p.sbn, m);
      add(4, `${p.act}-bit`, 'arithmetic merge', acc(m, 'arithmetic'), p.arithmetic, m);
      add(4, `${p.act}-bit`, 'signed merge', acc(m, 'signed'), p.signed, m);
    }
  if (o.tables.includes(5))
    for (const p of PAPER.t5) {
      const m = await net(base([400, 128, 128, 10], 20, p.bits));
      add(5, `${p.bits}-bit`, 'baseline', acc(m, 'none'), p.baseline, m);
      add(5, `${p.bits}-bit`, 'arithmetic merge', acc(m, 'arithmetic'), p.arithmetic, m);
      add(5, `${p.bits}-bit`, 'signed merge', acc(m, 'signed'), p.signed, m);
    }
  writeFileSync(join(o.out, 'study.json'), JSON.stringify({ format: 'rram-hil/study-bnn', epochs: o.epochs, seed: o.seed, dataset: ds.name, rows }, null, 1) + '\n');
  writeFileSync(join(o.out, 'study.md'), studyMarkdown(rows));
  return rows;
}

const TITLES: Record<number, string> = {
  1: 'Table 1: input crop (hidden 128, 128; 1-bit weights and activations)',
  2: 'Table 2: hidden size (crop 20x20)',
  3: 'Table 3: weight precision at a constant 68,864 synapse bits (1-bit activations; hidden width adjusted)',
  4: 'Table 4: activation precision and batch norm (400-128-128-10, 1-bit weights)',
  5: 'Table 5: multi-bit weights after merging (400-128-128-10, 1-bit activations)',
};

export function studyMarkdown(rows: StudyRow[]): string {
  const set = (xs: (number | undefined)[]) => [...new Set(xs.map((x) => (x === undefined ? 'unknown' : String(x))))].join(', ');
  const out: string[] = [`Accuracy on the MNIST test set (%), ours (nets trained ${set(rows.map((r) => r.epochs))} epochs with Adam, seed ${set(rows.map((r) => r.seed))}) beside seed 003's.\n`];
  for (const t of [...new Set(rows.map((r) => r.table))]) {
    const rs = rows.filter((r) => r.table === t);
    const cols = [...new Set(rs.map((r) => r.column))];
    out.push(`### ${TITLES[t]}\n`);
    out.push(`| row | ${cols.map((c) => `${c}: ours / paper`).join(' | ')} | synapse bits |`);
    out.push(`|---|${cols.map(() => '---').join('|')}|---|`);
    for (const row of [...new Set(rs.map((r) => r.row))]) {
      const cells = cols.map((c) => {
        const r = rs.find((x) => x.row === row && x.column === c);
        return r ? `${r.ours.toFixed(2)} / ${r.paper.toFixed(2)}` : '-';
      });
      out.push(`| ${row} | ${cells.join(' | ')} | ${rs.find((x) => x.row === row)!.synapseBits} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** A study's rows from its folder (for docs and tests). */
export const readStudy = (dir: string): StudyRow[] => JSON.parse(readFileSync(join(dir, 'study.json'), 'utf8')).rows;
