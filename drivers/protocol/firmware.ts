/**
 * The emulator's firmware: decodes request frames, runs them on an EmulatedBoard and writes
 * replies. Keeps the replies of recent sequence numbers so a retransmitted pulse is answered
 * from the cache instead of pulsing the cell again (pulses are not idempotent).
 */
import type { EmulatedBoard } from '../emulated/emulated-board.js';
import { RramError } from '../errors.js';
import { runWriteVerifyOnBoard } from '../emulated/onboard-write-verify.js';
import { encodeFrame, FrameDecoder, type Frame } from './frame.js';
import {
  decodeWriteVerify,
  encodeError,
  encodeHello,
  encodeWriteVerifySummary,
  ErrCode,
  MsgType,
  PROTOCOL_VERSION,
  Reader,
  readCell,
  REPLY,
  Writer,
} from './messages.js';

export interface FirmwareFaults {
  /** Drop the reply to the n-th request (1-based count of requests), once. */
  dropReplyAt?: number;
  /** Corrupt the CRC of the reply to the n-th request, once. */
  corruptReplyAt?: number;
  /** Delay every reply by this many ms. */
  replyDelay_ms?: number;
  /** Delay only the reply to the n-th request by delayOnce_ms. */
  delayReplyAt?: number;
  delayOnce_ms?: number;
}

const CACHE_SIZE = 1024;

export class Firmware {
  private readonly decoder = new FrameDecoder();
  private readonly cache = new Map<number, { key: string; reply: Buffer }>();
  readonly bootId = (Math.random() * 0xffffffff) >>> 0;
  requests = 0;
  replays = 0;
  faults: FirmwareFaults = {};

  constructor(
    readonly board: EmulatedBoard,
    private write: (b: Buffer) => void,
  ) {}

  /** Swap the output (after the port was reopened); the replay cache survives. */
  setWriter(w: (b: Buffer) => void): void {
    this.write = w;
  }

  onData(chunk: Buffer): void {
    for (const f of this.decoder.push(chunk)) this.handle(f);
  }

  get decoderStats() {
    return this.decoder.stats;
  }

  private handle(f: Frame): void {
    this.requests++;
    const n = this.requests;
    const key = `${f.type}:${f.payload.toString('base64')}`;
    const hit = this.cache.get(f.seq);
    let reply: Buffer;
    if (hit && hit.key === key && f.type !== MsgType.HELLO && f.type !== MsgType.PING) {
      this.replays++;
      reply = hit.reply;
    } else {
      reply = this.execute(f);
      this.cache.delete(f.seq);
      this.cache.set(f.seq, { key, reply });
      if (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as number);
    }
    const fl = this.faults;
    if (fl.dropReplyAt === n) return;
    if (fl.corruptReplyAt === n) {
      reply = Buffer.from(reply);
      reply[reply.length - 1] ^= 0xff;
    }
    const delay = (fl.replyDelay_ms ?? 0) + (fl.delayReplyAt === n ? (fl.delayOnce_ms ?? 0) : 0);
    if (delay > 0) setTimeout(() => this.write(reply), delay);
    else this.write(reply);
  }

  private reply(f: Frame, type: number, payload: Buffer): Buffer {
    return encodeFrame({ version: PROTOCOL_VERSION, type, seq: f.seq, payload });
  }

  private execute(f: Frame): Buffer {
    const ok = (p: Buffer = Buffer.alloc(0)) => this.reply(f, f.type | REPLY, p);
    const b = this.board;
    try {
      if (f.version !== PROTOCOL_VERSION && f.type !== MsgType.HELLO)
        return this.reply(f, MsgType.ERROR, encodeError(ErrCode.VERSION, `protocol v${f.version} not supported (v${PROTOCOL_VERSION})`));
      const r = new Reader(f.payload);
      switch (f.type) {
        case MsgType.HELLO:
          return ok(encodeHello({ info: b.info(), bootId: this.bootId }));
        case MsgType.PING:
          return ok();
        case MsgType.FORM:
        case MsgType.SET: {
          const c = readCell(r);
          const p = { vte_V: r.volts(), vg_V: r.volts(), width_s: r.seconds() };
          r.end();
          if (f.type === MsgType.FORM) b.formSync(c, p);
          else b.setSync(c, p);
          return ok();
        }
        case MsgType.RESET: {
          const c = readCell(r);
          const p = { vsl_V: r.volts(), vg_V: r.volts(), width_s: r.seconds() };
          r.end();
          b.resetSync(c, p);
          return ok();
        }
        case MsgType.READ: {
          const c = readCell(r);
          const v = r.volts();
          r.end();
          return ok(new Writer().f64(b.readSync(c, { vread_V: v })).done());
        }
        case MsgType.READ_ROW: {
          const array = r.u8();
          const row = r.u16();
          const v = r.volts();
          r.end();
          const a = b.readRowSync(array, row, { vread_V: v });
          return ok(new Writer().u16(a.length).f64array(a).done());
        }
        case MsgType.READ_ARRAY: {
          const array = r.u8();
          const v = r.volts();
          r.end();
          const a = b.readArraySync(array, { vread_V: v });
          return ok(new Writer().u32(a.length).f64array(a).done());
        }
        case MsgType.WAIT: {
          const s = r.f64();
          r.end();
          void b.wait(s);
          return ok();
        }
        case MsgType.GROUND:
          r.end();
          void b.ground();
          return ok();
        case MsgType.WRITE_VERIFY: {
          const { cell, job } = decodeWriteVerify(f.payload);
          return ok(encodeWriteVerifySummary(runWriteVerifyOnBoard(b, cell, job)));
        }
        default:
          return this.reply(f, MsgType.ERROR, encodeError(ErrCode.UNKNOWN_TYPE, `unknown message type 0x${f.type.toString(16)}`));
      }
    } catch (e) {
      const code = e instanceof RramError ? (e.code === 'LIMIT' ? ErrCode.LIMIT : e.code === 'ADDRESS' ? ErrCode.ADDRESS : e.code === 'PROTOCOL' ? ErrCode.BAD_PAYLOAD : ErrCode.INTERNAL) : ErrCode.INTERNAL;
      return this.reply(f, MsgType.ERROR, encodeError(code, (e as Error).message));
    }
  }
}

