/**
 * Each process spills InfluxDB points into its own folder (<base>/<pid>-<start ms>-<n>), so two
 * processes sharing a store (a CLI run beside `rram serve`) never replay or delete each other's
 * files. A new folder adopts the files of processes that are gone, oldest first, so their points
 * are still delivered in order; rename() is atomic, so each file gets exactly one adopter.
 *
 * "Gone" does not trust a pid alone (issue 25: a folder left by an earlier process whose pid was
 * reused, e.g. pid 1 in every container, was never picked up): an owner keeps a heartbeat file
 * (`.owner`, its host and pid, touched every 10 s). A folder is an orphan when its heartbeat is
 * older than a minute, or when it was written on this host by a pid that no longer runs or is this
 * process's own pid in a folder this process did not make.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

const OWNER = /^(\d+)-(\d+)-\d+$/;
const SEGMENT = /^spill-(\d+)\.lp$/;
const HEARTBEAT = '.owner';
export const HEARTBEAT_EVERY_MS = 10000;
export const STALE_AFTER_MS = 60000;
let claims = 0;
/** Folders this process made (alive as long as it runs, whatever their heartbeat says). */
const mine = new Set<string>();

function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function orphan(dir: string, pid: number, now: number): boolean {
  if (mine.has(dir)) return false;
  if (pid === process.pid) return true; // our pid, not our folder: an earlier process's
  let owner: { host?: string } = {};
  let beat: number | undefined;
  try {
    beat = statSync(join(dir, HEARTBEAT)).mtimeMs;
    owner = JSON.parse(readFileSync(join(dir, HEARTBEAT), 'utf8')) as { host?: string };
  } catch {
    // an older layout, or a heartbeat being written: the pid decides
  }
  if (beat !== undefined && now - beat > STALE_AFTER_MS) return true;
  const here = beat === undefined || owner.host === hostname();
  return here && !pidRuns(pid);
}

/** Spill segments of a folder in replay order, then its other files (kept, e.g. rejected batches). */
function filesInOrder(dir: string): string[] {
  const names = readdirSync(dir).filter((f) => f !== HEARTBEAT && statSync(join(dir, f)).isFile());
  const segs = names.filter((f) => SEGMENT.test(f)).sort((a, b) => Number(SEGMENT.exec(a)![1]) - Number(SEGMENT.exec(b)![1]));
  return [...segs, ...names.filter((f) => !SEGMENT.test(f))];
}

export function claimSpillDir(base: string): string {
  mkdirSync(base, { recursive: true });
  const own = join(base, `${process.pid}-${Date.now()}-${claims++}`);
  mkdirSync(own, { recursive: true });
  mine.add(own);
  const beat = join(own, HEARTBEAT);
  writeFileSync(beat, JSON.stringify({ host: hostname(), pid: process.pid, started: new Date().toISOString() }));
  const timer = setInterval(() => {
    try {
      const t = new Date();
      utimesSync(beat, t, t);
    } catch {
      clearInterval(timer); // the folder is gone (adopted after a long stall, or removed)
    }
  }, HEARTBEAT_EVERY_MS);
  timer.unref();
  // Orphans: loose files of the single-folder layout first, then dead owners by start time.
  const now = Date.now();
  const dead = readdirSync(base)
    .map((d) => ({ d, m: OWNER.exec(d) }))
    .filter((x): x is { d: string; m: RegExpExecArray } => !!x.m && join(base, x.d) !== own && orphan(join(base, x.d), Number(x.m[1]), now))
    .sort((a, b) => Number(a.m[2]) - Number(b.m[2]))
    .map((x) => join(base, x.d));
  let seg = 0;
  for (const dir of [base, ...dead]) {
    for (const f of filesInOrder(dir)) {
      const to = SEGMENT.test(f) ? `spill-${++seg}.lp` : f;
      try {
        renameSync(join(dir, f), join(own, to));
      } catch {
        /* another process adopted it first */
      }
    }
    if (dir !== base) {
      try {
        rmSync(join(dir, HEARTBEAT), { force: true });
        rmdirSync(dir);
      } catch {
        /* not empty: a file arrived meanwhile; adopted next time */
      }
    }
  }
  return own;
}
