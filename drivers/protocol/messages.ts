/**
 * Protocol v2 messages (docs/protocol.md): one schema per message type, and the one codec that
 * turns payloads into objects and back for the serial driver, the emulator firmware, the
 * conformance suite and the fuzzer alike. The doc's payload tables are generated from this
 * schema (scripts/protocol-doc.mjs) and a test checks they match.
 */
import { ProtocolError } from '../errors.js';
import { Reader, Writer } from './wire.js';

export const PROTOCOL_VERSION = 2;
/** Oldest and newest versions this code speaks. */
export const VERSIONS = { min: 2, max: 2 } as const;

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
  COUNTERS: 0x50,
  MVM: 0x60,
  ERROR: 0x7f,
} as const;
export const REPLY = 0x80;

/** ERROR reply codes. Every ERROR but INTERNAL guarantees the request had no effect. */
export const ErrCode = {
  UNKNOWN_TYPE: 1,
  BAD_PAYLOAD: 2,
  LIMIT: 3,
  ADDRESS: 4,
  VERSION: 5,
  INTERNAL: 6,
  UNSUPPORTED: 7,
  NO_SESSION: 8,
  STALE_SEQ: 9,
  SEQ_CONFLICT: 10,
} as const;
export type ErrCodeName = keyof typeof ErrCode;
export function errName(code: number): string {
  return (Object.keys(ErrCode) as ErrCodeName[]).find((k) => ErrCode[k] === code) ?? `code ${code}`;
}

/** Optional features, as bits of HELLO's `features`. */
export const Feature = {
  WRITE_VERIFY: 1 << 0,
  COUNTERS: 1 << 1,
  MVM: 1 << 2,
} as const;

/**
 * Field types: u8/u16/u32/i32/f64 as named (little-endian); uV = i32 microvolts; ns = u32
 * nanoseconds; str = u8 byte count + UTF-8; f64[u16] / f64[u32] = element count then float64s;
 * uV[u16] = element count then i32 microvolts.
 */
export type FieldType = 'u8' | 'u16' | 'u32' | 'i32' | 'f64' | 'uV' | 'ns' | 'str' | 'f64[u16]' | 'f64[u32]' | 'uV[u16]';
export interface Field {
  name: string;
  type: FieldType;
  doc: string;
}

/** How a board treats a retransmission (same session and seq): see docs/protocol.md. */
export type RetryClass = 'session' | 'cached' | 'reexecuted';

export interface MessageSpec {
  type: number;
  name: keyof typeof MsgType;
  retry: RetryClass;
  /** Feature bit a board must advertise for this message; boards without it answer UNSUPPORTED. */
  feature?: number;
  request: Field[];
  reply: Field[];
  doc: string;
}

const f = (name: string, type: FieldType, doc = ''): Field => ({ name, type, doc });
const CELL = [f('array', 'u8'), f('row', 'u16'), f('col', 'u16')];

export const HELLO_REPLY_FIELDS: Field[] = [
  f('version', 'u8', 'protocol version chosen for this session (2)'),
  f('session', 'u32', 'session id granted (also in the reply header); never 0'),
  f('resumed', 'u8', '1 if resume_session was granted (replay cache intact), else 0'),
  f('window', 'u16', 'W: most requests a host may have unanswered, and the seq window of the replay cache'),
  f('max_payload', 'u16', 'largest request payload accepted; longer frames are dropped unanswered'),
  f('features', 'u32', 'bit 0 WRITE_VERIFY, bit 1 COUNTERS, bit 2 MVM'),
  f('arrays', 'u16'),
  f('rows', 'u16'),
  f('cols', 'u16'),
  f('dac_step', 'uV', 'every amplitude is rounded to a multiple of this before it is checked and applied'),
  f('vte_max', 'uV'),
  f('vsl_max', 'uV'),
  f('vg_max', 'uV'),
  f('vread_max', 'uV'),
  f('width_min', 'ns'),
  f('width_max', 'ns'),
  f('wait_max_ms', 'u32', 'longest single WAIT'),
  f('t_op_us', 'u32', 'most time any single operation takes, pulse width and WAIT excluded'),
  f('t_cell_us', 'u32', 'most time per cell of READ_ROW / READ_ARRAY'),
  f('kind', 'u8', '1 emulated, 0 hardware'),
  f('id', 'str', 'board id'),
  f('firmware', 'str', 'firmware name and version'),
  f('calibration', 'str', 'calibration id of an emulated board, else empty'),
];

/** MVM (revision 2.2): the tile, then V vectors of `rows` voltages. */
const MVM_REQUEST = [f('array', 'u8'), f('row0', 'u16', 'first row of the tile'), f('col0', 'u16', 'first column of the tile'), f('rows', 'u16', 'rows driven, >= 1'), f('cols', 'u16', 'columns sensed, >= 1'), f('voltages', 'uV[u16]', 'V input vectors of rows voltages each, one after another; on the DAC grid, 0..vread_max')];

export const MESSAGES: MessageSpec[] = [
  {
    type: MsgType.HELLO,
    name: 'HELLO',
    retry: 'session',
    request: [f('min_version', 'u8', 'oldest version the host speaks'), f('max_version', 'u8', 'newest version the host speaks'), f('resume_session', 'u32', '0 = new session; else the session to resume')],
    reply: HELLO_REPLY_FIELDS,
    doc: 'opens (or resumes) a session; handled on arrival, never queued or cached',
  },
  { type: MsgType.PING, name: 'PING', retry: 'reexecuted', request: [], reply: [], doc: 'keep-alive; answered in order' },
  { type: MsgType.FORM, name: 'FORM', retry: 'cached', request: [...CELL, f('vte', 'uV'), f('vg', 'uV'), f('width', 'ns')], reply: [], doc: 'forming pulse on the top electrode' },
  { type: MsgType.SET, name: 'SET', retry: 'cached', request: [...CELL, f('vte', 'uV'), f('vg', 'uV'), f('width', 'ns')], reply: [], doc: 'SET pulse: VTE on the top electrode, VG on the gate, SL at 0' },
  { type: MsgType.RESET, name: 'RESET', retry: 'cached', request: [...CELL, f('vsl', 'uV'), f('vg', 'uV'), f('width', 'ns')], reply: [], doc: 'RESET pulse: VSL on the source line, VG on the gate, TE at 0' },
  { type: MsgType.READ, name: 'READ', retry: 'reexecuted', request: [...CELL, f('vread', 'uV')], reply: [f('current', 'f64', 'amperes')], doc: 'read one cell' },
  { type: MsgType.READ_ROW, name: 'READ_ROW', retry: 'reexecuted', request: [f('array', 'u8'), f('row', 'u16'), f('vread', 'uV')], reply: [f('currents', 'f64[u16]', 'amperes, cols entries')], doc: 'read a row' },
  { type: MsgType.READ_ARRAY, name: 'READ_ARRAY', retry: 'reexecuted', request: [f('array', 'u8'), f('vread', 'uV')], reply: [f('currents', 'f64[u32]', 'amperes, rows*cols entries, row-major')], doc: 'read a whole array' },
  { type: MsgType.WAIT, name: 'WAIT', retry: 'cached', request: [f('seconds', 'f64', 'finite, 0 <= s <= wait_max_ms/1000')], reply: [], doc: 'every line grounded for this long, then reply' },
  { type: MsgType.GROUND, name: 'GROUND', retry: 'reexecuted', request: [], reply: [], doc: 'ground every line' },
  {
    type: MsgType.WRITE_VERIFY,
    name: 'WRITE_VERIFY',
    retry: 'cached',
    feature: Feature.WRITE_VERIFY,
    request: [
      ...CELL,
      f('algo', 'u8', '0 IGVVA (gate stepped), 1 ISPVA (TE stepped)'),
      f('target', 'f64', 'read current to reach, amperes, finite, >= 0'),
      f('fixed', 'uV', 'VTE for IGVVA, VG for ISPVA'),
      f('start', 'uV'),
      f('step', 'uV', '> 0'),
      f('stop', 'uV', '>= start'),
      f('max_pulses', 'u16', '>= 1'),
      f('width', 'ns'),
      f('vread', 'uV'),
    ],
    reply: [f('success', 'u8', '1 if the target was reached'), f('pulses', 'u16'), f('final_current', 'f64', 'amperes, last verify read'), f('final_stepped', 'uV', 'last stepped amplitude')],
    doc: 'on-board write-verify loop (optional)',
  },
  {
    type: MsgType.COUNTERS,
    name: 'COUNTERS',
    retry: 'reexecuted',
    feature: Feature.COUNTERS,
    request: [...CELL],
    reply: [f('form', 'u32'), f('set', 'u32'), f('reset', 'u32'), f('read', 'u32')],
    doc: 'pulses and reads this cell has received since power-up (optional)',
  },
  { type: MsgType.MVM, name: 'MVM', retry: 'reexecuted', feature: Feature.MVM, request: MVM_REQUEST, reply: [f('currents', 'f64[u32]', 'amperes, V x cols entries: vector after vector, column col0 first')], doc: 'analog matrix-vector product of a tile (optional)' },
  { type: MsgType.ERROR, name: 'ERROR', retry: 'reexecuted', request: [], reply: [f('code', 'u16', 'error code'), f('message', 'str', 'human-readable, at most 255 bytes')], doc: 'reply only (type 0x7F)' },
];

const BY_TYPE = new Map(MESSAGES.map((m) => [m.type, m]));
export function specOf(type: number): MessageSpec | undefined {
  return BY_TYPE.get(type);
}
export function spec(name: keyof typeof MsgType): MessageSpec {
  return BY_TYPE.get(MsgType[name])!;
}

export type Payload = Record<string, number | string | Float64Array>;

const toUV = (v: number) => Math.round(v * 1e6);
const toNs = (s: number) => Math.round(s * 1e9);

/**
 * Encodes an object (volts, seconds, amperes) by a field list. Values must fit their wire types and
 * every f64 must be finite (docs/protocol.md, section 1); `raw` lets the conformance suite and the
 * fuzzers send the malformed values a board must refuse.
 */
export function encodeFields(fields: Field[], o: Payload, opts: { raw?: boolean } = {}): Buffer {
  const w = new Writer();
  const finite = (name: string, v: number) => {
    if (!opts.raw && !Number.isFinite(v)) throw new ProtocolError(`cannot encode ${name}=${v}: every f64 must be finite`);
  };
  for (const fl of fields) {
    const v = o[fl.name];
    if (v === undefined) throw new ProtocolError(`cannot encode: field ${fl.name} missing`);
    switch (fl.type) {
      case 'u8':
      case 'u16':
      case 'u32': {
        const max = fl.type === 'u8' ? 0xff : fl.type === 'u16' ? 0xffff : 0xffffffff;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new ProtocolError(`cannot encode ${fl.name}=${String(v)} as ${fl.type}`);
        if (fl.type === 'u8') w.u8(v);
        else if (fl.type === 'u16') w.u16(v);
        else w.u32(v);
        break;
      }
      case 'i32':
      case 'uV': {
        const n = fl.type === 'uV' ? toUV(v as number) : (v as number);
        if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new ProtocolError(`cannot encode ${fl.name}=${String(v)} as ${fl.type}`);
        w.i32(n);
        break;
      }
      case 'ns': {
        const n = toNs(v as number);
        if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new ProtocolError(`cannot encode ${fl.name}=${String(v)} s as ns`);
        w.u32(n);
        break;
      }
      case 'f64':
        if (typeof v !== 'number') throw new ProtocolError(`cannot encode ${fl.name}=${String(v)} as f64`);
        finite(fl.name, v);
        w.f64(v);
        break;
      case 'str':
        w.str(String(v));
        break;
      case 'f64[u16]':
      case 'f64[u32]': {
        const a = v as Float64Array;
        for (let k = 0; k < a.length; k++) finite(`${fl.name}[${k}]`, a[k]);
        if (fl.type === 'f64[u16]') w.u16(a.length);
        else w.u32(a.length);
        w.f64array(a);
        break;
      }
      case 'uV[u16]': {
        const a = v as Float64Array;
        if (!(a instanceof Float64Array) || a.length > 0xffff) throw new ProtocolError(`cannot encode ${fl.name}: needs at most 65535 voltages`);
        w.u16(a.length);
        for (let k = 0; k < a.length; k++) {
          const n = toUV(a[k]);
          if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new ProtocolError(`cannot encode ${fl.name}[${k}]=${a[k]} as uV`);
          w.i32(n);
        }
        break;
      }
    }
  }
  return w.done();
}

/** An f64 that is NaN or infinite: the frame is malformed (docs/protocol.md, section 1). */
export class NonFiniteError extends ProtocolError {
  constructor(
    readonly field: string,
    readonly value: number,
  ) {
    super(`${field} is ${value} (every f64 must be finite)`, { field, value: String(value) });
  }
}

/** Decodes a payload by a field list: exact length and finite numbers, or a ProtocolError naming what is wrong. */
export function decodeFields(fields: Field[], p: Buffer): Payload {
  const r = new Reader(p);
  const o: Payload = {};
  for (const fl of fields) {
    switch (fl.type) {
      case 'u8':
        o[fl.name] = r.u8();
        break;
      case 'u16':
        o[fl.name] = r.u16();
        break;
      case 'u32':
        o[fl.name] = r.u32();
        break;
      case 'i32':
        o[fl.name] = r.i32();
        break;
      case 'uV':
        o[fl.name] = r.i32() / 1e6;
        break;
      case 'ns':
        o[fl.name] = r.u32() / 1e9;
        break;
      case 'f64': {
        const v = r.f64();
        if (!Number.isFinite(v)) throw new NonFiniteError(fl.name, v);
        o[fl.name] = v;
        break;
      }
      case 'str':
        o[fl.name] = r.str();
        break;
      case 'f64[u16]':
      case 'f64[u32]': {
        const n = fl.type === 'f64[u16]' ? r.u16() : r.u32();
        if (n * 8 > r.remaining) throw new ProtocolError(`${fl.name}: count ${n} exceeds the payload`);
        const a = r.f64array(n);
        for (let k = 0; k < n; k++) if (!Number.isFinite(a[k])) throw new NonFiniteError(`${fl.name}[${k}]`, a[k]);
        o[fl.name] = a;
        break;
      }
      case 'uV[u16]': {
        const n = r.u16();
        if (n * 4 > r.remaining) throw new ProtocolError(`${fl.name}: count ${n} exceeds the payload`);
        const a = new Float64Array(n);
        for (let k = 0; k < n; k++) a[k] = r.i32() / 1e6;
        o[fl.name] = a;
        break;
      }
    }
  }
  r.end();
  return o;
}

export const encodeRequest = (m: MessageSpec, o: Payload, opts?: { raw?: boolean }) => encodeFields(m.request, o, opts);
export const decodeRequest = (m: MessageSpec, p: Buffer) => decodeFields(m.request, p);
export const encodeReply = (m: MessageSpec, o: Payload, opts?: { raw?: boolean }) => encodeFields(m.reply, o, opts);
export const decodeReply = (m: MessageSpec, p: Buffer) => decodeFields(m.reply, p);

/** Bytes of a payload by a field list when it has no variable fields (undefined otherwise). */
export function fixedSize(fields: Field[]): number | undefined {
  let n = 0;
  for (const fl of fields) {
    const s = { u8: 1, u16: 2, u32: 4, i32: 4, f64: 8, uV: 4, ns: 4 }[fl.type as 'u8'];
    if (s === undefined) return undefined;
    n += s;
  }
  return n;
}

export interface ErrorPayload {
  code: number;
  message: string;
}
export function encodeError(code: number, message: string): Buffer {
  return encodeReply(spec('ERROR'), { code, message });
}
export function decodeError(p: Buffer): ErrorPayload {
  const o = decodeReply(spec('ERROR'), p);
  return { code: o.code as number, message: o.message as string };
}
