/**
 * Quasi-static I-V loops by pulse-and-read staircases (`rram iv`): one cycle is a SET branch (VTE
 * stepped up at a fixed gate: the gate is the compliance) from the cell's HRS, then a RESET branch
 * (VSL stepped up, gate fully on) from the LRS it reached; every pulse is followed by a read.
 * The whole staircase is applied in both polarities (no early stop: a loop, not a write-verify).
 * The switching voltages are extracted per cycle from the recorded points (extractSwitching).
 */
import { type CellPlan, type Command, Tally, readCurrent } from './commands.js';
import { round6 } from './igvva.js';

/** One staircase: its amplitudes and pulse width. */
export interface Staircase {
  vg_V: number;
  start_V: number;
  step_V: number;
  stop_V: number;
  width_s: number;
}

export interface IvConfig {
  vread_V: number;
  /** SET branch: VTE staircase at the compliance gate. */
  set: Staircase;
  /** RESET branch: VSL staircase at the RESET gate. */
  reset: Staircase;
  /** SET switched at the first step whose read exceeds the branch's first read by max(jumpMin_A, (jumpRatio - 1) x that read). */
  jumpRatio: number;
  jumpMin_A: number;
  /** RESET switched at the first step whose read falls below (1 - dropFraction) x the branch's first read. */
  dropFraction: number;
}

/** [applied amplitude V, read A after the pulse]. */
export type IvPoint = [number, number];

export interface IvCycleData {
  /** Read before the SET branch (the HRS the cycle starts from). */
  start_A: number;
  set: IvPoint[];
  reset: IvPoint[];
}

/** The amplitudes of a staircase, as exact decimals. */
export function steps(s: Pick<Staircase, 'start_V' | 'step_V' | 'stop_V'>): number[] {
  const out: number[] = [];
  for (let v = s.start_V; v <= s.stop_V + 1e-9; v = round6(v + s.step_V)) out.push(v);
  return out;
}

/** One loop: SET staircase then RESET staircase, a read after every pulse. */
export function* ivCycle(cfg: IvConfig, t: Tally = new Tally()): CellPlan {
  const data: IvCycleData = { start_A: yield* readCurrent(t, cfg.vread_V), set: [], reset: [] };
  for (const v of steps(cfg.set)) {
    yield t.pulse<Command>({ op: 'set', vte_V: v, vg_V: cfg.set.vg_V, width_s: cfg.set.width_s });
    data.set.push([v, yield* readCurrent(t, cfg.vread_V)]);
  }
  for (const v of steps(cfg.reset)) {
    yield t.pulse<Command>({ op: 'reset', vsl_V: v, vg_V: cfg.reset.vg_V, width_s: cfg.reset.width_s });
    data.reset.push([v, yield* readCurrent(t, cfg.vread_V)]);
  }
  const last = data.reset[data.reset.length - 1]?.[1] ?? data.start_A;
  return { status: 'ok', pulses: t.pulses, reads: t.reads, final_A: last, finalStepped_V: cfg.reset.stop_V, data: data as unknown as Record<string, unknown> };
}

export interface Switching {
  /** First VTE at which the SET branch switched; null when it never did. */
  vset_V: number | null;
  /** First VSL at which the RESET branch switched; null when it never did. */
  vreset_V: number | null;
  /** Read at the end of the RESET branch (HRS) and of the SET branch (LRS). */
  hrs_A: number;
  lrs_A: number;
  /** lrs_A / hrs_A (Infinity when the HRS read is <= 0). */
  onOff: number;
}

/**
 * Switching voltages of one loop: the first step of each branch past its criterion. The SET
 * branch starts from the cycle's first read (HRS), the RESET branch from the last SET read (LRS).
 */
export function extractSwitching(c: IvCycleData, cfg: Pick<IvConfig, 'jumpRatio' | 'jumpMin_A' | 'dropFraction'>): Switching {
  const h0 = c.start_A;
  const need = h0 + Math.max(cfg.jumpMin_A, (cfg.jumpRatio - 1) * Math.max(0, h0));
  const vset = c.set.find(([, i]) => i > need)?.[0] ?? null;
  const lrs = c.set.length ? c.set[c.set.length - 1][1] : h0;
  const vreset = c.reset.find(([, i]) => i < (1 - cfg.dropFraction) * lrs)?.[0] ?? null;
  const hrs = c.reset.length ? c.reset[c.reset.length - 1][1] : lrs;
  return { vset_V: vset, vreset_V: vreset, hrs_A: hrs, lrs_A: lrs, onOff: hrs > 0 ? lrs / hrs : Infinity };
}
