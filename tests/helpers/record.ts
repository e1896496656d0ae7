/** Reading a run's record in tests: its events, its pulses per cell, and a board's own audit beside them. */
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { eventsTextSync } from '../../src/store/event-files.js';
import type { RunEvent } from '../../src/engine/events.js';
import { pulsesOf } from '../../src/engine/cell-ledger.js';
import type { ForeignBoard } from './foreign-board.js';

export const cellKey = (c: { array: number; row: number; col: number }) => `${c.array}:${c.row}:${c.col}`;

/** The stored events of a run (plain or packed); a torn last line (kill -9 mid-write) is no event. */
export const storedEvents = (store: string, id: string): RunEvent[] =>
  eventsTextSync(join(store, 'runs', id))
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as RunEvent];
      } catch {
        return [];
      }
    });

/** Pulses per cell in a record: confirmed and of unknown outcome (refused ones had no effect); an on-board job counts its pulses. */
export function recordPulses(evs: RunEvent[]): Map<string, { confirmed: number; unknown: number }> {
  const m = new Map<string, { confirmed: number; unknown: number }>();
  for (const e of evs) {
    if (e.type !== 'pulse' || e.outcome === 'refused') continue;
    const c = m.get(cellKey(e.cell)) ?? { confirmed: 0, unknown: 0 };
    // An on-board write-verify job stands for the pulses it applied (of unknown outcome: at most its maxPulses).
    if (e.outcome === 'unknown') c.unknown += pulsesOf(e);
    else c.confirmed += pulsesOf(e);
    m.set(cellKey(e.cell), c);
  }
  return m;
}

/** The foreign-v2 firmware's own audit: pulses per cell, and requests executed twice. */
export function foreignAudit(b: ForeignBoard): { pulses: Map<string, number>; duplicates: number } {
  const pulses = new Map<string, number>();
  const seen = new Set<string>();
  let duplicates = 0;
  for (const r of b.audit()) {
    const [, boot, session, seq, op, a, row, col] = r;
    if (['FORM', 'SET', 'RESET', 'WV_SET'].includes(op)) pulses.set(`${a}:${row}:${col}`, (pulses.get(`${a}:${row}:${col}`) ?? 0) + 1);
    if (['FORM', 'SET', 'RESET', 'WAIT', 'WV'].includes(op)) {
      const k = `${boot}/${session}/${seq}`;
      if (seen.has(k)) duplicates++;
      seen.add(k);
    }
  }
  return { pulses, duplicates };
}

/** Per cell, the board's own count lies between the record's confirmed pulses and those plus its unknown ones. */
export function assertRecordMatchesBoard(rec: Map<string, { confirmed: number; unknown: number }>, got: (k: string) => number, keys: Iterable<string>, what: string): void {
  for (const k of new Set([...rec.keys(), ...keys])) {
    const r = rec.get(k) ?? { confirmed: 0, unknown: 0 };
    const n = got(k);
    assert.ok(n >= r.confirmed && n <= r.confirmed + r.unknown, `${what}: cell ${k}: the board applied ${n} pulses, the record says ${r.confirmed} confirmed + ${r.unknown} unknown`);
  }
}

/** A board behind a serial port: its own COUNTERS (since it started) per cell of `rec`, against the records (assertRecordMatchesBoard). */
export async function assertSerialCountersMatch(path: string, rec: Map<string, { confirmed: number; unknown: number }>, what: string): Promise<void> {
  const { SerialBoard } = await import('../../drivers/serial/serial-board.js');
  const sb = await SerialBoard.open({ path });
  const got = new Map<string, number>();
  try {
    for (const k of rec.keys()) {
      const [array, row, col] = k.split(':').map(Number);
      const n = await sb.counters({ array, row, col });
      got.set(k, n.form + n.set + n.reset);
    }
  } finally {
    await sb.close();
  }
  assertRecordMatchesBoard(rec, (k) => got.get(k) ?? 0, rec.keys(), what);
}
