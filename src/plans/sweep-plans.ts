/**
 * Calibration sweeps (`rram sweep`): what a cell does under staircases, recorded point by point,
 * so the model's parameters can be fitted (`rram calibrate --from`). Pure generators like every
 * plan; the traces travel back in the outcome's `data` (journaled with the cell).
 *  - forming: FORM staircase from a pristine cell until its read jumps over its pristine read;
 *  - per cycle: a deep RESET (HRS), then the gate staircase at fixed VTE (the G(VG) transfer),
 *    then a RESET staircase in VSL (switching onset and the gradual decay);
 *  - ISPVA: from HRS, a VTE staircase at a fixed gate (the SET switching voltage and the partial
 *    switching just above it), per cycle.
 */
import { type CellOutcome, type CellPlan, type Command, Tally, readCurrent, type Answer } from './commands.js';
import { formedThreshold } from './form.js';
import { round6 } from './igvva.js';

export interface SweepConfig {
  vread_V: number;
  form: { vg_V: number; vteStart_V: number; vteStep_V: number; vteStop_V: number; width_s: number; jumpRatio: number; jumpMin_A: number; formedAbove_A: number };
  deepReset: { vsl_V: number; vg_V: number; width_s: number; pulses: number };
  gate: { vte_V: number; vgStart_V: number; vgStep_V: number; vgStop_V: number; width_s: number };
  reset: { vg_V: number; vslStart_V: number; vslStep_V: number; vslStop_V: number; width_s: number; stopBelow_A: number };
  ispva: { vg_V: number; vteStart_V: number; vteStep_V: number; vteStop_V: number; width_s: number };
  /** Single SET pulses from a deep RESET, repeated at two gate voltages (cycle-to-cycle spread without a staircase's running maximum). */
  repeat: { vgs_V: number[]; times: number };
  cycles: number;
  ispvaCycles: number;
}

export type Point = [number, number];

export interface SweepCellData {
  pristine_A: number;
  /** VTE of the FORM pulse after which the cell read formed; null when it never did. */
  formVte_V: number | null;
  form: Point[];
  cycles: { hrs_A: number; gate: Point[]; reset: Point[] }[];
  ispva: { hrs_A: number; trace: Point[] }[];
  /** Per gate of repeat.vgs_V: the read after each single SET from HRS. */
  repeat: number[][];
}

/** A number of volts on a staircase (exact decimals). */
function* staircase(start: number, step: number, stop: number): Generator<number> {
  for (let v = start; v <= stop + 1e-9; v = round6(v + step)) yield v;
}

export function* deepReset(c: SweepConfig['deepReset'], vread: number, t: Tally): Generator<Command, number, Answer> {
  for (let k = 0; k < c.pulses; k++) yield t.pulse<Command>({ op: 'reset', vsl_V: c.vsl_V, vg_V: c.vg_V, width_s: c.width_s });
  return yield* readCurrent(t, vread);
}

export function* calibrationSweep(cfg: SweepConfig): CellPlan {
  const t = new Tally();
  const vr = cfg.vread_V;
  const data: SweepCellData = { pristine_A: NaN, formVte_V: null, form: [], cycles: [], ispva: [], repeat: [] };
  const end = (status: CellOutcome['status'], note?: string): CellOutcome => ({ status, pulses: t.pulses, reads: t.reads, final_A: NaN, finalStepped_V: NaN, note, data: data as unknown as Record<string, unknown> });
  const i0 = yield* readCurrent(t, vr);
  data.pristine_A = i0;
  if (i0 < cfg.form.formedAbove_A) {
    const need = formedThreshold(cfg.form, i0);
    for (const v of staircase(cfg.form.vteStart_V, cfg.form.vteStep_V, cfg.form.vteStop_V)) {
      yield t.pulse<Command>({ op: 'form', vte_V: v, vg_V: cfg.form.vg_V, width_s: cfg.form.width_s });
      const i = yield* readCurrent(t, vr);
      data.form.push([v, i]);
      if (i >= need) {
        data.formVte_V = v;
        break;
      }
    }
    if (data.formVte_V === null) return end('unformable', `no filament up to VTE ${cfg.form.vteStop_V} V`);
  }
  for (let c = 0; c < cfg.cycles; c++) {
    const cyc = { hrs_A: yield* deepReset(cfg.deepReset, vr, t), gate: [] as Point[], reset: [] as Point[] };
    data.cycles.push(cyc);
    for (const vg of staircase(cfg.gate.vgStart_V, cfg.gate.vgStep_V, cfg.gate.vgStop_V)) {
      yield t.pulse<Command>({ op: 'set', vte_V: cfg.gate.vte_V, vg_V: vg, width_s: cfg.gate.width_s });
      cyc.gate.push([vg, yield* readCurrent(t, vr)]);
    }
    let low = 0;
    for (const vsl of staircase(cfg.reset.vslStart_V, cfg.reset.vslStep_V, cfg.reset.vslStop_V)) {
      yield t.pulse<Command>({ op: 'reset', vsl_V: vsl, vg_V: cfg.reset.vg_V, width_s: cfg.reset.width_s });
      const i = yield* readCurrent(t, vr);
      cyc.reset.push([vsl, i]);
      if (i < cfg.reset.stopBelow_A && ++low >= 2) break;
    }
  }
  for (const vg of cfg.repeat.vgs_V) {
    const reads: number[] = [];
    for (let r = 0; r < cfg.repeat.times; r++) {
      yield* deepReset(cfg.deepReset, vr, t);
      yield t.pulse<Command>({ op: 'set', vte_V: cfg.gate.vte_V, vg_V: vg, width_s: cfg.gate.width_s });
      reads.push(yield* readCurrent(t, vr));
    }
    data.repeat.push(reads);
  }
  for (let c = 0; c < cfg.ispvaCycles; c++) {
    const run = { hrs_A: yield* deepReset(cfg.deepReset, vr, t), trace: [] as Point[] };
    data.ispva.push(run);
    for (const vte of staircase(cfg.ispva.vteStart_V, cfg.ispva.vteStep_V, cfg.ispva.vteStop_V)) {
      yield t.pulse<Command>({ op: 'set', vte_V: vte, vg_V: cfg.ispva.vg_V, width_s: cfg.ispva.width_s });
      run.trace.push([vte, yield* readCurrent(t, vr)]);
    }
  }
  return end('ok');
}

/** K back-to-back reads of a cell (read noise), returned in `data.reads`. */
export function* repeatedReads(k: number, vread_V: number): CellPlan {
  const t = new Tally();
  const reads: number[] = [];
  for (let n = 0; n < k; n++) reads.push(yield* readCurrent(t, vread_V));
  return { status: 'ok', pulses: 0, reads: t.reads, final_A: reads[reads.length - 1], finalStepped_V: NaN, data: { reads } };
}

/** A deep RESET (to the HRS asymptote), read once. */
export function* deepResetPlan(c: SweepConfig['deepReset'], vread_V: number): CellPlan {
  const t = new Tally();
  const i = yield* deepReset(c, vread_V, t);
  return { status: 'ok', pulses: t.pulses, reads: t.reads, final_A: i, finalStepped_V: c.vsl_V };
}
