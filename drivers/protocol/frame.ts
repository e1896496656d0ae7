/**
 * Framing of protocol v1 (docs/protocol.md):
 *   A5 5A | ver u8 | type u8 | seq u16le | len u16le | payload[len] | crc32le
 * The CRC-32 (IEEE 802.3, as zlib) covers ver..payload. The decoder resynchronises after
 * garbage, a bad length or a bad CRC by dropping one byte and hunting for the next A5 5A.
 */
import { crc32 } from 'node:zlib';

export const SOF0 = 0xa5;
export const SOF1 = 0x5a;
export const HEADER_LEN = 8;
export const CRC_LEN = 4;
export const MAX_PAYLOAD = 60000;

export interface Frame {
  version: number;
  type: number;
  seq: number;
  payload: Buffer;
}

export function encodeFrame(f: Frame): Buffer {
  if (f.payload.length > MAX_PAYLOAD) throw new RangeError(`payload of ${f.payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const buf = Buffer.alloc(HEADER_LEN + f.payload.length + CRC_LEN);
  buf[0] = SOF0;
  buf[1] = SOF1;
  buf[2] = f.version;
  buf[3] = f.type;
  buf.writeUInt16LE(f.seq & 0xffff, 4);
  buf.writeUInt16LE(f.payload.length, 6);
  f.payload.copy(buf, HEADER_LEN);
  buf.writeUInt32LE(crc32(buf.subarray(2, HEADER_LEN + f.payload.length)) >>> 0, HEADER_LEN + f.payload.length);
  return buf;
}

export interface DecoderStats {
  frames: number;
  /** Bytes skipped while hunting for a frame start (garbage, corrupted frames). */
  skipped: number;
  crcErrors: number;
}

/** Streaming decoder: push() bytes in any chunking, get whole frames out. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  readonly stats: DecoderStats = { frames: 0, skipped: 0, crcErrors: 0 };

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
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
      if (len > MAX_PAYLOAD) {
        i++;
        this.stats.skipped++;
        continue;
      }
      const total = HEADER_LEN + len + CRC_LEN;
      if (b.length - i < total) break;
      const crc = b.readUInt32LE(i + HEADER_LEN + len);
      if ((crc32(b.subarray(i + 2, i + HEADER_LEN + len)) >>> 0) !== crc) {
        this.stats.crcErrors++;
        this.stats.skipped++;
        i++;
        continue;
      }
      out.push({ version: b[i + 2], type: b[i + 3], seq: b.readUInt16LE(i + 4), payload: Buffer.from(b.subarray(i + HEADER_LEN, i + HEADER_LEN + len)) });
      this.stats.frames++;
      i += total;
    }
    this.buf = i >= b.length ? Buffer.alloc(0) : Buffer.from(b.subarray(i));
    return out;
  }

  /** Bytes held waiting for the rest of a frame. */
  get pending(): number {
    return this.buf.length;
  }
}
