/**
 * The run journal: one fsync'd JSON line per finished cell. An interrupted run resumes from it
 * without re-pulsing finished cells (pulses are not idempotent).
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { cutTornTail } from '../../lib/files.js';
import { dirname } from 'node:path';
import type { CellAddress } from '../../drivers/board.js';
import type { CellOutcome } from '../plans/commands.js';
import { cellKey } from './events.js';

export interface JournalEntry {
  cell: CellAddress;
  level: number;
  target_A: number;
  outcome: CellOutcome;
}

export class Journal {
  private fd: number;
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    cutTornTail(path);
    this.fd = openSync(path, 'a');
  }

  append(entries: JournalEntry[]): void {
    if (!entries.length) return;
    appendFileSync(this.fd, entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
    fsyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }

  /** Finished cells by key; a torn last line (crash mid-write) is ignored (and cut when the journal is opened for writing). */
  static load(path: string): Map<string, JournalEntry> {
    const m = new Map<string, JournalEntry>();
    if (!existsSync(path)) return m;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const e = JSON.parse(line) as JournalEntry;
        m.set(cellKey(e.cell), e);
      } catch {
        /* torn write at crash: that cell is simply redone */
      }
    }
    return m;
  }
}

