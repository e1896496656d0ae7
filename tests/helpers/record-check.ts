/**
 * What the CLI tests on real ptys share: a CLI run that does not block the event loop, the
 * record's pulses per cell, the foreign-v2 firmware's own audit, and the rule they must obey (per
 * cell the board's count lies between the record's confirmed pulses and those plus its unknown ones).
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventsTextSync } from '../../src/store/event-files.js';
import type { RunEvent } from '../../src/engine/events.js';
import { repoRoot } from '../../lib/repo-root.js';
import { assertRecordMatchesBoard as assertRecordMatchesBoardBy, foreignAudit } from './record.js';

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

export { recordPulses } from './record.js';
export const audit = foreignAudit;

/** Per cell the board's count lies between the record's confirmed pulses and those plus its unknown ones. */
export function assertRecordMatchesBoard(rec: Map<string, { confirmed: number; unknown: number }>, fw: Map<string, number>, what: string): void {
  assertRecordMatchesBoardBy(rec, (k) => fw.get(k) ?? 0, fw.keys(), what);
}
