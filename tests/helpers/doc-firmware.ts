/**
 * A second board firmware, written from docs/protocol.md alone: it shares no protocol code with
 * the project (no codec, no BoardSession, no frame decoder), only the cell physics. It also
 * differs from our emulator wherever the document allows: window 8, max_payload 64, a 5 mV DAC,
 * lower limits, 20 ms per operation, WAIT at most 10 s and really waited, no optional messages.
 * If the driver or the conformance suite relies on anything the document does not say, the
 * tests against this board fail.
 */
import { crc32 } from 'node:zlib';
import type { EmulatedBoard } from '../../drivers/emulated/emulated-board.js';

const LIM = { vte_max: 3_600_000, vsl_max: 2_400_000, vg_max: 2_000_000, vread_max: 300_000, width_min: 100, width_max: 100_000 }; // uV, ns
const DAC = 5000; // uV
const W = 8;
const MAXP = 64;
const T_OP_US = 20000;
const T_CELL_US = 50;
const WAIT_MAX_MS = 10000;

function frame(version: number, type: number, seq: number, body: Buffer): Buffer {
  const b = Buffer.alloc(12 + body.length);
  b[0] = 0xa5;
  b[1] = 0x5a;
  b[2] = version;
  b[3] = type;
  b.writeUInt16LE(seq, 4);
  b.writeUInt16LE(body.length, 6);
  body.copy(b, 8);
  b.writeUInt32LE(crc32(b.subarray(2, 8 + body.length)) >>> 0, 8 + body.length);
  return b;
}
function errPayload(code: number, msg: string): Buffer {
  const m = Buffer.from(msg).subarray(0, 255);
  const p = Buffer.alloc(3 + m.length);
  p.writeUInt16LE(code, 0);
  p[2] = m.length;
  m.copy(p, 3);
  return p;
}
const round = (uv: number) => Math.floor(uv / DAC + 0.5) * DAC;

class Bad extends Error {
  constructor(
    readonly code: number,
    msg: string,
  ) {
    super(msg);
  }
}

export class DocFirmware {
  private buf = Buffer.alloc(0);
  private headSince = 0;
  private stallTimer?: NodeJS.Timeout;
  private boot = 0x0d0cf00d;
  private session = 0;
  private newest: number | undefined;
  /** Replay cache (section 5, revision 2.1): by the whole seq; an entry dies once its seq is W behind the newest. */
  private slots = new Map<number, { seq: number; key: string; reply?: Buffer }>();
  private q: { seq: number; type: number; p: Buffer; session: number; slot?: { seq: number; key: string; reply?: Buffer } }[] = [];
  private busy = false;
  private out: (b: Buffer) => void = () => undefined;
  applied = 0;
  /** Most requests queued or executing at once (the host's window must keep this <= W). */
  maxOutstanding = 0;

  constructor(private readonly board: EmulatedBoard) {}

  setWriter(w: (b: Buffer) => void): void {
    this.out = w;
  }

  reboot(): void {
    this.boot = (this.boot * 2654435761 + 1) >>> 0 || 1;
    this.session = 0;
    this.q = [];
    this.slots = new Map();
    this.buf = Buffer.alloc(0);
  }

  onData(d: Buffer): void {
    if (!this.buf.length) this.headSince = Date.now();
    this.buf = Buffer.concat([this.buf, d]);
    this.scan();
  }

  private scan(): void {
    for (;;) {
      let i = 0;
      while (i + 1 < this.buf.length && !(this.buf[i] === 0xa5 && this.buf[i + 1] === 0x5a)) i++;
      if (i) this.drop(i);
      if (this.buf.length < 8) break;
      const n = this.buf.readUInt16LE(6);
      if (n > 8 + MAXP) {
        this.drop(1);
        continue;
      }
      if (this.buf.length < 12 + n) {
        // stall timeout of the document: 50 ms + 2 x bytes x 10 / baud (921600)
        clearTimeout(this.stallTimer);
        const ms = 50 + (2 * (12 + n) * 10 * 1000) / 921600 - (Date.now() - this.headSince);
        this.stallTimer = setTimeout(() => {
          if (this.buf.length && this.buf.length < 12 + this.buf.readUInt16LE(6)) {
            this.drop(1);
            this.scan();
          }
        }, Math.max(1, ms));
        break;
      }
      const f = this.buf.subarray(0, 12 + n);
      if ((crc32(f.subarray(2, 8 + n)) >>> 0) !== f.readUInt32LE(8 + n)) {
        this.drop(1);
        continue;
      }
      this.drop(12 + n);
      this.frame(f[2], f[3], f.readUInt16LE(4), Buffer.from(f.subarray(8, 8 + n)));
    }
  }

  private drop(n: number): void {
    this.buf = this.buf.subarray(n);
    this.headSince = Date.now();
  }

  private reply(type: number, seq: number, session: number, payload: Buffer): Buffer {
    const body = Buffer.alloc(8 + payload.length);
    body.writeUInt32LE(session, 0);
    body.writeUInt32LE(this.boot, 4);
    payload.copy(body, 8);
    return frame(2, type, seq, body);
  }

  private frame(version: number, type: number, seq: number, body: Buffer): void {
    if (version === 1) return this.out(frame(1, 0x7f, seq, errPayload(5, 'need v2')));
    const session = body.length >= 4 ? body.readUInt32LE(0) : 0;
    const err = (c: number, m: string) => this.out(this.reply(0x7f, seq, session, errPayload(c, m)));
    if (version !== 2) return err(5, 'v2 only');
    if (body.length < 8) return err(2, 'short body');
    const bootField = body.readUInt32LE(4);
    const p = body.subarray(8);
    if (type === 0x01) {
      if (p.length !== 6) return err(2, 'HELLO payload');
      if (p[1] < 2 || p[0] > 2) return err(5, 'v2 only');
      const resume = p.readUInt32LE(2);
      let resumed = 0;
      if (resume && resume === this.session && bootField === this.boot) resumed = 1;
      else {
        this.session = ((this.session + 0x9e3779b9) >>> 0) || 7;
        this.newest = undefined;
        this.slots = new Map();
        this.q = [];
      }
      return this.out(this.reply(0x81, seq, this.session, this.hello(resumed)));
    }
    if (!this.session || session !== this.session || bootField !== this.boot) return err(8, 'no such session');
    const sizes: Record<number, number> = { 0x02: 0, 0x10: 17, 0x11: 17, 0x12: 17, 0x20: 9, 0x21: 7, 0x22: 5, 0x30: 8, 0x31: 0 };
    if (type === 0x40 || type === 0x50 || type === 0x60) return err(7, 'not offered');
    if (!(type in sizes)) return err(1, 'unknown type');
    if (this.newest !== undefined) {
      const behind = (this.newest - seq) & 0xffff;
      if (behind !== 0 && behind < 0x8000) {
        if (behind >= W) return err(9, 'stale');
      } else this.newest = seq;
    } else this.newest = seq;
    for (const k of [...this.slots.keys()]) if (((this.newest! - k) & 0xffff) >= W) this.slots.delete(k);
    const cached = type === 0x10 || type === 0x11 || type === 0x12 || type === 0x30;
    const key = `${type}:${p.toString('hex')}`;
    const s = this.slots.get(seq);
    if (s && s.key !== key) return err(10, 'seq reused');
    let slot;
    if (cached) {
      if (s) {
        if (s.reply) this.out(s.reply);
        return; // executing: answered when done
      }
      slot = { seq, key };
      this.slots.set(seq, slot);
    }
    if (p.length !== sizes[type]) {
      const r = this.reply(0x7f, seq, session, errPayload(2, 'payload length'));
      if (slot) (slot as { reply?: Buffer }).reply = r;
      return this.out(r);
    }
    this.q.push({ seq, type, p: Buffer.from(p), session, slot });
    this.maxOutstanding = Math.max(this.maxOutstanding, this.q.length + (this.busy ? 1 : 0));
    void this.run();
  }

  private hello(resumed: number): Buffer {
    const id = Buffer.from('doc-board');
    const fwname = Buffer.from('doc-firmware 1.0');
    const b = Buffer.alloc(75 + 3 + id.length + fwname.length);
    let o = 0;
    const u8 = (v: number) => (b[o++] = v);
    const u16 = (v: number) => ((b.writeUInt16LE(v, o), (o += 2)));
    const u32 = (v: number) => ((b.writeUInt32LE(v >>> 0, o), (o += 4)));
    const i32 = (v: number) => ((b.writeInt32LE(v, o), (o += 4)));
    u8(2);
    u32(this.session);
    u8(resumed);
    u16(W);
    u16(MAXP);
    u32(0);
    u16(this.board.info().arrays);
    u16(64);
    u16(64);
    i32(DAC);
    i32(LIM.vte_max);
    i32(LIM.vsl_max);
    i32(LIM.vg_max);
    i32(LIM.vread_max);
    u32(LIM.width_min);
    u32(LIM.width_max);
    u32(WAIT_MAX_MS);
    u32(T_OP_US);
    u32(T_CELL_US);
    u8(0);
    u8(id.length);
    id.copy(b, o);
    o += id.length;
    u8(fwname.length);
    fwname.copy(b, o);
    o += fwname.length;
    u8(0);
    return b.subarray(0, o);
  }

  private async run(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    while (this.q.length) {
      const j = this.q.shift()!;
      let r: Buffer;
      try {
        r = this.reply(j.type | 0x80, j.seq, j.session, await this.exec(j.type, j.p));
      } catch (e) {
        r = this.reply(0x7f, j.seq, j.session, errPayload(e instanceof Bad ? e.code : 6, (e as Error).message));
      }
      if (j.slot) j.slot.reply = r;
      if (j.session === this.session) this.out(r);
    }
    this.busy = false;
  }

  private async exec(type: number, p: Buffer): Promise<Buffer> {
    const cell = () => {
      const c = { array: p[0], row: p.readUInt16LE(1), col: p.readUInt16LE(3) };
      if (c.array >= this.board.info().arrays || c.row >= 64 || c.col >= 64) throw new Bad(4, 'address');
      return c;
    };
    const amp = (off: number, max: number) => {
      const v = round(p.readInt32LE(off));
      if (v < 0 || v > max) throw new Bad(3, `amplitude ${v} uV beyond 0..${max}`);
      return v / 1e6;
    };
    const width = (off: number) => {
      const w = p.readUInt32LE(off);
      if (w < LIM.width_min || w > LIM.width_max) throw new Bad(3, 'width');
      return w / 1e9;
    };
    const vread = (off: number) => amp(off, LIM.vread_max);
    switch (type) {
      case 0x02:
        return Buffer.alloc(0);
      case 0x31:
        await this.board.ground();
        return Buffer.alloc(0);
      case 0x10:
      case 0x11: {
        const c = cell();
        const q = { vte_V: amp(5, LIM.vte_max), vg_V: amp(9, LIM.vg_max), width_s: width(13) };
        if (type === 0x10) this.board.formSync(c, q);
        else this.board.setSync(c, q);
        this.applied++;
        return Buffer.alloc(0);
      }
      case 0x12: {
        const c = cell();
        this.board.resetSync(c, { vsl_V: amp(5, LIM.vsl_max), vg_V: amp(9, LIM.vg_max), width_s: width(13) });
        this.applied++;
        return Buffer.alloc(0);
      }
      case 0x20: {
        const c = cell();
        const b = Buffer.alloc(8);
        b.writeDoubleLE(this.board.readSync(c, { vread_V: vread(5) }));
        return b;
      }
      case 0x21: {
        if (p[0] >= this.board.info().arrays || p.readUInt16LE(1) >= 64) throw new Bad(4, 'address');
        const a = this.board.readRowSync(p[0], p.readUInt16LE(1), { vread_V: vread(3) });
        const b = Buffer.alloc(2 + 8 * a.length);
        b.writeUInt16LE(a.length);
        a.forEach((x, k) => b.writeDoubleLE(x, 2 + 8 * k));
        return b;
      }
      case 0x22: {
        if (p[0] >= this.board.info().arrays) throw new Bad(4, 'address');
        const a = this.board.readArraySync(p[0], { vread_V: vread(1) });
        const b = Buffer.alloc(4 + 8 * a.length);
        b.writeUInt32LE(a.length);
        a.forEach((x, k) => b.writeDoubleLE(x, 4 + 8 * k));
        return b;
      }
      case 0x30: {
        const s = p.readDoubleLE(0);
        if (!Number.isFinite(s) || s < 0) throw new Bad(2, 'seconds');
        if (s * 1000 > WAIT_MAX_MS) throw new Bad(3, 'too long');
        await new Promise((r) => setTimeout(r, s * 1000));
        this.board.waitSync(s);
        return Buffer.alloc(0);
      }
    }
    throw new Bad(1, 'unknown');
  }
}
