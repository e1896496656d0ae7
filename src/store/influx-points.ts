/**
 * Event -> InfluxDB point mapping (schema in docs/formats.md). One event gives exactly one
 * point; its timestamp is the event's wall time in ns plus its seq modulo 1e6, unique within
 * a run, so re-sending a batch after an ambiguous failure overwrites instead of duplicating.
 */
import type { RunEvent } from '../engine/events.js';

export interface LinePoint {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, number | string | boolean>;
  /** Nanoseconds since the epoch, as a decimal string. */
  ts: string;
}

export function pointTimestamp(e: RunEvent): string {
  return (BigInt(Math.floor(e.t)) * 1000000n + BigInt(e.seq % 1000000)).toString();
}

export function eventToPoint(e: RunEvent, ctx: { board: string; algo: string }): LinePoint {
  const base = { run: e.runId, board: ctx.board };
  const ts = pointTimestamp(e);
  const cellTags = (c: { array: number; row: number; col: number }) => ({ array: String(c.array), row: String(c.row), col: String(c.col) });
  switch (e.type) {
    case 'pulse':
      return { measurement: 'pulse', tags: { ...base, ...cellTags(e.cell), algo: ctx.algo, level: String(e.level), kind: e.kind }, fields: { vte_V: e.vte_V, vsl_V: e.vsl_V, vg_V: e.vg_V, width_s: e.width_s, seq: e.seq }, ts };
    case 'read':
      return { measurement: 'read', tags: { ...base, ...cellTags(e.cell), algo: ctx.algo, level: String(e.level), phase: e.phase }, fields: { current_A: e.current_A, vread_V: e.vread_V, relax_s: e.relax_s ?? 0, seq: e.seq }, ts };
    case 'cell-done':
      return {
        measurement: 'cell_result',
        tags: { ...base, ...cellTags(e.cell), algo: ctx.algo, level: String(e.level), status: e.outcome.status },
        fields: { target_A: e.target_A, pulses: e.outcome.pulses, final_A: Number.isFinite(e.outcome.final_A) ? e.outcome.final_A : -1, final_stepped_V: Number.isFinite(e.outcome.finalStepped_V) ? e.outcome.finalStepped_V : -1, seq: e.seq },
        ts,
      };
    case 'progress':
      return { measurement: 'progress', tags: { ...base, phase: e.phase }, fields: { done: e.done, total: e.total, rate_per_s: e.rate_per_s, seq: e.seq }, ts };
    case 'warning':
      return { measurement: 'warning', tags: base, fields: { message: e.message, seq: e.seq }, ts };
    case 'run-start':
      return { measurement: 'run', tags: { ...base, kind: e.kind, algo: ctx.algo }, fields: { params: JSON.stringify(e.params).slice(0, 60000), seq: e.seq }, ts };
    case 'run-end':
      return { measurement: 'run_summary', tags: { ...base, status: e.status, algo: ctx.algo }, fields: { events: e.seq + 1, summary: JSON.stringify(e.summary ?? {}).slice(0, 60000), error: e.error ?? '', seq: e.seq }, ts };
  }
}

const esc = (s: string) => s.replace(/[,= ]/g, (m) => '\\' + m);
/** Integer fields; every other number is always written as a float so a field's type never flips. */
const INT_FIELDS = new Set(['seq', 'pulses', 'done', 'total', 'events']);
const field = (k: string, v: number | string | boolean) =>
  typeof v === 'string' ? `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : typeof v === 'boolean' ? String(v) : INT_FIELDS.has(k) ? `${Math.round(v)}i` : Number.isInteger(v) ? `${v}.0` : String(v);

/** InfluxDB line protocol (floats as floats, integers with the i suffix). */
export function toLine(p: LinePoint): string {
  const tags = Object.entries(p.tags).filter(([, v]) => v !== '').map(([k, v]) => `${esc(k)}=${esc(v)}`).join(',');
  const fields = Object.entries(p.fields).map(([k, v]) => `${esc(k)}=${field(k, v)}`).join(',');
  return `${esc(p.measurement)}${tags ? ',' + tags : ''} ${fields} ${p.ts}`;
}
