/**
 * The emulator's firmware: protocol v2 (docs/protocol.md) on top of an EmulatedBoard. Frames are
 * admitted as they arrive (HELLO at once; everything else through BoardSession's rules) and run
 * one at a time in arrival order by an executor, so a retransmission that arrives while its
 * request is still executing is recognised and answered once, when done. WAIT really waits in
 * 'real' time mode (default behind a pty) and only advances the emulated clock in 'virtual' mode.
 */
import { randomInt } from 'node:crypto';
import type { CellAddress } from '../board.js';
import { RramError } from '../errors.js';
import { BoardSession, type Slot } from '../protocol/board-session.js';
import { encodeFrame, encodeRaw, FrameDecoder, linkStall, splitBody, StallWatch, type Frame, type RawFrame } from '../protocol/frame.js';
import { encodeHelloReply } from '../protocol/hello.js';
import {
  decodeRequest,
  encodeError,
  encodeReply,
  ErrCode,
  Feature,
  MsgType,
  PROTOCOL_VERSION,
  REPLY,
  specOf,
  VERSIONS,
  type MessageSpec,
  type Payload,
} from '../protocol/messages.js';
import type { EmulatedBoard } from './emulated-board.js';
import { runWriteVerifyOnBoard } from './onboard-write-verify.js';

export interface FirmwareOptions {
  /** Advertised window W (requests in flight; replay-cache slots). Default 32. */
  window?: number;
  /** Largest request payload accepted. Default 256. */
  maxPayload?: number;
  /** Longest single WAIT (s). Default 3600. */
  waitMax_s?: number;
  /** Advertised maximum time of one operation (s). Default 5 ms (JS event loop hiccups included). */
  tOp_s?: number;
  /** Advertised maximum time per cell of row/array reads (s). Default 20 us. */
  tCell_s?: number;
  /** WAIT in real time (a board's behaviour) or only on the emulated clock. Default 'real'. */
  time?: 'real' | 'virtual';
  /** Feature bits offered. Default WRITE_VERIFY | COUNTERS. */
  features?: number;
  /** Link rate, for the stall timeout of incomplete frames. Default 921600. */
  baud?: number;
  /** Fixed boot id (tests); default random, never 0. */
  bootId?: number;
  /** Source of session ids (tests); default crypto random. */
  random?: () => number;
}

/** Test faults on the reply path (counted in requests received, 1-based). */
export interface FirmwareFaults {
  dropReplyAt?: number;
  corruptReplyAt?: number;
  replyDelay_ms?: number;
  delayReplyAt?: number;
  delayOnce_ms?: number;
}

/** One executed pulse, as the firmware applied it (tests count these to prove no duplicate). */
export interface AppliedOp {
  session: number;
  seq: number;
  type: number;
  cell?: CellAddress;
}

interface Job {
  frame: Frame;
  spec: MessageSpec;
  slot?: Slot;
  session: number;
  /** Request count at arrival (fault injection counts requests). */
  n: number;
}

const nonZero32 = () => randomInt(1, 0xffffffff);

export class Firmware {
  private decoder: FrameDecoder;
  private stall: StallWatch;
  private sess!: BoardSession;
  private queue: Job[] = [];
  private running = false;
  private cancelWait?: () => void;
  private epoch = 0;
  readonly o: Required<Omit<FirmwareOptions, 'bootId' | 'random'>>;
  private readonly random: () => number;
  bootId = 0;
  faults: FirmwareFaults = {};
  readonly stats = { requests: 0, replays: 0, executed: 0, refused: 0, dropped: 0, reboots: 0 };
  /** Called for every pulse actually applied to a cell (FORM, SET, RESET, each WRITE_VERIFY). */
  onApplied?: (op: AppliedOp) => void;

  constructor(
    public board: EmulatedBoard,
    private write: (b: Buffer) => void,
    opts: FirmwareOptions = {},
  ) {
    this.o = {
      window: opts.window ?? 32,
      maxPayload: opts.maxPayload ?? 256,
      waitMax_s: opts.waitMax_s ?? 3600,
      tOp_s: opts.tOp_s ?? 5e-3,
      tCell_s: opts.tCell_s ?? 20e-6,
      time: opts.time ?? 'real',
      features: opts.features ?? Feature.WRITE_VERIFY | Feature.COUNTERS,
      baud: opts.baud ?? 921600,
    };
    this.random = opts.random ?? nonZero32;
    this.decoder = new FrameDecoder({ maxBody: 8 + this.o.maxPayload, stall_ms: linkStall(this.o.baud) });
    this.stall = new StallWatch(this.decoder, (fs) => fs.forEach((f) => this.admit(f)));
    this.boot(opts.bootId);
  }

  private boot(id?: number): void {
    this.bootId = id ?? nonZero32();
    this.sess = new BoardSession(this.o.window, this.bootId, this.random, VERSIONS);
  }

  /** Swap the output (after the port was reopened); sessions and the replay cache survive. */
  setWriter(w: (b: Buffer) => void): void {
    this.write = w;
  }

  /** Power-cycle the firmware: new boot id, no session, queue and cache gone; optionally a new board (cells lost). */
  reboot(o: { board?: EmulatedBoard; bootId?: number } = {}): void {
    this.stats.reboots++;
    this.epoch++;
    this.queue = [];
    this.running = false; // the old executor stops at its next step (epoch changed)
    this.cancelWait?.();
    this.decoder.reset();
    this.stall.stop();
    if (o.board) this.board = o.board;
    this.boot(o.bootId);
  }

  get session(): number {
    return this.sess.session;
  }

  get decoderStats() {
    return this.decoder.stats;
  }

  onData(chunk: Buffer): void {
    for (const f of this.decoder.push(chunk)) this.admit(f);
    this.stall.fed();
  }

  stop(): void {
    this.stall.stop();
    this.epoch++;
    this.queue = [];
    this.running = false;
    this.cancelWait?.();
  }

  private admit(raw: RawFrame): void {
    const n = ++this.stats.requests;
    if (raw.version === 1) {
      // A v1 host: answer in v1 framing so it can tell the user (v1 ERROR = code + message, no session).
      this.send(encodeRaw({ version: 1, type: MsgType.ERROR, seq: raw.seq, body: encodeError(ErrCode.VERSION, `board speaks protocol v${VERSIONS.min}..v${VERSIONS.max}`) }), n);
      return;
    }
    const f = splitBody(raw);
    const session = f?.session ?? 0;
    const refuse = (code: number, message: string) => {
      this.stats.refused++;
      this.send(this.reply(raw.seq, session, MsgType.ERROR, encodeError(code, message)), n);
    };
    if (raw.version !== PROTOCOL_VERSION && raw.type !== MsgType.HELLO) return refuse(ErrCode.VERSION, `protocol v${raw.version} not supported (board speaks v${VERSIONS.min}..v${VERSIONS.max})`);
    if (!f) return refuse(ErrCode.BAD_PAYLOAD, `frame body of ${raw.body.length} bytes is shorter than the 8-byte session header`);
    if (f.type === MsgType.HELLO) return this.hello(f, n);
    const m = specOf(f.type);
    if (!m || m.type === MsgType.ERROR) return refuse(ErrCode.UNKNOWN_TYPE, `unknown message type 0x${f.type.toString(16)}`);
    if (m.feature && !(this.o.features & m.feature)) return refuse(ErrCode.UNSUPPORTED, `${m.name} is not offered by this board`);
    const a = this.sess.admit(m, f.seq, f.session, f.boot, f.payload);
    switch (a.kind) {
      case 'refuse':
        return refuse(a.code, a.message);
      case 'drop':
        this.stats.dropped++;
        return;
      case 'replay':
        this.stats.replays++;
        return this.send(a.reply, n);
      case 'execute':
        this.queue.push({ frame: f, spec: m, slot: a.slot, session: f.session, n });
        void this.run();
    }
  }

  private hello(f: Frame, n: number): void {
    let req: Payload;
    try {
      req = decodeRequest(specOf(MsgType.HELLO)!, f.payload);
    } catch (e) {
      this.send(this.reply(f.seq, f.session, MsgType.ERROR, encodeError(ErrCode.BAD_PAYLOAD, (e as Error).message)), n);
      return;
    }
    const out = this.sess.hello(req as { min_version: number; max_version: number; resume_session: number }, f.boot);
    if (!out.ok) {
      this.send(this.reply(f.seq, f.session, MsgType.ERROR, encodeError(out.code!, out.message!)), n);
      return;
    }
    if (!out.resumed) this.queue = []; // requests of the old session not started yet: never run, never answered
    const info = this.board.info();
    const payload = encodeHelloReply({ ...info, features: { writeVerify: !!(this.o.features & Feature.WRITE_VERIFY), counters: !!(this.o.features & Feature.COUNTERS) } }, {
      version: PROTOCOL_VERSION,
      session: out.session,
      resumed: out.resumed,
      window: this.o.window,
      maxPayload: this.o.maxPayload,
      features: this.o.features,
      waitMax_s: this.o.waitMax_s,
      tOp_s: this.o.tOp_s,
      tCell_s: this.o.tCell_s,
    });
    this.send(this.reply(f.seq, out.session, MsgType.HELLO | REPLY, payload), n);
  }

  private reply(seq: number, session: number, type: number, payload: Buffer): Buffer {
    return encodeFrame({ version: PROTOCOL_VERSION, type, seq, session, boot: this.bootId, payload });
  }

  /** The executor: one request at a time, in arrival order. */
  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const epoch = this.epoch;
    try {
      while (this.queue.length && epoch === this.epoch) {
        const job = this.queue.shift()!;
        const payload = await this.execute(job);
        if (epoch !== this.epoch) return; // rebooted meanwhile: the reply is lost with the old boot
        const reply = this.reply(job.frame.seq, job.session, payload.type, payload.body);
        this.sess.complete(job.slot, reply);
        this.send(reply, job.n);
      }
    } finally {
      if (epoch === this.epoch) this.running = false;
    }
  }

  private async execute(job: Job): Promise<{ type: number; body: Buffer }> {
    const { frame: f, spec: m } = job;
    const ok = (o: Payload = {}) => ({ type: f.type | REPLY, body: encodeReply(m, o) });
    const err = (code: number, msg: string) => ({ type: MsgType.ERROR, body: encodeError(code, msg) });
    const b = this.board;
    try {
      const r = decodeRequest(m, f.payload);
      this.stats.executed++;
      const cell = (): CellAddress => ({ array: r.array as number, row: r.row as number, col: r.col as number });
      const applied = (c?: CellAddress) => this.onApplied?.({ session: job.session, seq: f.seq, type: f.type, cell: c });
      switch (f.type) {
        case MsgType.PING:
        case MsgType.GROUND:
          if (f.type === MsgType.GROUND) await b.ground();
          return ok();
        case MsgType.FORM:
        case MsgType.SET: {
          const p = { vte_V: r.vte as number, vg_V: r.vg as number, width_s: r.width as number };
          if (f.type === MsgType.FORM) b.formSync(cell(), p);
          else b.setSync(cell(), p);
          applied(cell());
          return ok();
        }
        case MsgType.RESET:
          b.resetSync(cell(), { vsl_V: r.vsl as number, vg_V: r.vg as number, width_s: r.width as number });
          applied(cell());
          return ok();
        case MsgType.READ:
          return ok({ current: b.readSync(cell(), { vread_V: r.vread as number }) });
        case MsgType.READ_ROW:
          return ok({ currents: b.readRowSync(r.array as number, r.row as number, { vread_V: r.vread as number }) });
        case MsgType.READ_ARRAY:
          return ok({ currents: b.readArraySync(r.array as number, { vread_V: r.vread as number }) });
        case MsgType.WAIT: {
          const s = r.seconds as number;
          if (!Number.isFinite(s) || s < 0) return err(ErrCode.BAD_PAYLOAD, `seconds=${s}: must be a finite number >= 0`);
          if (s > this.o.waitMax_s) return err(ErrCode.LIMIT, `seconds=${s} is above the maximum ${this.o.waitMax_s}`);
          if (this.o.time === 'real') await this.sleep(s);
          b.waitSync(s);
          return ok();
        }
        case MsgType.WRITE_VERIFY: {
          if (r.algo !== 0 && r.algo !== 1) return err(ErrCode.BAD_PAYLOAD, `algo=${r.algo}: must be 0 (IGVVA) or 1 (ISPVA)`);
          const s = runWriteVerifyOnBoard(b, cell(), {
            algo: r.algo === 0 ? 'igvva' : 'ispva',
            target_A: r.target as number,
            fixed_V: r.fixed as number,
            start_V: r.start as number,
            step_V: r.step as number,
            stop_V: r.stop as number,
            maxPulses: r.max_pulses as number,
            width_s: r.width as number,
            vread_V: r.vread as number,
          });
          applied(cell());
          return ok({ success: s.success ? 1 : 0, pulses: Math.min(0xffff, s.pulses), final_current: s.final_A, final_stepped: s.finalStepped_V });
        }
        case MsgType.COUNTERS: {
          const k = b.countersSync(cell());
          return ok({ form: k.form, set: k.set, reset: k.reset, read: k.read });
        }
        default:
          return err(ErrCode.UNKNOWN_TYPE, `unknown message type 0x${f.type.toString(16)}`);
      }
    } catch (e) {
      if (e instanceof RramError) {
        const code = e.code === 'LIMIT' ? ErrCode.LIMIT : e.code === 'ADDRESS' ? ErrCode.ADDRESS : e.code === 'PROTOCOL' || e.code === 'INVALID_ARGUMENT' ? ErrCode.BAD_PAYLOAD : ErrCode.INTERNAL;
        return err(code, e.message);
      }
      return err(ErrCode.INTERNAL, (e as Error).message ?? String(e));
    }
  }

  private sleep(s: number): Promise<void> {
    return new Promise((res) => {
      const t = setTimeout(done, s * 1000);
      function done() {
        clearTimeout(t);
        res();
      }
      this.cancelWait = done;
    });
  }

  private send(reply: Buffer, n: number): void {
    const fl = this.faults;
    if (fl.dropReplyAt === n) return;
    if (fl.corruptReplyAt === n) {
      reply = Buffer.from(reply);
      reply[reply.length - 1] ^= 0xff;
    }
    const delay = (fl.replyDelay_ms ?? 0) + (fl.delayReplyAt === n ? (fl.delayOnce_ms ?? 0) : 0);
    const epoch = this.epoch;
    if (delay > 0) setTimeout(() => epoch === this.epoch && this.write(reply), delay);
    else this.write(reply);
  }
}
