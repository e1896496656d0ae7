/**
 * The record's view per cell, folded from the run's events (the one commit record, docs/formats.md
 * "The record"): for every (step, cell) how many attempts, pulses (confirmed, of unknown outcome,
 * refused), reads and unusable reads it had, and its last cell-done. A resumed run rebuilds it from
 * the stored events, so a cell is done exactly when the durable record says so, and its dataset
 * counts the pulses of every attempt; the live run keeps folding its own events into it.
 *
 * An attempt is a process's go at a cell: the run's segments are separated by run-start and
 * run-resume. An intent whose pulse event never came (the process stopped with it in flight) is
 * open until the resumed run records it as a pulse of unknown outcome.
 */
import type { CellAddress } from '../../drivers/board.js';
import type { CellOutcome } from '../plans/commands.js';
import { cellKey, type MarkEvent, type OnboardJob, type PulseIntent, type RunEvent } from './events.js';

/** How a cell of one step ended: what the engine returns and a cell-done event records. */
export interface CellResult {
  cell: CellAddress;
  level: number;
  target_A: number;
  outcome: CellOutcome;
  step?: string;
}

export interface CellHistory {
  attempts: number;
  /** Pulses sent, whatever their outcome (confirmed + unknown + refused). */
  pulses: number;
  unknownPulses: number;
  refusedPulses: number;
  reads: number;
  unusableReads: number;
  /** The last cell-done of this step, if any. */
  done?: CellResult;
}

/** The read-back (and relaxation) reads a step holds for a cell, in order; null: unusable. */
export type ReadbackValues = (number | null)[];

export const DEFAULT_STEP = 'program';
const key = (step: string | undefined, c: CellAddress) => `${step ?? DEFAULT_STEP}|${cellKey(c)}`;

interface Entry extends CellHistory {
  /** Segment of the last event that touched the cell. */
  segment: number;
  /** Intents sent in the current segment still waiting for their pulse event. */
  open: PulseIntent[];
  /** Read-back and relaxation read values (a resumed net's tiles are rebuilt from them). */
  readback?: ReadbackValues;
}

export class CellLedger {
  private readonly cells = new Map<string, Entry>();
  private segment = 0;
  /** A procedure's checkpoints (mark events), by name, in order. */
  private readonly markLog = new Map<string, MarkEvent[]>();
  /** Per cell (all steps): pulse time and the energy proxy, and what the next read closes (costOf). */
  private readonly costs = new Map<string, { energy_J: number; pulseTime_s: number; g_S: number; pending?: { v: number; w: number } }>();

  /** A ledger of the events stored so far (a resume), in order. */
  static async fromEvents(events: AsyncIterable<RunEvent> | Iterable<RunEvent>): Promise<CellLedger> {
    const l = new CellLedger();
    for await (const e of events) l.observe(e);
    return l;
  }

  private entry(step: string | undefined, c: CellAddress): Entry {
    const k = key(step, c);
    let e = this.cells.get(k);
    if (!e) {
      e = { attempts: 0, pulses: 0, unknownPulses: 0, refusedPulses: 0, reads: 0, unusableReads: 0, segment: -1, open: [] };
      this.cells.set(k, e);
    }
    return e;
  }

  /** A pulse sent in this segment: the cell's attempt of this process (reads alone are no attempt). */
  private attempt(e: Entry): Entry {
    if (e.segment !== this.segment) {
      e.segment = this.segment;
      e.attempts++;
    }
    return e;
  }

  /** Folds one event in (events arrive in seq order). */
  observe(e: RunEvent): void {
    switch (e.type) {
      case 'run-start':
      case 'run-resume':
        this.segment++;
        return;
      case 'intent':
        for (const p of e.pulses) this.attempt(this.entry(p.step, p.cell)).open.push(p);
        return;
      case 'pulse': {
        // A recovered pulse belongs to the interrupted attempt, whose intent it answers.
        const c = e.recovered ? this.entry(e.step, e.cell) : this.attempt(this.entry(e.step, e.cell));
        // An on-board job counts the pulses it applied; one of unknown outcome, the most it may have.
        const n = pulsesOf(e);
        c.pulses += n;
        if (e.outcome === 'unknown') c.unknownPulses += n;
        if (e.outcome === 'refused') c.refusedPulses += n;
        // The pulse event answers the oldest open intent of its cell (one pulse in flight per cell).
        if (c.open.length) c.open.shift();
        if (e.outcome !== 'refused') {
          const k = cellKey(e.cell);
          const m = this.costs.get(k) ?? { energy_J: 0, pulseTime_s: 0, g_S: 0 };
          if (e.kind === 'write-verify') {
            // The board's pulses, each at most at the conductance the job ended with (an upper bound: no read between them).
            const j = e.onboard;
            const pulses = e.outcome === 'unknown' ? 0 : (j?.pulses ?? 0);
            const g = j?.final_A !== undefined && e.outcome !== 'unknown' ? j.final_A / j.vread_V : m.g_S;
            m.pulseTime_s += pulses * e.width_s;
            m.energy_J += pulses * e.vte_V * e.vte_V * e.width_s * Math.max(m.g_S, g);
            m.g_S = g;
          } else {
            m.pulseTime_s += e.width_s;
            m.pending = { v: e.kind === 'reset' ? e.vsl_V : e.vte_V, w: e.width_s };
          }
          this.costs.set(k, m);
        }
        return;
      }
      case 'read': {
        if (e.current_A !== null) {
          // The energy proxy of the pulse before this read: V x I x t with I = V x the larger of the conductances read around it.
          const m = this.costs.get(cellKey(e.cell)) ?? { energy_J: 0, pulseTime_s: 0, g_S: 0 };
          const g = e.current_A / e.vread_V;
          if (m.pending) m.energy_J += m.pending.v * m.pending.v * m.pending.w * Math.max(m.g_S, g);
          m.pending = undefined;
          m.g_S = g;
          this.costs.set(cellKey(e.cell), m);
        }
        // Read-backs and relaxation reads belong to the cell's programming step too.
        const c = this.entry(e.step, e.cell);
        c.reads++;
        if (e.current_A === null) c.unusableReads++;
        if (e.phase === 'readback' || e.phase === 'relax') (c.readback ??= []).push(e.current_A);
        return;
      }
      case 'mark': {
        const l = this.markLog.get(e.name) ?? [];
        l.push(e);
        this.markLog.set(e.name, l);
        return;
      }
      case 'cell-done': {
        const c = this.entry(e.step, e.cell);
        c.done = { cell: e.cell, level: e.level, target_A: e.target_A, outcome: e.outcome, ...(e.step ? { step: e.step } : {}) };
        return;
      }
    }
  }

  history(step: string | undefined, c: CellAddress): CellHistory {
    const e = this.cells.get(key(step, c));
    if (!e) return { attempts: 0, pulses: 0, unknownPulses: 0, refusedPulses: 0, reads: 0, unusableReads: 0 };
    const { segment: _s, open: _o, readback: _r, ...h } = e;
    return h;
  }

  /** The read-back and relaxation reads of a cell in a step, in record order. */
  readbacks(step: string | undefined, c: CellAddress): ReadbackValues {
    return this.cells.get(key(step, c))?.readback ?? [];
  }

  done(step: string | undefined, c: CellAddress): CellResult | undefined {
    return this.cells.get(key(step, c))?.done;
  }

  /** Every cell finished in a step (cell-done recorded), by cell key. */
  doneIn(step: string | undefined): Map<string, CellResult> {
    const out = new Map<string, CellResult>();
    const prefix = `${step ?? DEFAULT_STEP}|`;
    for (const [k, e] of this.cells) if (k.startsWith(prefix) && e.done) out.set(k.slice(prefix.length), e.done);
    return out;
  }

  /**
   * A cell's cost over every step and attempt of the run: the pulses' widths added up, and the
   * energy proxy (per pulse V^2 x width x the larger conductance read before and after it; V = VTE
   * for FORM/SET, VSL for RESET). A pulse no read followed (its outcome unknown) adds its width only.
   */
  costOf(c: CellAddress): { energy_J: number; pulseTime_s: number } {
    const m = this.costs.get(cellKey(c));
    return { energy_J: m?.energy_J ?? 0, pulseTime_s: m?.pulseTime_s ?? 0 };
  }

  /** The run's checkpoints of this name (mark events), oldest first. */
  marks(name: string): readonly MarkEvent[] {
    return this.markLog.get(name) ?? [];
  }

  /** Steps in which some cell was pulsed or done. */
  steps(): Set<string> {
    const out = new Set<string>();
    for (const [k, e] of this.cells) if (e.pulses > 0 || e.done) out.add(k.slice(0, k.indexOf('|')));
    return out;
  }

  /** Pulses sent whose pulse event never came: in flight when the last process stopped. */
  openIntents(): PulseIntent[] {
    const out: PulseIntent[] = [];
    for (const e of this.cells.values()) out.push(...e.open);
    return out;
  }

  /** Cells that received at least one pulse in any step (the board's cells this run has used). */
  pulsedCells(): CellAddress[] {
    const seen = new Map<string, CellAddress>();
    for (const [k, e] of this.cells) if (e.pulses > 0) seen.set(k.slice(k.indexOf('|') + 1), parseKey(k.slice(k.indexOf('|') + 1)));
    return [...seen.values()];
  }
}

/** Pulses a pulse event stands for: one, or an on-board job's (applied, or at most its maxPulses when unknown). */
export function pulsesOf(e: { kind: string; outcome?: string; onboard?: OnboardJob }): number {
  if (e.kind !== 'write-verify') return 1;
  return e.outcome === 'unknown' ? (e.onboard?.maxPulses ?? 0) : (e.onboard?.pulses ?? 0);
}

function parseKey(k: string): CellAddress {
  const [array, row, col] = k.split(':').map(Number);
  return { array, row, col };
}
