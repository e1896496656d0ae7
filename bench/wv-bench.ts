/**
 * Write-verify lab benchmark (issue 15): `rram wv-bench` on the default emulated board, 8 levels x
 * 128 fresh cells per algorithm, re-reads at 1 s and 60 s, and the goals checked: igvva-predict at
 * <= 40 pulses per LRS cell with a robust sigma within 1.2x of IGVVA-10's and >= 99 % success;
 * with --reverify, the BER at 60 s no worse than right after programming.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';

export const WV_BENCH_ARGS = ['wv-bench', '--algos', 'igvva,ispva,igvva-predict,igvva-adaptive,bidir,igvva-predict+reverify', '--levels', '8', '--cells-per-level', '128', '--relax', '1s,60s', '--reverify', '60sx2'];

export function wvBench(): Record<string, unknown> {
  const cwd = mkdtempSync(join(tmpdir(), 'bench-wv-'));
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(repoRoot(), 'dist', 'src', 'cli', 'main.js'), ...WV_BENCH_ARGS, '--json'], { encoding: 'utf8', cwd });
  if (r.status !== 0) return { error: r.stderr };
  const j = JSON.parse(r.stdout) as { algos: { algo: string; lrsPulsesMean: number; lrsPulsesP99: number; success: number; lrsSigmaRobustMean_A: number; sigmaVsIgvva?: number; energyMean_J: number; ber: { t_s: number; empirical: number; gaussianWorst: number }[] }[] };
  const by = Object.fromEntries(j.algos.map((a) => [a.algo, a]));
  const p = by['igvva-predict'];
  const rv = by['igvva-predict+reverify'];
  const at = (a: typeof p, t: number) => a.ber.find((b) => b.t_s === t)!;
  return {
    command: `rram ${WV_BENCH_ARGS.join(' ')}`,
    wall_s: +((performance.now() - t0) / 1000).toFixed(1),
    algos: j.algos.map((a) => ({ algo: a.algo, lrsPulses: +a.lrsPulsesMean.toFixed(1), p99: a.lrsPulsesP99, successPct: +(100 * a.success).toFixed(2), sigma_uA: +(a.lrsSigmaRobustMean_A * 1e6).toFixed(3), vsIgvva: a.sigmaVsIgvva && +a.sigmaVsIgvva.toFixed(2), energy_nJ: +(a.energyMean_J * 1e9).toFixed(2), ber: a.ber.map((b) => `${b.t_s}s: ${b.empirical.toExponential(1)} (Gaussian worst ${b.gaussianWorst.toExponential(1)})`) })),
    goals: {
      predictPulsesAtMost40: p.lrsPulsesMean <= 40,
      predictSigmaWithin1p2: (p.sigmaVsIgvva ?? Infinity) <= 1.2,
      predictSuccessAtLeast99: p.success >= 0.99,
      reverifyBer60sNoWorseThanAfterProgramming: at(rv, 60).empirical <= at(rv, 0).empirical && at(rv, 60).empirical <= at(p, 0).empirical,
    },
  };
}
