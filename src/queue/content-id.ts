/**
 * Job ids derived from what a job computes: the same study parameters and point key give the same
 * id on every machine and every run, so resubmitting a point BullMQ already has adds nothing (its
 * stored result is reused), and a changed parameter or input file can never reuse an old result.
 */
import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every depth (undefined members dropped, as JSON.stringify does). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new RangeError(`cannot hash the non-finite number ${v}`);
    return JSON.stringify(v) ?? 'null';
  }
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** 128 bits of SHA-256 over the canonical JSON, as hex (BullMQ ids may not contain ':'). */
export function contentId(v: unknown): string {
  return createHash('sha256').update(canonicalJson(v)).digest('hex').slice(0, 32);
}
