/** The per-level summary table printed by `rram characterize`. */
import type { LevelCdfDataset } from '../procedures/characterize.js';
import { table, uA } from './output.js';

export function formatLevelTable(d: LevelCdfDataset): string {
  const rows = d.levels.map((l) => {
    const s = l.stats;
    return [s.level, l.spec.kind, uA(s.target_A), s.n, uA(s.median_A), uA(s.sigma_A), uA(s.sigmaRobust_A), uA(s.p1_A), uA(s.p99_A), s.pulsesMean.toFixed(1), s.pulsesMedian.toFixed(0), (s.successRate * 100).toFixed(1) + '%', s.inBand ? 'yes' : 'NO'];
  });
  let out = `run ${d.runId} on ${d.board.id}: ${d.params.algo} step ${d.params.step_V} V, ${d.levels.length} levels, read at ${d.vread_V} V\n`;
  out += table(['level', 'kind', 'target uA', 'n', 'median uA', 'sigma uA', 'robust sigma', 'p1 uA', 'p99 uA', 'pulses mean', 'median', 'success', 'in band'], rows);
  out += '\nadjacent-level overlap\n';
  out += table(['levels', 'threshold uA', 'BER (samples)', 'BER (gaussian)'], d.overlaps.map((o) => [`${o.lower}-${o.upper}`, uA(o.threshold_A), o.empiricalBer.toExponential(2), o.gaussianBer.toExponential(2)]));
  return out;
}
