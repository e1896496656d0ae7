/** The per-level summary table printed by `rram characterize`: programmed cells apart from failures. */
import { formatFailures } from '../analysis/levels.js';
import type { LevelCdfDataset } from '../procedures/characterize.js';
import { table, uA } from './output.js';

export function formatLevelTable(d: LevelCdfDataset): string {
  const dash = (ok: number, v: string) => (ok ? v : '-');
  const rows = d.levels.map((l) => {
    const s = l.stats;
    return [s.level, l.spec.kind, uA(s.target_A), s.n, s.nOk, formatFailures(s.failures), dash(s.nOk, uA(s.median_A)), dash(s.nOk, uA(s.sigma_A)), dash(s.nOk, uA(s.sigmaRobust_A)), dash(s.nOk, uA(s.p1_A)), dash(s.nOk, uA(s.p99_A)), dash(s.nOk, s.pulsesMean.toFixed(1)), dash(s.nOk, s.pulsesMedian.toFixed(0)), (s.successRate * 100).toFixed(1) + '%', s.nOk ? (s.inBand ? 'yes' : 'NO') : '-'];
  });
  const sm = d.summary;
  let out = `run ${d.runId} on ${d.board.id}: ${d.params.algo} step ${d.params.step_V} V, ${d.levels.length} levels, read at ${d.vread_V} V\n`;
  out += `${sm.ok} of ${sm.cells} cells programmed (${(100 * sm.successRate).toFixed(1)} %); failures: ${formatFailures(sm.failures)}. Statistics are over programmed cells only.\n`;
  out += table(['level', 'kind', 'target uA', 'n', 'ok', 'failures', 'median uA', 'sigma uA', 'robust sigma', 'p1 uA', 'p99 uA', 'pulses mean', 'median', 'success', 'in band'], rows);
  const times = d.levels[0]?.tails.spread.map((x) => (x.at === 'verify' ? 'verify' : x.at === 0 ? 'read-back' : `${x.at}s`)) ?? [];
  out += '\nwrite-verify tails (every cell of the level: pulses incl. forming and reset-verify, pulse time, energy proxy sum V x I x t; robust sigma of the programmed cells right after verify, at the read-back and at each --relax time)\n';
  out += table(['level', 'pulses mean', 'median', 'p99', 'max', 'success', 'pulse us', 'energy pJ', ...times.map((t) => `sigma uA ${t}`)], d.levels.map((l) => [l.spec.level, l.tails.pulsesMean.toFixed(1), l.tails.pulsesMedian.toFixed(0), l.tails.pulsesP99.toFixed(0), l.tails.pulsesMax, (l.tails.success * 100).toFixed(1) + '%', (l.tails.pulseTimeMean_s * 1e6).toFixed(1), (l.tails.energyMean_J * 1e12).toFixed(2), ...l.tails.spread.map((x) => (x.n ? uA(x.sigmaRobust_A) : '-'))]));
  out += '\nadjacent-level overlap (programmed cells)\n';
  out += table(['levels', 'threshold uA', 'BER (samples)', 'BER (gaussian)'], d.overlaps.map((o) => [`${o.lower}-${o.upper}`, Number.isFinite(o.threshold_A) ? uA(o.threshold_A) : '-', Number.isFinite(o.empiricalBer) ? o.empiricalBer.toExponential(2) : '-', Number.isFinite(o.gaussianBer) ? o.gaussianBer.toExponential(2) : '-']));
  return out;
}
