/** CLI progress bar (rate and ETA) fed by the run's progress events; silent when stderr is not a TTY. */
import cliProgress from 'cli-progress';
import type { Observable, Subscription } from 'rxjs';
import { filter } from 'rxjs';
import type { ProgressEvent, RunEvent } from '../engine/events.js';
import { attachConsoleWarnings } from './console-warnings.js';

/** The progress bar and the console's warnings (console-warnings.ts): what every CLI run shows on stderr. */
export function attachProgressBar(events$: Observable<RunEvent>, stream: NodeJS.WriteStream = process.stderr): Subscription {
  const warnings = attachConsoleWarnings(events$, stream);
  const sub = attachBar(events$, stream);
  sub.add(warnings);
  return sub;
}

function attachBar(events$: Observable<RunEvent>, stream: NodeJS.WriteStream): Subscription {
  if (!stream.isTTY) return events$.subscribe();
  let bar: cliProgress.SingleBar | undefined;
  let phase = '';
  const sub = events$.pipe(filter((e): e is ProgressEvent | RunEvent => e.type === 'progress' || e.type === 'run-end')).subscribe((e) => {
    if (e.type === 'run-end') {
      bar?.stop();
      return;
    }
    if (e.type !== 'progress') return;
    if (!bar || phase !== e.phase) {
      bar?.stop();
      phase = e.phase;
      bar = new cliProgress.SingleBar(
        { stream, format: `${e.phase} [{bar}] {value}/{total} cells | {rate} cells/s | ETA {eta_text}` },
        cliProgress.Presets.shades_classic,
      );
      bar.start(e.total, e.done, { rate: '…', eta_text: '…' });
    }
    // The engine's own rate and ETA (null until a rate is known): never "NFs" on the first frame.
    const known = e.done > 0 && Number.isFinite(e.rate_per_s) && e.eta_s !== null && Number.isFinite(e.eta_s);
    bar.update(e.done, known ? { rate: e.rate_per_s.toFixed(0), eta_text: `${Math.round(e.eta_s!)} s` } : { rate: '…', eta_text: '…' });
  });
  sub.add(() => bar?.stop());
  return sub;
}
