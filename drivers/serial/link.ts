/**
 * The host's end of protocol v2 (docs/protocol.md): sessions, the request window, the timeout
 * rule, retransmissions, one recovery loop, reboot detection. No Board semantics here: SerialBoard
 * turns cell operations into requests.
 *
 *  - Every request carries the session granted by HELLO and the boot id it came from; a reply
 *    from another session is stale and ignored; a reply from another boot means the board
 *    rebooted: every pulse in flight is reported as unknown outcome, idempotent requests are
 *    re-sent in a new session.
 *  - At most W requests unanswered, and never a seq W or more beyond the oldest unanswered one,
 *    so the board's W-slot replay cache always holds what a retransmission needs.
 *  - A request's timeout is the time the board may take for everything ahead of it and for
 *    itself, plus the bytes at the link rate, plus a margin; after `retries` retransmissions the
 *    link is suspect: one recovery loop re-handshakes (resuming the session when the board still
 *    has it) and re-sends; when the board is not back within `reconnect_ms` every request fails
 *    and later ones fail at once.
 *  - Malformed replies (wrong length, a non-finite number, the wrong type) are no reply: a read
 *    is asked again, a pulse has an unknown outcome; nothing throws on the emitter.
 *  - Revision 2.1: a pulse is known not to have run only when its only copy was refused; the
 *    deadline extends while a reply's bytes keep arriving; a frame failing its CRC with a pending
 *    request's seq makes that request go again at once; the session is renewed before the seq
 *    wraps (so a 2.0 board's replay-cache flaws cannot bite); a board that keeps ending the session
 *    (another host on it) is given up with an error that says so.
 */
import { Subject } from 'rxjs';
import type { BoardInfo, CellAddress, LinkEvent } from '../board.js';
import { AbortedError, BoardError, DisconnectedError, OutcomeUnknownError, PortError, ProtocolError, RramError, TimeoutError, VersionMismatchError } from '../errors.js';
import { encodeFrame, FrameDecoder, linkStall, splitBody, StallWatch, type Frame, type RawFrame } from '../protocol/frame.js';
import { decodeHelloReply, helloProblems, type LinkParams } from '../protocol/hello.js';
import { decodeError, decodeReply, encodeRequest, ErrCode, errName, MsgType, PROTOCOL_VERSION, REPLY, spec, VERSIONS, type MessageSpec, type Payload } from '../protocol/messages.js';
import { execMax_s, frameBytes, maxReplyPayload, txTime_s } from '../protocol/timing.js';
import type { Transport, TransportFactory } from './transport.js';
import { LineQuality } from './line-quality.js';

/** How long a port is listened to after this process was busy past a deadline, before the request counts as timed out. */
const LATE_GRACE_MS = 25;

export interface LinkOptions {
  factory: TransportFactory;
  /** Port path or other name for messages. */
  label: string;
  /** Link rate used by the timeout rule and the stall timeout (8N1). Default 921600. */
  baudRate?: number;
  /** Retransmissions of a request before the link is suspect. Default 3. */
  retries?: number;
  /** Added to every timeout: OS and USB-serial latency (ms). Default 250. */
  margin_ms?: number;
  /** How long recovery keeps trying to reach the board (ms). Default 10000. */
  reconnect_ms?: number;
  /** Idle time before a keep-alive PING (ms); 0 disables. Default 2000. */
  keepAlive_ms?: number;
  /** Host cap on the board's window. Default: the board's. */
  window?: number;
  /** Recoveries a single request may go through before it fails. Default 2. */
  maxRecoveries?: number;
  /** Times one request may be asked again because its reply arrived damaged (bad CRC, malformed). Default 32. */
  maxDamaged?: number;
  /** How long reopen() keeps trying after an out-of-service spell: the port absent or busy a moment, a HELLO unanswered (ms). Default 5000. */
  reopen_ms?: number;
}

interface Pending {
  spec: MessageSpec;
  req: Payload;
  payload: Buffer;
  cell?: CellAddress;
  seq: number;
  frame?: Buffer;
  /** Transmissions since the last (re)start of its timeout count (reset by a recovery). */
  attempts: number;
  /** Every copy ever sent, in any session: a refusal proves nothing about a request sent more than once. */
  transmissions: number;
  everSent: boolean;
  /** The board refused the request's only copy without executing it. */
  notExecuted: boolean;
  recoveries: number;
  /** Replies that arrived damaged or malformed (the request went again), and how many are allowed. */
  damaged: number;
  maxDamaged: number;
  /** When the request was first sent in this session. */
  sentAt: number;
  /** Order of its latest transmission on the link (all requests share one counter). */
  sentOrder: number;
  cost_ms: number;
  timer?: NodeJS.Timeout;
  resolve: (r: Payload) => void;
  reject: (e: Error) => void;
}

interface HelloWait {
  seq: number;
  timer: NodeJS.Timeout;
  resolve: (h: { boot: number; info: BoardInfo; link: LinkParams }) => void;
  reject: (e: Error) => void;
}

type State = 'opening' | 'up' | 'recovering' | 'rotating' | 'suspended' | 'down' | 'closed';

const OUT_OF_SERVICE = 'being out of service';

const OP_NAMES: Record<number, string> = { [MsgType.FORM]: 'form', [MsgType.SET]: 'set', [MsgType.RESET]: 'reset', [MsgType.WRITE_VERIFY]: 'write-verify', [MsgType.WAIT]: 'wait' };

export class Link {
  private transport?: Transport;
  private readonly decoder: FrameDecoder;
  private readonly stall: StallWatch;
  private readonly pending = new Map<number, Pending>();
  private queue: Pending[] = [];
  private helloWait?: HelloWait;
  private nextSeq = 1;
  private state: State = 'opening';
  private recovery?: Promise<void>;
  private keepAlive?: NodeJS.Timeout;
  private downError?: Error;
  private readonly o: Required<Omit<LinkOptions, 'window'>> & { window?: number };
  boot = 0;
  session = 0;
  info!: BoardInfo;
  params!: LinkParams;
  readonly events = new Subject<LinkEvent>();
  readonly stats = { sent: 0, retransmits: 0, timeouts: 0, recoveries: 0, reboots: 0, sessionsLost: 0, unknownOutcomes: 0, staleReplies: 0, lateReplies: 0, malformed: 0, damagedReplies: 0, extensions: 0, rotations: 0 };
  /** When the board ended our session (session-lost), for telling contention from a glitch. */
  private sessionLosses: number[] = [];

  private constructor(o: LinkOptions) {
    this.o = { baudRate: 921600, retries: 3, margin_ms: 250, reconnect_ms: 10000, keepAlive_ms: 2000, maxRecoveries: 2, maxDamaged: 32, reopen_ms: 5000, ...o };
    // The host waits longer than T_stall (which the protocol allows): a gap inside a frame is OS
    // and USB latency too - a loaded host deschedules the pty's relay or this process past 51 ms.
    this.decoder = new FrameDecoder({ maxBody: 8 + 2048, stall_ms: linkStall(this.o.baudRate) + this.o.margin_ms });
    this.stall = new StallWatch(this.decoder, (fs) => {
      fs.forEach((f) => this.onRaw(f));
      this.takeDamaged();
    });
  }

  /** Opens the transport and establishes a new session (HELLO), or fails with a clear error. */
  static async open(o: LinkOptions): Promise<Link> {
    const l = new Link(o);
    await l.openTransport();
    try {
      let last: unknown;
      for (let k = 0; k <= l.o.retries; k++) {
        try {
          const h = await l.hello(0, l.helloWait_ms(0, maxReplyPayload(MsgType.HELLO, { rows: 0, cols: 0 })));
          l.adopt(h);
          l.state = 'up';
          l.armKeepAlive();
          return l;
        } catch (e) {
          if (!(e instanceof TimeoutError)) throw e;
          last = e;
        }
      }
      // Frames of the board that were not for us (another session's replies) while ours went unanswered: someone else holds it.
      const others = l.stats.staleReplies + l.stats.lateReplies;
      if (others) throw new TimeoutError(`board at ${l.o.label} does not answer this host's HELLO (${l.o.retries + 1} attempts) though it is talking: ${others} replies to another session seen; another host (process, script or station) is probably using it; stop the other one, or send its work through the station that owns the board`, { cause: String(last) });
      throw new TimeoutError(`board at ${l.o.label} does not answer (no HELLO reply after ${l.o.retries + 1} attempts)`, { cause: String(last) });
    } catch (e) {
      l.state = 'closed';
      l.stall.stop();
      await l.transport?.close().catch(() => undefined);
      throw e;
    }
  }

  private async openTransport(): Promise<void> {
    const t = await this.o.factory();
    this.transport = t;
    this.decoder.reset(); // bytes of a previous port are not the start of a frame on this one
    t.onData((d) => {
      if (this.transport !== t) return;
      for (const f of this.decoder.push(d)) {
        this.line.intact(frameBytes(f.body.length - 8));
        this.onRaw(f);
      }
      this.takeDamaged();
      this.stall.fed();
    });
    t.onClose((r) => {
      if (this.transport !== t) return; // an old transport closing: not our link any more
      this.transport = undefined;
      this.startRecovery(`port closed (${r})`);
    });
  }

  private adopt(h: { boot: number; info: BoardInfo; link: LinkParams }): void {
    this.boot = h.boot;
    this.session = h.link.session;
    this.info = h.info;
    this.params = h.link;
    this.decoder.maxBody = 8 + Math.max(2048, maxReplyPayload(MsgType.READ_ARRAY, h.info));
  }

  get window(): number {
    return Math.max(1, Math.min(this.params.window, this.o.window ?? Infinity));
  }

  // ---- requests -------------------------------------------------------------------------

  /** The receive line's byte error rate, estimated from frames received intact and damaged. */
  readonly line = new LineQuality();

  /**
   * Sends a request and resolves with the decoded reply payload. `maxDamaged` caps the re-asks
   * after damaged replies. `signal`: an abort while the request still waits in the queue (never
   * sent, so of no outcome) drops it with AbortedError; once sent it runs its course.
   */
  request(m: MessageSpec, req: Payload, cell?: CellAddress, opts: { maxDamaged?: number; signal?: AbortSignal } = {}): Promise<Payload> {
    // A port gone stays the reason for every later request too, so whatever reaches the user names the port (exit 4).
    const cause = this.downError;
    // Being revived is still down: nothing but the revival's own HELLO goes until the board is ours again.
    if (this.state === 'down' || this.reviving) return Promise.reject(cause instanceof PortError ? cause : new DisconnectedError(`board at ${this.o.label} is disconnected: ${cause?.message ?? 'gave up'}`));
    if (this.state === 'closed') return Promise.reject(new DisconnectedError(`board at ${this.o.label} closed`));
    let payload: Buffer;
    try {
      payload = encodeRequest(m, req);
    } catch (e) {
      return Promise.reject(e);
    }
    if (payload.length > this.params.maxPayload) return Promise.reject(new ProtocolError(`${m.name} payload of ${payload.length} bytes exceeds the board's max_payload ${this.params.maxPayload}`));
    const g = this.info;
    const cost_ms = 1000 * (txTime_s(frameBytes(payload.length), this.o.baudRate) + execMax_s(m.type, req, this.params, g) + txTime_s(frameBytes(maxReplyPayload(m.type, g, req)), this.o.baudRate));
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(new AbortedError(`${m.name} not sent: aborted`));
    return new Promise<Payload>((resolve, reject) => {
      const p: Pending = { spec: m, req, payload, cell, seq: -1, attempts: 0, transmissions: 0, everSent: false, notExecuted: false, recoveries: 0, damaged: 0, maxDamaged: opts.maxDamaged ?? this.o.maxDamaged, sentAt: 0, sentOrder: 0, cost_ms, resolve, reject };
      if (signal) {
        const mine = this.abortable(signal);
        mine.add(p);
        p.resolve = (r) => (mine.delete(p), resolve(r));
        p.reject = (e) => (mine.delete(p), reject(e));
      }
      this.queue.push(p);
      this.pump();
    });
  }

  /** Requests waiting on each abort signal: one listener per signal (an MVM call sends hundreds of requests). */
  private readonly bySignal = new WeakMap<AbortSignal, Set<Pending>>();

  private abortable(signal: AbortSignal): Set<Pending> {
    let set = this.bySignal.get(signal);
    if (set) return set;
    const mine = (set = new Set<Pending>());
    this.bySignal.set(signal, mine);
    signal.addEventListener(
      'abort',
      () => {
        // Only what still waits in the queue: it has no sequence number and was not sent in this
        // session (one queued again after a session loss is a read or a pulse known not to have run).
        for (const p of [...mine]) {
          const i = this.queue.indexOf(p);
          if (i < 0) continue;
          this.queue.splice(i, 1);
          p.reject(new AbortedError(`${p.spec.name} not sent: aborted`));
        }
      },
      { once: true },
    );
    return mine;
  }

  private windowOpen(): boolean {
    if (this.pending.size === 0) return true;
    if (this.pending.size >= this.window) return false;
    const oldest = this.pending.keys().next().value as number;
    return ((this.nextSeq - oldest) & 0xffff) < this.window;
  }

  private pump(): void {
    if (this.state !== 'up') return;
    while (this.queue.length && this.windowOpen()) {
      if (this.nextSeq === 0) {
        // The seq is about to wrap: renew the session first, once everything below is answered.
        if (this.pending.size === 0) void this.rotate();
        return;
      }
      const p = this.queue.shift()!;
      this.assign(p);
      this.send(p);
    }
  }

  /**
   * A new session before seq 65535 wraps to 0 (revision 2.1, section 5): the board's cache is
   * cleared, so a board keeping entries by seq mod W, or forever, cannot answer a new request from
   * an old one. Nothing is pending, so nothing can be of unknown outcome.
   */
  private async rotate(): Promise<void> {
    if (this.state !== 'up') return;
    this.state = 'rotating';
    this.stats.rotations++;
    clearTimeout(this.keepAlive);
    try {
      const h = await this.hello(0, this.helloWait_ms());
      if (this.state !== 'rotating') return;
      const diff = boardDifference(this.info, h.info);
      if (diff) return this.giveUp(new DisconnectedError(`a different board answered at ${this.o.label}: ${diff}`));
      this.freshSession(h, 'while nothing was in flight');
    } catch (e) {
      if (this.state !== 'rotating') return;
      if (e instanceof VersionMismatchError || e instanceof ProtocolError) return this.giveUp(e);
      this.state = 'up';
      this.nextSeq = 0; // carry on past the wrap in the old session; recovery handles a silent board
      this.startRecovery(`no reply to the HELLO renewing the session at the seq wrap (${(e as Error).message})`);
    }
  }

  /** A fresh sequence number in the current session (first transmission, or after a new session). */
  private assign(p: Pending): void {
    p.seq = this.nextSeq;
    this.nextSeq = (this.nextSeq + 1) & 0xffff;
    p.attempts = 0;
    p.sentAt = performance.now();
    p.frame = encodeFrame({ version: PROTOCOL_VERSION, type: p.spec.type, seq: p.seq, session: this.session, boot: this.boot, payload: p.payload });
    this.pending.set(p.seq, p);
  }

  /** Writes the request (retransmissions reuse the same bytes) and arms its timeout. */
  private sendCounter = 0;

  private send(p: Pending): void {
    p.attempts++;
    p.transmissions++;
    p.sentOrder = ++this.sendCounter;
    if (p.everSent) this.stats.retransmits++;
    p.everSent = true;
    this.stats.sent++;
    this.arm(p);
    this.transport?.write(p.frame!);
  }

  /** The timeout rule of section 6: the margin plus everything that may be ahead in the board's queue. */
  private arm(p: Pending): void {
    clearTimeout(p.timer);
    let ahead = 0;
    for (const q of this.pending.values()) ahead += q.cost_ms;
    this.armTimer(p, this.o.margin_ms + ahead, 0);
  }

  private armTimer(p: Pending, due_ms: number, graces: number): void {
    const armed = performance.now();
    const timer: NodeJS.Timeout = setTimeout(() => this.onTimeout(p, timer, performance.now() - armed - due_ms, graces), due_ms);
    p.timer = timer;
  }

  /**
   * A timer can fire while the reply already sits in the OS buffer (a loaded machine runs timers
   * before it reads the port): decide after the event loop's next I/O poll, so a reply that is
   * there is taken and a read is not re-executed (which would draw a new sample) for nothing. A
   * timer that fires late (this process was busy past the deadline) proves nothing about the line:
   * a reply that came meanwhile is read by the port in the thread pool, a few loop turns after the
   * poll sees it, so the port gets LATE_GRACE_MS of listening first (at most a few times over).
   */
  private onTimeout(p: Pending, timer: NodeJS.Timeout, late_ms: number, graces: number): void {
    if (late_ms > LATE_GRACE_MS && graces < 5) {
      if (p.timer === timer) this.armTimer(p, LATE_GRACE_MS, graces + 1);
      return;
    }
    setImmediate(() => {
      // Re-armed meanwhile (sent again, extended): that newer timer decides.
      if (p.timer === timer) this.timedOut(p);
    });
  }

  private timedOut(p: Pending): void {
    if (this.pending.get(p.seq) !== p || this.state !== 'up') return;
    if (this.replyArriving()) {
      // A reply of ours is still coming in (the link is slower than the configured baud): wait.
      this.stats.extensions++;
      this.arm(p);
      return;
    }
    this.stats.timeouts++;
    if (p.attempts <= this.o.retries) return this.send(p);
    this.startRecovery(`no reply to ${p.spec.name} (seq ${p.seq}) after ${p.attempts} attempts`);
  }

  /** The head of the receive buffer is a plausible reply to one of our pending requests, and still growing. */
  private replyArriving(): boolean {
    if (!this.decoder.receiving()) return false;
    const h = this.decoder.head();
    if (!h) return false;
    const q = this.pending.get(h.seq);
    return !!q && (h.type === (q.spec.type | REPLY) || h.type === MsgType.ERROR) && h.length <= this.decoder.maxBody;
  }

  private takeDamaged(): void {
    for (const h of this.decoder.takeDamaged()) {
      this.line.damaged(h.length + 12);
      this.onDamaged(h.seq, h.type);
    }
  }

  /** A frame with a pending request's seq failed its CRC (or stalled): that request goes again at once (section 6). */
  private onDamaged(seq: number, type: number): void {
    const p = this.pending.get(seq);
    if (!p || this.state !== 'up' || (type !== (p.spec.type | REPLY) && type !== MsgType.ERROR)) return;
    this.stats.damagedReplies++;
    this.again(p, `its reply arrived damaged`);
  }

  /** Asks for a reply again after a damaged or malformed one; fails the request after maxDamaged. */
  private again(p: Pending, why: string): void {
    if (++p.damaged > p.maxDamaged) {
      if (this.settle(p)) this.malformedReply(p, `${why} ${p.damaged} times`);
      this.pump();
      return;
    }
    p.attempts = Math.max(0, p.attempts - 1); // a damaged reply shows the board is there: not a timeout
    this.send(p);
  }

  private settle(p: Pending): boolean {
    if (this.pending.get(p.seq) !== p) return false;
    clearTimeout(p.timer);
    this.pending.delete(p.seq);
    return true;
  }

  /** A request that will not be answered: a pulse that may have run is unknown, anything else fails with `err`. */
  private fail(p: Pending, reason: string, err: () => Error): void {
    clearTimeout(p.timer);
    if (p.spec.retry === 'cached' && p.everSent && !p.notExecuted) {
      this.stats.unknownOutcomes++;
      p.reject(new OutcomeUnknownError(p.cell, OP_NAMES[p.spec.type] ?? p.spec.name, reason));
    } else p.reject(err());
  }

  // ---- frames ---------------------------------------------------------------------------

  private onRaw(raw: RawFrame): void {
    if (raw.version !== PROTOCOL_VERSION) {
      if (this.helloWait && raw.seq === this.helloWait.seq) return this.endHello(new VersionMismatchError(raw.version, PROTOCOL_VERSION));
      this.stats.malformed++;
      return;
    }
    const f = splitBody(raw);
    if (!f) {
      this.stats.malformed++;
      const p = this.pending.get(raw.seq);
      if (p && this.settle(p)) this.malformedReply(p, `reply body of ${raw.body.length} bytes lacks the session header`);
      return;
    }
    if (this.helloWait && f.seq === this.helloWait.seq && (f.type === (MsgType.HELLO | REPLY) || (f.type === MsgType.ERROR && helloErrorCode(f.payload)))) return this.onHelloReply(f);
    if (this.state === 'rotating') {
      this.stats.staleReplies++;
      return;
    }
    if (this.state === 'opening' || this.state === 'down' || this.state === 'closed') {
      this.stats.staleReplies++; // e.g. replies to a previous process still in the port's buffer
      return;
    }
    if (this.state === 'recovering' && f.boot !== this.boot) return; // the new boot speaks; recovery's HELLO will tell
    if (f.boot !== this.boot) return this.startRecovery(`board rebooted (boot id ${hex(this.boot)} -> ${hex(f.boot)})`);
    if (f.session !== this.session) {
      this.stats.staleReplies++;
      return;
    }
    const p = this.pending.get(f.seq);
    if (!p) {
      this.stats.lateReplies++;
      return;
    }
    if (f.type === MsgType.ERROR) return this.onError(p, f);
    if (f.type !== (p.spec.type | REPLY)) {
      if (this.settle(p)) this.malformedReply(p, `reply type 0x${f.type.toString(16)} to a ${p.spec.name} request`);
      return this.pump();
    }
    let r: Payload;
    try {
      r = decodeReply(p.spec, f.payload);
    } catch (e) {
      // No reply at all (revision 2.1): a read is asked again, a pulse's outcome is unknown.
      this.stats.malformed++;
      if (p.spec.retry !== 'cached') return this.again(p, `its reply was malformed (${(e as Error).message})`);
      if (this.settle(p)) this.malformedReply(p, `${p.spec.name} reply: ${(e as Error).message}`);
      return this.pump();
    }
    if (this.settle(p)) p.resolve(r);
    if (p.transmissions === 1) this.askAgainBefore(p);
    this.pump();
    this.armKeepAlive();
  }

  /**
   * A board executes its session's requests in arrival order and the link never reorders, so the
   * executed reply of a request sent once proves every request sent before it was executed and
   * answered too: those still unanswered lost their request or their reply on the way. They go
   * again now instead of at their deadline (a noisy line loses a frame in every round).
   */
  private askAgainBefore(q: Pending): void {
    for (const p of this.pending.values()) if (p.sentOrder < q.sentOrder) this.send(p);
  }

  private malformedReply(p: Pending, why: string): void {
    this.stats.malformed++;
    // The board answered, but what it did cannot be read from the reply.
    if (p.spec.retry === 'cached') {
      this.stats.unknownOutcomes++;
      p.reject(new OutcomeUnknownError(p.cell, OP_NAMES[p.spec.type] ?? p.spec.name, `malformed reply: ${why}`));
    } else p.reject(new ProtocolError(`malformed reply from board at ${this.o.label}: ${why}`));
  }

  private onError(p: Pending, f: Frame): void {
    let e: { code: number; message: string };
    try {
      e = decodeError(f.payload);
    } catch (err) {
      if (this.settle(p)) this.malformedReply(p, `ERROR reply: ${(err as Error).message}`);
      return this.pump();
    }
    if (e.code === ErrCode.NO_SESSION) {
      // This copy did not run; the request did not run only if this was its only copy (section 3).
      if (p.transmissions === 1) p.notExecuted = true;
      return this.startRecovery(`board refused the session: ${e.message}`);
    }
    if (!this.settle(p)) return;
    const copies = p.transmissions > 1 && (e.code === ErrCode.STALE_SEQ || e.code === ErrCode.SEQ_CONFLICT);
    if (p.spec.retry === 'cached' && (e.code === ErrCode.INTERNAL || copies)) {
      this.stats.unknownOutcomes++;
      p.reject(new OutcomeUnknownError(p.cell, OP_NAMES[p.spec.type] ?? p.spec.name, e.code === ErrCode.INTERNAL ? `board internal error: ${e.message}` : `a later copy was refused (${errName(e.code)}) after an earlier one may have run`));
    } else p.reject(new BoardError(e.code, e.message, errName(e.code)));
    this.pump();
  }

  // ---- handshake and recovery -------------------------------------------------------------

  /**
   * HELLO's seq is outside the request sequence (section 4), but a 2.0 board may count it as the
   * newest: a resume HELLO is numbered one behind the oldest unanswered request (or as the last
   * request sent), so the requests re-sent after it are never "behind" it; a new-session HELLO
   * takes the next seq.
   */
  private helloSeq(resume: number): number {
    if (!resume) {
      const s = this.nextSeq;
      this.nextSeq = (this.nextSeq + 1) & 0xffff;
      return s;
    }
    const oldest = this.pending.keys().next().value as number | undefined;
    return ((oldest ?? this.nextSeq) - 1) & 0xffff;
  }

  /**
   * How long a HELLO waits for its reply, which is also the quiet between two HELLOs. A board may
   * hold a damaged frame (a header whose length lies, the rest never sent): our HELLO's bytes join
   * it, and the board finds the HELLO behind it only once the line has been quiet for its stall
   * timeout, and a board whose stall timer fired late takes one more stall timeout of grace
   * (docs/protocol.md, section 2). So the wait covers two stall timeouts; a host resending sooner
   * would keep the damaged frame alive forever (section 7).
   */
  private helloWait_ms(ahead_ms = 0, replyPayload = 2048): number {
    // replyPayload: a live link's HELLO may wait behind a reply already on the wire (a frame of up to 2048 payload bytes).
    return this.o.margin_ms + ahead_ms + 2 * linkStall(this.o.baudRate) + 1000 * txTime_s(frameBytes(replyPayload), this.o.baudRate);
  }

  private hello(resume: number, timeout_ms: number): Promise<{ boot: number; info: BoardInfo; link: LinkParams }> {
    return new Promise((resolve, reject) => {
      const seq = this.helloSeq(resume);
      const payload = encodeRequest(spec('HELLO'), { min_version: VERSIONS.min, max_version: VERSIONS.max, resume_session: resume });
      const timer = setTimeout(() => this.endHello(new TimeoutError(`no HELLO reply from board at ${this.o.label} within ${Math.round(timeout_ms)} ms`)), timeout_ms);
      this.helloWait = { seq, timer, resolve, reject };
      this.stats.sent++;
      this.transport?.write(encodeFrame({ version: PROTOCOL_VERSION, type: MsgType.HELLO, seq, session: resume, boot: resume ? this.boot : 0, payload }));
    });
  }

  private endHello(e: Error | undefined, h?: { boot: number; info: BoardInfo; link: LinkParams }): void {
    const w = this.helloWait;
    if (!w) return;
    this.helloWait = undefined;
    clearTimeout(w.timer);
    if (e) w.reject(e);
    else w.resolve(h!);
  }

  private onHelloReply(f: Frame): void {
    if (f.type === MsgType.ERROR) {
      let e: { code: number; message: string };
      try {
        e = decodeError(f.payload);
      } catch (err) {
        return this.endHello(new ProtocolError(`malformed ERROR reply to HELLO: ${(err as Error).message}`));
      }
      return this.endHello(e.code === ErrCode.VERSION ? new VersionMismatchError(0, PROTOCOL_VERSION, e.message) : new BoardError(e.code, e.message, errName(e.code)));
    }
    try {
      const h = decodeHelloReply(f.payload);
      if (h.link.version !== PROTOCOL_VERSION) return this.endHello(new VersionMismatchError(h.link.version, PROTOCOL_VERSION));
      const bad = helloProblems(f.payload, f.session);
      if (bad.length) return this.endHello(new ProtocolError(`board at ${this.o.label} sent an unusable HELLO (docs/protocol.md, section 4): ${bad.join('; ')}`));
      this.endHello(undefined, { boot: f.boot, info: h.info, link: h.link });
    } catch (e) {
      this.endHello(new ProtocolError(`malformed HELLO reply: ${(e as Error).message}`));
    }
  }

  private startRecovery(reason: string): void {
    if (this.recovery || this.state !== 'up') return;
    this.state = 'recovering';
    this.stats.recoveries++;
    clearTimeout(this.keepAlive);
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.events.next({ code: 'link-lost', message: `link to board at ${this.o.label} lost: ${reason}` });
    this.recovery = this.recover(reason).finally(() => {
      this.recovery = undefined;
    });
  }

  private async recover(reason: string): Promise<void> {
    const t0 = Date.now();
    const deadline = t0 + this.o.reconnect_ms;
    let last: unknown = new DisconnectedError(reason);
    let fails = 0;
    while (Date.now() < deadline && this.state === 'recovering') {
      if (!this.transport) {
        try {
          await this.openTransport();
        } catch (e) {
          last = e;
          await sleep(200);
          continue;
        }
      }
      let ahead = 0;
      for (const q of this.pending.values()) ahead += q.cost_ms;
      try {
        const h = await this.hello(this.session, this.helloWait_ms(ahead));
        if (this.state !== 'recovering') return;
        const diff = boardDifference(this.info, h.info);
        if (diff) return this.giveUp(new DisconnectedError(`a different board answered at ${this.o.label}: ${diff}`));
        if (h.boot !== this.boot) this.newSession(h, 'board-rebooted', `board rebooted (boot id ${hex(this.boot)} -> ${hex(h.boot)})`);
        else if (h.link.resumed && h.link.session === this.session) this.resume();
        else this.newSession(h, 'session-lost', `board ended the session (${reason})`);
        if (this.contended) return this.giveUp(new DisconnectedError(`the board at ${this.o.label} ended this host's session ${this.sessionLosses.length} times within a minute: another host (process, script or station) is probably using it; stop the other one, or send its work through the station that owns the board`));
        this.state = 'up';
        this.events.next({ code: 'link-restored', message: `link to board at ${this.o.label} restored after ${Date.now() - t0} ms (${h.link.resumed ? 'session resumed' : 'new session'})`, resumed: h.link.resumed, downtime_ms: Date.now() - t0 });
        this.armKeepAlive();
        this.pump();
        return;
      } catch (e) {
        if (e instanceof VersionMismatchError || e instanceof ProtocolError) return this.giveUp(e);
        last = e;
        // Two silent HELLOs on an open port: reopen it (USB-serial adapters can wedge).
        if (++fails % 2 === 0 && this.transport) {
          const t = this.transport;
          this.transport = undefined;
          await t.close().catch(() => undefined);
        }
      }
    }
    if (this.state === 'recovering') this.giveUp(last instanceof Error ? last : new DisconnectedError(String(last)), `not back within ${this.o.reconnect_ms} ms`);
  }

  /** Same boot, session resumed: every pending request goes again with its seq (the cache answers pulses). */
  private resume(): void {
    const pend = [...this.pending.values()];
    for (const p of pend) {
      if (++p.recoveries > this.o.maxRecoveries) {
        this.settle(p);
        this.fail(p, `no reply after ${p.recoveries} recoveries`, () => new TimeoutError(`no reply to ${p.spec.name} from board at ${this.o.label} after ${p.recoveries} recoveries`));
        continue;
      }
      p.attempts = 0;
      this.send(p);
    }
  }

  /** A new session (reboot or session lost): pulses that may have run are unknown; the rest go again. */
  private newSession(h: { boot: number; info: BoardInfo; link: LinkParams }, code: 'board-rebooted' | 'session-lost', why: string): void {
    const old = [...this.pending.values()];
    this.pending.clear();
    const oldBoot = this.boot;
    this.adopt(h);
    let unknown = 0;
    const again: Pending[] = [];
    for (const p of old) {
      clearTimeout(p.timer);
      if (p.spec.retry === 'cached' && p.everSent && !p.notExecuted) {
        unknown++;
        this.fail(p, why, () => new Error('unreachable'));
      } else {
        p.notExecuted = false;
        again.push(p);
      }
    }
    this.queue.unshift(...again);
    if (code === 'board-rebooted') {
      this.stats.reboots++;
      this.events.next({ code, message: `${why}: ${unknown} pulse(s) in flight have an unknown outcome`, oldBoot, newBoot: h.boot, unknownOutcomes: unknown });
    } else {
      this.stats.sessionsLost++;
      this.events.next({ code, message: `${why}: ${unknown} pulse(s) in flight have an unknown outcome`, unknownOutcomes: unknown });
      const now = Date.now();
      this.sessionLosses = [...this.sessionLosses.filter((t) => now - t < 60000), now];
      if (this.sessionLosses.length >= 3) this.contended = true;
    }
  }

  /** Set when the board ended our session 3 times within a minute: another host is using it. */
  private contended = false;

  /**
   * Why the link gave up, for a station's re-probe: 'contended' (another host ends our sessions)
   * and 'incompatible' (version or protocol) are not retried by a timer - its HELLO would end the
   * other host's session, or meet the same firmware - only when a user asks; 'lost' is.
   */
  downKind?: 'contended' | 'incompatible' | 'lost';

  private giveUp(e: Error, detail = ''): void {
    if (this.state === 'down' || this.state === 'closed') return;
    this.state = 'down';
    this.downError = e;
    this.downKind = this.contended ? 'contended' : e instanceof VersionMismatchError || e instanceof ProtocolError ? 'incompatible' : 'lost';
    const msg = `board at ${this.o.label} disconnected${detail ? ` (${detail})` : ''}: ${e.message}`;
    const all = [...this.pending.values(), ...this.queue.splice(0)];
    this.pending.clear();
    for (const p of all) this.fail(p, `link lost: ${e.message}`, () => (e instanceof RramError && !(e instanceof TimeoutError) ? e : new DisconnectedError(msg)));
    this.events.next({ code: 'gave-up', message: msg });
    clearTimeout(this.keepAlive);
    this.stall.stop();
    const t = this.transport;
    this.transport = undefined;
    void t?.close().catch(() => undefined);
  }

  private armKeepAlive(): void {
    clearTimeout(this.keepAlive);
    if (!this.o.keepAlive_ms || this.state !== 'up') return;
    this.keepAlive = setTimeout(() => {
      // A failed PING shows as link-lost / gave-up events; its own rejection carries nothing more.
      if (this.state === 'up' && this.pending.size === 0 && this.queue.length === 0) this.request(spec('PING'), {}).catch(() => undefined);
      this.armKeepAlive();
    }, this.o.keepAlive_ms);
    this.keepAlive.unref();
  }

  get idle(): boolean {
    return this.pending.size === 0 && this.queue.length === 0;
  }

  /** A new session our HELLO opened with nothing pending (rotation, back in service): adopted, a reboot meanwhile said as one. */
  private freshSession(h: { boot: number; info: BoardInfo; link: LinkParams }, when: string): void {
    const oldBoot = this.boot;
    this.adopt(h);
    this.nextSeq = 1;
    this.state = 'up';
    if (h.boot !== oldBoot) {
      this.stats.reboots++;
      this.events.next({ code: 'board-rebooted', message: `board rebooted (boot id ${hex(oldBoot)} -> ${hex(h.boot)}) ${when}`, oldBoot, newBoot: h.boot, unknownOutcomes: 0 });
    }
    this.armKeepAlive();
    this.pump();
  }

  /**
   * Out of service (`rram conformance` through a station, docs/server.md): waits for what is in
   * flight, closes the port, and opens nothing until reopen() - the recovery loop stays away, so
   * another program (the conformance probe) has the port to itself.
   */
  async suspend(): Promise<void> {
    if (this.state !== 'up') throw new DisconnectedError(`the link to the board at ${this.o.label} is ${this.state}: it cannot be taken out of service now`);
    const deadline = Date.now() + 60000;
    while (!this.idle && Date.now() < deadline) await sleep(5);
    if (!this.idle) throw new TimeoutError(`the link to the board at ${this.o.label} did not go idle within 60 s: not taken out of service`);
    this.state = 'suspended';
    clearTimeout(this.keepAlive);
    const t = this.transport;
    this.transport = undefined; // its close is ours: no recovery
    await t?.close().catch(() => undefined);
  }

  /** The reopen in progress (close() stops it and waits for it). */
  private reopening?: Promise<void>;

  /**
   * Back in service after suspend(): the port opened again, a new session (HELLO); a reboot
   * meanwhile is said as one (board-rebooted). When the board does not come back the link is down
   * (every later request fails, naming why) and this throws why.
   */
  reopen(): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new DisconnectedError(`board at ${this.o.label} was closed while out of service`));
    if (this.state !== 'suspended') return this.reopening ?? Promise.resolve();
    this.reopening ??= this.reopenLoop(this.o.reopen_ms, OUT_OF_SERVICE).finally(() => (this.reopening = undefined));
    return this.reopening;
  }

  /** Set while revive() runs: the link counts as down (downReason, request) until the board is ours again. */
  private reviving = false;

  /**
   * A given-up link taken back (a station reconnecting a down board, docs/server.md): as after
   * out of service - the port opened again, a new session (HELLO), the board's identity checked -
   * with the link down meanwhile. `within_ms` bounds the retries (default reopen_ms; 0: one
   * attempt). A link that is not down is left alone. When the board does not come back this
   * throws why, and the link stays down with that as its reason.
   */
  revive(within_ms = this.o.reopen_ms): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new DisconnectedError(`board at ${this.o.label} closed`));
    if (this.reopening) return this.reopening;
    if (this.state !== 'down') return Promise.resolve();
    const t0 = Date.now();
    this.state = 'suspended';
    this.reviving = true;
    const loop = this.reopenLoop(within_ms, 'the link was given up').then(() => {
      this.downError = undefined;
      this.downKind = undefined;
      // Contention that ended the last session is judged afresh: the user asked for the board back.
      this.contended = false;
      this.sessionLosses = [];
      this.events.next({ code: 'link-restored', message: `link to board at ${this.o.label} restored after it was given up (new session)`, resumed: false, downtime_ms: Date.now() - t0 });
    });
    this.reopening = loop.finally(() => {
      this.reopening = undefined;
      this.reviving = false;
    });
    return this.reopening;
  }

  /**
   * Retries, with a backoff bounded by reopen_ms, what may be a moment's absence: the port missing
   * or busy (a USB adapter re-enumerating, the last program's close not done yet) and a HELLO
   * unanswered. A different board answering, a version or protocol error is final: not our board.
   */
  private async reopenLoop(within_ms: number, after: string): Promise<void> {
    const deadline = Date.now() + within_ms;
    let last: unknown = new DisconnectedError(`board at ${this.o.label} does not answer`);
    let attempts = 0;
    for (let delay = 50; ; delay = Math.min(2 * delay, 1000)) {
      attempts++;
      try {
        this.throwIfClosed();
        if (!this.transport) await this.openTransport();
        this.throwIfClosed();
        const h = await this.hello(0, this.helloWait_ms());
        this.throwIfClosed();
        const diff = boardDifference(this.info, h.info);
        if (diff) throw new DisconnectedError(`a different board answered at ${this.o.label}: ${diff}`);
        this.reviving = false; // the board is ours again: freshSession's pump sends what waits
        this.freshSession(h, after === OUT_OF_SERVICE ? 'while it was out of service' : 'while the link was down');
        return;
      } catch (e) {
        // close() meanwhile: it closes whatever this opened once this has returned.
        if (this.state === 'closed') throw new DisconnectedError(`board at ${this.o.label} was closed while it was being reopened`);
        last = e;
        if (!(e instanceof TimeoutError || e instanceof PortError) || Date.now() + delay > deadline) break;
        await sleep(delay);
      }
    }
    const detail = `not back after ${after} (${attempts} attempt${attempts > 1 ? 's' : ''})`;
    this.state = 'recovering'; // giveUp's bookkeeping: the link is down, every later request fails clearly
    this.giveUp(last instanceof Error ? last : new DisconnectedError(String(last)), detail);
    throw last;
  }

  private throwIfClosed(): void {
    if (this.state === 'closed') throw new DisconnectedError(`board at ${this.o.label} closed`);
  }

  /** Why every request fails now (the link given up, or closed); undefined while the link is usable. */
  get downReason(): string | undefined {
    if (this.state === 'closed') return `the link to the board at ${this.o.label} is closed`;
    if (this.state !== 'down' && !this.reviving) return undefined;
    return `the link to the board at ${this.o.label} was given up: ${this.downError?.message ?? 'no reason recorded'}`;
  }

  /** Waits for what is in flight (so no measured reply is lost), then closes the port. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.reopening) {
      // Coming back from out of service: the reopen stops (its HELLO fails now), then what it opened is closed below.
      this.state = 'closed';
      this.endHello(new DisconnectedError(`board at ${this.o.label} closed`));
      await this.reopening.catch(() => undefined);
    }
    let budget = this.o.margin_ms;
    for (const p of [...this.pending.values(), ...this.queue]) budget += p.cost_ms;
    const deadline = Date.now() + Math.min(budget, 60000);
    while (!this.idle && Date.now() < deadline && (this.state === 'up' || this.state === 'recovering')) await sleep(5);
    this.state = 'closed';
    clearTimeout(this.keepAlive);
    this.stall.stop();
    this.endHello(new DisconnectedError('board closed'));
    const rest = [...this.pending.values(), ...this.queue.splice(0)];
    this.pending.clear();
    for (const p of rest) this.fail(p, 'link closed with the request unanswered', () => new DisconnectedError(`board at ${this.o.label} closed`));
    const t = this.transport;
    this.transport = undefined;
    await t?.close().catch(() => undefined);
    this.events.complete();
  }
}

/** The ERROR codes a HELLO can legitimately get (section 4): anything else with HELLO's seq is some request's. */
function helloErrorCode(payload: Buffer): boolean {
  try {
    const c = decodeError(payload).code;
    return c === ErrCode.VERSION || c === ErrCode.BAD_PAYLOAD;
  } catch {
    return false;
  }
}

/** Why two HELLOs describe different boards ('' = the same board). */
function boardDifference(a: BoardInfo, b: BoardInfo): string {
  if (a.id !== b.id) return `id ${a.id} -> ${b.id}`;
  if (a.arrays !== b.arrays || a.rows !== b.rows || a.cols !== b.cols) return 'geometry changed';
  if (JSON.stringify(a.limits) !== JSON.stringify(b.limits) || a.dacStep_V !== b.dacStep_V) return 'limits changed';
  return '';
}

const hex = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
