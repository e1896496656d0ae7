/**
 * Runs written into the store by other processes (a CLI command, a script, another station on the
 * same store), followed live (issue 29): the store's runs folder is polled for runs being written
 * by another live process, and each one's event file is tailed - complete lines from the byte
 * offset reached - into the server's bus, so the dashboard's live stream, maps and the follow
 * endpoint show them as they happen. A run packed at its end is finished from the packed copy
 * (events past the last seq seen); a run whose writer died is read to its last stored event.
 */
import { readdirSync } from 'node:fs';
import { EventTail } from '../store/event-tail.js';
import { join } from 'node:path';
import type { Subject } from 'rxjs';
import type { RunEvent } from '../engine/events.js';
import type { EmbeddedStore } from '../store/embedded-store.js';
import { writerAlive } from '../store/run-admin.js';

const RUN_DIR = /^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$/;

interface Tail {
  runId: string;
  kind: string;
  /** Its events file read as it grows (complete lines only, each seq once). */
  events: EventTail;
}

export class StoreFollower {
  /** Runs followed now (another process writes them). */
  readonly following = new Map<string, Tail>();
  /** Run folders already judged (followed, ended, or this server's own). */
  private readonly seen = new Set<string>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly store: EmbeddedStore,
    private readonly bus: Subject<RunEvent>,
    /** This server's own runs: never followed (their events reach the bus directly). */
    private readonly own: (runId: string) => boolean,
    private readonly every_ms = 250,
  ) {}

  start(): this {
    this.timer = setInterval(() => this.poll(), this.every_ms);
    this.timer.unref();
    this.poll();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  isFollowed(runId: string): boolean {
    return this.following.has(runId);
  }

  poll(): void {
    const root = join(this.store.root, 'runs');
    let names: string[] = [];
    try {
      names = readdirSync(root);
    } catch {
      return; // no runs yet
    }
    for (const n of names) {
      if (this.seen.has(n) || !RUN_DIR.test(n) || this.own(n)) continue;
      let rec;
      try {
        rec = this.store.getRun(n);
      } catch {
        continue; // its run.json is not written yet: next time
      }
      this.seen.add(n);
      if (rec.writer?.pid === process.pid || !writerAlive(rec)) continue;
      this.following.set(n, { runId: n, kind: rec.kind, events: new EventTail(this.store.runDir(n)) });
    }
    for (const t of [...this.following.values()]) this.tail(t);
  }

  private emit(t: Tail, e: RunEvent): void {
    t.events.lastSeq = e.seq;
    this.bus.next(e);
  }

  private tail(t: Tail): void {
    for (const e of t.events.appended()) this.bus.next(e);
    let rec;
    try {
      rec = this.store.getRun(t.runId);
    } catch {
      this.following.delete(t.runId); // deleted meanwhile
      return;
    }
    if (rec.status === 'running' && writerAlive(rec)) return;
    // Ended (or its writer died): whatever the live file did not give, from the stored events.
    void this.finish(t);
  }

  private async finish(t: Tail): Promise<void> {
    this.following.delete(t.runId);
    try {
      for await (const e of this.store.events(t.runId)) if (e.seq > t.events.lastSeq) this.emit(t, e);
    } catch {
      // pruned or deleted: what was followed stands
    }
  }
}
