/**
 * Write-verify tails per level (issue 31): a mean hides what a lab pays for, so every cell of the
 * level counts, programmed or not: pulses (mean, median, p99, max; forming and reset-verify
 * included), success, pulse time and the energy proxy per cell, and the spread of the programmed
 * cells right after verify (the loop's last read), at the read-back and at each re-read time.
 */
import { mean, quantile, robustSigma, sorted, std } from './stats.js';

export interface TailCell {
  status: string;
  pulses: number;
  verify_A: number;
  current_A: number;
  relax: { t_s: number; current_A: number }[];
  energy_J?: number;
  pulseTime_s?: number;
}

export interface Spread {
  /** 'verify': the write-verify loop's last read; 0: the read-back; else seconds after programming. */
  at: 'verify' | number;
  n: number;
  median_A: number;
  sigma_A: number;
  sigmaRobust_A: number;
}

export interface LevelTails {
  cells: number;
  success: number;
  pulsesMean: number;
  pulsesMedian: number;
  pulsesP99: number;
  pulsesMax: number;
  pulseTimeMean_s: number;
  energyMean_J: number;
  spread: Spread[];
}

function spreadOf(at: Spread['at'], xs: number[]): Spread {
  const s = sorted(xs);
  return { at, n: s.length, median_A: quantile(s, 0.5), sigma_A: std(s), sigmaRobust_A: robustSigma(s) };
}

export function levelTails(cells: TailCell[]): LevelTails {
  const p = sorted(cells.map((c) => c.pulses));
  const ok = cells.filter((c) => c.status === 'ok');
  const times = cells[0]?.relax.map((r) => r.t_s) ?? [];
  return {
    cells: cells.length,
    success: cells.length ? ok.length / cells.length : NaN,
    pulsesMean: mean(p),
    pulsesMedian: quantile(p, 0.5),
    pulsesP99: quantile(p, 0.99),
    pulsesMax: p.length ? p[p.length - 1] : NaN,
    pulseTimeMean_s: mean(cells.map((c) => c.pulseTime_s ?? 0)),
    energyMean_J: mean(cells.map((c) => c.energy_J ?? 0)),
    spread: [spreadOf('verify', ok.map((c) => c.verify_A)), spreadOf(0, ok.map((c) => c.current_A)), ...times.map((t, j) => spreadOf(t, ok.map((c) => c.relax[j]?.current_A ?? NaN)))],
  };
}
