/**
 * Boards whose physics is not the project's cell model (issue 26's recovery tests): a minimal
 * in-process Board (limits, DAC rounding, a virtual clock, per-cell counters) around a `Physics`
 * written independently of drivers/emulated/cell-model.ts. The fit sees such a board only through
 * the procedures, as it would a real one.
 */
import type { Board, BoardInfo, CellAddress, CellCounts, FormPulse, ReadOptions, ResetPulse, SafetyLimits, SetPulse } from '../../drivers/board.js';
import { checkCell, checkRead, checkResetPulse, checkSetPulse, onGrid, resetOnGrid, setOnGrid } from '../../drivers/limits.js';
import { StreamBank } from '../../lib/rng.js';

/** One array's cells under some physics: pulses change state; reads return a current (A). */
export interface Physics {
  form(i: number, vte: number, vg: number, width: number, now: number): void;
  set(i: number, vte: number, vg: number, width: number, now: number): void;
  reset(i: number, vsl: number, vg: number, width: number, now: number): void;
  read(i: number, vread: number, now: number): number;
}

/** Per-cell random streams of a physics: device-to-device, per pulse, per read. */
export class Streams {
  readonly d2d: StreamBank;
  readonly pulse: StreamBank;
  readonly read: StreamBank;
  constructor(seed: number, n: number) {
    this.d2d = new StreamBank(seed, n, 101);
    this.pulse = new StreamBank(seed, n, 102);
    this.read = new StreamBank(seed, n, 103);
  }
}

export interface FixtureOptions {
  id: string;
  seed: number;
  arrays?: number;
  limits: SafetyLimits;
  dacStep_V?: number;
  physics: (seed: number, n: number) => Physics;
}

export class FixtureBoard implements Board {
  private readonly boardInfo: BoardInfo;
  private readonly arrays: Physics[];
  private readonly count: { form: Uint32Array; set: Uint32Array; reset: Uint32Array; read: Uint32Array }[];
  now_s = 0;
  /** Its physics follows this virtual clock, not the host's: said to the procedures (Board.clock_s). */
  clock_s(): number {
    return this.now_s;
  }

  constructor(o: FixtureOptions) {
    const arrays = o.arrays ?? 2;
    this.boardInfo = { id: o.id, firmware: 'test fixture', protocolVersion: 2, arrays, rows: 64, cols: 64, limits: o.limits, dacStep_V: o.dacStep_V ?? 2e-3, kind: 'hardware', features: { writeVerify: false, counters: true } };
    this.arrays = Array.from({ length: arrays }, (_, a) => o.physics(o.seed * 7919 + a, 4096));
    this.count = Array.from({ length: arrays }, () => ({ form: new Uint32Array(4096), set: new Uint32Array(4096), reset: new Uint32Array(4096), read: new Uint32Array(4096) }));
  }
  info(): BoardInfo {
    return structuredClone(this.boardInfo);
  }
  private at(c: CellAddress): number {
    checkCell(this.boardInfo, c);
    return c.row * 64 + c.col;
  }
  /** A pulse: amplitudes on the DAC grid, checked against the limits, the clock advanced, counted, applied. */
  private pulse(c: CellAddress, kind: 'form' | 'set' | 'reset', v: number, vg: number, width: number): void {
    this.now_s += 5e-6 + width;
    this.count[c.array][kind][this.at(c)]++;
    this.arrays[c.array][kind](this.at(c), v, vg, width, this.now_s);
  }
  async form(c: CellAddress, p: FormPulse): Promise<void> {
    const q = setOnGrid(p, this.boardInfo.dacStep_V);
    checkSetPulse(this.boardInfo.limits, q);
    this.pulse(c, 'form', q.vte_V, q.vg_V, q.width_s);
  }
  async set(c: CellAddress, p: SetPulse): Promise<void> {
    const q = setOnGrid(p, this.boardInfo.dacStep_V);
    checkSetPulse(this.boardInfo.limits, q);
    this.pulse(c, 'set', q.vte_V, q.vg_V, q.width_s);
  }
  async reset(c: CellAddress, p: ResetPulse): Promise<void> {
    const q = resetOnGrid(p, this.boardInfo.dacStep_V);
    checkResetPulse(this.boardInfo.limits, q);
    this.pulse(c, 'reset', q.vsl_V, q.vg_V, q.width_s);
  }
  async read(c: CellAddress, o?: ReadOptions): Promise<number> {
    const v = onGrid(o?.vread_V ?? 0.2, this.boardInfo.dacStep_V);
    checkRead(this.boardInfo.limits, v);
    this.now_s += 8e-6;
    this.count[c.array].read[this.at(c)]++;
    return this.arrays[c.array].read(this.at(c), v, this.now_s);
  }
  async readRow(array: number, row: number, o?: ReadOptions): Promise<Float64Array> {
    const out = new Float64Array(64);
    for (let col = 0; col < 64; col++) out[col] = await this.read({ array, row, col }, o);
    return out;
  }
  async readArray(array: number, o?: ReadOptions): Promise<Float64Array> {
    const out = new Float64Array(4096);
    for (let row = 0; row < 64; row++) out.set(await this.readRow(array, row, o), row * 64);
    return out;
  }
  async wait(seconds: number): Promise<void> {
    this.now_s += seconds;
  }
  async ground(): Promise<void> {
    this.now_s += 5e-6;
  }
  async counters(c: CellAddress): Promise<CellCounts> {
    const i = this.at(c);
    const k = this.count[c.array];
    return { form: k.form[i], set: k.set[i], reset: k.reset[i], read: k.read[i] };
  }
  async close(): Promise<void> {}
}

export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
