/**
 * A fine-tuning program-net run through a station prints its per-layer lines as a local run does:
 * the station writes the run's fine-tune.json into the store the CLI shares (fine-tune-stages.ts),
 * and this reads it each half second while the run's events flow (the console events carry no
 * fine-tuning report), and once more at the run's end.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Subject } from 'rxjs';
import type { RunEvent } from '../../engine/events.js';
import type { FineTuneReport } from '../../inference/fine-tune.js';
import { EmbeddedStore } from '../../store/embedded-store.js';
import { progressPrinter } from './program-net-fine-tune.js';

export function followFineTune(storeRoot: string, events$: Subject<RunEvent>): void {
  const say = progressPrinter();
  const store = new EmbeddedStore(storeRoot);
  let file: string | undefined;
  let last = '';
  const look = () => {
    if (!file || !existsSync(file)) return;
    try {
      const text = readFileSync(file, 'utf8');
      if (text === last) return;
      last = text;
      say(JSON.parse(text) as FineTuneReport);
    } catch {
      // renamed into place between the check and the read: the next look reads it
    }
  };
  const timer = setInterval(look, 500);
  events$.subscribe({
    next: (e) => {
      file ??= join(store.runDir(e.runId), 'fine-tune.json');
    },
    complete: () => {
      clearInterval(timer);
      look();
    },
  });
}
