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
/** Float value: always written with a decimal point so a field's type never flips to integer. */
const num = (v: number): string => (Number.isInteger(v) ? v + '.0' : String(v));
const int = (v: number): string => Math.round(v) + 'i';
/**
 * A float field, or nothing: a value that is missing (null, NaN, infinite: not representable in line
 * protocol) is a missing field, never a made-up number (a query's mean then skips it).
 */
const fl = (name: string, v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '' : `${name}=${num(v)},`);

/**
 * Formats events; remembers each run's board and algorithm from its run-start (runs may interleave).
 * `station`: the writing station's name, a tag on every point (several stations share one database).
 */
export class LineFormatter {
  private runs = new Map<string, { tags: string; algo: string }>();
  private readonly stationTag: string;

  constructor(o: { station?: string } = {}) {
    this.stationTag = o.station ? `,station=${escTag(o.station)}` : '';
  }

  private context(e: RunEvent): { tags: string; algo: string } {
    let c = this.runs.get(e.runId);
    if (!c || e.type === 'run-start' || e.type === 'run-resume') {
      const board = e.type === 'run-start' || e.type === 'run-resume' ? e.board?.id ?? '' : '';
      const algo = e.type === 'run-start' || e.type === 'run-resume' ? String(e.params.algo ?? '') : '';
      c = { tags: `,run=${escTag(e.runId)}` + (board ? `,board=${escTag(board)}` : '') + this.stationTag, algo: algo ? `,algo=${escTag(algo)}` : '' };
      this.runs.set(e.runId, c);
    }
    return c;
  }

  /** The event's line, or undefined for events that are not points (intents). */
  format(e: RunEvent): string | undefined {
    const c = this.context(e);
    if (e.type === 'run-end') this.runs.delete(e.runId);
    const ts = ' ' + pointTimestamp(e);
    switch (e.type) {
      case 'intent':
        return undefined; // write-ahead for the embedded store's resume; the pulse events follow
      case 'pulse': {
        const a = e.cell;
        return `pulse${c.tags},array=${a.array},row=${a.row},col=${a.col}${c.algo},level=${e.level},kind=${e.kind}${e.outcome ? `,outcome=${e.outcome}` : ''} ${fl('vte_V', e.vte_V)}${fl('vsl_V', e.vsl_V)}${fl('vg_V', e.vg_V)}${fl('width_s', e.width_s)}${e.onboard?.pulses !== undefined ? `onboard_pulses=${int(e.onboard.pulses)},` : ''}seq=${e.seq}i${ts}`;
      }
      case 'read': {
        const a = e.cell;
        return `read${c.tags},array=${a.array},row=${a.row},col=${a.col}${c.algo},level=${e.level},phase=${e.phase} ${fl('current_A', e.current_A)}${fl('vread_V', e.vread_V)}${fl('relax_s', e.relax_s ?? 0)}${e.unusable ? `unusable=${escStr(e.unusable)},` : ''}seq=${e.seq}i${ts}`;
      }
      case 'cell-done': {
        const a = e.cell;
        const o = e.outcome;
        return `cell_result${c.tags},array=${a.array},row=${a.row},col=${a.col}${c.algo},level=${e.level},status=${escTag(o.status)} ${fl('target_A', e.target_A)}pulses=${int(o.pulses)},${fl('final_A', o.final_A)}${fl('final_stepped_V', o.finalStepped_V)}seq=${e.seq}i${ts}`;
      }
      case 'progress':
        return `progress${c.tags},phase=${escTag(e.phase)} done=${int(e.done)},total=${int(e.total)},${fl('rate_per_s', e.rate_per_s)}seq=${e.seq}i${ts}`;
      case 'warning':
        return `warning${c.tags} message=${escStr(e.message)},seq=${e.seq}i${ts}`;
      case 'mark':
        return `mark${c.tags},name=${escTag(e.name)} value=${escStr(JSON.stringify(e.value).slice(0, 60000))},seq=${e.seq}i${ts}`;
      case 'run-start':
        return `run${c.tags},kind=${escTag(e.kind)}${c.algo} params=${escStr(JSON.stringify(e.params).slice(0, 60000))},seq=${e.seq}i${ts}`;
      case 'run-resume':
        return `run${c.tags},kind=${escTag(e.kind)}${c.algo},resumed=true resumed_after_seq=${int(e.resumedAfterSeq)},seq=${e.seq}i${ts}`;
      case 'run-end':
        return `run_summary${c.tags},status=${e.status}${c.algo} events=${e.seq + 1}i,summary=${escStr(JSON.stringify(e.summary ?? {}).slice(0, 60000))},error=${escStr(e.error ?? '')},seq=${e.seq}i${ts}`;
    }
  }
}
