/**
 * Retention: `rram runs prune` frees the space of old runs' raw events. A run's record (run.json)
 * and its results (level CDFs, programming and inference results, fits) are what later work
 * reads, so they stay unless the user asks for whole runs to go (`deleteResults`). Running runs
 * (status running: active, or interrupted and resumable) are never touched.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { EmbeddedStore, RunRecord } from './embedded-store.js';
import { PACKED, PLAIN } from './event-files.js';

export interface PruneOptions {
  olderThan_s: number;
  /** Remove whole run folders, results included. */
  deleteResults?: boolean;
  dryRun?: boolean;
  now?: Date;
}

export interface PruneEntry {
  id: string;
  kind: string;
  status: string;
  ended: string;
  action: 'events removed' | 'run removed' | 'kept (running)';
  freed_bytes: number;
}

const RAW = [PLAIN, PACKED, 'journal.ndjson'];

function bytesIn(dir: string, names?: string[]): number {
  let n = 0;
  for (const f of names ?? readdirSync(dir)) if (existsSync(join(dir, f))) n += statSync(join(dir, f)).size;
  return n;
}

export function pruneRuns(store: EmbeddedStore, o: PruneOptions): PruneEntry[] {
  const cutoff = (o.now ?? new Date()).getTime() - o.olderThan_s * 1000;
  const out: PruneEntry[] = [];
  for (const r of store.listRuns()) {
    const when = r.ended ?? r.started;
    if (Date.parse(when) > cutoff) continue;
    const dir = store.runDir(r.id);
    const base = { id: r.id, kind: r.kind, status: r.status, ended: when };
    if (r.status === 'running') {
      out.push({ ...base, action: 'kept (running)', freed_bytes: 0 });
      continue;
    }
    if (o.deleteResults) {
      const freed = bytesIn(dir);
      if (!o.dryRun) rmSync(dir, { recursive: true, force: true });
      out.push({ ...base, action: 'run removed', freed_bytes: freed });
      continue;
    }
    const freed = bytesIn(dir, RAW);
    if (!freed) continue; // pruned before
    if (!o.dryRun) {
      for (const f of RAW) rmSync(join(dir, f), { force: true });
      const rec: RunRecord = { ...store.getRun(r.id), pruned: new Date().toISOString(), eventsBytes: 0 };
      store.writeRun(rec);
    }
    out.push({ ...base, action: 'events removed', freed_bytes: freed });
  }
  return out;
}
