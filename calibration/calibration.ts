/**
 * Calibration files: every device-model parameter with its value, unit and source. A file that
 * lacks a key, has the wrong unit or a non-finite value is refused with the key's name.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CalibrationError } from '../drivers/errors.js';
import { repoRoot } from '../lib/repo-root.js';

export interface Param {
  value: number;
  unit: string;
  source: string;
  /** Written by `rram calibrate --from`: fitted from measurements, kept from the base file, or a convention of the model. */
  status?: 'fitted' | 'kept' | 'convention';
  method?: string;
  /** Run ids the value was fitted from. */
  runs?: string[];
  /** One standard error, in the parameter's unit. */
  uncertainty?: number;
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
}

/** Plain values for the model's hot path. */
export type CalValues = Record<ScalarName, number>;

export function values(c: Calibration): CalValues {
  const out = {} as CalValues;
  for (const k of Object.keys(ALL_UNITS) as ScalarName[]) out[k] = c.params[k]?.value ?? OPTIONAL_PARAMS[k as OptionalName].default;
  return out;
}

function isNumArray(v: unknown, len?: number): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x)) && (len === undefined || v.length === len);
}

export function validateCalibration(raw: unknown): Calibration {
  if (typeof raw !== 'object' || raw === null) throw new CalibrationError('(root)', 'must be a JSON object');
  const o = raw as Record<string, unknown>;
  if (typeof o.id !== 'string' || !o.id) throw new CalibrationError('id', 'missing or not a string');
  const params = o.params as Record<string, unknown> | undefined;
  if (typeof params !== 'object' || params === null) throw new CalibrationError('params', 'missing');
  for (const [k, o] of Object.entries(OPTIONAL_PARAMS)) if (params[k] === undefined) params[k] = { value: o.default, unit: o.unit, source: 'default: not in this file (the behaviour it controls is off or nominal)' };
  for (const [k, unit] of Object.entries(ALL_UNITS)) {
    const p = params[k] as Partial<Param> | undefined;
    if (!p || typeof p !== 'object') throw new CalibrationError(`params.${k}`, 'missing');
    if (typeof p.value !== 'number' || !Number.isFinite(p.value)) throw new CalibrationError(`params.${k}.value`, `not a finite number (${JSON.stringify(p.value)})`);
    if (p.unit !== unit) throw new CalibrationError(`params.${k}.unit`, `expected "${unit}", got ${JSON.stringify(p.unit)}`);
    if (typeof p.source !== 'string' || p.source.length < 3) throw new CalibrationError(`params.${k}.source`, 'every parameter needs its source');
    if (p.value < 0 && !k.endsWith('_V')) throw new CalibrationError(`params.${k}.value`, `must not be negative (${p.value})`);
    if (k.startsWith('fraction_') && p.value > 1) throw new CalibrationError(`params.${k}.value`, `a share must be at most 1 (${p.value})`);
  }
  for (const k of Object.keys(params)) {
    if (!(k in ALL_UNITS)) throw new CalibrationError(`params.${k}`, 'unknown parameter (typo?)');
  }
  const iv = o.ivCurve as Calibration['ivCurve'] | undefined;
  if (!iv || !isNumArray(iv.nl2, 4) || !isNumArray(iv.nl3, 3)) throw new CalibrationError('ivCurve', 'needs nl2 (4 coefficients) and nl3 (3 coefficients)');
  if (!(iv.validFrom_S > 0 && iv.validTo_S > iv.validFrom_S)) throw new CalibrationError('ivCurve.validFrom_S', 'needs 0 < validFrom_S < validTo_S');
  const r = o.relaxation as RelaxationTable | undefined;
  if (!r || !isNumArray(r.g0_S) || !isNumArray(r.t_s)) throw new CalibrationError('relaxation', 'needs g0_S and t_s arrays');
  if (r.g0_S.length < 2 || r.t_s.length < 2) throw new CalibrationError('relaxation.g0_S', 'needs at least 2 bins and 2 times');
  for (const key of ['mean_S', 'sigma_S'] as const) {
    const m = r[key];
    if (!Array.isArray(m) || m.length !== r.g0_S.length || !m.every((row) => isNumArray(row, r.t_s.length)))
      throw new CalibrationError(`relaxation.${key}`, `must be ${r.g0_S.length} rows of ${r.t_s.length} numbers`);
  }
  for (let i = 1; i < r.t_s.length; i++) if (!(r.t_s[i] > r.t_s[i - 1] && r.t_s[0] > 0)) throw new CalibrationError('relaxation.t_s', 'must be positive and increasing');
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
