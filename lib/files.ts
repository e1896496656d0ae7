/** Crash-safe helpers for the append-only files of the store and the journal. */
import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, fstatSync } from 'node:fs';

/**
 * A crash mid-write leaves a last line without its newline; appending after it would glue the next
 * line to it and lose both. Cuts the file back to its last complete line.
 */
export function cutTornTail(path: string): void {
  if (!existsSync(path)) return;
  const b = readFileSync(path);
  if (!b.length || b[b.length - 1] === 0x0a) return;
  const keep = b.lastIndexOf(0x0a) + 1;
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, keep);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The last complete line of a file (reading backwards in chunks), or undefined. */
export function lastCompleteLine(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    let chunk = 65536;
    for (;;) {
      const start = Math.max(0, size - chunk);
      const buf = Buffer.alloc(size - start);
      readSync(fd, buf, 0, buf.length, start);
      const end = buf.lastIndexOf(0x0a);
      if (end < 0) {
        if (start === 0) return undefined;
        chunk *= 4;
        continue;
      }
      const from = buf.lastIndexOf(0x0a, end - 1);
      if (from < 0 && start > 0) {
        chunk *= 4;
        continue;
      }
      return buf.toString('utf8', from + 1, end);
    }
  } finally {
    closeSync(fd);
  }
}
