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
import { replicateKey, replicateSeed } from '../../../lib/replicate-seed.js';
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
  /** --replicates K > 1: `ours` is the mean over the K seeds, `std` their sample standard deviation. */
  std?: number;
  oursPerSeed?: number[];
  seeds?: (number | undefined)[];
}

export interface StudyOptions {
  out: string;
  epochs: number;
  seed: number;
  tables: number[];
  /** Seeds per net (default 1): each row's `ours` is the mean over them. */
  replicates?: number;
  onNet?: (key: string, accuracy: number, seconds: number, trained: boolean) => void;
}

export interface NetKey {
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

/** One row cell of a table: which net, evaluated with which merge, against which paper number. */
interface RowSpec {
  table: number;
  row: string;
  column: string;
  net: NetKey;
  merge: BnMerge;
  paper: number;
}

const base = (sizes: number[], crop: number, weightBits = 1, actBits = 1, bn = true): NetKey => ({ sizes, crop, weightBits, actBits, bn });

/** Every cell of the chosen tables, in the tables' order (nets train in the order they first appear). */
function studyPlan(tables: number[]): RowSpec[] {
  const out: RowSpec[] = [];
  const cell = (table: number, row: string, column: string, net: NetKey, merge: BnMerge, paper: number) => out.push({ table, row, column, net, merge, paper });
  if (tables.includes(1)) for (const p of PAPER.t1) cell(1, `${p.crop}x${p.crop}`, 'accuracy', base([p.crop * p.crop, 128, 128, 10], p.crop), 'none', p.acc);
  if (tables.includes(2)) for (const p of PAPER.t2) cell(2, `${p.hidden}, ${p.hidden}`, 'accuracy', base([400, p.hidden, p.hidden, 10], 20), 'none', p.acc);
  if (tables.includes(3))
    for (const p of PAPER.t3) {
      const h = hiddenForBudget(p.bits);
      cell(3, `${p.bits}-bit (hidden ${h})`, 'accuracy', base([400, h, h, 10], 20, p.bits), 'none', p.acc);
    }
  if (tables.includes(4))
    for (const p of PAPER.t4) {
      const m = base([400, 128, 128, 10], 20, 1, p.act);
      const row = `${p.act}-bit`;
      cell(4, row, 'baseline (w/ BN)', m, 'none', p.baseline);
      cell(4, row, 'w/o BN', base([400, 128, 128, 10], 20, 1, p.act, false), 'none', p.noBn);
      cell(4, row, 'w/ SBN', m, 'sbn', p.sbn);
      cell(4, row, 'arithmetic merge', m, 'arithmetic', p.arithmetic);
      cell(4, row, 'signed merge', m, 'signed', p.signed);
    }
  if (tables.includes(5))
    for (const p of PAPER.t5) {
      const m = base([400, 128, 128, 10], 20, p.bits);
      cell(5, `${p.bits}-bit`, 'baseline', m, 'none', p.baseline);
      cell(5, `${p.bits}-bit`, 'arithmetic merge', m, 'arithmetic', p.arithmetic);
      cell(5, `${p.bits}-bit`, 'signed merge', m, 'signed', p.signed);
    }
  return out;
}

/** A net of the study in replicate r: its folder name under OUT/nets, and the seed it trains with. */
export interface StudyNet {
  name: string;
  net: NetKey;
  seed: number;
}

/** The nets the chosen tables need, for every replicate (replicate 0 keeps the names it always had). */
export function studyNets(tables: number[], seed: number, replicates = 1): StudyNet[] {
  const seen = new Map<string, NetKey>();
  for (const c of studyPlan(tables)) seen.set(key(c.net), c.net);
  return Array.from({ length: replicates }, (_, r) => [...seen].map(([name, net]) => ({ name: replicateKey(name, r), net, seed: replicateSeed(seed, r) }))).flat();
}

/** Trains one net of the study (as `rram train --arch bnn:...` would, with the study's settings). */
export async function trainStudyNet(tf: Tf, backend: string, ds: Dataset, n: StudyNet, epochs: number, out: string, onEpoch?: (epoch: number) => void): Promise<BnnModel> {
  const spec = parseBnn(`bnn:${n.net.sizes.join('-')}`, { crop: n.net.crop, weightBits: n.net.weightBits, actBits: n.net.actBits, bn: n.net.bn });
  return (await trainBnn(tf, backend, ds, { spec, epochs, seed: n.seed, learningRate: 0.01, batchSize: 200, out, onEpoch })).model;
}

export async function bnnStudy(tf: Tf, backend: string, ds: Dataset, o: StudyOptions): Promise<StudyRow[]> {
  mkdirSync(join(o.out, 'nets'), { recursive: true });
  const k = o.replicates ?? 1;
  const cache = new Map<string, BnnModel>();
  // What each net was trained with, from its report.json: a rerun keeps nets whatever --epochs says now.
  const trainedWith = new Map<string, { epochs?: number; seed?: number }>();
  const net = async (n: StudyNet): Promise<BnnModel> => {
    const dir = join(o.out, 'nets', n.name);
    if (cache.has(n.name)) return cache.get(n.name)!;
    let m: BnnModel;
    const t0 = performance.now();
    let trained = false;
    if (existsSync(join(dir, 'bnn.json'))) m = loadBnn(dir);
    else {
      m = await trainStudyNet(tf, backend, ds, n, o.epochs, dir);
      trained = true;
    }
    cache.set(n.name, m);
    try {
      const r = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { epochs?: number; seed?: number };
      trainedWith.set(n.name, { epochs: r.epochs, seed: r.seed });
    } catch {
      trainedWith.set(n.name, {}); // no report: unknown, and the tables say so
    }
    o.onNet?.(n.name, acc(m, 'none'), (performance.now() - t0) / 1000, trained);
    return m;
  };
  const acc = (m: BnnModel, merge: BnMerge) => 100 * mergedAccuracy(mergeBn(m, merge), ds.test);
  const rows: StudyRow[] = [];
  for (const c of studyPlan(o.tables)) {
    const ours: number[] = [];
    const seeds: (number | undefined)[] = [];
    let m: BnnModel | undefined;
    for (let r = 0; r < k; r++) {
      const name = replicateKey(key(c.net), r);
      m = await net({ name, net: c.net, seed: replicateSeed(o.seed, r) });
      ours.push(+acc(m, c.merge).toFixed(2));
      seeds.push(trainedWith.get(name)?.seed);
    }
    const name = key(c.net);
    const spread = k > 1 ? { std: +sampleSd(ours).toFixed(2), oursPerSeed: ours, seeds } : {};
    rows.push({ table: c.table, row: c.row, column: c.column, ours: +(ours.reduce((a, b) => a + b, 0) / k).toFixed(2), paper: c.paper, net: name, synapseBits: synapseBits(m!.spec), ...trainedWith.get(name), ...spread });
  }
  writeFileSync(join(o.out, 'study.json'), JSON.stringify({ format: 'rram-hil/study-bnn', epochs: o.epochs, seed: o.seed, ...(k > 1 ? { replicates: k } : {}), dataset: ds.name, rows }, null, 1) + '\n');
  writeFileSync(join(o.out, 'study.md'), studyMarkdown(rows));
  return rows;
}

function sampleSd(xs: number[]): number {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
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
  const k = rows.find((r) => r.oursPerSeed)?.oursPerSeed?.length;
  const seeds = set(rows.flatMap((r) => r.seeds ?? [r.seed]));
  const out: string[] = [`Accuracy on the MNIST test set (%), ours (${k ? `mean ± sd over ${k} seeds, ` : ''}nets trained ${set(rows.map((r) => r.epochs))} epochs with Adam, seed${k ? 's' : ''} ${seeds}) beside seed 003's.\n`];
  for (const t of [...new Set(rows.map((r) => r.table))]) {
    const rs = rows.filter((r) => r.table === t);
    const cols = [...new Set(rs.map((r) => r.column))];
    out.push(`### ${TITLES[t]}\n`);
    out.push(`| row | ${cols.map((c) => `${c}: ours / paper`).join(' | ')} | synapse bits |`);
    out.push(`|---|${cols.map(() => '---').join('|')}|---|`);
    for (const row of [...new Set(rs.map((r) => r.row))]) {
      const cells = cols.map((c) => {
        const r = rs.find((x) => x.row === row && x.column === c);
        return r ? `${r.ours.toFixed(2)}${r.std !== undefined ? ` ± ${r.std.toFixed(2)}` : ''} / ${r.paper.toFixed(2)}` : '-';
      });
      out.push(`| ${row} | ${cells.join(' | ')} | ${rs.find((x) => x.row === row)!.synapseBits} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** A study's rows from its folder (for docs and tests). */
export const readStudy = (dir: string): StudyRow[] => JSON.parse(readFileSync(join(dir, 'study.json'), 'utf8')).rows;
