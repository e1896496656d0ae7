/**
 * Little-endian payload primitives. The Reader fails with a ProtocolError (never a RangeError), so
 * a malformed payload from either side of the link becomes a typed error, not a crash.
 */
import { ProtocolError } from '../errors.js';

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
  get remaining(): number {
    return this.b.length - this.o;
  }
  end(): void {
    if (this.o !== this.b.length) throw new ProtocolError(`payload has ${this.b.length - this.o} trailing bytes`);
  }
}

/** Growable little-endian writer. */
export class Writer {
  private parts: Buffer[] = [];
  private put(n: number, f: (b: Buffer) => void): this {
    const b = Buffer.alloc(n);
    f(b);
    this.parts.push(b);
    return this;
  }
  u8(v: number): this {
    return this.put(1, (b) => b.writeUInt8(v));
  }
  u16(v: number): this {
    return this.put(2, (b) => b.writeUInt16LE(v));
  }
  u32(v: number): this {
    return this.put(4, (b) => b.writeUInt32LE(v >>> 0));
  }
  i32(v: number): this {
    return this.put(4, (b) => b.writeInt32LE(v));
  }
  f64(v: number): this {
    return this.put(8, (b) => b.writeDoubleLE(v));
  }
  /** UTF-8 with a u8 length; longer strings are cut at 255 bytes (never mid-character). */
  str(s: string): this {
    let b = Buffer.from(s, 'utf8');
    if (b.length > 255) {
      let n = 255;
      while (n > 0 && (b[n] & 0xc0) === 0x80) n--;
      b = b.subarray(0, n);
    }
    return this.u8(b.length).raw(b);
  }
  f64array(a: ArrayLike<number>): this {
    return this.put(a.length * 8, (b) => {
      for (let k = 0; k < a.length; k++) b.writeDoubleLE(a[k], k * 8);
    });
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}
