/** Flag parsers that name the flag and the bad value (commander calls them with the raw text). */
import { HELLO_RANGES } from '../../drivers/protocol/hello.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { listItems, numberField, numberList } from '../io/number-table.js';

export function num(flag: string, opts: { min?: number; max?: number; int?: boolean } = {}) {
  return (raw: string): number => {
    const v = numberField(raw);
    if (typeof v === 'string') throw new InvalidArgumentError(flag, raw, `must be a number (it ${v})`);
    if (opts.int && !Number.isInteger(v)) throw new InvalidArgumentError(flag, raw, 'must be an integer');
    if (opts.min !== undefined && v < opts.min) throw new InvalidArgumentError(flag, raw, `must be >= ${opts.min}`);
    if (opts.max !== undefined && v > opts.max) throw new InvalidArgumentError(flag, raw, `must be <= ${opts.max}`);
    return v;
  };
}

/** "R,C" -> {row, col}. */
export function cellRC(raw: string): { row: number; col: number } {
  const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(raw);
  if (!m) throw new InvalidArgumentError('--cell', raw, 'expected R,C (two non-negative integers)');
  return { row: Number(m[1]), col: Number(m[2]) };
}

/** Durations like "1s,60s,10m,1h,500ms,1d,1w" -> seconds (an empty item is refused). */
export function durations(flag: string) {
  return (raw: string): number[] => listItems(flag, raw).map(duration(flag));
}

/** Re-read times: durations, each > 0 (a re-read at 0 s is the read-back itself). */
export function positiveDurations(flag: string) {
  return (raw: string): number[] =>
    listItems(flag, raw).map((t) => {
      const v = duration(flag)(t);
      if (!(v > 0)) throw new InvalidArgumentError(flag, t, 'times must be positive (a re-read after 0 s is the read-back itself)');
      return v;
    });
}

/** One duration: "500ms", "1s", "10m", "1h", "1d", "1w" (a bare number is seconds). */
export function duration(flag: string) {
  return (tok: string): number => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$/.exec(tok);
    if (!m) throw new InvalidArgumentError(flag, tok, 'expected a duration like 500ms, 1s, 10m, 1h, 1d, 1w');
    const k = { ms: 1e-3, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd' | 'w'];
    const v = Number(m[1]) * k;
    // 400 nines parse as Infinity: no wait, age or relaxation is that long.
    if (!Number.isFinite(v)) throw new InvalidArgumentError(flag, tok, 'is not a finite duration');
    return v;
  };
}

/** Currents like "10uA", "1e-5", "25 uA" -> amperes. */
export function current(flag: string) {
  return (raw: string): number => {
    const m = /^\s*([0-9.eE+-]+)\s*(uA|nA|mA|A)?\s*$/.exec(raw);
    const v = m ? Number(m[1]) * { uA: 1e-6, nA: 1e-9, mA: 1e-3, A: 1 }[(m[2] ?? 'A') as 'uA'] : NaN;
    if (!Number.isFinite(v) || v <= 0) throw new InvalidArgumentError(flag, raw, 'expected a positive current like 2uA or 2e-6');
    return v;
  };
}

/** A weight-range quantile: 0.999 or 99.9%; must lie in (0.5, 1]. */
export function quantileArg(flag: string) {
  return (raw: string): number => {
    const pct = raw.trim().endsWith('%');
    const v = Number(pct ? raw.trim().slice(0, -1) : raw) / (pct ? 100 : 1);
    if (!(v > 0.5 && v <= 1)) throw new InvalidArgumentError(flag, raw, 'must be a quantile in (0.5, 1] like 0.999 or 99.9%');
    return v;
  };
}

/** Board limits of an emulated board: "vg_max=2.0,vsl_max=2.4,dac_step=0.005" (volts, seconds). */
export const LIMIT_KEYS = { vte_max: 'vte_max_V', vsl_max: 'vsl_max_V', vg_max: 'vg_max_V', vread_max: 'vread_max_V', width_min: 'width_min_s', width_max: 'width_max_s', dac_step: 'dacStep_V' } as const;
export type LimitSpec = Partial<Record<(typeof LIMIT_KEYS)[keyof typeof LIMIT_KEYS], number>>;
export function limitsArg(flag: string) {
  return (raw: string): LimitSpec => {
    const out: LimitSpec = {};
    for (const part of listItems(flag, raw)) {
      const m = /^\s*([a-z_]+)\s*=\s*([0-9.eE+-]+)\s*$/.exec(part);
      if (!m) throw new InvalidArgumentError(flag, part, `expected KEY=VALUE with KEY one of ${Object.keys(LIMIT_KEYS).join(', ')}`);
      const key = LIMIT_KEYS[m[1] as keyof typeof LIMIT_KEYS];
      if (!key) throw new InvalidArgumentError(flag, m[1], `unknown limit; keys: ${Object.keys(LIMIT_KEYS).join(', ')}`);
      const v = Number(m[2]);
      if (!(Number.isFinite(v) && v > 0)) throw new InvalidArgumentError(`${flag} ${m[1]}`, m[2], 'must be a positive number');
      if (out[key] !== undefined) throw new InvalidArgumentError(flag, raw, `gives ${m[1]} twice`);
      // Within what a board may advertise at all (protocol HELLO, in uV and ns): an emulator is a board.
      const range = HELLO_RANGES.find((r) => r.field === m[1])!;
      const scale = key.endsWith('_s') ? 1e9 : 1e6;
      if (!(v * scale >= range.min && v * scale <= range.max)) throw new InvalidArgumentError(`${flag} ${m[1]}`, m[2], `must be within ${range.min / scale}..${range.max / scale} ${key.endsWith('_s') ? 's' : 'V'} (docs/protocol.md, HELLO)`);
      out[key] = v;
    }
    return out;
  };
}

/** A list of numbers "4,8,16" (each checked like num). */
export function numList(flag: string, opts: { min?: number; max?: number; int?: boolean } = {}) {
  return (raw: string): number[] => listItems(flag, raw).map((t) => num(flag, opts)(t));
}

/** A list of fractions "0,5%,0.1" (percent or fraction) -> fractions in [0, max]. */
export function fractionList(flag: string, max = 1) {
  return (raw: string): number[] => {
    return listItems(flag, raw).map((t) => {
      const m = /^([0-9.eE+-]+)(%?)$/.exec(t);
      const v = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
      if (!(v >= 0 && v <= max)) throw new InvalidArgumentError(flag, t, `must be a fraction in 0..${max} or a percentage`);
      return v;
    });
  };
}

/** One fraction "5%" or "0.05" in [0, max]. */
export function fraction(flag: string, max = 1) {
  return (raw: string): number => {
    const v = fractionList(flag, max)(raw);
    if (v.length !== 1) throw new InvalidArgumentError(flag, raw, 'expected one fraction or percentage');
    return v[0];
  };
}

/** The most times a list may give (a retention request's limit, docs/server.md). */
export const MAX_TIMES = 1000;

/**
 * Log-spaced times: "1s,10s,...,1d" -> 1, 10, 100, 1000, 10000, 86400 s. An item "..." between two
 * times continues the ratio of the two before it up to (not past) the one after it; otherwise a
 * plain list of durations. Times must increase.
 */
export function logTimes(flag: string) {
  return (raw: string): number[] => {
    const items = listItems(flag, raw);
    const out: number[] = [];
    for (let k = 0; k < items.length; k++) {
      if (items[k].trim() !== '...') {
        out.push(duration(flag)(items[k]));
        continue;
      }
      if (out.length < 2 || k === items.length - 1) throw new InvalidArgumentError(flag, raw, '"..." needs two times before it (their ratio) and one after it (where it ends), e.g. 1s,10s,...,1d');
      const ratio = out[out.length - 1] / out[out.length - 2];
      const end = duration(flag)(items[k + 1]);
      if (!(ratio > 1)) throw new InvalidArgumentError(flag, raw, 'the two times before "..." must increase');
      for (let t = out[out.length - 1] * ratio; t < end * (1 - 1e-9); t *= ratio) {
        // Refused while expanding: a ratio near 1 would otherwise build millions of times first.
        if (out.length >= MAX_TIMES) throw new InvalidArgumentError(flag, raw, `expands to more than ${MAX_TIMES} times (ratio ${+ratio.toPrecision(6)}): space the two times before "..." further apart`);
        out.push(+t.toPrecision(12));
      }
    }
    if (out.length > MAX_TIMES) throw new InvalidArgumentError(flag, raw, `gives ${out.length} times; at most ${MAX_TIMES}`);
    for (let k = 0; k < out.length; k++) if (!(out[k] > 0) || (k && !(out[k] > out[k - 1]))) throw new InvalidArgumentError(flag, raw, `times must be positive and increase (${out.slice(0, 12).join(', ')}${out.length > 12 ? ', ...' : ''} s)`);
    return out;
  };
}

/** Array indices "0,1,3": integers >= 0, each once. */
export function arrayList(flag: string, raw: string): number[] {
  const a = numberList(flag, raw);
  if (!a.length || a.some((x) => !Number.isInteger(x) || x < 0)) throw new InvalidArgumentError(flag, raw, 'expected array indices like 0,1');
  if (new Set(a).size !== a.length) throw new InvalidArgumentError(flag, raw, 'names an array twice');
  return a;
}
