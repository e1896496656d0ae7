/**
 * Each process spills InfluxDB points into its own folder (<base>/<pid>-<start ms>-<n>), so two
 * processes sharing a store (a CLI run beside `rram serve`) never replay or delete each other's
 * files. A new folder adopts the files of processes that are gone, oldest first, so their points
 * are still delivered in order; rename() is atomic, so each file gets exactly one adopter.
 */
import { mkdirSync, readdirSync, renameSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const OWNER = /^(\d+)-(\d+)-\d+$/;
let claims = 0;
const SEGMENT = /^spill-(\d+)\.lp$/;

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** Spill segments of a folder in replay order, then its other files (kept, e.g. rejected batches). */
function filesInOrder(dir: string): string[] {
  const names = readdirSync(dir).filter((f) => statSync(join(dir, f)).isFile());
  const segs = names.filter((f) => SEGMENT.test(f)).sort((a, b) => Number(SEGMENT.exec(a)![1]) - Number(SEGMENT.exec(b)![1]));
  return [...segs, ...names.filter((f) => !SEGMENT.test(f))];
}

export function claimSpillDir(base: string): string {
  mkdirSync(base, { recursive: true });
  const own = join(base, `${process.pid}-${Date.now()}-${claims++}`);
  mkdirSync(own, { recursive: true });
  // Orphans: loose files of the single-folder layout first, then dead owners by start time.
  const dead = readdirSync(base)
    .map((d) => ({ d, m: OWNER.exec(d) }))
    .filter((x): x is { d: string; m: RegExpExecArray } => !!x.m && join(base, x.d) !== own && !alive(Number(x.m[1])))
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
        rmdirSync(dir);
      } catch {
        /* not empty: a file arrived meanwhile; adopted next time */
      }
    }
  }
  return own;
}
