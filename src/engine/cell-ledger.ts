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
import { cellKey, type PulseIntent, type RunEvent } from './events.js';

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
        c.pulses++;
        if (e.outcome === 'unknown') c.unknownPulses++;
        if (e.outcome === 'refused') c.refusedPulses++;
        // The pulse event answers the oldest open intent of its cell (one pulse in flight per cell).
        if (c.open.length) c.open.shift();
        return;
      }
      case 'read': {
        // Read-backs and relaxation reads belong to the cell's programming step too.
        const c = this.entry(e.step, e.cell);
        c.reads++;
        if (e.current_A === null) c.unusableReads++;
        if (e.phase === 'readback' || e.phase === 'relax') (c.readback ??= []).push(e.current_A);
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

function parseKey(k: string): CellAddress {
  const [array, row, col] = k.split(':').map(Number);
  return { array, row, col };
}
