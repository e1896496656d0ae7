/**
 * The emulator's firmware: protocol v2 (docs/protocol.md) on top of an EmulatedBoard. Frames are
 * admitted as they arrive (HELLO at once; everything else through BoardSession's rules) and run
 * one at a time in arrival order by an executor, so a retransmission that arrives while its
 * request is still executing is recognised and answered once, when done. WAIT really waits in
 * 'real' time mode (default behind a pty) and only advances the emulated clock in 'virtual' mode.
 */
import { randomInt } from 'node:crypto';
import type { CellAddress } from '../board.js';
import { LimitError, RramError } from '../errors.js';
import { checkSetPulse, onGrid, setOnGrid } from '../limits.js';
import { BoardSession, type SessionBug, type Slot } from '../protocol/board-session.js';
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
import { checkMvm } from '../mvm-check.js';

export interface FirmwareOptions {
  /** Advertised window W (requests in flight; replay-cache slots). Default 32. */
  window?: number;
  /** Largest request payload accepted. Default 16384 (an MVM of 256 vectors of 16 rows). */
  maxPayload?: number;
  /** Longest single WAIT (s). Default 3600. */
  waitMax_s?: number;
  /** Advertised maximum time of one operation (s). Default 5 ms (JS event loop hiccups included). */
  tOp_s?: number;
  /**
   * Advertised maximum time per cell of row/array reads and MVM (s). Default 20 us, or
   * WIRED_T_CELL_S when the board's MVM has resistive wires (it solves the whole array per vector).
   */
  tCell_s?: number;
  /** WAIT in real time (a board's behaviour) or only on the emulated clock. Default 'real'. */
  time?: 'real' | 'virtual';
  /** Feature bits offered. Default WRITE_VERIFY | COUNTERS | MVM. */
  features?: number;
  /** Link rate, for the stall timeout of incomplete frames. Default 921600. */
  baud?: number;
  /** Fixed boot id (tests); default random, never 0. */
  bootId?: number;
  /** Source of session ids (tests); default crypto random. */
  random?: () => number;
  /**
   * Deliberate deviations from docs/protocol.md (the conformance suite's mutation tests, and
   * `rram emulate --pty --bug` for firmware authors who want to see a check fail). Never in use.
   */
  bugs?: FirmwareBug[];
}

/**
 * Per-cell time advertised by an emulator whose MVM has resistive wires. The protocol's MVM rule
 * counts the tile's cells (t_op + V x rows x cols x t_cell); the emulator solves the whole array's
 * network for every vector (1-2 ms on the lab's machine, some times that under load) whatever the
 * tile, so only a t_cell that covers one vector of a 1 x 1 tile keeps it within the rule.
 */
export const WIRED_T_CELL_S = 10e-3;

/** The firmware's deliberate deviations (session ones are BoardSession's). */
export const FIRMWARE_BUGS = {
  'slot-mod-w': 'replay cache: W slots by seq mod W, kept until overwritten (the 2.0 flaw: never forgets, shares slots at the wrap)',
  reexec: 'a retransmitted cached request (pulse, WAIT, WRITE_VERIFY) runs again',
  'no-stale': 'never STALE_SEQ: an old seq runs as a new request',
  'no-conflict': 'never SEQ_CONFLICT: a reused seq with another payload runs',
  'hello-seq-counts': "HELLO's seq counts as the newest seq of the session",
  'hello-queued': 'HELLO waits in the queue behind earlier requests',
  'no-discard': "a new session still runs the old session's queued requests",
  'wv-loop': 'WRITE_VERIFY ignores stop (and its limit) and steps on to max_pulses',
  'wait-neg-limit': 'a negative WAIT is refused with LIMIT, not BAD_PAYLOAD',
  'no-round': 'amplitudes are checked before DAC rounding (and applied unrounded)',
  'limit-slack': 'accepts amplitudes up to two DAC steps above the limits',
  'address-wrap': 'addresses wrap modulo the geometry instead of ADDRESS',
  'nan-read': 'reads answer NaN for every cell whose row and column are both odd',
  'error-session-zero': 'ERROR replies carry session 0 instead of the request\'s',
  'limit-before-address': 'a request with a bad address and a bad amplitude gets LIMIT (checks out of order)',
  'no-wait': 'WAIT replies at once without waiting',
  'reads-cached': 'reads are cached like pulses (a retransmitted READ is answered from the cache)',
  'mvm-unchecked': 'MVM rounds off-grid voltages and clamps them at vread_max instead of refusing them',
} as const;
export type FirmwareBug = keyof typeof FIRMWARE_BUGS;
const SESSION_BUGS: ReadonlySet<string> = new Set<SessionBug>(['slot-mod-w', 'reexec', 'no-stale', 'no-conflict', 'hello-seq-counts']);

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
  readonly o: Required<Omit<FirmwareOptions, 'bootId' | 'random' | 'bugs'>>;
  readonly bugs: ReadonlySet<FirmwareBug>;
  private readonly random: () => number;
  bootId = 0;
  faults: FirmwareFaults = {};
  readonly stats = { requests: 0, replays: 0, executed: 0, refused: 0, dropped: 0, reboots: 0 };
  /** Called for every pulse actually applied to a cell (FORM, SET, RESET, each WRITE_VERIFY). */
  onApplied?: (op: AppliedOp) => void;
  /**
   * Resolves once every reply written so far has left the process (PtyServer sets it). The
   * executor waits for it before an MVM (only then): a long MVM computed while a large reply still
   * waits for room on the port would stop that reply mid-frame past the host's stall timeout.
   */
  flushed?: () => Promise<void>;

  constructor(
    public board: EmulatedBoard,
    private write: (b: Buffer) => void,
    opts: FirmwareOptions = {},
  ) {
    this.o = {
      window: opts.window ?? 32,
      maxPayload: opts.maxPayload ?? 16384,
      waitMax_s: opts.waitMax_s ?? 3600,
      tOp_s: opts.tOp_s ?? 5e-3,
      tCell_s: opts.tCell_s ?? (board.periphery.wire_ohm > 0 && (opts.features ?? Feature.MVM) & Feature.MVM ? WIRED_T_CELL_S : 20e-6),
      time: opts.time ?? 'real',
      features: opts.features ?? Feature.WRITE_VERIFY | Feature.COUNTERS | Feature.MVM,
      baud: opts.baud ?? 921600,
    };
    this.random = opts.random ?? nonZero32;
    for (const b of opts.bugs ?? []) if (!(b in FIRMWARE_BUGS)) throw new RramError('INVALID_ARGUMENT', `unknown firmware deviation ${b}; known: ${Object.keys(FIRMWARE_BUGS).join(', ')}`);
    this.bugs = new Set(opts.bugs ?? []);
    this.decoder = new FrameDecoder({ maxBody: 8 + this.o.maxPayload, stall_ms: linkStall(this.o.baud) });
    this.stall = new StallWatch(this.decoder, (fs) => fs.forEach((f) => this.admit(f)));
    this.boot(opts.bootId);
  }

  private boot(id?: number): void {
    this.bootId = id ?? nonZero32();
    this.sess = new BoardSession(this.o.window, this.bootId, this.random, VERSIONS, new Set([...this.bugs].filter((b) => SESSION_BUGS.has(b))) as Set<SessionBug>);
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

  /** Admits a frame in the document's order of checks (docs/protocol.md, section 3). */
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
    if (f.type === MsgType.HELLO) {
      if (this.bugs.has('hello-queued')) {
        this.queue.push({ frame: f, spec: specOf(MsgType.HELLO)!, session: f.session, n });
        void this.run();
        return;
      }
      return this.hello(f, n);
    }
    const noSession = this.sess.sessionRefusal(f.session, f.boot);
    if (noSession) return refuse(noSession.code, noSession.message);
    const m = specOf(f.type);
    if (!m || m.type === MsgType.ERROR) return refuse(ErrCode.UNKNOWN_TYPE, `unknown message type 0x${f.type.toString(16)}`);
    const a = this.sess.admit(this.bugs.has('reads-cached') && m.type === MsgType.READ ? { ...m, retry: 'cached' } : m, f.seq, f.session, f.boot, f.payload);
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
    const out = this.sess.hello(req as { min_version: number; max_version: number; resume_session: number }, f.boot, f.seq);
    if (!out.ok) {
      this.send(this.reply(f.seq, f.session, MsgType.ERROR, encodeError(out.code!, out.message!)), n);
      return;
    }
    // Requests of the old session not started yet: never run, never answered. One executing
    // finishes, and its reply carries its own (old) session (revision 2.1).
    if (!out.resumed && !this.bugs.has('no-discard')) this.queue = [];
    const info = this.board.info();
    const payload = encodeHelloReply({ ...info, features: { writeVerify: !!(this.o.features & Feature.WRITE_VERIFY), counters: !!(this.o.features & Feature.COUNTERS), mvm: !!(this.o.features & Feature.MVM) } }, {
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
    if (type === MsgType.ERROR && this.bugs.has('error-session-zero')) session = 0;
    return encodeFrame({ version: PROTOCOL_VERSION, type, seq, session, boot: this.bootId, payload });
  }

  /** What the executor is doing, for a diagnosis (`rram emulate` prints it on SIGUSR2). */
  /** Set per request without building strings (the executor's hot path); spelled out only when asked. */
  private phase: { stage: 'idle' | 'flush before' | 'line quiet before' | 'execute' | 'sent'; job?: Job } = { stage: 'idle' };
  debugState(): Record<string, unknown> {
    return { phase: this.phase.job ? `${this.phase.stage} ${this.phase.job.spec.name} seq ${this.phase.job.frame.seq}` : this.phase.stage, decoder: this.decoderStats, running: this.running, queued: this.queue.map((j) => ({ seq: j.frame.seq, type: j.spec.name })), stats: this.stats, epoch: this.epoch };
  }

  /**
   * Nor while a request is arriving: the solve blocks this event loop, the rest of the frame waits
   * unread in the port, and a stall clock that comes due once the loop is free (on time, the block
   * having ended before it) takes the receiver's own delay for the line's silence and drops the
   * frame: the host then waits for a reply the board never saw (about 1 in 10 wired soaks,
   * docs/array-effects.md). A real board's UART receives during a computation; this one waits for
   * the frame to end, or for the line to go quiet, bounded by one longest frame's transfer.
   */
  private async requestArrived(): Promise<void> {
    const frame_ms = this.o.baud ? ((this.o.maxPayload + 64) * 10 * 1000) / this.o.baud : 0;
    const until = performance.now() + 4 * this.decoder.stall_ms + frame_ms;
    // One pass of the loop's I/O phase first (an immediate within an immediate runs after the next
    // poll): bytes already read but not yet handed over get in.
    await new Promise((r) => setImmediate(() => setImmediate(r)));
    while (this.decoder.arriving() && performance.now() < until) await new Promise((r) => setTimeout(r, 1));
  }

  /** The executor: one request at a time, in arrival order. */
  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const epoch = this.epoch;
    try {
      while (this.queue.length && epoch === this.epoch) {
        const job = this.queue.shift()!;
        if (job.spec.type === MsgType.HELLO) {
          this.hello(job.frame, job.n); // only with the 'hello-queued' deviation
          continue;
        }
        // Never compute an MVM while a reply is still on its way out: its long solve would stop the
        // reply mid-frame past the host's stall timeout (the executor is on the event loop that
        // writes it). Only MVM: waiting before every request idles the board for each reply's
        // transmission (a 4096-cell characterize over a pty went from ~25 s to ~100 s).
        this.phase = { stage: 'flush before', job };
        if (job.spec.type === MsgType.MVM) {
          await this.flushed?.();
          this.phase = { stage: 'line quiet before', job };
          await this.requestArrived();
        }
        if (epoch !== this.epoch) return;
        this.phase = { stage: 'execute', job };
        const payload = await this.execute(job);
        this.phase = { stage: 'sent', job };
        if (epoch !== this.epoch) return; // rebooted meanwhile: the reply is lost with the old boot
        const reply = this.reply(job.frame.seq, job.session, payload.type, payload.body);
        this.sess.complete(job.slot, reply);
        this.send(reply, job.n);
        // Let the line in between requests (HELLO, retransmissions, the rest of a long frame): a
        // queue of long requests (MVMs) must not keep the board deaf.
        if (this.queue.length) await new Promise((r) => setImmediate(r));
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
      if (m.feature && !(this.o.features & m.feature)) return err(ErrCode.UNSUPPORTED, `${m.name} is not offered by this board`);
      const r = decodeRequest(m, f.payload);
      this.stats.executed++;
      this.deviate(r, m);
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
        case MsgType.READ: {
          const current = b.readSync(cell(), { vread_V: r.vread as number });
          if (this.bugs.has('nan-read') && (r.row as number) % 2 === 1 && (r.col as number) % 2 === 1) return { type: f.type | REPLY, body: encodeReply(m, { current: NaN }, { raw: true }) };
          return ok({ current });
        }
        case MsgType.READ_ROW: {
          const a = b.readRowSync(r.array as number, r.row as number, { vread_V: r.vread as number });
          if (this.bugs.has('nan-read') && (r.row as number) % 2 === 1) for (let c = 1; c < a.length; c += 2) a[c] = NaN;
          return { type: f.type | REPLY, body: encodeReply(m, { currents: a }, { raw: true }) };
        }
        case MsgType.READ_ARRAY: {
          const a = b.readArraySync(r.array as number, { vread_V: r.vread as number });
          const cols = this.board.info().cols;
          if (this.bugs.has('nan-read')) for (let k = 0; k < a.length; k++) if (Math.floor(k / cols) % 2 === 1 && (k % cols) % 2 === 1) a[k] = NaN;
          return { type: f.type | REPLY, body: encodeReply(m, { currents: a }, { raw: true }) };
        }
        case MsgType.WAIT: {
          const s = r.seconds as number;
          if (this.bugs.has('wait-neg-limit') && s < 0) return err(ErrCode.LIMIT, `seconds=${s} is below the minimum 0`);
          if (!Number.isFinite(s) || s < 0) return err(ErrCode.BAD_PAYLOAD, `seconds=${s}: must be a finite number >= 0`);
          if (s > this.o.waitMax_s) return err(ErrCode.LIMIT, `seconds=${s} is above the maximum ${this.o.waitMax_s}`);
          if (this.o.time === 'real' && !this.bugs.has('no-wait')) await this.sleep(s);
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
          }, { ignoreStop: this.bugs.has('wv-loop') });
          applied(cell());
          return ok({ success: s.success ? 1 : 0, pulses: Math.min(0xffff, s.pulses), final_current: s.final_A, final_stepped: s.finalStepped_V });
        }
        case MsgType.MVM: {
          const t = { array: r.array as number, row0: r.row0 as number, col0: r.col0 as number, rows: r.rows as number, cols: r.cols as number };
          const info = b.info();
          const v = this.bugs.has('mvm-unchecked') ? (r.voltages as Float64Array).map((x) => Math.min(info.limits.vread_max_V, Math.max(0, onGrid(x, info.dacStep_V)))) : (r.voltages as Float64Array);
          checkMvm(info, t, v, { perRequest: true });
          return ok({ currents: b.mvmSync(t, v) });
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

  /** The request-level deviations (FIRMWARE_BUGS): what a broken firmware would do to this request. */
  private deviate(r: Payload, m: MessageSpec): void {
    const bugs = this.bugs;
    if (!bugs.size) return;
    const info = this.board.info();
    const cellMsg = 'array' in r && 'row' in r;
    if (bugs.has('address-wrap') && cellMsg) {
      r.array = (r.array as number) % info.arrays;
      r.row = (r.row as number) % info.rows;
      if ('col' in r) r.col = (r.col as number) % info.cols;
    }
    if (bugs.has('limit-before-address') && cellMsg && (m.type === MsgType.SET || m.type === MsgType.FORM)) checkSetPulse(info.limits, setOnGrid({ vte_V: r.vte as number, vg_V: r.vg as number, width_s: r.width as number }, info.dacStep_V));
    const amps: [string, number][] = [['vte', info.limits.vte_max_V], ['vsl', info.limits.vsl_max_V], ['vg', info.limits.vg_max_V], ['vread', info.limits.vread_max_V]];
    for (const [k, max] of amps) {
      if (typeof r[k] !== 'number') continue;
      if (bugs.has('no-round') && (r[k] as number) > max) throw new LimitError(`${k}_V`, r[k] as number, max, 'max');
      if (bugs.has('limit-slack') && (r[k] as number) > max && (r[k] as number) <= max + 2 * info.dacStep_V + 1e-9) r[k] = max;
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
