/**
 * Event -> InfluxDB line-protocol mapping (schema in docs/formats.md). One event gives exactly one
 * line; its timestamp is the event's wall time in ns plus its seq modulo 1e6, unique within a run,
 * so re-sending a batch after an ambiguous failure overwrites instead of duplicating.
 *
 * Built as direct string concatenation with the run's tag prefix cached: a generic
 * object-per-point formatter cost ~20 us per event, more than the engine spends producing it.
 */
import type { RunEvent } from '../engine/events.js';

/** ns timestamp as a decimal string: floor(t ms) followed by seq mod 1e6 in six digits. */
export function pointTimestamp(e: Pick<RunEvent, 't' | 'seq'>): string {
  const s = String(e.seq % 1000000);
  return String(Math.floor(e.t)) + '000000'.slice(s.length) + s;
}

/** Tag keys/values: escape comma, equals and space (line protocol). */
export const escTag = (s: string): string => s.replace(/[,= ]/g, (m) => '\\' + m);
const escStr = (s: string): string => '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
/**
 * Float field: always written with a decimal point so a field's type never flips to integer.
 * Non-finite values (not representable in line protocol; one would poison its whole batch) are -1.
 */
const fl = (v: number): string => (!Number.isFinite(v) ? '-1.0' : Number.isInteger(v) ? v + '.0' : String(v));
const int = (v: number): string => Math.round(v) + 'i';

/** Formats events; remembers each run's board and algorithm from its run-start (runs may interleave). */
export class LineFormatter {
  private runs = new Map<string, { tags: string; algo: string }>();

  private context(e: RunEvent): { tags: string; algo: string } {
    let c = this.runs.get(e.runId);
    if (!c || e.type === 'run-start' || e.type === 'run-resume') {
      const board = e.type === 'run-start' || e.type === 'run-resume' ? e.board.id : '';
      const algo = e.type === 'run-start' || e.type === 'run-resume' ? String(e.params.algo ?? '') : '';
      c = { tags: `,run=${escTag(e.runId)}` + (board ? `,board=${escTag(board)}` : ''), algo: algo ? `,algo=${escTag(algo)}` : '' };
      this.runs.set(e.runId, c);
    }
    return c;
  }

  format(e: RunEvent): string {
    const c = this.context(e);
    if (e.type === 'run-end') this.runs.delete(e.runId);
    const ts = ' ' + pointTimestamp(e);
    switch (e.type) {
      case 'pulse': {
        const a = e.cell;
        return `pulse${c.tags},array=${a.array},row=${a.row},col=${a.col}${c.algo},level=${e.level},kind=${e.kind} vte_V=${fl(e.vte_V)},vsl_V=${fl(e.vsl_V)},vg_V=${fl(e.vg_V)},width_s=${fl(e.width_s)},seq=${e.seq}i${ts}`;
      }
      case 'read': {
        const a = e.cell;
        return `read${c.tags},array=${a.array},row=${a.row},col=${a.col}${c.algo},level=${e.level},phase=${e.phase} current_A=${fl(e.current_A)},vread_V=${fl(e.vread_V)},relax_s=${fl(e.relax_s ?? 0)},seq=${e.seq}i${ts}`;
      }
      case 'cell-done': {
        const a = e.cell;
        const o = e.outcome;
        return `cell_result${c.tags},array=${a.array},row=${a.row},col=${a.col}${c.algo},level=${e.level},status=${escTag(o.status)} target_A=${fl(e.target_A)},pulses=${int(o.pulses)},final_A=${fl(o.final_A)},final_stepped_V=${fl(o.finalStepped_V)},seq=${e.seq}i${ts}`;
      }
      case 'progress':
        return `progress${c.tags},phase=${escTag(e.phase)} done=${int(e.done)},total=${int(e.total)},rate_per_s=${fl(e.rate_per_s)},seq=${e.seq}i${ts}`;
      case 'warning':
        return `warning${c.tags} message=${escStr(e.message)},seq=${e.seq}i${ts}`;
      case 'run-start':
        return `run${c.tags},kind=${escTag(e.kind)}${c.algo} params=${escStr(JSON.stringify(e.params).slice(0, 60000))},seq=${e.seq}i${ts}`;
      case 'run-resume':
        return `run${c.tags},kind=${escTag(e.kind)}${c.algo},resumed=true resumed_after_seq=${int(e.resumedAfterSeq)},seq=${e.seq}i${ts}`;
      case 'run-end':
        return `run_summary${c.tags},status=${e.status}${c.algo} events=${e.seq + 1}i,summary=${escStr(JSON.stringify(e.summary ?? {}).slice(0, 60000))},error=${escStr(e.error ?? '')},seq=${e.seq}i${ts}`;
    }
  }
}
