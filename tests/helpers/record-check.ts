/**
 * What the CLI tests on real ptys share: a CLI run that does not block the event loop, the
 * record's pulses per cell, the foreign-v2 firmware's own audit, and the rule they must obey (per
 * cell the board's count lies between the record's confirmed pulses and those plus its unknown ones).
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { eventsTextSync } from '../../src/store/event-files.js';
import type { RunEvent } from '../../src/engine/events.js';
import { repoRoot } from '../../lib/repo-root.js';
import type { ForeignBoard } from './foreign-board.js';

export const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
export const key = (c: { array: number; row: number; col: number }) => `${c.array}:${c.row}:${c.col}`;

/** A CLI run, without blocking the event loop: exit code, stdout, stderr. */
export function rram(args: string[], o: { cwd?: string; onStart?: (p: ReturnType<typeof spawn>) => void } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [main, ...args], { cwd: o.cwd ?? tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d));
    p.stderr!.on('data', (d: Buffer) => (stderr += d));
    o.onStart?.(p);
    p.on('exit', (status) => res({ status, stdout, stderr }));
  });
}
export const events = (store: string, id: string) =>
  eventsTextSync(join(store, 'runs', id))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RunEvent);
export const onlyRun = (store: string) => readdirSync(join(store, 'runs'))[0];

/** Pulses per cell in a run's record: confirmed and of unknown outcome. */
export function recordPulses(evs: RunEvent[]): Map<string, { confirmed: number; unknown: number }> {
  const m = new Map<string, { confirmed: number; unknown: number }>();
  for (const e of evs) {
    if (e.type !== 'pulse' || e.outcome === 'refused') continue;
    const c = m.get(key(e.cell)) ?? { confirmed: 0, unknown: 0 };
    if (e.outcome === 'unknown') c.unknown++;
    else c.confirmed++;
    m.set(key(e.cell), c);
  }
  return m;
}

/** The firmware's own audit: pulses per cell, and requests executed twice. */
export function audit(b: ForeignBoard): { pulses: Map<string, number>; duplicates: number } {
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

export function assertRecordMatchesBoard(rec: Map<string, { confirmed: number; unknown: number }>, fw: Map<string, number>, what: string): void {
  for (const k of new Set([...rec.keys(), ...fw.keys()])) {
    const r = rec.get(k) ?? { confirmed: 0, unknown: 0 };
    const got = fw.get(k) ?? 0;
    assert.ok(got >= r.confirmed && got <= r.confirmed + r.unknown, `${what}: cell ${k}: the board applied ${got} pulses, the record says ${r.confirmed} confirmed + ${r.unknown} unknown`);
  }
}

