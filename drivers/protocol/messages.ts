/**
 * Message types and payload layouts of protocol v1, shared by the serial driver and the
 * emulator firmware. Voltages travel as int32 microvolts, widths as uint32 nanoseconds,
 * currents as float64 amperes, all little-endian.
 */
import type { BoardInfo, CellAddress, SafetyLimits, WriteVerifyJob, WriteVerifySummary } from '../board.js';
import { ProtocolError } from '../errors.js';

export const PROTOCOL_VERSION = 1;

export const MsgType = {
  HELLO: 0x01,
  PING: 0x02,
  FORM: 0x10,
  SET: 0x11,
  RESET: 0x12,
  READ: 0x20,
  READ_ROW: 0x21,
  READ_ARRAY: 0x22,
  WAIT: 0x30,
  GROUND: 0x31,
  WRITE_VERIFY: 0x40,
  ERROR: 0x7f,
} as const;
export const REPLY = 0x80;

/** Error codes carried by ERROR replies. */
export const ErrCode = {
  UNKNOWN_TYPE: 1,
  BAD_PAYLOAD: 2,
  LIMIT: 3,
  ADDRESS: 4,
  VERSION: 5,
  INTERNAL: 6,
} as const;

/** Types whose effect on a cell is not idempotent: never re-executed on a retransmission. */
export const PULSE_TYPES: ReadonlySet<number> = new Set([MsgType.FORM, MsgType.SET, MsgType.RESET, MsgType.WRITE_VERIFY]);

const uV = (v: number) => Math.round(v * 1e6);
const ns = (s: number) => Math.round(s * 1e9);

/** A tiny cursor-based reader that fails with a ProtocolError instead of a RangeError. */
export class Reader {
  private o = 0;
  constructor(private readonly b: Buffer) {}
  private need(n: number): void {
    if (this.o + n > this.b.length) throw new ProtocolError(`payload too short: need ${n} bytes at offset ${this.o} of ${this.b.length}`);
  }
  u8(): number {
    this.need(1);
    return this.b.readUInt8(this.o++);
  }
  u16(): number {
    this.need(2);
    const v = this.b.readUInt16LE(this.o);
    this.o += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32LE(this.o);
    this.o += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.b.readInt32LE(this.o);
    this.o += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.b.readDoubleLE(this.o);
    this.o += 8;
    return v;
  }
  volts(): number {
    return this.i32() / 1e6;
  }
  seconds(): number {
    return this.u32() / 1e9;
  }
  str(): string {
    const n = this.u8();
    this.need(n);
    const s = this.b.toString('utf8', this.o, this.o + n);
    this.o += n;
    return s;
  }
  f64array(n: number): Float64Array {
    this.need(n * 8);
    const out = new Float64Array(n);
    for (let k = 0; k < n; k++) out[k] = this.b.readDoubleLE(this.o + k * 8);
    this.o += n * 8;
    return out;
  }
  end(): void {
    if (this.o !== this.b.length) throw new ProtocolError(`payload has ${this.b.length - this.o} trailing bytes`);
  }
}

/** Growable little-endian writer. */
export class Writer {
  private parts: Buffer[] = [];
  u8(v: number): this {
    const b = Buffer.alloc(1);
    b.writeUInt8(v);
    this.parts.push(b);
    return this;
  }
  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    this.parts.push(b);
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.parts.push(b);
    return this;
  }
  i32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.parts.push(b);
    return this;
  }
  f64(v: number): this {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    this.parts.push(b);
    return this;
  }
  volts(v: number): this {
    return this.i32(uV(v));
  }
  seconds(v: number): this {
    return this.u32(ns(v));
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8').subarray(0, 255);
    return this.u8(b.length).raw(b);
  }
  f64array(a: ArrayLike<number>): this {
    const b = Buffer.alloc(a.length * 8);
    for (let k = 0; k < a.length; k++) b.writeDoubleLE(a[k], k * 8);
    this.parts.push(b);
    return this;
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export function writeCell(w: Writer, c: CellAddress): Writer {
  return w.u8(c.array).u16(c.row).u16(c.col);
}
export function readCell(r: Reader): CellAddress {
  return { array: r.u8(), row: r.u16(), col: r.u16() };
}

export interface Hello {
  info: BoardInfo;
  /** Random per firmware boot: tells the host whether the board's replay cache survived. */
  bootId: number;
}

export function encodeHello(h: Hello): Buffer {
  const i = h.info;
  const l = i.limits;
  return new Writer()
    .u8(i.protocolVersion)
    .u32(h.bootId)
    .u16(i.arrays)
    .u16(i.rows)
    .u16(i.cols)
    .volts(i.dacStep_V)
    .volts(l.vte_max_V)
    .volts(l.vsl_max_V)
    .volts(l.vg_max_V)
    .volts(l.vread_max_V)
    .seconds(l.width_min_s)
    .seconds(l.width_max_s)
    .u8(i.kind === 'emulated' ? 1 : 0)
    .str(i.id)
    .str(i.firmware)
    .str(i.calibration ?? '')
    .done();
}

export function decodeHello(p: Buffer): Hello {
  const r = new Reader(p);
  const protocolVersion = r.u8();
  const bootId = r.u32();
  const arrays = r.u16();
  const rows = r.u16();
  const cols = r.u16();
  const dacStep_V = r.volts();
  const limits: SafetyLimits = { vte_max_V: r.volts(), vsl_max_V: r.volts(), vg_max_V: r.volts(), vread_max_V: r.volts(), width_min_s: r.seconds(), width_max_s: r.seconds() };
  const kind = r.u8() === 1 ? 'emulated' : 'hardware';
  const id = r.str();
  const firmware = r.str();
  const calibration = r.str();
  return { bootId, info: { id, firmware, protocolVersion, arrays, rows, cols, limits, dacStep_V, kind, calibration: calibration || undefined } };
}

export function encodeWriteVerify(c: CellAddress, j: WriteVerifyJob): Buffer {
  return writeCell(new Writer(), c)
    .u8(j.algo === 'igvva' ? 0 : 1)
    .f64(j.target_A)
    .volts(j.fixed_V)
    .volts(j.start_V)
    .volts(j.step_V)
    .volts(j.stop_V)
    .u16(j.maxPulses)
    .seconds(j.width_s)
    .volts(j.vread_V)
    .done();
}
export function decodeWriteVerify(p: Buffer): { cell: CellAddress; job: WriteVerifyJob } {
  const r = new Reader(p);
  const cell = readCell(r);
  const algo = r.u8() === 0 ? 'igvva' : 'ispva';
  const job: WriteVerifyJob = { algo, target_A: r.f64(), fixed_V: r.volts(), start_V: r.volts(), step_V: r.volts(), stop_V: r.volts(), maxPulses: r.u16(), width_s: r.seconds(), vread_V: r.volts() };
  r.end();
  return { cell, job };
}
export function encodeWriteVerifySummary(s: WriteVerifySummary): Buffer {
  return new Writer().u8(s.success ? 1 : 0).u16(Math.min(65535, s.pulses)).f64(s.final_A).volts(s.finalStepped_V).done();
}
export function decodeWriteVerifySummary(p: Buffer): WriteVerifySummary {
  const r = new Reader(p);
  const s = { success: r.u8() === 1, pulses: r.u16(), final_A: r.f64(), finalStepped_V: r.volts() };
  r.end();
  return s;
}

export function encodeError(code: number, message: string): Buffer {
  return new Writer().u16(code).str(message).done();
}
export function decodeError(p: Buffer): { code: number; message: string } {
  const r = new Reader(p);
  return { code: r.u16(), message: r.str() };
}
