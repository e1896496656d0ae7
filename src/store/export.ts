/** Export a stored run's events as CSV (one row per event, flat columns) or JSON. */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { RunEvent } from '../engine/events.js';
import type { EmbeddedStore } from './embedded-store.js';

export const CSV_COLUMNS = ['seq', 't', 'type', 'array', 'row', 'col', 'level', 'kind', 'vte_V', 'vsl_V', 'vg_V', 'width_s', 'vread_V', 'current_A', 'phase', 'status', 'pulses', 'message'] as const;

export function eventRow(e: RunEvent): (string | number)[] {
  const a = e as unknown as Record<string, unknown>;
  const cell = (a.cell ?? {}) as Record<string, number>;
  const outcome = (a.outcome ?? {}) as Record<string, unknown>;
  const v: Record<string, unknown> = { ...a, ...cell, status: a.status ?? outcome.status, pulses: outcome.pulses, current_A: a.current_A ?? outcome.final_A };
  return CSV_COLUMNS.map((c) => {
    const x = v[c];
    if (x === undefined || x === null) return '';
    const s = String(x);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  });
}

export async function exportRun(store: EmbeddedStore, runId: string, format: 'csv' | 'json', out: Writable | string, type?: RunEvent['type']): Promise<number> {
  const run = store.getRun(runId);
  const w: Writable = typeof out === 'string' ? createWriteStream(out) : out;
  const put = (s: string) => (w.write(s) ? Promise.resolve() : new Promise<void>((r) => w.once('drain', () => r())));
  let n = 0;
  if (format === 'csv') {
    await put(CSV_COLUMNS.join(',') + '\n');
    for await (const e of store.events(runId, { type })) {
      await put(eventRow(e).join(',') + '\n');
      n++;
    }
  } else {
    await put(`{"run":${JSON.stringify(run)},"events":[`);
    for await (const e of store.events(runId, { type })) {
      await put((n ? ',\n' : '\n') + JSON.stringify(e));
      n++;
    }
    await put('\n]}\n');
  }
  if (typeof out === 'string') await new Promise<void>((r) => w.end(() => r()));
  return n;
}
