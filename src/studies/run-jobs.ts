/**
 * Runs a study's points (skipping those its store already has: resume) on an executor, in
 * process or on the queue; stores each result as it arrives, in whatever order, and returns the
 * rows in the study's order. One progress bar over all work units with rate and ETA, one line
 * per point on stderr (with the ETA, and the worker that ran it when it was not this process).
 */
import { stepProgress } from '../sinks/step-progress.js';
import type { QueueTask, Ran } from '../queue/job.js';
import { LOCAL, type Executor } from './executors.js';
import type { PointStore } from './point-store.js';

export interface RunJobsOptions<R> {
  label: string;
  /** The result as the row the store keeps (default: the result itself). */
  accept?: (key: string, result: unknown) => R;
  /** What a line says about a finished point. */
  describe: (row: R) => string;
  log?: (line: string) => void;
  /** What the progress bar counts (default trials). */
  unit?: string;
  /** What the tasks are called in messages (default points). */
  noun?: string;
}

export async function runStudyJobs<R extends { key: string }>(store: PointStore<R>, tasks: QueueTask[], exec: Executor, o: RunJobsOptions<R>): Promise<R[]> {
  const keys = new Set<string>();
  for (const t of tasks) {
    if (keys.has(t.key)) throw new Error(`study grid has point ${t.key} twice`);
    keys.add(t.key);
  }
  const todo = tasks.filter((t) => !store.done.has(t.key));
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  if (store.dropped) log(`${store.dir}: dropped ${store.dropped} unfinished line(s) of points.ndjson (a point cut short is run again)`);
  if (todo.length < tasks.length) log(`${o.label}: ${tasks.length - todo.length} of ${tasks.length} ${o.noun ?? 'points'} already in ${store.dir}, ${todo.length} to run`);
  const bar = stepProgress(o.label, o.unit ?? 'trials');
  const t0 = performance.now();
  let done = 0;
  let units = 0;
  let total = 0;
  const eta = () => {
    const el = (performance.now() - t0) / 1000;
    return units > 0 && units < total ? `, ETA ${((el / units) * (total - units)).toFixed(0)} s` : '';
  };
  try {
    await exec.run(todo, {
      log,
      onProgress: (d, n) => {
        units = d;
        total = n;
        bar.update(d, n);
      },
      onResult: (key, result, ran) => {
        const row = o.accept ? o.accept(key, result) : (result as R);
        if (row.key !== key) throw new Error(`the result for ${key} is keyed ${row.key}`);
        store.add(row);
        done++;
        log(`${o.label} ${done}/${todo.length} ${key}: ${o.describe(row)} (${ran.seconds.toFixed(1)} s${ran.worker === LOCAL ? '' : ` on ${ran.worker}`}${eta()})`);
      },
    });
  } finally {
    bar.stop();
  }
  return tasks.filter((t) => store.done.has(t.key)).map((t) => store.done.get(t.key)!);
}

/** Runs tasks that keep no point store (a sweep, a study's nets): a progress bar, queue messages on stderr, each result handed over as it arrives. */
export async function runTasks(exec: Executor, tasks: QueueTask[], o: { label: string; unit: string; onResult: (key: string, result: unknown, ran: Ran) => void }): Promise<void> {
  const bar = stepProgress(o.label, o.unit);
  try {
    await exec.run(tasks, { log: (l) => process.stderr.write(l + '\n'), onProgress: (d, n) => bar.update(d, n), onResult: o.onResult });
  } finally {
    bar.stop();
  }
}
