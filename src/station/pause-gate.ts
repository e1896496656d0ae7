/**
 * Pause at a checkpoint: a queue's pause reaches its running run at the run's next checkpoint
 * (after a round's results are committed: nothing half done, everything stored), where the run
 * grounds the board, marks the pause in its record and holds until resumed or aborted.
 */
export interface RunGate {
  /** Whether the queue asks the run to hold at its next checkpoint. */
  readonly pauseRequested: boolean;
  /** Holds until the queue resumes or the run is aborted (by its queue, or by `also`: the job's own abort); tells the queue the run is held meanwhile. */
  hold(also?: AbortSignal): Promise<void>;
}

export class PauseGate {
  paused = false;
  private readonly waiters = new Set<() => void>();

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const w of [...this.waiters]) w();
    this.waiters.clear();
  }

  /** The gate one run sees: `onHeld(at)` when it holds (ISO time), `onHeld(undefined)` when it goes on. */
  forRun(signal: AbortSignal, onHeld: (at: string | undefined) => void): RunGate {
    const gate = this;
    return {
      get pauseRequested() {
        return gate.paused && !signal.aborted;
      },
      hold(also?: AbortSignal): Promise<void> {
        const signals = also ? [signal, also] : [signal];
        if (!gate.paused || signals.some((s) => s.aborted)) return Promise.resolve();
        onHeld(new Date().toISOString());
        return new Promise<void>((resolve) => {
          const go = () => {
            gate.waiters.delete(go);
            for (const s of signals) s.removeEventListener('abort', go);
            onHeld(undefined);
            resolve();
          };
          gate.waiters.add(go);
          for (const s of signals) s.addEventListener('abort', go, { once: true });
        });
      },
    };
  }
}
