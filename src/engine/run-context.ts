/**
 * A run's identity and its event emitter: numbers events, stamps them, and pushes them into the
 * shared rxjs Subject that every sink subscribes to.
 */
import { Subject } from 'rxjs';
import type { EventBody, RunEvent } from './events.js';

export class RunContext {
  private seq = 0;
  constructor(
    readonly runId: string,
    readonly events$: Subject<RunEvent> = new Subject<RunEvent>(),
  ) {}

  emit(body: EventBody): RunEvent {
    const e = { ...body, runId: this.runId, seq: this.seq++, t: Date.now() } as RunEvent;
    this.events$.next(e);
    return e;
  }

  get eventCount(): number {
    return this.seq;
  }
}
