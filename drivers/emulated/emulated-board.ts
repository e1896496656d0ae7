/**
 * The in-process emulated test board: BoardInfo + limit checks + DAC rounding + a virtual clock
 * around the CellArrayModel. The emulator firmware (firmware.ts) serves this very class, so
 * in-process and over-the-wire runs give identical results for a seed.
 */
import type {
  Board,
  BoardInfo,
  CellAddress,
  CellCounts,
  FormPulse,
  MvmTile,
  ReadOptions,
  ResetPulse,
  SafetyLimits,
  SetPulse,
  WriteVerifyJob,
  WriteVerifySummary,
} from '../board.js';
import { DEFAULT_VREAD_V } from '../board.js';
import { checkCell, checkIndex, checkRead, checkResetPulse, checkSetPulse, onGrid, resetOnGrid, setOnGrid } from '../limits.js';
import { AbortedError, InvalidArgumentError } from '../errors.js';
import { PROTOCOL_VERSION } from '../protocol/messages.js';
import type { Calibration } from '../../calibration/calibration.js';
import { loadCalibration, values } from '../../calibration/calibration.js';
import { CellArrayModel } from './cell-model.js';
import { runWriteVerifyOnBoard } from './onboard-write-verify.js';
import { BoardStateFile, stateKey } from './board-state.js';
import { checkMvm } from '../mvm-check.js';
import { mvmVector, type MvmPeriphery } from './mvm.js';

export const DEFAULT_LIMITS: SafetyLimits = {
  vte_max_V: 4.0,
  vsl_max_V: 3.0,
  vg_max_V: 3.3,
  vread_max_V: 0.5,
  width_min_s: 10e-9,
  width_max_s: 1e-3,
};
export const DEFAULT_DAC_STEP_V = 1e-3;

export interface EmulatedBoardOptions {
  /** Number of 64x64 arrays; default 2 (seed 000's one- and two-array studies). */
  arrays?: number;
  rows?: number;
  cols?: number;
  seed?: number;
  calibration?: Calibration;
  /** The board's hard limits (defaults DEFAULT_LIMITS for any key not given). */
  limits?: Partial<SafetyLimits>;
  /** DAC step (V); default 1 mV. */
  dacStep_V?: number;
  id?: string;
  /**
   * The analog MVM's periphery (docs/protocol.md "MVM"): wire resistance per segment (ohm) and
   * the column ADC; each defaults to the calibration's wire_resistance_ohm, mvm_adc_bits,
   * mvm_adc_full_scale_A (0, 0 = ideal wires, no ADC).
   */
  mvm?: Partial<MvmPeriphery>;
}

export class EmulatedBoard implements Board {
  private readonly boardInfo: BoardInfo;
  private readonly models: CellArrayModel[];
  private readonly opOverhead: number;
  private readonly readTime: number;
  /** Virtual time in seconds since power-up; advanced by every operation and by wait(). */
  now_s = 0;
  private stateFile?: BoardStateFile;
  private readonly identity: { seed: number; fingerprint: unknown };
  readonly periphery: MvmPeriphery;

  constructor(opts: EmulatedBoardOptions = {}) {
    const cal = opts.calibration ?? loadCalibration();
    const arrays = opts.arrays ?? 2;
    const rows = opts.rows ?? 64;
    const cols = opts.cols ?? 64;
    for (const [k, v] of [['arrays', arrays], ['rows', rows], ['cols', cols]] as const)
      if (!Number.isInteger(v) || v < 1 || v > 1024) throw new InvalidArgumentError(k, v, 'must be an integer in 1..1024');
    const dac = opts.dacStep_V ?? DEFAULT_DAC_STEP_V;
    if (!(dac >= 1e-6 && dac <= 0.5)) throw new InvalidArgumentError('dac_step', dac, 'must be in 1e-6..0.5 V');
    const limits = { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) };
    for (const [k, v] of Object.entries(limits)) if (!(Number.isFinite(v) && v > 0)) throw new InvalidArgumentError(k, v, 'limits must be positive numbers');
    if (limits.width_min_s > limits.width_max_s) throw new InvalidArgumentError('width_min', limits.width_min_s, `must not exceed width_max ${limits.width_max_s}`);
    const seed = opts.seed ?? 1;
    if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new InvalidArgumentError('seed', seed, 'must be an integer in 0..4294967295');
    this.boardInfo = {
      id: opts.id ?? `emu-${seed}`,
      firmware: 'rram-hil-emulator 0.2.0',
      protocolVersion: PROTOCOL_VERSION,
      arrays,
      rows,
      cols,
      limits,
      dacStep_V: dac,
      kind: 'emulated',
      calibration: cal.id,
      features: { writeVerify: true, counters: true, mvm: true },
    };
    // Each array gets its own seed-derived streams.
    this.models = Array.from({ length: arrays }, (_, a) => new CellArrayModel(cal, rows * cols, seed * 1000003 + a));
    this.identity = { seed, fingerprint: { cal, limits, dac, id: this.boardInfo.id } };
    const v = values(cal);
    this.opOverhead = v.op_overhead_s;
    this.readTime = v.read_time_s;
    this.periphery = { wire_ohm: v.wire_resistance_ohm, adcBits: v.mvm_adc_bits, adcFullScale_A: v.mvm_adc_full_scale_A, ...(opts.mvm ?? {}) };
    const pe = this.periphery;
    if (!(pe.wire_ohm >= 0 && pe.wire_ohm <= 1000)) throw new InvalidArgumentError('wire_resistance_ohm', pe.wire_ohm, 'must be in 0..1000 ohm');
    if (!(Number.isInteger(pe.adcBits) && pe.adcBits >= 0 && pe.adcBits <= 24)) throw new InvalidArgumentError('mvm_adc_bits', pe.adcBits, 'must be an integer in 0..24 (0: no ADC)');
    if (!(pe.adcFullScale_A > 0 && Number.isFinite(pe.adcFullScale_A))) throw new InvalidArgumentError('mvm_adc_full_scale_A', pe.adcFullScale_A, 'must be a positive current');
  }

  info(): BoardInfo {
    return structuredClone(this.boardInfo);
  }

  private index(c: CellAddress): number {
    checkCell(this.boardInfo, c);
    return c.row * this.boardInfo.cols + c.col;
  }

  async form(c: CellAddress, p: FormPulse): Promise<void> {
    this.formSync(c, p);
  }
  async set(c: CellAddress, p: SetPulse): Promise<void> {
    this.setSync(c, p);
  }
  async reset(c: CellAddress, p: ResetPulse): Promise<void> {
    this.resetSync(c, p);
  }
  async read(c: CellAddress, o?: ReadOptions): Promise<number> {
    return this.readSync(c, o);
  }
  async readRow(array: number, row: number, o?: ReadOptions): Promise<Float64Array> {
    return this.readRowSync(array, row, o);
  }
  async readArray(array: number, o?: ReadOptions): Promise<Float64Array> {
    return this.readArraySync(array, o);
  }
  /** The virtual clock the cells relax by (Board.clock_s). */
  clock_s(): number {
    return this.now_s;
  }

  async wait(seconds: number): Promise<void> {
    this.waitSync(seconds);
  }
  async ground(): Promise<void> {
    this.now_s += this.opOverhead;
  }
  async writeVerify(c: CellAddress, job: WriteVerifyJob): Promise<WriteVerifySummary> {
    return runWriteVerifyOnBoard(this, c, job);
  }
  async counters(c: CellAddress): Promise<CellCounts> {
    return this.countersSync(c);
  }
  async mvm(t: MvmTile, voltages_V: Float64Array, o: { signal?: AbortSignal } = {}): Promise<Float64Array> {
    // In process the call is one step: an abort before it is the only one it can see.
    if (o.signal?.aborted) throw new AbortedError('MVM not applied: aborted');
    return this.mvmSync(t, voltages_V);
  }
  /**
   * Keeps this board's cells in a state folder (see board-state.ts): loads what was saved, takes
   * the board's lock, and from then on saves cells as the engine journals them and everything at
   * close. `fresh` discards the saved state first (a pristine chip). Returns whether state was loaded.
   */
  attachState(dir: string, o: { fresh?: boolean } = {}): boolean {
    const key = this.stateKey();
    const f = new BoardStateFile(dir, key);
    f.acquire();
    try {
      if (o.fresh) f.discard();
      const loaded = f.loadInto(this);
      this.stateFile = f;
      this.boardInfo.state = `${key}/${f.generation()}`;
      return loaded;
    } catch (e) {
      f.release();
      throw e;
    }
  }
  /** The key of this board's saved state: seed, geometry, calibration and limits (another of them is another board). */
  stateKey(): string {
    return stateKey({ seed: this.identity.seed, arrays: this.boardInfo.arrays, rows: this.boardInfo.rows, cols: this.boardInfo.cols, fingerprint: this.identity.fingerprint });
  }
  /** Cells a pulse changed since the last persistDirty (row-major index per array). */
  private readonly dirty = new Set<number>();
  private markDirty(c: CellAddress): void {
    if (this.stateFile) this.dirty.add(c.array * this.cellsPerArray + c.row * this.boardInfo.cols + c.col);
  }
  /** A wait advanced the clock since the last persistDirty: the cells aged, the saved clock must follow. */
  private clockDirty = false;
  persistDirty(durable: boolean): void {
    if (!this.stateFile || (!this.dirty.size && !durable && !this.clockDirty)) return;
    const n = this.cellsPerArray;
    const cells = [...this.dirty].map((k) => ({ array: Math.floor(k / n), row: Math.floor((k % n) / this.boardInfo.cols), col: k % this.boardInfo.cols }));
    this.stateFile.append(this, cells, durable, this.clockDirty);
    // Only once written: a failed write (full disk) keeps them for the next try.
    this.dirty.clear();
    this.clockDirty = false;
    // The log grows by every round's cells: fold it into a snapshot now and then.
    if (this.stateFile.logBytes > 4 << 20) this.stateFile.snapshot(this);
  }
  async close(): Promise<void> {
    if (!this.stateFile) return;
    try {
      this.stateFile.snapshot(this);
    } catch {
      // A full disk: the log holds every cell the record mentions (persistDirty ran before each
      // write of events), so the state on disk is whole without the snapshot.
    } finally {
      this.dirty.clear();
      this.stateFile.release();
      this.stateFile = undefined;
    }
  }
  // StatefulBoard
  get arrayCount(): number {
    return this.models.length;
  }
  get cellsPerArray(): number {
    return this.boardInfo.rows * this.boardInfo.cols;
  }
  get cols(): number {
    return this.boardInfo.cols;
  }
  arrayModel(a: number): CellArrayModel {
    return this.models[a];
  }

  // Synchronous core, used by the firmware and the on-board write-verify loop. Amplitudes are
  // rounded to the DAC grid first and the rounded values checked (docs/protocol.md, "Amplitudes").
  formSync(c: CellAddress, p: FormPulse): void {
    const i = this.index(c);
    const q = setOnGrid(p, this.boardInfo.dacStep_V);
    checkSetPulse(this.boardInfo.limits, q);
    this.now_s += this.opOverhead + q.width_s;
    this.models[c.array].form(i, q.vte_V, q.vg_V, this.now_s);
    this.markDirty(c);
  }
  setSync(c: CellAddress, p: SetPulse): void {
    const i = this.index(c);
    const q = setOnGrid(p, this.boardInfo.dacStep_V);
    checkSetPulse(this.boardInfo.limits, q);
    this.now_s += this.opOverhead + q.width_s;
    this.models[c.array].set(i, q.vte_V, q.vg_V, this.now_s);
    this.markDirty(c);
  }
  resetSync(c: CellAddress, p: ResetPulse): void {
    const i = this.index(c);
    const q = resetOnGrid(p, this.boardInfo.dacStep_V);
    checkResetPulse(this.boardInfo.limits, q);
    this.now_s += this.opOverhead + q.width_s;
    this.models[c.array].reset(i, q.vsl_V, q.vg_V, this.now_s);
    this.markDirty(c);
  }
  private vread(o?: ReadOptions): number {
    const v = onGrid(o?.vread_V ?? DEFAULT_VREAD_V, this.boardInfo.dacStep_V);
    checkRead(this.boardInfo.limits, v);
    return v;
  }
  readSync(c: CellAddress, o?: ReadOptions): number {
    const i = this.index(c);
    const v = this.vread(o);
    this.now_s += this.opOverhead + this.readTime;
    return this.models[c.array].read(i, v, this.now_s);
  }
  readRowSync(array: number, row: number, o?: ReadOptions): Float64Array {
    checkIndex('array', array, this.boardInfo.arrays);
    checkIndex('row', row, this.boardInfo.rows);
    const v = this.vread(o);
    const { cols } = this.boardInfo;
    const out = new Float64Array(cols);
    this.now_s += this.opOverhead;
    for (let c = 0; c < cols; c++) {
      this.now_s += this.readTime;
      out[c] = this.models[array].read(row * cols + c, v, this.now_s);
    }
    return out;
  }
  readArraySync(array: number, o?: ReadOptions): Float64Array {
    checkIndex('array', array, this.boardInfo.arrays);
    this.vread(o);
    const { rows, cols } = this.boardInfo;
    const out = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) out.set(this.readRowSync(array, r, o), r * cols);
    return out;
  }
  /**
   * The analog MVM (mvm.ts): every input vector in turn, each one sensing of the whole tile
   * (op overhead + one read time per vector on the virtual clock). Inputs are checked, never rounded.
   */
  mvmSync(t: MvmTile, voltages_V: ArrayLike<number>): Float64Array {
    const vectors = checkMvm(this.boardInfo, t, voltages_V);
    const out = new Float64Array(vectors * t.cols);
    const model = this.models[t.array];
    for (let k = 0; k < vectors; k++) {
      this.now_s += this.opOverhead + this.readTime;
      const v = Array.prototype.slice.call(voltages_V, k * t.rows, (k + 1) * t.rows) as number[];
      out.set(mvmVector(model, this.boardInfo, t, v, this.periphery, this.now_s), k * t.cols);
    }
    return out;
  }
  waitSync(seconds: number): void {
    if (!(seconds >= 0) || !Number.isFinite(seconds)) throw new InvalidArgumentError('seconds', seconds, 'must be a finite number >= 0');
    this.now_s += seconds;
    if (this.stateFile && seconds > 0) this.clockDirty = true;
  }

  /** Per-cell operation counters: how tests prove that no pulse was applied twice. */
  countersSync(c: CellAddress): CellCounts {
    const i = this.index(c);
    const k = this.models[c.array].counters;
    return { form: k.form[i], set: k.set[i], reset: k.reset[i], read: k.read[i] };
  }
  totalPulses(): number {
    let s = 0;
    for (const m of this.models) for (let i = 0; i < m.n; i++) s += m.counters.form[i] + m.counters.set[i] + m.counters.reset[i];
    return s;
  }
  /** The nominal cell's gate voltage for a target conductance (ISPVA lookup tables). */
  gateFor(g_S: number): number {
    return this.models[0].gateFor(g_S);
  }
}
