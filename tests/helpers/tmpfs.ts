/**
 * A small tmpfs to fill up (issue 25: a full disk is a run outcome). Mounting needs root (CI runs as
 * root, or has passwordless sudo); without either the test fails, it does not skip.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  dir: string;
  /** Bytes free now. */
  free(): number;
  /** Fills the file system until `leave` bytes are free (a filler file). */
  fill(leave: number): void;
  /** Removes the filler. */
  drain(): void;
  unmount(): void;
}

const asRoot = (args: string[]) => (process.getuid?.() === 0 ? execFileSync(args[0], args.slice(1), { stdio: 'pipe' }) : execFileSync('sudo', ['-n', ...args], { stdio: 'pipe' }));

export function mountTmpfs(bytes: number): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), 'rram-tmpfs-'));
  try {
    asRoot(['mount', '-t', 'tmpfs', '-o', `size=${bytes},mode=1777`, 'tmpfs', dir]);
  } catch (e) {
    throw new Error(`cannot mount a tmpfs at ${dir} (needs root or passwordless sudo): ${(e as Error).message}`);
  }
  const filler = join(dir, '.filler');
  const free = () => {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  };
  return {
    dir,
    free,
    fill(leave) {
      const fd = openSync(filler, 'a');
      const chunk = Buffer.alloc(64 << 10, 0x55);
      try {
        for (let f = free(); f > leave; f = free()) writeSync(fd, chunk, 0, Math.min(chunk.length, f - leave));
      } catch {
        // full already
      } finally {
        closeSync(fd);
      }
    },
    drain: () => rmSync(filler, { force: true }),
    unmount() {
      try {
        asRoot(['umount', '-l', dir]);
      } catch {
        // a test that failed may leave a process holding it; the lazy unmount frees it later
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
