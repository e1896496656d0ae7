/**
 * Runs a study's Monte Carlo points in order, skipping those its store already has (resume),
 * one progress bar over all trials with rate and ETA, one line per point on stderr. Each point's
 * trials are spread over worker threads by the Monte Carlo itself.
 */
import { stepProgress } from '../sinks/step-progress.js';
import { runPoint, type McPoint, type PointContext, type PointRow } from './mc-point.js';
import type { PointStore } from './point-store.js';

export interface RunPointsOptions {
  label: string;
  /** Trials a point needs (1 for noise-free points). */
  trialsFor?: (p: McPoint) => number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export async function runPoints(store: PointStore<PointRow>, points: McPoint[], ctx: PointContext, o: RunPointsOptions): Promise<PointRow[]> {
  const keys = new Set<string>();
  for (const p of points) {
    if (keys.has(p.key)) throw new Error(`study grid has point ${p.key} twice`);
    keys.add(p.key);
  }
  const trialsOf = (p: McPoint) => o.trialsFor?.(p) ?? ctx.trials;
  const todo = points.filter((p) => !store.done.has(p.key));
  const total = todo.reduce((s, p) => s + trialsOf(p), 0);
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  if (store.dropped) log(`${store.dir}: dropped ${store.dropped} unfinished line(s) of points.ndjson (a point cut short is run again)`);
  if (todo.length < points.length) log(`${o.label}: ${points.length - todo.length} of ${points.length} points already in ${store.dir}, ${todo.length} to run`);
  const bar = stepProgress(o.label, 'trials');
  let before = 0;
  try {
    for (const [i, p] of todo.entries()) {
      if (o.signal?.aborted) break;
      const trials = trialsOf(p);
      const row = await runPoint(p, { ...ctx, trials, onTrial: (d) => bar.update(before + d, total) });
      store.add(row);
      before += trials;
      bar.update(before, total);
      log(`${o.label} ${i + 1}/${todo.length} ${p.key}: mean ${(100 * row.summary.mean).toFixed(2)} % over ${trials} trial(s) (${row.elapsed_s.toFixed(1)} s)`);
    }
  } finally {
    bar.stop();
  }
  return points.filter((p) => store.done.has(p.key)).map((p) => store.done.get(p.key)!);
}
