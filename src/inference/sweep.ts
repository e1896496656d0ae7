/**
 * `--sweep levels=2..8,sigma=1%,5%,mapping=diff,offset,clip=1,0.99`: comma-separated `key=value` items, where
 * a bare item continues the previous key's list and `a..b` is an integer range. Keys: levels,
 * sigma, mapping, clip, stuck-hrs, stuck-lrs (fractions or %), adc-bits, dynamic-range (on/off
 * ratio), tiles (crossbar side), relax (a duration).
 */
import { listItems } from '../io/number-table.js';
import { InvalidArgumentError } from '../../drivers/errors.js';

export const SWEEP_KEYS = ['levels', 'sigma', 'mapping', 'clip', 'stuck-hrs', 'stuck-lrs', 'adc-bits', 'tiles', 'dynamic-range', 'relax'] as const;
export type SweepKey = (typeof SWEEP_KEYS)[number];
export type Sweep = Partial<Record<SweepKey, string[]>>;

export function parseSweep(text: string): Sweep {
  const out: Sweep = {};
  let key: SweepKey | undefined;
  for (const tok of listItems('sweep', text)) {
    let val = tok;
    const eq = tok.indexOf('=');
    if (eq >= 0) {
      const k = tok.slice(0, eq).trim();
      if (!(SWEEP_KEYS as readonly string[]).includes(k)) throw new InvalidArgumentError('sweep', text, `unknown key ${k} (use ${SWEEP_KEYS.join(', ')})`);
      key = k as SweepKey;
      if (out[key]) throw new InvalidArgumentError('sweep', text, `key ${key} given twice`);
      out[key] = [];
      val = tok.slice(eq + 1).trim();
    }
    if (!key) throw new InvalidArgumentError('sweep', text, `"${tok}" has no key (expected key=value)`);
    if (val === '') throw new InvalidArgumentError('sweep', text, `${key} has an empty value`);
    const range = /^(\d+)\.\.(\d+)$/.exec(val);
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (b < a || b - a > 128) throw new InvalidArgumentError('sweep', text, `range ${val} must be ascending and at most 128 long`);
      for (let v = a; v <= b; v++) out[key]!.push(String(v));
    } else out[key]!.push(val);
  }
  if (Object.keys(out).length === 0) throw new InvalidArgumentError('sweep', text, 'is empty');
  return out;
}

/** Cartesian product of the swept values (in key order). */
export function sweepPoints(s: Sweep): Partial<Record<SweepKey, string>>[] {
  let pts: Partial<Record<SweepKey, string>>[] = [{}];
  for (const k of SWEEP_KEYS) {
    const vals = s[k];
    if (!vals) continue;
    pts = pts.flatMap((p) => vals.map((v) => ({ ...p, [k]: v })));
  }
  return pts;
}

/** A fraction from "0.01" or "1%" (stuck-at rates in a sweep). */
export function fractionOf(key: string, v: string): number {
  const m = /^\s*([0-9.eE+-]+)\s*(%?)\s*$/.exec(v);
  const x = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
  if (!(x >= 0 && x <= 1)) throw new InvalidArgumentError('sweep', `${key}=${v}`, 'must be a fraction in 0..1 or a percentage');
  return x;
}
