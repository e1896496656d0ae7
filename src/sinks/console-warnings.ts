/**
 * The console's share of the host's reporting duties (docs/protocol.md, section 7): every link
 * warning (link lost, restored, board rebooted, session lost, gave up) printed on stderr as it
 * happens; per-cell warnings (a pulse of unknown outcome, an unreadable cell) printed up to a few,
 * then counted; and at the end of the run one line with every count that is not zero. Until
 * revision 2.1 these went only to the event store and the console said nothing.
 */
import type { Observable, Subscription } from 'rxjs';
import type { RunEvent } from '../engine/events.js';
import { pulsesOf } from '../engine/cell-ledger.js';

const LINK = new Set(['link-lost', 'link-restored', 'board-rebooted', 'session-lost', 'gave-up']);
const PER_CELL_SHOWN = 5;

export function attachConsoleWarnings(events$: Observable<RunEvent>, out: { write(s: string): unknown } = process.stderr): Subscription {
  const counts = new Map<string, number>();
  let unknownPulses = 0;
  // On-board write-verify jobs of unknown outcome, and the most pulses they may have applied.
  let unknownJobs = 0;
  let unknownJobPulses = 0;
  return events$.subscribe((e) => {
    if (e.type === 'pulse' && e.outcome === 'unknown') {
      if (e.kind === 'write-verify') {
        unknownJobs++;
        unknownJobPulses += pulsesOf(e);
      } else unknownPulses++;
    }
    if (e.type === 'warning' && e.code) {
      const n = (counts.get(e.code) ?? 0) + 1;
      counts.set(e.code, n);
      if (LINK.has(e.code) || e.code === 'fresh-cells' || e.code === 'resume') out.write(`rram: warning: ${e.message}\n`);
      else if (e.code === 'outcome-unknown' || e.code === 'unreadable' || e.code === 'limit') {
        if (n <= PER_CELL_SHOWN) out.write(`rram: warning: ${e.message}\n`);
        else if (n === PER_CELL_SHOWN + 1) out.write(`rram: warning: more ${e.code} warnings follow; counted in the summary at the end\n`);
      }
    }
    if (e.type === 'run-end') {
      const parts: string[] = [];
      const c = (code: string, what: string) => {
        const n = counts.get(code) ?? 0;
        if (n) parts.push(`${what} ${n} time${n === 1 ? '' : 's'}`);
      };
      c('link-lost', 'link lost');
      c('board-rebooted', 'board rebooted');
      c('session-lost', 'session lost');
      c('gave-up', 'link given up');
      if (unknownPulses) parts.push(`${unknownPulses} pulse${unknownPulses === 1 ? '' : 's'} of unknown outcome (recorded as such, never as applied)`);
      if (unknownJobs) parts.push(`${unknownJobs} on-board write-verify job${unknownJobs === 1 ? '' : 's'} of unknown outcome (up to ${unknownJobPulses} pulses; recorded as such, never as applied)`);
      const unreadable = counts.get('unreadable') ?? 0;
      if (unreadable) parts.push(`${unreadable} cell${unreadable === 1 ? '' : 's'} unreadable (no pulse after their unusable reads)`);
      const limit = counts.get('limit') ?? 0;
      if (limit) parts.push(`${limit} command${limit === 1 ? '' : 's'} beyond the limits, not sent`);
      if (parts.length) out.write(`rram: run ${e.runId}: ${parts.join('; ')}\n`);
    }
  });
}
