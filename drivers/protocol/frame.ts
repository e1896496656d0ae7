/**
 * Framing (docs/protocol.md, "Frame"). The envelope is the same in every protocol version, so any
 * board can parse a HELLO of any version and answer it:
 *   A5 5A | version u8 | type u8 | seq u16le | len u16le | body[len] | crc32le(version..body)
 * In v2 the body is: session u32 | boot u32 | payload[len-8].
 *
 * The decoder resynchronises after garbage, a bad length or a bad CRC by dropping one byte and
 * hunting for the next A5 5A; a frame that stays incomplete while no byte arrives for its stall
 * timeout (a header whose length lies, the rest lost) is dropped the same way, so a lying header
 * never blocks the link. The stall timeout is an idle timeout (revision 2.1): a long frame that
 * arrives slower than the configured baud rate is never dropped while its bytes keep coming.
 */
import { crc32 } from 'node:zlib';

export const SOF0 = 0xa5;
export const SOF1 = 0x5a;
export const HEADER_LEN = 8;
export const CRC_LEN = 4;
/** The largest body any frame may carry (every version). */
export const MAX_BODY = 60000;
/** v2 body prefix: session u32 + boot u32. */
export const SESSION_LEN = 8;

export interface RawFrame {
  version: number;
  type: number;
  seq: number;
  body: Buffer;
}

export function encodeRaw(f: RawFrame): Buffer {
  if (f.body.length > MAX_BODY) throw new RangeError(`frame body of ${f.body.length} bytes exceeds ${MAX_BODY}`);
  const buf = Buffer.alloc(HEADER_LEN + f.body.length + CRC_LEN);
  buf[0] = SOF0;
  buf[1] = SOF1;
  buf[2] = f.version;
  buf[3] = f.type;
  buf.writeUInt16LE(f.seq & 0xffff, 4);
  buf.writeUInt16LE(f.body.length, 6);
  f.body.copy(buf, HEADER_LEN);
  buf.writeUInt32LE(crc32(buf.subarray(2, HEADER_LEN + f.body.length)) >>> 0, HEADER_LEN + f.body.length);
  return buf;
}

/** A v2 frame: the body split into session, boot and payload. */
export interface Frame {
  version: number;
  type: number;
  seq: number;
  session: number;
  boot: number;
  payload: Buffer;
}

export function encodeFrame(f: Frame): Buffer {
  const body = Buffer.alloc(SESSION_LEN + f.payload.length);
  body.writeUInt32LE(f.session >>> 0, 0);
  body.writeUInt32LE(f.boot >>> 0, 4);
  f.payload.copy(body, SESSION_LEN);
  return encodeRaw({ version: f.version, type: f.type, seq: f.seq, body });
}

/** Splits a v2 body; undefined when it is shorter than the session prefix (a malformed frame). */
export function splitBody(r: RawFrame): Frame | undefined {
  if (r.body.length < SESSION_LEN) return undefined;
  return { version: r.version, type: r.type, seq: r.seq, session: r.body.readUInt32LE(0), boot: r.body.readUInt32LE(4), payload: r.body.subarray(SESSION_LEN) };
}

export interface DecoderStats {
  frames: number;
  /** Bytes skipped while hunting for a frame start (garbage, corrupted or stalled frames). */
  skipped: number;
  crcErrors: number;
  /** Frames whose length field exceeded maxBody. */
  oversized: number;
  /** Incomplete frames dropped after their stall timeout. */
  stalls: number;
}

export interface DecoderOptions {
  /** Largest body accepted; longer length fields are treated as garbage at once. Default MAX_BODY. */
  maxBody?: number;
  /** Milliseconds without a byte after which an incomplete frame is dropped. Default linkStall(921600). */
  stall_ms?: number;
}

/** The stall (idle) timeout of docs/protocol.md, section 2: 50 ms + twice the time of 64 bytes. */
export function linkStall(baud: number, margin_ms = 50): number {
  return margin_ms + (2 * 64 * 10 * 1000) / baud;
}

/** The header of a frame dropped for its CRC: what a host may still learn from it (its request's seq). */
export interface DamagedHeader {
  version: number;
  type: number;
  seq: number;
  length: number;
}

/** Streaming decoder: push() bytes in any chunking, get whole frames out; expire() drops stalled frames. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  /** When the last byte arrived (the idle clock of the incomplete head frame). */
  private since = 0;
  readonly stats: DecoderStats & { bytes: number } = { frames: 0, skipped: 0, crcErrors: 0, oversized: 0, stalls: 0, bytes: 0 };
  maxBody: number;
  stall_ms: number;
  /** Headers of frames that failed their CRC since the last takeDamaged(). */
  private damaged: DamagedHeader[] = [];
  constructor(o: DecoderOptions = {}) {
    this.maxBody = Math.min(o.maxBody ?? MAX_BODY, MAX_BODY);
    this.stall_ms = o.stall_ms ?? linkStall(921600);
  }

  push(chunk: Buffer, now = performance.now()): RawFrame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    this.stats.bytes += chunk.length;
    if (chunk.length) this.since = now;
    return this.scan(now);
  }

  /** Headers of CRC-damaged frames seen since the last call (a host may ask for their replies again at once). */
  takeDamaged(): DamagedHeader[] {
    const d = this.damaged;
    this.damaged = [];
    return d;
  }

  private scan(now: number): RawFrame[] {
    const out: RawFrame[] = [];
    let i = 0;
    const b = this.buf;
    while (b.length - i >= 2) {
      if (b[i] !== SOF0 || b[i + 1] !== SOF1) {
        i++;
        this.stats.skipped++;
        continue;
      }
      if (b.length - i < HEADER_LEN) break;
      const len = b.readUInt16LE(i + 6);
      if (len > this.maxBody) {
        this.stats.oversized++;
        this.stats.skipped++;
        i++;
        continue;
      }
      const total = HEADER_LEN + len + CRC_LEN;
      if (b.length - i < total) break;
      const crc = b.readUInt32LE(i + HEADER_LEN + len);
      if ((crc32(b.subarray(i + 2, i + HEADER_LEN + len)) >>> 0) !== crc) {
        this.stats.crcErrors++;
        if (this.damaged.length < 64) this.damaged.push({ version: b[i + 2], type: b[i + 3], seq: b.readUInt16LE(i + 4), length: len });
        this.stats.skipped++;
        i++;
        continue;
      }
      out.push({ version: b[i + 2], type: b[i + 3], seq: b.readUInt16LE(i + 4), body: Buffer.from(b.subarray(i + HEADER_LEN, i + HEADER_LEN + len)) });
      this.stats.frames++;
      i += total;
    }
    if (i > 0) this.buf = i >= b.length ? Buffer.alloc(0) : Buffer.from(b.subarray(i));
    return out;
  }

  /** The time (same clock as push) at which the incomplete head frame stalls (no byte for stall_ms), if any. */
  stallDeadline(): number | undefined {
    if (!this.buf.length) return undefined;
    return this.since + this.stall_ms;
  }

  /**
   * The head frame is incomplete, its header plausible, and a byte arrived within the stall
   * timeout: a reply is on its way (the host extends its deadline, docs/protocol.md, section 6).
   */
  receiving(now = performance.now()): boolean {
    return this.buf.length >= HEADER_LEN && now - this.since < this.stall_ms;
  }

  /** The header of the incomplete frame at the head of the buffer, if 8 bytes of it are here. */
  head(): DamagedHeader | undefined {
    const b = this.buf;
    if (b.length < HEADER_LEN || b[0] !== SOF0 || b[1] !== SOF1) return undefined;
    return { version: b[2], type: b[3], seq: b.readUInt16LE(4), length: b.readUInt16LE(6) };
  }

  /**
   * Drops the head of a stalled frame (one byte at a time, rescanning) and returns frames found
   * behind it. The bytes behind it arrived before the silence, so they are stalled as well unless
   * they form whole frames: everything that does not is dropped.
   */
  expire(now = performance.now()): RawFrame[] {
    const out: RawFrame[] = [];
    while (this.buf.length) {
      const d = this.stallDeadline();
      if (d === undefined || now < d) break;
      this.stats.stalls++;
      this.stats.skipped++;
      // A frame whose rest never came: its header still says whose reply it was.
      const h = this.head();
      if (h && h.length <= this.maxBody && this.damaged.length < 64) this.damaged.push(h);
      this.buf = Buffer.from(this.buf.subarray(1));
      out.push(...this.scan(now));
    }
    return out;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
  }

  /** Restarts the stall clock of the incomplete head frame (the receiver was not listening until `now`). */
  listenedFrom(now = performance.now()): void {
    this.since = Math.max(this.since, now);
  }

  /** Part of a frame is held and its last byte came within the stall timeout: the rest is on its way. */
  arriving(now = performance.now()): boolean {
    return this.buf.length > 0 && now - this.since < this.stall_ms;
  }

  /** Bytes held waiting for the rest of a frame. */
  get pending(): number {
    return this.buf.length;
  }
}

/**
 * Runs a decoder's stall clock with a timer: call `fed()` after every push; `onFrames` gets the
 * frames a stall releases. One timer at a time, never left running on an empty buffer.
 */
export class StallWatch {
  private timer?: NodeJS.Timeout;
  constructor(
    private readonly dec: FrameDecoder,
    private readonly onFrames: (f: RawFrame[]) => void,
  ) {}
  /** `extended`: this deadline is already the one grace period after a late timer (see below). */
  fed(extended = false): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const d = this.dec.stallDeadline();
    if (d === undefined) return;
    const due = Math.max(1, Math.ceil(d - performance.now()));
    const armed = performance.now();
    const timer = setTimeout(() => {
      // A receiver whose event loop was busy must not take its own delay for the line's silence:
      // a timer that fires late (the loop was blocked, e.g. by an MVM's computation) gives the
      // line a whole stall timeout from now, as bytes that arrived meanwhile reach JavaScript only
      // some loop turns later (serialport reads in the thread pool after the readable event).
      // One grace period per quiet spell: the loop has turned during it, so bytes that had come
      // are in; a loop that is late again is merely loaded, and a receiver that granted grace on
      // every late timer would never drop a damaged frame on a busy machine.
      const late = performance.now() - armed - due;
      if (late > this.dec.stall_ms / 4 && !extended) {
        this.dec.listenedFrom();
        this.timer = undefined;
        return this.fed(true);
      }
      setImmediate(() => {
        if (this.timer !== timer) return; // fed() again meanwhile: a new deadline
        this.timer = undefined;
        this.onFrames(this.dec.expire()); // also when none: the stall itself is news (damaged headers)
        this.fed();
      });
    }, due);
    this.timer = timer;
    timer.unref();
  }
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
