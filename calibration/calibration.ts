/**
 * Calibration files: every device-model parameter with its value, unit and source. A file that
 * lacks a key, has the wrong unit or a non-finite value is refused with the key's name.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CalibrationError } from '../drivers/errors.js';
import { repoRoot } from '../lib/repo-root.js';
import { describeIssue } from '../lib/zod-issue.js';
import { TransferSplineSchema, type TransferSpline } from './transfer-spline.js';

export interface Param {
  value: number;
  unit: string;
  source: string;
  /** Written by `rram calibrate --from`: fitted from measurements, kept from the base file, or a convention of the model. */
  status?: 'fitted' | 'at-bound' | 'not-identifiable' | 'kept' | 'convention';
  method?: string;
  /** Run ids the value was fitted from. */
  runs?: string[];
  /** One standard error, in the parameter's unit. */
  uncertainty?: number;
  /** The statistics that decide the value: measured beside the fitted model's simulation, with the measurement's standard error. */
  evidence?: { statistic: string; measured: number; model: number; se: number; unit: string }[];
}

/** Relaxation statistics of G(t) - G(0): rows are G(0) bin centres, columns times after programming. */
export interface RelaxationTable {
  g0_S: number[];
  t_s: number[];
  mean_S: number[][];
  sigma_S: number[][];
  source: string;
}

/** Expected unit of each scalar parameter; the loader checks every one. */
export const SCALAR_PARAMS = {
  g_pristine_S: 'S',
  form_v_median_V: 'V',
  form_v_sigma_V: 'V',
  fraction_unformable: '1',
  fraction_stuck_lrs: '1',
  transfer_gsat_S: 'S',
  transfer_slope_per_V: '1/V',
  transfer_v0_V: 'V',
  transfer_v0_sigma_V: 'V',
  gain_sigma_rel: '1',
  g_cap_S: 'S',
  g_cap_sharpness: '1',
  vg_jitter_V: 'V',
  set_sigma_rel: '1',
  set_v_median_V: 'V',
  set_v_sigma_V: 'V',
  set_v_c2c_V: 'V',
  set_overdrive_V: 'V',
  set_vte_ref_V: 'V',
  set_vte_slope_per_V: '1/V',
  reset_v_median_V: 'V',
  reset_v_sigma_V: 'V',
  reset_v_c2c_V: 'V',
  reset_width_V: 'V',
  reset_sigma_rel: '1',
  g_hrs_S: 'S',
  g_hrs_sigma_log: '1',
  read_noise_S: 'S',
  read_noise_rel: '1',
  relaxation_scale: '1',
  op_overhead_s: 's',
  read_time_s: 's',
} as const;
/**
 * Parameters a file may leave out (added after files were written): a missing one takes its
 * default, recorded as such in its source. Each switches a behaviour off at its default.
 */
export const OPTIONAL_PARAMS = {
  /** Share of cells that conduct when pristine (issue 24: they are not formed cells, and still need forming). */
  fraction_leaky_pristine: { unit: '1', default: 0 },
  /** Median pristine conductance of a leaky cell, and its log-normal spread. */
  g_leaky_pristine_S: { unit: 'S', default: 30e-6 },
  g_leaky_sigma_log: { unit: '1', default: 0.5 },
  /**
   * Endurance (issue 31; `rram endurance`, src/calibrate/aging.ts): the window after n RESETs of a
   * formed cell shrinks toward endurance_mid_S by exp(-n / endurance_tau_cycles) (0: no collapse);
   * a cell fails after a log-normal number of RESETs (median endurance_fail_cycles, 0: never;
   * log-sigma endurance_fail_sigma_log), stuck at LRS with probability endurance_fail_lrs_share,
   * else stuck at HRS.
   */
  endurance_tau_cycles: { unit: '1', default: 0 },
  endurance_mid_S: { unit: 'S', default: 100e-6 },
  endurance_fail_cycles: { unit: '1', default: 0 },
  endurance_fail_sigma_log: { unit: '1', default: 0.5 },
  endurance_fail_lrs_share: { unit: '1', default: 0.5 },
  /**
   * Retention drift (issue 31; `rram retention`): beyond the relaxation table, a programmed
   * cell's conductance follows G(t) = G (t / 1 s)^-nu after its last pulse, nu ~ N(retention_nu,
   * retention_nu_sigma) per device (0, 0: no drift beyond the table).
   */
  retention_nu: { unit: '1', default: 0 },
  retention_nu_sigma: { unit: '1', default: 0 },
  // Issue 26: model pieces boards unlike the lab's need (calibration/model-extensions.ts). Each is
  // off at its default, so files written before them describe the same board.
  /** Conductance-independent part of the SET's cycle-to-cycle spread (sigma = set_sigma_rel G + this). */
  set_sigma_abs_S: { unit: 'S', default: 0 },
  /** Floor under every cell's HRS: HRS = floor + g_hrs_S exp(g_hrs_sigma_log z). */
  g_hrs_floor_S: { unit: 'S', default: 0 },
  /** Fast relaxation after a pulse (between the verify and the read-back): spread (rel G0 + abs) and drift (rel G0), reached with time constant tau. */
  relax_fast_sigma_rel: { unit: '1', default: 0 },
  relax_fast_sigma_S: { unit: 'S', default: 0 },
  /** The absolute part peaks at g_peak and falls off as a Gaussian in ln G of this width (0: the same at every G). */
  relax_fast_g_peak_S: { unit: 'S', default: 50e-6 },
  relax_fast_g_width: { unit: '1', default: 0 },
  relax_fast_drift_rel: { unit: '1', default: 0 },
  relax_fast_tau_s: { unit: 's', default: 0.25 },
  /** The relaxation table's spread and drift reshaped: x (t / 1 s)^time_exp x (G0 / 50 uS)^g_exp (with relaxation_scale). */
  relaxation_time_exp: { unit: '1', default: 0 },
  relaxation_g_exp: { unit: '1', default: 0 },
  /** A slow drift beside the table's: mean change rel G0 log10(1 + t / 1 s). */
  relaxation_drift_rel: { unit: '1', default: 0 },
  /** Share of cells with random-telegraph read noise, and its two levels' distance relative to G. */
  fraction_rtn: { unit: '1', default: 0 },
  rtn_amplitude_rel: { unit: '1', default: 0.1 },
  // Issue 28: the array's periphery for the analog MVM (drivers/emulated/mvm.ts, docs/protocol.md MVM).
  /** Resistance of one wire segment per cell pitch along rows and columns (0: ideal wires). */
  wire_resistance_ohm: { unit: 'ohm', default: 0 },
  /** The MVM's column ADC: bits (0: no ADC, currents as measured) and full scale. */
  mvm_adc_bits: { unit: '1', default: 0 },
  mvm_adc_full_scale_A: { unit: 'A', default: 1e-3 },
} as const;
export type OptionalName = keyof typeof OPTIONAL_PARAMS;
export type ScalarName = keyof typeof SCALAR_PARAMS | OptionalName;
/** Every parameter's unit, required and optional. */
export const ALL_UNITS: Record<ScalarName, string> = { ...SCALAR_PARAMS, ...Object.fromEntries(Object.entries(OPTIONAL_PARAMS).map(([k, v]) => [k, v.unit])) } as Record<ScalarName, string>;

export interface Calibration {
  id: string;
  description: string;
  params: Record<ScalarName, Param>;
  /** I-V curvature at read (device-facts.md): NL2/NL3 polynomials in log10 G0, valid range. */
  ivCurve: { nl2: number[]; nl3: number[]; validFrom_S: number; validTo_S: number; source: string };
  relaxation: RelaxationTable;
  /** A monotone spline transfer (transfer-spline.ts) in place of the saturating exponential; absent: the exponential. */
  transfer?: TransferSpline;
}

/** Plain values for the model's hot path. */
export type CalValues = Record<ScalarName, number>;

export function values(c: Calibration): CalValues {
  const out = {} as CalValues;
  for (const k of Object.keys(ALL_UNITS) as ScalarName[]) out[k] = c.params[k]?.value ?? OPTIONAL_PARAMS[k as OptionalName].default;
  return out;
}

/** Parameters whose sign carries meaning (a drift exponent: conductance falling or rising). */
const SIGNED_PARAMS = new Set(['retention_nu']);
/** Parameters the model divides by (a width, a scale, a cap): 0 makes no board. */
const POSITIVE_PARAMS = new Set(['set_overdrive_V', 'reset_width_V', 'g_cap_S']);
/** A voltage may be negative (a threshold, a median); a spread of one may not. */
const mayBeNegative = (name: string) => (name.endsWith('_V') && !/sigma|c2c|jitter/.test(name)) || SIGNED_PARAMS.has(name) || name.endsWith('_drift_rel') || name.endsWith('_exp');

const finiteNum = z.number({ invalid_type_error: 'not a finite number' }).finite('not a finite number');

/** One parameter of a calibration file: value, its unit (checked against the parameter's), source. */
function paramSchema(name: string, unit: string) {
  return z
    .object({
      value: finiteNum
        .refine((v) => v >= 0 || mayBeNegative(name), 'must not be negative')
        .refine((v) => !POSITIVE_PARAMS.has(name) || v > 0, 'must be above 0')
        .refine((v) => !(name.startsWith('fraction_') || name.endsWith('_share')) || v <= 1, 'a share must be at most 1'),
      unit: z.literal(unit, { errorMap: () => ({ message: `expected "${unit}"` }) }),
      source: z.string({ invalid_type_error: 'every parameter needs its source' }).min(3, 'every parameter needs its source'),
    })
    .passthrough();
}

/** The calibration file's schema (docs/formats.md): every error names the key path and the value. */
export const CalibrationFile = z
  .object({
    id: z.string({ invalid_type_error: 'missing or not a string' }).min(1, 'missing or not a string').max(100, 'at most 100 characters').regex(/^[\x20-\x7e]+$/, 'printable ASCII only'),
    description: z.string().optional(),
    params: z
      .record(z.unknown())
      .superRefine((params, ctx) => {
        for (const k of Object.keys(params)) if (!(k in ALL_UNITS)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [k], message: 'unknown parameter (typo?)' });
      })
      .pipe(z.object(Object.fromEntries(Object.entries(ALL_UNITS).map(([k, u]) => [k, paramSchema(k, u)])))),
    ivCurve: z
      .object({ nl2: z.array(finiteNum).length(4, 'needs 4 coefficients'), nl3: z.array(finiteNum).length(3, 'needs 3 coefficients'), validFrom_S: finiteNum.positive(), validTo_S: finiteNum, source: z.string().optional() })
      .passthrough()
      .refine((iv) => iv.validTo_S > iv.validFrom_S, { message: 'needs 0 < validFrom_S < validTo_S', path: ['validTo_S'] }),
    relaxation: z
      .object({ g0_S: z.array(finiteNum).min(2, 'needs at least 2 bins'), t_s: z.array(finiteNum.positive()).min(2, 'needs at least 2 times'), mean_S: z.array(z.array(finiteNum)), sigma_S: z.array(z.array(finiteNum)), source: z.string().optional() })
      .passthrough()
      .superRefine((r, ctx) => {
        for (let i = 1; i < r.t_s.length; i++) if (!(r.t_s[i] > r.t_s[i - 1])) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['t_s', i], message: 'must be positive and increasing' });
        for (const key of ['mean_S', 'sigma_S'] as const)
          if (r[key].length !== r.g0_S.length || !r[key].every((row) => row.length === r.t_s.length)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message: `must be ${r.g0_S.length} rows of ${r.t_s.length} numbers` });
      }),
    transfer: TransferSplineSchema.optional(),
  })
  .passthrough();

export function validateCalibration(raw: unknown): Calibration {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CalibrationError('(root)', 'must be a JSON object');
  const o = raw as Record<string, unknown>;
  // Parameters added after files were written take their defaults (OPTIONAL_PARAMS).
  if (o.params && typeof o.params === 'object')
    for (const [k, d] of Object.entries(OPTIONAL_PARAMS)) if ((o.params as Record<string, unknown>)[k] === undefined) (o.params as Record<string, unknown>)[k] = { value: d.default, unit: d.unit, source: 'default: not in this file (the behaviour it controls is off or nominal)' };
  const r = CalibrationFile.safeParse(raw);
  if (!r.success) {
    const d = describeIssue(raw, r.error);
    throw new CalibrationError(d.path, `${d.message} (got ${d.value === undefined ? 'nothing' : JSON.stringify(d.value)?.slice(0, 60)})`);
  }
  return raw as Calibration;
}

export const DEFAULT_CALIBRATION_FILE = 'calibration/ihp-hfo2-4kbit.json';

export function loadCalibration(file?: string): Calibration {
  const path = file ?? join(repoRoot(), DEFAULT_CALIBRATION_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CalibrationError('(file)', `cannot read ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CalibrationError('(file)', `${path} is not valid JSON: ${(e as Error).message}`);
  }
  return validateCalibration(raw);
}
