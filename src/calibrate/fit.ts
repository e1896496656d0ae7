/**
 * `rram calibrate --from RUNS`: every parameter of the device model fitted from a board's own
 * measurements, each with its status (param-record.ts), method, runs, uncertainty and evidence.
 *  - A sweep (fit-sweep.ts): direct estimates and indirect inference on the recorded sweep.
 *  - A characterize run (fit-characterize.ts): the run replayed on the emulator until its levels'
 *    statistics match, alone (what a lab runs anyway) or refining what the sweep found (its values
 *    and uncertainties enter as priors).
 * What the data cannot identify is kept from the base calibration and marked so.
 */
import { ALL_UNITS, validateCalibration, values, type CalValues, type Calibration, type ScalarName } from '../../calibration/calibration.js';
import { transferG } from '../../calibration/transfer.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { LevelCdfDataset } from '../procedures/characterize.js';
import type { SweepDataset } from '../procedures/sweep.js';
import { SimPool } from './sim-pool.js';
import { SweepFit, type QualityRow, type TransferOut } from './fit-sweep.js';
import { characterizeUsable, fitCharacterize, MIN_LEVEL_CELLS } from './fit-characterize.js';
import { splineOf, type ModelState, type Priors } from './characterize-params.js';
import type { FormChoice } from './transfer-form.js';
import type { ParamRecord } from './param-record.js';
import { withValues } from './with-values.js';
import { fitWireResistance, type WireFit } from './fit-wire.js';

/** How much wider than its stated error a sweep-fitted value counts as the characterize fit's prior. */
const PRIOR_WIDENING = 3;
export { withValues };

export interface FitInput {
  base: Calibration;
  sweeps: { runId: string; data: SweepDataset }[];
  cdfs: { runId: string; data: LevelCdfDataset }[];
  /** Only cells whose index in their dataset (within its level) passes (hold-out validation). */
  keep?: (index: number) => boolean;
  /** Cells per simulated sweep (default: the measured count, within 192..256). */
  simCells?: number;
  iterations?: number;
  id?: string;
}

export type ParamFit = ParamRecord;

export interface FitResult {
  calibration: Calibration;
  params: Record<ScalarName, ParamFit>;
  /** The spline's knot positions, when the transfer is one. */
  knots?: Record<string, ParamFit>;
  /** Which transfer form the held-out fit chose, and its numbers. */
  transferForm?: Pick<FormChoice, 'model' | 'heldOut' | 'forced'>;
  /** Measured statistic beside the fitted model's simulation of the same run. */
  quality: QualityRow[];
  transfer?: TransferOut;
  elapsed_s: number;
}

const CONVENTIONS: Partial<Record<ScalarName, string>> = {
  set_vte_ref_V: 'the VTE at which the transfer is defined (IGVVA keeps VTE there)',
  op_overhead_s: 'emulator timing (the time per board operation): fitted from a characterize run that timed its read-backs, else a convention',
  read_time_s: 'emulator timing, not a device property',
};

export async function fitCalibration(input: FitInput): Promise<FitResult> {
  const pool = new SimPool();
  try {
    return await fitWith(input, pool);
  } finally {
    await pool.close();
  }
}

async function fitWith(input: FitInput, pool: SimPool): Promise<FitResult> {
  const t0 = performance.now();
  const keep = input.keep ?? (() => true);
  const levelRun = input.cdfs.find((c) => characterizeUsable(c.data, keep));
  if (!input.sweeps.length && !levelRun) {
    const ids = input.cdfs.map((c) => c.runId).join(', ') || 'none';
    throw new InvalidArgumentError('--from', ids, `nothing to fit: give a characterize run with at least ${MIN_LEVEL_CELLS} programmed cells in 3 levels (with --reads 2 or more for read noise and --relax for relaxation), and/or a sweep run (\`rram sweep\`) for the transfer, switching, forming, noise and HRS parameters`);
  }
  const p: CalValues = { ...values(input.base) };
  const records = new Map<ScalarName, ParamRecord>();
  const set = (k: ScalarName, v: number, method: string, runs: string[], unc?: number) => {
    if (!Number.isFinite(v)) return;
    p[k] = v;
    records.set(k, { value: v, unit: ALL_UNITS[k], status: 'fitted', method, runs, uncertainty: unc !== undefined && Number.isFinite(unc) ? unc : undefined });
  };
  const quality: QualityRow[] = [];
  let transfer: TransferOut | undefined;
  if (input.sweeps.length) {
    const sw = input.sweeps[0];
    transfer = await new SweepFit({ base: input.base, p, set, quality, pool, relaxation: input.base.relaxation, runId: sw.runId, data: sw.data, keep, simCells: input.simCells, iterations: input.iterations }).run();
    for (const [k, r] of records) markBound(k, r);
  }
  let state: ModelState = { p, relaxation: input.base.relaxation };
  let knots: Record<string, ParamFit> | undefined;
  let transferForm: FitResult['transferForm'];
  if (levelRun) {
    const priors: Priors = {};
    // The sweep's errors are linearized and cover the truth less often than they say (over board
    // seeds, docs/benchmarks.md "Calibration recovery over board seeds"): taken at face value they
    // pinned the run's RESET and HRS fit to a wrong compromise. As priors they count 3x wider, so
    // the run's own data decide where the two disagree.
    for (const [k, r] of records) if (r.status === 'fitted' && r.uncertainty && r.uncertainty > 0) priors[k] = { value: r.value, se: PRIOR_WIDENING * r.uncertainty };
    const cf = await fitCharacterize({ base: input.base, state, data: levelRun.data, runId: levelRun.runId, keep, pool, priors, calibrate: (s) => withValues(input.base, s.p, s.relaxation, splineOf(s)) });
    state = cf.state;
    for (const [name, r] of cf.records) {
      if (name.startsWith('transfer_knot_')) {
        (knots ??= {})[name] = r;
        continue;
      }
      const k = name as ScalarName;
      const before = records.get(k);
      records.set(k, before && before.status === 'fitted' ? { ...r, method: `${before.method}; then refined: ${r.method}`, runs: [...before.runs, ...r.runs] } : r);
    }
    quality.push(...cf.quality);
    transferForm = cf.form ? { model: cf.form.model, heldOut: cf.form.heldOut, ...(cf.form.forced ? { forced: cf.form.forced } : {}) } : undefined;
  }
  // The wire resistance from the characterize runs' MVM probes (fit-wire.ts), whatever the hold-out.
  const wire = wireRecord(input.cdfs, state.p.wire_resistance_ohm);
  state.p.wire_resistance_ohm = wire.record.value;
  records.set('wire_resistance_ohm', wire.record);
  const spline = splineOf(state);
  if (transfer) transfer.curve = transfer.curve.map((c) => ({ vg: c.vg, g: transferG(state.p, c.vg, state.p.transfer_v0_V, 1, spline) }));
  const runsAll = [...input.sweeps, ...input.cdfs].map((r) => r.runId);
  const params = {} as Record<ScalarName, ParamFit>;
  for (const k of Object.keys(ALL_UNITS) as ScalarName[]) {
    const r = records.get(k);
    const conv = CONVENTIONS[k];
    params[k] = r
      ? { ...r, value: state.p[k] }
      : { value: state.p[k], unit: ALL_UNITS[k], status: conv ? 'convention' : 'kept', method: conv ?? `not identifiable from runs ${runsAll.join(', ')}: kept from ${input.base.id}`, runs: [] };
  }
  // The exponential's shape does not draw the curve when the spline does: not called fitted.
  if (spline) for (const k of ['transfer_gsat_S', 'transfer_slope_per_V', 'g_cap_sharpness'] as ScalarName[]) params[k] = { value: params[k].value, unit: params[k].unit, status: 'kept', method: `not used: the transfer is the monotone spline (calibration "transfer")${params[k].status === 'fitted' ? `; the sweep's value, ${params[k].method.slice(0, 80)}...` : ''}`, runs: params[k].runs };
  const calibration = withValues(input.base, state.p, state.relaxation, spline);
  calibration.id = input.id ?? `${input.base.id}-fit`;
  calibration.description = `fitted by rram calibrate --from ${runsAll.join(',')} on ${new Date().toISOString().slice(0, 10)}, base ${input.base.id}`;
  for (const k of Object.keys(params) as ScalarName[]) {
    const f = params[k];
    calibration.params[k] = { value: f.value, unit: f.unit, source: f.status === 'fitted' ? `fitted by rram calibrate from ${f.runs.join(', ')}: ${f.method}` : (f.status === 'kept' || f.status === 'convention') && f.value === input.base.params[k].value ? input.base.params[k].source : `${f.status} (rram calibrate from ${runsAll.join(', ')}): ${f.method}`, status: f.status, method: f.method, runs: f.runs, ...(f.uncertainty !== undefined ? { uncertainty: f.uncertainty } : {}), ...(f.evidence ? { evidence: f.evidence } : {}) };
  }
  validateCalibration(calibration);
  return { calibration, params, knots, transferForm, quality, transfer, elapsed_s: (performance.now() - t0) / 1000 };
}

/** The wire resistance record from the characterize runs' MVM probes, or why none can tell it. */
export function wireRecord(cdfs: FitInput['cdfs'], base: number): WireFit {
  const probes = cdfs.flatMap((c) => (c.data.mvmProbe ?? []).map((probe) => ({ runId: c.runId, probe })));
  const why = !cdfs.length ? 'no characterize run: the probe is part of rram characterize on a board offering the MVM' : cdfs.every((c) => !c.data.board.features?.mvm) ? 'the board does not offer the analog MVM (HELLO feature bit 2)' : 'the characterize runs hold no probe (made before it, or every array left out)';
  return fitWireResistance(probes, base, why);
}

/** Positions, not spreads: they have no bound at 0. */
const SHIFTS = new Set<ScalarName>(['transfer_v0_V', 'form_v_median_V', 'set_v_median_V', 'reset_v_median_V', 'relax_fast_drift_rel']);
/** A spread or share the fit left at (or within a quarter of its error of) zero is at its bound, not fitted. */
function markBound(k: ScalarName, r: ParamRecord): void {
  if (r.status !== 'fitted' || SHIFTS.has(k)) return;
  if (r.value <= 0 || (r.uncertainty !== undefined && r.value < 0.25 * r.uncertainty)) {
    r.status = 'at-bound';
    r.method += `; at its bound 0 (the data say it is below ~${r.uncertainty?.toPrecision(2) ?? '?'}, not how far)`;
    r.uncertainty = undefined;
  }
}
