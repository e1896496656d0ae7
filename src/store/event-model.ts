/**
 * A run's events as Bluesky event-model documents (issue 29, interop): one RunStart, an
 * EventDescriptor per stream when its first event comes, an Event per record event, one RunStop.
 * Pure: events in, [name, document] pairs out, so the export and the live endpoint cannot differ.
 * The uids are derived from the run id and the event's seq, so a document has the same uid in an
 * export and on the live stream. `intent` events are not mapped: they are the write-ahead of the
 * `pulse` events that follow them (docs/formats.md, "The record"), not measurements.
 * Streams: pulses, reads, cells (cell-done), progress, warnings, marks, resumes, interruptions (a
 * run-end that a resume followed). docs/formats.md "Bluesky event-model documents".
 */
import { createHash } from 'node:crypto';
import type { RunEvent } from '../engine/events.js';
import type { RunMetadata } from '../io/schemas/run-metadata.js';

export type DocName = 'start' | 'descriptor' | 'event' | 'stop';
export type Doc = [DocName, Record<string, unknown>];

type Dtype = 'string' | 'number' | 'integer' | 'boolean';
type Key = [name: string, dtype: Dtype, units?: string];

const CELL: Key[] = [['array', 'integer'], ['row', 'integer'], ['col', 'integer']];
/** Each stream's data keys: every event of a stream carries all of them (null where it has no value). */
const STREAMS: Record<string, Key[]> = {
  pulses: [...CELL, ['kind', 'string'], ['vte_V', 'number', 'V'], ['vsl_V', 'number', 'V'], ['vg_V', 'number', 'V'], ['width_s', 'number', 's'], ['level', 'integer'], ['step', 'string'], ['outcome', 'string'], ['recovered', 'boolean'], ['onboard_pulses', 'integer'], ['onboard_success', 'boolean'], ['onboard_final_A', 'number', 'A']],
  reads: [...CELL, ['vread_V', 'number', 'V'], ['current_A', 'number', 'A'], ['phase', 'string'], ['level', 'integer'], ['relax_s', 'number', 's'], ['age_s', 'number', 's'], ['step', 'string'], ['unusable', 'string']],
  cells: [...CELL, ['level', 'integer'], ['target_A', 'number', 'A'], ['step', 'string'], ['status', 'string'], ['pulses', 'integer'], ['reads', 'integer'], ['final_A', 'number', 'A'], ['finalStepped_V', 'number', 'V'], ['note', 'string'], ['unknownPulses', 'integer'], ['leaky', 'boolean']],
  progress: [['done', 'integer'], ['total', 'integer'], ['rate_per_s', 'number'], ['eta_s', 'number', 's'], ['phase', 'string']],
  warnings: [['code', 'string'], ['message', 'string'], ...CELL],
  marks: [['name', 'string'], ['value_json', 'string']],
  resumes: [['resumedAfterSeq', 'integer']],
  interruptions: [['status', 'string'], ['error', 'string']],
};

/** A uid (UUID layout) from the run and a tag: the same document always gets the same uid. */
export function docUid(runId: string, tag: string): string {
  const h = createHash('sha1').update(`${runId}\u0000${tag}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const EXIT = { completed: 'success', aborted: 'abort', failed: 'fail' } as const;

/** The data of a record event in its stream, or undefined for events no stream holds. */
function dataOf(e: RunEvent): [string, Record<string, unknown>] | undefined {
  const cell = (c?: { array: number; row: number; col: number }) => ({ array: c?.array ?? null, row: c?.row ?? null, col: c?.col ?? null });
  switch (e.type) {
    case 'pulse':
      return ['pulses', { ...cell(e.cell), kind: e.kind, vte_V: e.vte_V, vsl_V: e.vsl_V, vg_V: e.vg_V, width_s: e.width_s, level: e.level, step: e.step ?? 'program', outcome: e.outcome ?? 'confirmed', recovered: e.recovered ?? false, onboard_pulses: e.onboard?.pulses ?? null, onboard_success: e.onboard?.success ?? null, onboard_final_A: e.onboard?.final_A ?? null }];
    case 'read':
      return ['reads', { ...cell(e.cell), vread_V: e.vread_V, current_A: e.current_A, phase: e.phase, level: e.level, relax_s: e.relax_s ?? null, age_s: e.age_s ?? null, step: e.step ?? 'program', unusable: e.unusable ?? null }];
    case 'cell-done': {
      const o = e.outcome;
      return ['cells', { ...cell(e.cell), level: e.level, target_A: e.target_A, step: e.step ?? 'program', status: o.status, pulses: o.pulses, reads: o.reads, final_A: o.final_A, finalStepped_V: o.finalStepped_V, note: o.note ?? null, unknownPulses: o.unknownPulses ?? 0, leaky: o.leaky ?? false }];
    }
    case 'progress':
      return ['progress', { done: e.done, total: e.total, rate_per_s: e.rate_per_s, eta_s: e.eta_s, phase: e.phase }];
    case 'warning':
      return ['warnings', { code: e.code ?? null, message: e.message, ...cell(e.cell) }];
    case 'mark':
      return ['marks', { name: e.name, value_json: JSON.stringify(e.value) }];
    case 'run-resume':
      return ['resumes', { resumedAfterSeq: e.resumedAfterSeq }];
    default:
      return undefined;
  }
}

/** JSON numbers only: a non-finite number (never in a valid record) is written as null, not as invalid JSON. */
const finite = (d: Record<string, unknown>) => {
  for (const k of Object.keys(d)) if (typeof d[k] === 'number' && !Number.isFinite(d[k])) d[k] = null;
  return d;
};

/**
 * Feeds a run's events in seq order; `push` returns the documents each one makes and `finish`
 * the RunStop. A run-end is held until the next event says whether a resume followed it (then it
 * is an `interruptions` event) or the events end (then it is the RunStop).
 */
export class EventModelComposer {
  private readonly startUid: string;
  private readonly descriptors = new Map<string, string>();
  private readonly counts = new Map<string, number>();
  private started = false;
  private pendingEnd?: Extract<RunEvent, { type: 'run-end' }>;

  constructor(
    private readonly runId: string,
    private readonly metadata: RunMetadata = {},
  ) {
    this.startUid = docUid(runId, 'start');
  }

  push(e: RunEvent): Doc[] {
    const out: Doc[] = [];
    if (this.pendingEnd && e.type === 'run-resume') {
      const end = this.pendingEnd;
      this.pendingEnd = undefined;
      out.push(...this.event('interruptions', end.seq, end.t, { status: end.status, error: end.error ?? null }));
    }
    if (e.type === 'run-start') {
      if (!this.started) out.push(['start', this.runStart(e)]);
      this.started = true;
      return out;
    }
    if (!this.started) throw new RangeError(`run ${this.runId}: event ${e.seq} (${e.type}) comes before its run-start`);
    if (e.type === 'run-end') {
      this.pendingEnd = e;
      return out;
    }
    const d = dataOf(e);
    if (d) out.push(...this.event(d[0], e.seq, e.t, d[1]));
    return out;
  }

  /** The RunStop, when the run ended (a run still going, or cut by a crash, has none yet). */
  finish(): Doc[] {
    const end = this.pendingEnd;
    if (!end || !this.started) return [];
    this.pendingEnd = undefined;
    return [['stop', { uid: docUid(this.runId, `stop:${end.seq}`), run_start: this.startUid, time: end.t / 1000, exit_status: EXIT[end.status], reason: end.error ?? '', num_events: Object.fromEntries(this.counts) }]];
  }

  /** Whether a run-end is waiting for finish() (the live stream stops there). */
  get ended(): boolean {
    return this.pendingEnd !== undefined;
  }

  private runStart(e: Extract<RunEvent, { type: 'run-start' }>): Record<string, unknown> {
    const m = this.metadata;
    const doc: Record<string, unknown> = { uid: this.startUid, time: e.t / 1000, plan_name: e.kind, rram_run_id: this.runId, rram_params_json: JSON.stringify(e.params) };
    if (e.board) doc.rram_board_json = JSON.stringify(e.board);
    if (e.calibration) doc.rram_calibration = e.calibration;
    if (m.sample !== undefined) doc.sample = m.sample;
    if (m.operator !== undefined) doc.owner = m.operator;
    for (const k of ['wafer', 'die', 'device', 'temperature_C', 'notes', 'tags'] as const) if (m[k] !== undefined) doc[k] = m[k];
    return doc;
  }

  private event(stream: string, seq: number, t: number, data: Record<string, unknown>): Doc[] {
    const out: Doc[] = [];
    let desc = this.descriptors.get(stream);
    if (!desc) {
      desc = docUid(this.runId, `descriptor:${stream}`);
      this.descriptors.set(stream, desc);
      const data_keys = Object.fromEntries(STREAMS[stream].map(([k, dtype, units]) => [k, { source: `rram:${stream}`, dtype, shape: [], ...(units ? { units } : {}) }]));
      out.push(['descriptor', { uid: desc, run_start: this.startUid, time: t / 1000, name: stream, data_keys, configuration: {}, hints: {}, object_keys: {} }]);
    }
    const n = (this.counts.get(stream) ?? 0) + 1;
    this.counts.set(stream, n);
    const time = t / 1000;
    out.push(['event', { uid: docUid(this.runId, `event:${seq}`), descriptor: desc, seq_num: n, time, data: finite(data), timestamps: Object.fromEntries(Object.keys(data).map((k) => [k, time])), filled: {} }]);
    return out;
  }
}

/** Every stream's name (tests and docs). */
export const EVENT_MODEL_STREAMS = Object.keys(STREAMS);
