/**
 * Prediction coverage (issue 19): for dense:32,32 and cnn:2x8/p2/h16 at 4 and 8 levels on the
 * default emulated board, a level CDF is measured (128 cells per level), then the net is
 * programmed 10 times on fresh boards (`rram program-net --repeat 10`): how many read-backs fall
 * inside the prediction's 5-95 % interval, the interval's width, the posterior's coverage and
 * how the interval's variance splits by source.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';

export function coverageBench(o: { repeats?: number; images?: number; trials?: number } = {}): Record<string, unknown>[] {
  const cwd = mkdtempSync(join(tmpdir(), 'bench-cov-'));
  const rram = (...args: string[]) => {
    const r = spawnSync(process.execPath, [join(repoRoot(), 'dist', 'src', 'cli', 'main.js'), ...args], { encoding: 'utf8', cwd, maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`rram ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const out: Record<string, unknown>[] = [];
  for (const arch of ['dense:32,32', 'cnn:2x8/p2/h16']) {
    const net = arch.replace(/[^a-z0-9]+/gi, '_');
    rram('train', '--arch', arch, '--dataset', 'mnist', '--epochs', '3', '--out', net);
    for (const levels of [4, 8]) {
      const cdf = `cdf${levels}.json`;
      rram('characterize', '--levels', String(levels), '--cells-per-level', '128', '--algo', 'igvva-predict', '--out', cdf, '--new-board');
      const t0 = performance.now();
      const args = ['program-net', '--model', net, '--device', cdf, '--levels', String(levels), '--algo', 'igvva-predict', '--images', String(o.images ?? 1000), '--trials', String(o.trials ?? 200), '--repeat', String(o.repeats ?? 10), '--json'];
      const c = JSON.parse(rram(...args));
      out.push({ arch, levels, command: `rram ${args.join(' ')}`, coverage: c.coverage, posteriorCoverage: c.posteriorCoverage, meanWidth: +c.meanWidth.toFixed(4), sources: c.sources, wall_s: +((performance.now() - t0) / 1000).toFixed(0), repeats: c.repeats.map((r: { readback: number; interval: [number, number]; percentile: number; failedCells: number }) => `${(100 * r.readback).toFixed(2)} in ${(100 * r.interval[0]).toFixed(2)}..${(100 * r.interval[1]).toFixed(2)} (p${(100 * r.percentile).toFixed(0)}, ${r.failedCells} not programmed)`) });
      process.stderr.write(`${arch} ${levels} levels: coverage ${c.coverage}\n`);
    }
  }
  return out;
}
