/**
 * Issue 27's goals on the emulated board (`node dist/bench/run.js fine-tune [PART] [DIR]`), each
 * through the `rram` command as a user runs it (every command line is printed with its result):
 *  - cnn: seed 000's cnn:2x8/p2/h16 at 8 levels, progressive fine-tuning, read-back >= 98.0 %;
 *  - dense: dense:32,32 at 4 levels, 3 board seeds, 10 % of the training images per layer: median
 *    share of the gap (software - read-back without fine-tuning) recovered >= 75 %;
 *  - hw: `rram train --hw-aware` at 4 levels: Monte Carlo mean >= 3 points above plain training,
 *    float accuracy within 1 point;
 *  - cost (from cnn and dense): fine-tuning adds < 50 % to program-net's wall time. The twin
 *    baseline is the same net programmed without fine-tuning in the same process on a new board of
 *    the same seed; its wall time is the plain program-net's, the rest of the run the fine-tuned one's.
 * PART (default all) runs one of them; DIR (default a new temporary folder) keeps the level CDFs
 * and the trained nets, so parts can run one after the other or side by side on the same DIR.
 * A goal missed sets a non-zero exit code.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

function rram(dir: string, args: string[]): { json: any; wall_s: number } {
  process.stderr.write(`$ rram ${args.join(' ')}\n`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [main, ...args, '--json'], { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`rram ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { json: JSON.parse(r.stdout), wall_s: (performance.now() - t0) / 1000 };
}

/** The level CDFs (128 cells per level, board seed 1) and the two nets as docs/benchmarks.md trained them, made once per DIR. */
function prepare(dir: string, what: 'cdf4' | 'cdf8' | 'd32' | 'cnn'): string {
  const out = { cdf4: 'cdf4.json', cdf8: 'cdf8.json', d32: 'd32', cnn: 'cnn' }[what];
  if (existsSync(join(dir, out))) return out;
  if (what === 'cdf4' || what === 'cdf8') rram(dir, ['characterize', '--levels', what === 'cdf4' ? '4' : '8', '--cells-per-level', '128', '--new-board', '--seed', '1', '--store', `store-${what}`, '--out', out]);
  else if (what === 'd32') rram(dir, ['train', '--arch', 'dense:32,32', '--dataset', 'mnist', '--epochs', '5', '--lr', '0.1', '--batch-size', '64', '--seed', '1', '--out', out]);
  else rram(dir, ['train', '--arch', 'cnn:2x8/p2/h16', '--dataset', 'mnist', '--epochs', '8', '--lr', '0.01', '--batch-size', '64', '--seed', '1', '--out', out]);
  return out;
}

interface FtRow {
  net: string;
  levels: number;
  seed: number;
  software: number;
  baseline: number;
  prediction: number;
  readback: number;
  recovered: number;
  images: number;
  plain_s: number;
  fineTuned_s: number;
  extra: number;
}

/** One program-net with progressive fine-tuning and the twin baseline (same board seed). */
function fineTuneRun(dir: string, net: string, cdf: string, levels: number, seed: number): FtRow {
  const { json } = rram(dir, ['program-net', '--model', net, '--device', cdf, '--levels', String(levels), '--new-board', '--seed', String(seed), '--store', `store-${net}-${seed}`, '--trials', '200', '--fine-tune', 'progressive', '--baseline', 'twin']);
  const ft = json.fineTune;
  const t = ft.timing;
  const plain = t.baseline_s;
  const tuned = t.total_s - t.baseline_s;
  return { net, levels, seed, software: ft.table.software, baseline: ft.table.baseline.readback, prediction: ft.table.prediction.mean, readback: ft.table.readback, recovered: ft.table.recovered, images: ft.images, plain_s: plain, fineTuned_s: tuned, extra: tuned / plain - 1 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (x: number) => (100 * x).toFixed(2);

export async function fineTuneBench(part = 'all', dirArg?: string): Promise<Record<string, unknown>> {
  const dir = dirArg ?? mkdtempSync(join(tmpdir(), 'bench-ft-'));
  mkdirSync(dir, { recursive: true });
  const out: Record<string, unknown> = { dir };
  const goals: { goal: string; value: string; met: boolean }[] = [];
  if (part === 'all' || part === 'hw') {
    const cdf = prepare(dir, 'cdf4');
    const { json } = rram(dir, ['train', '--arch', 'dense:32,32', '--dataset', 'mnist', '--epochs', '5', '--lr', '0.01', '--batch-size', '32', '--seed', '1', '--hw-aware', cdf, '--levels', '4', '--trials', '200', '--out', 'hw32']);
    const c = json.comparison;
    const gain = c.hwAware.monteCarlo.mean - c.plain.monteCarlo.mean;
    const float = c.hwAware.float - c.plain.float;
    out.hw = { share: c.share, plain: c.plain, hwAware: c.hwAware, gain, float };
    goals.push({ goal: 'hardware-aware dense:32,32, 4 levels: Monte Carlo mean >= 3 points above plain, float within 1 point', value: `${(100 * gain).toFixed(2)} points, float ${(100 * float).toFixed(2)} points`, met: gain >= 0.03 && Math.abs(float) <= 0.01 });
  }
  const rows: FtRow[] = [];
  if (part === 'all' || part === 'dense') {
    const cdf = prepare(dir, 'cdf4');
    const net = prepare(dir, 'd32');
    const dense = [1, 2, 3].map((seed) => fineTuneRun(dir, net, cdf, 4, seed));
    rows.push(...dense);
    const m = median(dense.map((r) => r.recovered));
    goals.push({ goal: 'dense:32,32, 4 levels, 10 % of the training images per layer: median share of the gap recovered over 3 board seeds >= 75 %', value: `${pct(m)} % (${dense.map((r) => pct(r.recovered)).join(', ')})`, met: m >= 0.75 && dense.every((r) => r.images <= 6000) });
  }
  if (part === 'all' || part === 'cnn') {
    const r = fineTuneRun(dir, prepare(dir, 'cnn'), prepare(dir, 'cdf8'), 8, 1);
    rows.push(r);
    goals.push({ goal: 'cnn:2x8/p2/h16, 8 levels: read-back after fine-tuning >= 98.0 %', value: `${pct(r.readback)} %`, met: r.readback >= 0.98 });
  }
  if (rows.length) {
    out.fineTune = rows;
    const worst = Math.max(...rows.map((r) => r.extra));
    goals.push({ goal: 'fine-tuning adds < 50 % to program-net\'s wall time', value: `worst +${(100 * worst).toFixed(0)} % (${rows.map((r) => `${r.net} seed ${r.seed} +${(100 * r.extra).toFixed(0)} %`).join(', ')})`, met: worst < 0.5 });
  }
  out.goals = goals;
  for (const g of goals) process.stderr.write(`${g.met ? 'MET    ' : 'MISSED '} ${g.goal}: ${g.value}\n`);
  if (goals.some((g) => !g.met)) process.exitCode = 1;
  writeFileSync(join(dir, `fine-tune-${part}.json`), JSON.stringify(out, null, 2));
  return out;
}
