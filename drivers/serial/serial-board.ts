/**
 * Board over the serial link (protocol v1, docs/protocol.md).
 *  - up to `window` requests in flight, so the link's round-trip time is hidden;
 *  - a timeout per request and retries that reuse the sequence number: the board answers a
 *    repeated sequence number from its replay cache, so a retry never pulses twice;
 *  - when the port disappears: reconnect, re-handshake; if the board's boot id is unchanged its
 *    cache is intact and pending requests are re-sent, otherwise pending pulses fail with
 *    OutcomeUnknownError (never guessed) and pending reads are re-sent;
 *  - a keep-alive PING while idle detects a dead board.
 */
import type { Board, BoardInfo, CellAddress, FormPulse, ReadOptions, ResetPulse, SetPulse, WriteVerifyJob, WriteVerifySummary } from '../board.js';
import { DEFAULT_VREAD_V } from '../board.js';
import { BoardError, DisconnectedError, OutcomeUnknownError, ProtocolError, TimeoutError, VersionMismatchError } from '../errors.js';
import { checkCell, checkIndex, checkRead, checkResetPulse, checkSetPulse } from '../limits.js';
import { encodeFrame, FrameDecoder, type Frame } from '../protocol/frame.js';
import {
  decodeError,
  decodeHello,
  decodeWriteVerifySummary,
  encodeWriteVerify,
  MsgType,
  PROTOCOL_VERSION,
  PULSE_TYPES,
  Reader,
  REPLY,
  Writer,
  writeCell,
} from '../protocol/messages.js';
import { serialTransport, type Transport, type TransportFactory } from './transport.js';

export interface SerialBoardOptions {
  path?: string;
  baudRate?: number;
  /** Custom byte pipe (tests, TCP bridges); default serialport on `path`. */
  transport?: TransportFactory;
  /** Requests in flight at once. Default 32. */
  window?: number;
  /** Per-attempt reply timeout (ms). Default 500. */
  timeout_ms?: number;
  /** Retransmissions after a timeout. Default 3. */
  retries?: number;
  /** How long to keep trying to reopen a vanished port (ms). Default 10000. */
  reconnect_ms?: number;
  /** Idle time before a keep-alive PING (ms); 0 disables. Default 2000. */
  keepAlive_ms?: number;
}

interface Pending {
  seq: number;
  type: number;
  frame: Buffer;
  attempts: number;
  timer?: NodeJS.Timeout;
  cell?: CellAddress;
  resolve: (p: Buffer) => void;
  reject: (e: Error) => void;
}

export class SerialBoard implements Board {
  private transport!: Transport;
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
  private readonly queue: Pending[] = [];
  private seq = 0;
  private boardInfo!: BoardInfo;
  private bootId = 0;
  private reconnecting?: Promise<void>;
  private closed = false;
  private keepAlive?: NodeJS.Timeout;
  private readonly o: Required<Omit<SerialBoardOptions, 'path' | 'baudRate' | 'transport'>> & { factory: TransportFactory; label: string };
  /** Counters for tests and benchmarks. */
  readonly stats = { sent: 0, retransmits: 0, timeouts: 0, reconnects: 0, unknownOutcomes: 0 };

  private constructor(o: SerialBoardOptions) {
    const factory = o.transport ?? serialTransport(o.path ?? '', o.baudRate ?? 921600);
    this.o = {
      window: o.window ?? 32,
      timeout_ms: o.timeout_ms ?? 500,
      retries: o.retries ?? 3,
      reconnect_ms: o.reconnect_ms ?? 10000,
      keepAlive_ms: o.keepAlive_ms ?? 2000,
      factory,
      label: o.path ?? 'transport',
    };
  }

  static async open(o: SerialBoardOptions): Promise<SerialBoard> {
    const b = new SerialBoard(o);
    await b.connect(b.o.factory);
    return b;
  }

  private async connect(factory: TransportFactory): Promise<void> {
    this.transport = await factory();
    this.transport.onData((d) => this.onData(d));
    this.transport.onClose((r) => this.onLinkLost(r));
    const hello = await this.request(MsgType.HELLO, Buffer.alloc(0), { bypassQueue: true, timeoutMsg: `board at ${this.o.label} does not answer (no HELLO reply)` }).catch(async (e) => {
      await this.transport.close();
      throw e;
    });
    const h = decodeHello(hello);
    if (h.info.protocolVersion !== PROTOCOL_VERSION) {
      await this.transport.close();
      throw new VersionMismatchError(h.info.protocolVersion, PROTOCOL_VERSION);
    }
    this.boardInfo = h.info;
    this.bootId = h.bootId;
    this.armKeepAlive();
  }

  private armKeepAlive(): void {
    if (!this.o.keepAlive_ms || this.closed) return;
    clearTimeout(this.keepAlive);
    this.keepAlive = setTimeout(() => {
      if (this.pending.size === 0 && !this.reconnecting && !this.closed) this.request(MsgType.PING, Buffer.alloc(0)).catch(() => undefined);
      this.armKeepAlive();
    }, this.o.keepAlive_ms);
    this.keepAlive.unref();
  }

  private onData(d: Buffer): void {
    for (const f of this.decoder.push(d)) this.onFrame(f);
  }

  private onFrame(f: Frame): void {
    const p = this.pending.get(f.seq);
    if (!p) return; // a late duplicate of something already answered
    if (f.type === MsgType.ERROR) {
      this.settle(p);
      const e = decodeError(f.payload);
      p.reject(new BoardError(e.code, e.message));
    } else if (f.type === (p.type | REPLY)) {
      this.settle(p);
      p.resolve(f.payload);
    } else {
      this.settle(p);
      p.reject(new ProtocolError(`reply type 0x${f.type.toString(16)} does not match request 0x${p.type.toString(16)}`));
    }
    this.pump();
  }

  private settle(p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(p.seq);
  }

  private request(type: number, payload: Buffer, opts: { cell?: CellAddress; bypassQueue?: boolean; timeoutMsg?: string } = {}): Promise<Buffer> {
    if (this.closed) return Promise.reject(new DisconnectedError('board closed'));
    this.seq = (this.seq + 1) & 0xffff;
    const seq = this.seq;
    return new Promise<Buffer>((resolve, reject) => {
      const p: Pending = { seq, type, frame: encodeFrame({ version: PROTOCOL_VERSION, type, seq, payload }), attempts: 0, cell: opts.cell, resolve, reject };
      const msg = opts.timeoutMsg;
      if (msg) p.reject = (e) => reject(e instanceof TimeoutError ? new TimeoutError(msg, e.context) : e);
      if (opts.bypassQueue) this.transmit(p);
      else {
        this.queue.push(p);
        this.pump();
      }
    });
  }

  private pump(): void {
    if (this.reconnecting) return;
    while (this.queue.length && this.pending.size < this.o.window) this.transmit(this.queue.shift()!);
  }

  private transmit(p: Pending): void {
    p.attempts++;
    this.pending.set(p.seq, p);
    if (p.attempts > 1) this.stats.retransmits++;
    this.stats.sent++;
    clearTimeout(p.timer);
    p.timer = setTimeout(() => this.onTimeout(p), this.o.timeout_ms);
    this.transport.write(p.frame);
  }

  private onTimeout(p: Pending): void {
    if (!this.pending.has(p.seq) || this.reconnecting) return;
    this.stats.timeouts++;
    if (p.attempts <= this.o.retries) {
      this.transmit(p); // same seq: the board replays instead of re-executing
      return;
    }
    this.settle(p);
    if (PULSE_TYPES.has(p.type) && p.cell) {
      this.stats.unknownOutcomes++;
      p.reject(new OutcomeUnknownError(p.cell, opName(p.type)));
    } else p.reject(new TimeoutError(`no reply from board at ${this.o.label} after ${p.attempts} attempts of ${this.o.timeout_ms} ms`, { seq: p.seq, type: p.type }));
    this.pump();
  }

  private onLinkLost(reason: string): void {
    if (this.closed || this.reconnecting) return;
    this.stats.reconnects++;
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.reconnecting = this.reconnect(reason).finally(() => {
      this.reconnecting = undefined;
    });
  }

  private async reconnect(reason: string): Promise<void> {
    const deadline = Date.now() + this.o.reconnect_ms;
    const oldBoot = this.bootId;
    let lastErr: unknown = new DisconnectedError(reason);
    while (Date.now() < deadline && !this.closed) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        this.transport = await this.o.factory();
      } catch (e) {
        lastErr = e;
        continue;
      }
      this.transport.onData((d) => this.onData(d));
      this.transport.onClose((r) => {
        this.reconnecting = undefined;
        this.onLinkLost(r);
      });
      try {
        const hp = await this.helloRaw();
        const h = decodeHello(hp);
        this.bootId = h.bootId;
        const sameBoot = h.bootId === oldBoot;
        const resend = [...this.pending.values()].sort((a, b) => a.seq - b.seq);
        this.pending.clear();
        for (const p of resend) {
          if (!sameBoot && PULSE_TYPES.has(p.type) && p.cell) {
            this.stats.unknownOutcomes++;
            p.reject(new OutcomeUnknownError(p.cell, opName(p.type)));
          } else {
            p.attempts = 0;
            this.transmit(p);
          }
        }
        this.reconnecting = undefined;
        this.pump();
        return;
      } catch (e) {
        lastErr = e;
        await this.transport.close().catch(() => undefined);
      }
    }
    // Gave up: nothing pending can be trusted.
    const all = [...this.pending.values(), ...this.queue.splice(0)];
    this.pending.clear();
    for (const p of all) {
      clearTimeout(p.timer);
      if (PULSE_TYPES.has(p.type) && p.cell && p.attempts > 0) p.reject(new OutcomeUnknownError(p.cell, opName(p.type)));
      else p.reject(new DisconnectedError(`board at ${this.o.label} lost (${reason}) and not back within ${this.o.reconnect_ms} ms: ${(lastErr as Error).message}`));
    }
  }

  /** HELLO outside the normal queue, used while reconnecting. */
  private helloRaw(): Promise<Buffer> {
    this.seq = (this.seq + 1) & 0xffff;
    const seq = this.seq;
    return new Promise<Buffer>((resolve, reject) => {
      const p: Pending = { seq, type: MsgType.HELLO, frame: encodeFrame({ version: PROTOCOL_VERSION, type: MsgType.HELLO, seq, payload: Buffer.alloc(0) }), attempts: 0, resolve, reject };
      this.pending.set(seq, p);
      p.timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new TimeoutError('no HELLO reply after reconnect'));
      }, this.o.timeout_ms);
      this.transport.write(p.frame);
    });
  }

  info(): BoardInfo {
    return structuredClone(this.boardInfo);
  }

  async form(c: CellAddress, p: FormPulse): Promise<void> {
    checkSetPulse(this.boardInfo.limits, p);
    checkCell(this.boardInfo, c);
    await this.request(MsgType.FORM, writeCell(new Writer(), c).volts(p.vte_V).volts(p.vg_V).seconds(p.width_s).done(), { cell: c });
  }
  async set(c: CellAddress, p: SetPulse): Promise<void> {
    checkSetPulse(this.boardInfo.limits, p);
    checkCell(this.boardInfo, c);
    await this.request(MsgType.SET, writeCell(new Writer(), c).volts(p.vte_V).volts(p.vg_V).seconds(p.width_s).done(), { cell: c });
  }
  async reset(c: CellAddress, p: ResetPulse): Promise<void> {
    checkResetPulse(this.boardInfo.limits, p);
    checkCell(this.boardInfo, c);
    await this.request(MsgType.RESET, writeCell(new Writer(), c).volts(p.vsl_V).volts(p.vg_V).seconds(p.width_s).done(), { cell: c });
  }
  async read(c: CellAddress, o?: ReadOptions): Promise<number> {
    const v = o?.vread_V ?? DEFAULT_VREAD_V;
    checkRead(this.boardInfo.limits, v);
    checkCell(this.boardInfo, c);
    const r = new Reader(await this.request(MsgType.READ, writeCell(new Writer(), c).volts(v).done()));
    const i = r.f64();
    r.end();
    return i;
  }
  async readRow(array: number, row: number, o?: ReadOptions): Promise<Float64Array> {
    const v = o?.vread_V ?? DEFAULT_VREAD_V;
    checkRead(this.boardInfo.limits, v);
    checkIndex('array', array, this.boardInfo.arrays);
    checkIndex('row', row, this.boardInfo.rows);
    const r = new Reader(await this.request(MsgType.READ_ROW, new Writer().u8(array).u16(row).volts(v).done()));
    const a = r.f64array(r.u16());
    r.end();
    return a;
  }
  async readArray(array: number, o?: ReadOptions): Promise<Float64Array> {
    const v = o?.vread_V ?? DEFAULT_VREAD_V;
    checkRead(this.boardInfo.limits, v);
    checkIndex('array', array, this.boardInfo.arrays);
    const r = new Reader(await this.request(MsgType.READ_ARRAY, new Writer().u8(array).volts(v).done()));
    const a = r.f64array(r.u32());
    r.end();
    return a;
  }
  async wait(seconds: number): Promise<void> {
    await this.request(MsgType.WAIT, new Writer().f64(seconds).done());
  }
  async ground(): Promise<void> {
    await this.request(MsgType.GROUND, Buffer.alloc(0));
  }
  async writeVerify(c: CellAddress, job: WriteVerifyJob): Promise<WriteVerifySummary> {
    checkCell(this.boardInfo, c);
    checkRead(this.boardInfo.limits, job.vread_V);
    if (job.algo === 'igvva') checkSetPulse(this.boardInfo.limits, { vte_V: job.fixed_V, vg_V: job.stop_V, width_s: job.width_s });
    else checkSetPulse(this.boardInfo.limits, { vte_V: job.stop_V, vg_V: job.fixed_V, width_s: job.width_s });
    return decodeWriteVerifySummary(await this.request(MsgType.WRITE_VERIFY, encodeWriteVerify(c, job), { cell: c }));
  }
  async close(): Promise<void> {
    if (this.closed) return;
    // Drain what is in flight first, so no measured reply is lost.
    const deadline = Date.now() + 2000;
    while ((this.pending.size || this.queue.length) && Date.now() < deadline && !this.reconnecting) await new Promise((r) => setTimeout(r, 5));
    this.closed = true;
    clearTimeout(this.keepAlive);
    await this.transport.close();
  }
}

function opName(type: number): string {
  return ({ [MsgType.FORM]: 'form', [MsgType.SET]: 'set', [MsgType.RESET]: 'reset', [MsgType.WRITE_VERIFY]: 'write-verify' } as Record<number, string>)[type] ?? `0x${type.toString(16)}`;
}
