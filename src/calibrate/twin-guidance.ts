/**
 * What to do about a failing twin (issue 26): each failing comparison named by level and quantity,
 * with what is off (location or spread, from the median and sigma ratios), the model parameters
 * that move it, and the measurement that would let `rram calibrate` fit them.
 */
import type { LevelCdfDataset } from '../procedures/characterize.js';
import type { TwinRow, TwinShare } from './twin.js';

interface Hint {
  location: string;
  spread: string;
  measure: (d: LevelCdfDataset) => string;
}

const reads = (d: LevelCdfDataset) => ((d.params as { reads?: number }).reads ?? 1) as number;
const relax = (d: LevelCdfDataset) => d.levels[0]?.relax.length ?? 0;

const HINTS: Record<string, Hint> = {
  'read current': {
    location: 'the transfer where the level is and the drift after the verify (relax_fast_drift_rel, relaxation_scale)',
    spread: 'the cycle-to-cycle spread (set_sigma_rel, set_sigma_abs_S, vg_jitter_V), the relaxation between verify and read-back (relax_fast_sigma_rel, relax_fast_sigma_S, relax_fast_g_peak_S, relax_fast_g_width) and read noise (read_noise_S, read_noise_rel, fraction_rtn)',
    measure: (d) => (reads(d) < 3 ? 'characterize with --reads 3 (read noise and random-telegraph noise from repeated reads)' : 'a sweep (`rram sweep`: single SETs and noise reads separate the cycle-to-cycle spread from read noise)'),
  },
  'final stepped voltage': {
    location: 'the transfer where the level is (transfer_v0_V and the shape, or the spline knot of this level)',
    spread: 'the device-to-device spread (transfer_v0_sigma_V, gain_sigma_rel) and the gate jitter (vg_jitter_V)',
    measure: () => 'more cells per level (--cells-per-level 128), or a sweep (`rram sweep`: gate staircases show each cell\'s transfer)',
  },
  'pulses per cell': {
    location: 'forming (form_v_median_V) and the reset-verify before the climb (reset_v_median_V, reset_width_V)',
    spread: 'the forming spread (form_v_sigma_V) and the RESET spreads (reset_v_sigma_V, reset_v_c2c_V)',
    measure: () => 'a sweep (`rram sweep`: forming and RESET staircases)',
  },
  're-read': {
    location: 'the relaxation drift (relaxation_scale, relaxation_time_exp, relax_fast_drift_rel)',
    spread: 'the relaxation spread (relaxation_scale, relaxation_time_exp, relaxation_g_exp, relax_fast_tau_s)',
    measure: (d) => (relax(d) < 2 ? 'characterize with --relax 1s,60s (re-reads at two times)' : 're-reads at more times (--relax 1s,10s,60s)'),
  },
};

function hintFor(q: string): Hint {
  return HINTS[q] ?? HINTS[q.startsWith('re-read') ? 're-read' : 'read current'];
}

export function guidanceFor(rows: TwinRow[], shares: TwinShare[], d: LevelCdfDataset): string[] {
  const out: string[] = [];
  for (const r of rows) {
    if (r.pass) continue;
    const L = `level ${r.level} ${r.quantity}`;
    if (r.nBoard < 10 || r.reason?.startsWith('only')) {
      out.push(`${L}: ${r.reason}; measure more cells per level (--cells-per-level 128)`);
      continue;
    }
    if (!r.nTwin) {
      out.push(`${L}: the twin programmed no cell: the fitted transfer does not reach the level within the gate range (g_cap_S, the top spline knot); fit with this run (rram calibrate --from ${d.runId})`);
      continue;
    }
    const h = hintFor(r.quantity);
    const loc = Math.abs(Math.log(r.medianRatio || 1));
    const spr = Math.abs(Math.log(r.sigmaRatio || 1));
    const what = spr > 2 * loc ? `twin spread x${r.sigmaRatio.toFixed(2)} of the board's: ${h.spread}` : `twin median x${r.medianRatio.toFixed(3)} of the board's: ${h.location}`;
    out.push(`${L}: KS ${r.ks.toFixed(3)} (critical ${r.ksCritical.toFixed(3)}); ${what}; measure: ${h.measure(d)}`);
  }
  for (const s of shares) {
    if (s.pass) continue;
    const fewer = s.twin < s.board;
    out.push(`level ${s.level} cells programmed: board ${(100 * s.board).toFixed(1)} % of ${s.nBoard}, twin ${(100 * s.twin).toFixed(1)} % of ${s.nTwin} (z ${s.z.toFixed(1)}); ${fewer ? 'the twin programs fewer' : 'the twin programs more'}: fraction_unformable, fraction_stuck_lrs, fraction_leaky_pristine, and the transfer's reach at this level (g_cap_S, the top spline knot)`);
  }
  return out;
}
