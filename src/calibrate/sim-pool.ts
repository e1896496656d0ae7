/**
 * Worker threads for the fit's simulations. The sensitivities of an indirect-inference step are
 * independent replays (one per parameter): on a 2-core machine two at a time halve the fit's
 * wall time. Results do not depend on the pool (every replay is seeded). RRAM_FIT_WORKERS=0 runs
 * everything in the calling thread (profiling, debugging).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { runSimTask, type SimTask, type SimTransfer } from './sim-tasks.js';
import type { SweepCell } from '../procedures/sweep.js';
import type { SweepStats } from './sweep-stats.js';
import type { ReplayCell } from './simulate.js';

type Result<T extends SimTask> = T extends { kind: 'sweep' } ? SweepCell[] : T extends { kind: 'sweep-stats' } ? SweepStats : T extends { kind: 'sweep-transfer' } ? SimTransfer : ReplayCell[][];

export class SimPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { task: SimTask; resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; w: Worker }>();
  private nextId = 0;

  constructor(size = Number(process.env.RRAM_FIT_WORKERS ?? Math.min(4, availableParallelism()))) {
    if (!(size >= 2)) return; // one core: the calling thread is as fast
    for (let k = 0; k < size; k++) {
      const w = new Worker(new URL('./sim-worker.js', import.meta.url));
      w.unref();
      w.on('message', (m: { id: number; result?: unknown; error?: string }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error !== undefined) p.reject(new Error(`calibration simulation failed: ${m.error}`));
        else p.resolve(m.result);
        this.idle.push(w);
        this.pump();
      });
      w.on('error', (e) => {
        for (const [id, p] of this.pending) if (p.w === w) (this.pending.delete(id), p.reject(e));
      });
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  run<T extends SimTask>(task: T): Promise<Result<T>> {
    if (!this.workers.length) {
      try {
        return Promise.resolve(runSimTask(task) as Result<T>);
      } catch (e) {
        return Promise.reject(e as Error);
      }
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ task, resolve: resolve as (v: unknown) => void, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length && this.queue.length) {
      const w = this.idle.pop()!;
      const j = this.queue.shift()!;
      const id = this.nextId++;
      this.pending.set(id, { resolve: j.resolve, reject: j.reject, w });
      w.postMessage({ id, task: j.task });
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
