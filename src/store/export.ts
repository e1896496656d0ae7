/** Export a stored run's events as CSV (one row per event, flat columns) or JSON. */
import { EventModelComposer, type Doc } from './event-model.js';
import { createWriteStream, openSync } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { RunEvent } from '../engine/events.js';
import type { EmbeddedStore, RunRecord } from './embedded-store.js';
import { PrunedError } from '../../drivers/errors.js';

export const CSV_COLUMNS = ['seq', 't', 'type', 'array', 'row', 'col', 'level', 'kind', 'vte_V', 'vsl_V', 'vg_V', 'width_s', 'vread_V', 'current_A', 'phase', 'status', 'pulses', 'message'] as const;

const cellOf = (e: RunEvent) => ('cell' in e ? e.cell : undefined);

/** One CSV row's values, in CSV_COLUMNS order (fields an event does not have are empty). */
export function eventRow(e: RunEvent): (string | number)[] {
  const a = e as unknown as Record<string, unknown>;
  const c = cellOf(e);
  const o = e.type === 'cell-done' ? e.outcome : undefined;
  const v = [e.seq, e.t, e.type, c?.array, c?.row, c?.col, a.level, a.kind, a.vte_V, a.vsl_V, a.vg_V, a.width_s, a.vread_V, a.current_A ?? o?.final_A, a.phase, a.status ?? o?.status, o?.pulses, a.message];
  return v.map(csvValue);
}

/** eventRow joined, built as one string (an export formats millions of rows). */
function csvLine(e: RunEvent): string {
  const a = e as unknown as Record<string, unknown>;
  const c = cellOf(e);
  const o = e.type === 'cell-done' ? e.outcome : undefined;
  const f = csvValue;
  const cellPart = c ? `${c.array},${c.row},${c.col}` : ',,';
  return `${e.seq},${e.t},${e.type},${cellPart},${f(a.level)},${f(a.kind)},${f(a.vte_V)},${f(a.vsl_V)},${f(a.vg_V)},${f(a.width_s)},${f(a.vread_V)},${f(a.current_A ?? o?.final_A)},${f(a.phase)},${f(a.status ?? o?.status)},${f(o?.pulses)},${f(a.message)}\n`;
}

function csvValue(x: unknown): string | number {
  if (x === undefined || x === null) return '';
  if (typeof x === 'number') return x;
  const s = String(x);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The run, unless its events were pruned (an export of it would be a bare header, exit 0). */
export function exportableRun(store: EmbeddedStore, runId: string): RunRecord {
  const run = store.getRun(runId);
  if (run.pruned) throw new PrunedError(runId, run.pruned, run.results);
  return run;
}

export async function exportRun(store: EmbeddedStore, runId: string, format: 'csv' | 'json' | 'event-model', out: Writable | string, type?: RunEvent['type']): Promise<number> {
  const run = exportableRun(store, runId);
  // Opened at once: a path that cannot be written throws here, not later as a stream's 'error' event.
  const w: Writable = typeof out === 'string' ? createWriteStream(out, { fd: openSync(out, 'w') }) : out;
  let failure: Error | undefined;
  // Only a file of ours: a stream handed in (stdout) has its owner's handling (a closed pipe ends quietly).
  if (typeof out === 'string') w.on('error', (e: Error) => (failure ??= e));
  // Rows are gathered into ~64 kB chunks: one write (and one await) per chunk, not per event.
  let buf = '';
  const put = (s: string, force = false): Promise<void> | undefined => {
    if (failure) throw failure;
    buf += s;
    if (!force && buf.length < 65536) return undefined;
    const chunk = buf;
    buf = '';
    if (w.write(chunk)) return undefined;
    // Our file: events.once rejects on its error and takes the listener off again. A stream handed
    // in keeps its owner's error handling (stdout: a closed pipe ends quietly).
    return typeof out === 'string' ? once(w, 'drain').then(() => undefined) : new Promise<void>((r) => w.once('drain', () => r()));
  };
  let n: number;
  try {
    n = await writeEvents(store, run, format, put, type);
  } catch (e) {
    // A file opened here is closed again (its fd) when the export fails part way.
    if (typeof out === 'string') w.destroy();
    throw e;
  }
  if (typeof out === 'string') await new Promise<void>((r, j) => w.end(() => (failure ? j(failure) : r())));
  if (failure) throw failure;
  return n;
}

/** The run's events in `format`, through `put` (chunks: awaited when the stream wants a drain). */
async function writeEvents(store: EmbeddedStore, run: RunRecord, format: 'csv' | 'json' | 'event-model', put: (s: string, force?: boolean) => Promise<void> | undefined, type?: RunEvent['type']): Promise<number> {
  const runId = run.id;
  let n = 0;
  if (format === 'csv') {
    // Run metadata above the column header as comment lines (`# metadata.KEY = JSON value`; csv-parse `comment: '#'`, pandas `comment='#'`).
    for (const [k, v] of Object.entries(run.metadata ?? {})) await put(`# metadata.${k} = ${JSON.stringify(v)}\n`);
    await put(CSV_COLUMNS.join(',') + '\n');
    for await (const batch of store.eventBatches(runId, { type })) {
      let rows = '';
      for (const e of batch) rows += csvLine(e);
      n += batch.length;
      await put(rows);
    }
  } else if (format === 'event-model') {
    // JSON lines of [name, document] (suitcase-jsonl's layout): `rram export --format event-model`.
    const c = new EventModelComposer(runId, run.metadata);
    const lines = (docs: Doc[]) => docs.map((d) => JSON.stringify(d) + '\n').join('');
    for await (const batch of store.eventBatches(runId, { type })) {
      let rows = '';
      for (const e of batch) rows += lines(c.push(e));
      n += batch.length;
      await put(rows);
    }
    await put(lines(c.finish()));
  } else {
    await put(`{"run":${JSON.stringify(run)},"events":[`);
    for await (const batch of store.eventBatches(runId, { type })) {
      let rows = '';
      for (const e of batch) rows += (n++ ? ',\n' : '\n') + JSON.stringify(e);
      await put(rows);
    }
    await put('\n]}\n');
  }
  await put('', true);
  return n;
}
