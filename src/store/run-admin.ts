/**
 * Changing stored runs after the fact: metadata edits, archiving, deleting. A run still being
 * written (its writer process alive on this host, or the caller's own active job) is never
 * deleted; an interrupted one (status running, its writer gone) may be, on purpose.
 */
import { hostname } from 'node:os';
import { rmSync } from 'node:fs';
import { RramError } from '../../drivers/errors.js';
import { parseBody } from '../io/validate.js';
import { RunMetadata } from '../io/schemas/run-metadata.js';
import type { EmbeddedStore, RunRecord } from './embedded-store.js';

export class RunBusyError extends RramError {
  constructor(id: string, why: string) {
    super('BUSY', `run ${id} ${why}: it cannot be deleted while it runs (abort it first)`, { id });
  }
}

/** Whether a process on this host still writes the run (a pid reused since errs on the safe side: kept). */
export function writerAlive(rec: RunRecord): boolean {
  if (rec.status !== 'running') return false;
  if (!rec.writer) return true; // written before writers were recorded: cannot tell, so it is kept
  if (rec.writer.host !== hostname()) return true; // another machine's process: cannot tell
  try {
    process.kill(rec.writer.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Replaces a run's metadata (validated; an empty object clears it). */
export function setMetadata(store: EmbeddedStore, id: string, metadata: unknown): RunRecord {
  const m = parseBody(RunMetadata, metadata);
  const rec = store.getRun(id);
  const next: RunRecord = { ...rec, metadata: Object.keys(m).length ? m : undefined };
  store.writeRun(next);
  return next;
}

/** Archives (or restores) a run: its files stay; lists hide it unless asked for archived runs. */
export function setArchived(store: EmbeddedStore, id: string, archived: boolean): RunRecord {
  const rec = store.getRun(id);
  const next: RunRecord = { ...rec, archived: archived ? (rec.archived ?? new Date().toISOString()) : undefined };
  store.writeRun(next);
  return next;
}

/** Deletes a run's folder; refused while it runs (`active`: the caller's own live jobs). */
export function deleteRun(store: EmbeddedStore, id: string, active: (id: string) => boolean = () => false): void {
  const rec = store.getRun(id);
  if (active(id)) throw new RunBusyError(id, 'is an active job of this server');
  if (writerAlive(rec)) throw new RunBusyError(id, rec.writer ? `is being written by process ${rec.writer.pid} on ${rec.writer.host}` : 'is marked running and its writer is unknown');
  rmSync(store.runDir(id), { recursive: true, force: true });
}
