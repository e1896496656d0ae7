/**
 * Follows a run's events as whichever process writes them appends them: reads the plain file from
 * where the last read stopped (a line still being written waits for its newline), and, once the
 * run is packed at its end, the packed file past the last seq seen. So a reader of a live run
 * costs one read of the new bytes per poll, not a re-read of the run.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { RunEvent } from '../engine/events.js';
import { eventLines, eventsLayout, PLAIN } from './event-files.js';

export class EventTail {
  private pos = 0;
  private rest = '';
  /** Keeps a character cut by a read's end for the next read. */
  private dec = new StringDecoder('utf8');
  /** The last seq handed out (events arrive in seq order; a line seen twice is dropped). */
  lastSeq = -1;

  constructor(private readonly dir: string) {}

  /** The events appended since the last call (none when nothing new, or no events file yet). */
  async next(): Promise<RunEvent[]> {
    const layout = eventsLayout(this.dir);
    if (layout === 'none') return [];
    if (layout === 'packed') {
      const out: RunEvent[] = [];
      for await (const lines of eventLines(this.dir)) for (const l of lines) this.take(l, out);
      return out;
    }
    return this.appended();
  }

  /** The events appended to the plain file since the last read (none while it is absent). */
  appended(): RunEvent[] {
    if (eventsLayout(this.dir) !== 'plain') return [];
    const fd = openSync(join(this.dir, PLAIN), 'r');
    try {
      const size = fstatSync(fd).size;
      if (size < this.pos) {
        // cut by a resume (a torn tail removed): read again; the seqs skip what was seen
        this.pos = 0;
        this.rest = '';
        this.dec = new StringDecoder('utf8');
      }
      const buf = Buffer.alloc(Math.min(size - this.pos, 8 << 20));
      const n = buf.length ? readSync(fd, buf, 0, buf.length, this.pos) : 0;
      this.pos += n;
      const text = this.rest + this.dec.write(buf.subarray(0, n));
      const cut = text.lastIndexOf('\n');
      this.rest = cut < 0 ? text : text.slice(cut + 1);
      const out: RunEvent[] = [];
      if (cut >= 0) for (const l of text.slice(0, cut).split('\n')) this.take(l, out);
      return out;
    } finally {
      closeSync(fd);
    }
  }

  private take(line: string, out: RunEvent[]): void {
    if (!line) return;
    let e: RunEvent;
    try {
      e = JSON.parse(line) as RunEvent;
    } catch {
      return; // a torn line left by a crash
    }
    if (typeof e?.seq !== 'number' || e.seq <= this.lastSeq) return;
    this.lastSeq = e.seq;
    out.push(e);
  }
}
