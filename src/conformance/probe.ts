/**
 * A raw protocol client for the conformance suite: it builds any frame (wrong session, old seq,
 * bad CRC, half a header), sends it, and collects every frame the board sends back with its
 * arrival time. Unlike SerialBoard it never retries or recovers: the suite must see exactly what
 * the board does.
 */
import type { BoardInfo } from '../../drivers/board.js';
import { ProtocolError, TimeoutError } from '../../drivers/errors.js';
import { encodeFrame, FrameDecoder, linkStall, splitBody, type Frame, type RawFrame } from '../../drivers/protocol/frame.js';
import { decodeHelloReply, type LinkParams } from '../../drivers/protocol/hello.js';
import { encodeRequest, MsgType, PROTOCOL_VERSION, REPLY, spec, VERSIONS, type MessageSpec, type Payload } from '../../drivers/protocol/messages.js';
import type { Transport, TransportFactory } from '../../drivers/serial/transport.js';

export interface Received {
  raw: RawFrame;
  frame?: Frame;
  t: number;
}

export class Probe {
  private transport!: Transport;
  private readonly decoder: FrameDecoder;
  readonly received: Received[] = [];
  private waiters: { match: (r: Received) => boolean; resolve: (r: Received) => void }[] = [];
  seq = 1;
  session = 0;
  boot = 0;
  info!: BoardInfo;
  link!: LinkParams;

  private constructor(readonly baud: number) {
    this.decoder = new FrameDecoder({ stall_ms: linkStall(baud) });
  }

  static async open(factory: TransportFactory, baud: number): Promise<Probe> {
    const p = new Probe(baud);
    p.transport = await factory();
    p.transport.onData((d) => {
      const t = performance.now();
      for (const raw of p.decoder.push(d, t)) {
        const r: Received = { raw, frame: raw.version === PROTOCOL_VERSION ? splitBody(raw) : undefined, t };
        p.received.push(r);
        p.waiters = p.waiters.filter((w) => {
          if (!w.match(r)) return true;
          w.resolve(r);
          return false;
        });
      }
    });
    return p;
  }

  nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) & 0xffff;
    return s;
  }

  /** A v2 frame of this session unless overridden. */
  frame(type: number, payload: Buffer, o: { seq?: number; session?: number; boot?: number; version?: number } = {}): { bytes: Buffer; seq: number } {
    const seq = o.seq ?? this.nextSeq();
    return { seq, bytes: encodeFrame({ version: o.version ?? PROTOCOL_VERSION, type, seq, session: o.session ?? this.session, boot: o.boot ?? this.boot, payload }) };
  }

  send(b: Buffer): number {
    this.transport.write(b);
    return performance.now();
  }

  /** Resolves with the first frame received from now on that matches, or undefined after ms. */
  wait(match: (r: Received) => boolean, ms: number): Promise<Received | undefined> {
    return new Promise((resolve) => {
      const w = { match, resolve: (r: Received | undefined) => resolve(r) };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(undefined);
      }, ms);
      this.waiters.push({
        match,
        resolve: (r) => {
          clearTimeout(t);
          resolve(r);
        },
      });
    });
  }

  /** Frames received with this seq between t0 and now+ms (collects duplicates too). */
  async collect(seq: number, t0: number, ms: number): Promise<Received[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.received.filter((r) => r.raw.seq === seq && r.t >= t0);
  }

  /** Sends a request and waits for the reply with its seq (any type). */
  async call(m: MessageSpec | number, payload: Payload | Buffer, ms: number, o: { seq?: number; session?: number; boot?: number } = {}): Promise<{ reply: Received; elapsed_ms: number; seq: number; bytes: Buffer }> {
    const type = typeof m === 'number' ? m : m.type;
    const body = Buffer.isBuffer(payload) ? payload : encodeRequest(m as MessageSpec, payload, { raw: true });
    const { bytes, seq } = this.frame(type, body, o);
    const p = this.wait((r) => r.raw.seq === seq, ms);
    const t0 = this.send(bytes);
    const reply = await p;
    if (!reply) throw new TimeoutError(`no reply to type 0x${type.toString(16)} seq ${seq} within ${Math.round(ms)} ms`);
    return { reply, elapsed_ms: reply.t - t0, seq, bytes };
  }

  /** HELLO; adopts the session it grants. */
  async hello(resume = 0, ms = 2000, versions: { min: number; max: number } = VERSIONS, seq?: number): Promise<Received> {
    const r = await this.call(spec('HELLO'), { min_version: versions.min, max_version: versions.max, resume_session: resume }, ms, { session: resume, boot: resume ? this.boot : 0, seq });
    const f = r.reply.frame;
    if (f && f.type === (MsgType.HELLO | REPLY)) {
      const h = decodeHelloReply(f.payload);
      this.session = h.link.session;
      this.boot = f.boot;
      this.info = h.info;
      this.link = h.link;
    } else if (!f) throw new ProtocolError(`HELLO answered with a version-${r.reply.raw.version} frame`);
    return r.reply;
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}
