/**
 * The board's side of a session (docs/protocol.md, "Sessions, sequence numbers and retransmissions"):
 * which requests run, which are answered from the replay cache, which are refused unexecuted.
 * Pure state, no I/O: the emulator firmware drives it, and it is the reference a firmware author
 * can read beside the document. The cache holds W slots (W = the window advertised in HELLO), one
 * per sequence number modulo W, and only for requests whose retry class is `cached`.
 */
import { crc32 } from 'node:zlib';
import { ErrCode, type MessageSpec } from './messages.js';

export interface Slot {
  seq: number;
  digest: number;
  state: 'executing' | 'done';
  /** The whole reply frame, once done. */
  reply?: Buffer;
}

export type Admission =
  | { kind: 'execute'; slot?: Slot }
  | { kind: 'replay'; reply: Buffer }
  | { kind: 'refuse'; code: number; message: string }
  | { kind: 'drop' };

export interface HelloOutcome {
  ok: boolean;
  code?: number;
  message?: string;
  session: number;
  resumed: boolean;
}

export class BoardSession {
  /** Current session id; 0 = none (after boot, nothing is accepted but HELLO). */
  session = 0;
  private highest: number | undefined;
  private slots: (Slot | undefined)[];

  constructor(
    readonly window: number,
    readonly boot: number,
    private readonly random: () => number,
    readonly versions: { min: number; max: number },
  ) {
    this.slots = new Array(window);
  }

  /** HELLO: version check, then resume (same session, cache kept) or a new session (cache cleared). */
  hello(req: { min_version: number; max_version: number; resume_session: number }, bootField: number): HelloOutcome {
    if (req.max_version < this.versions.min || req.min_version > this.versions.max || req.min_version > req.max_version)
      return { ok: false, code: ErrCode.VERSION, message: `board speaks v${this.versions.min}..v${this.versions.max}, host asked v${req.min_version}..v${req.max_version}`, session: this.session, resumed: false };
    if (req.resume_session !== 0 && req.resume_session === this.session && bootField === this.boot) return { ok: true, session: this.session, resumed: true };
    let s = 0;
    while (s === 0 || s === this.session) s = this.random() >>> 0;
    this.session = s;
    this.highest = undefined;
    this.slots = new Array(this.window);
    return { ok: true, session: s, resumed: false };
  }

  /** Decides what to do with a (non-HELLO) request of a known, supported type. */
  admit(m: MessageSpec, seq: number, session: number, bootField: number, payload: Buffer): Admission {
    if (this.session === 0 || session !== this.session || bootField !== this.boot)
      return { kind: 'refuse', code: ErrCode.NO_SESSION, message: this.session === 0 ? 'no session: send HELLO first' : `session ${session.toString(16)}/boot ${bootField.toString(16)} is not the board's current session` };
    if (this.highest !== undefined) {
      const behind = (this.highest - seq) & 0xffff;
      if (behind !== 0 && behind < 0x8000) {
        if (behind >= this.window) return { kind: 'refuse', code: ErrCode.STALE_SEQ, message: `seq ${seq} is ${behind} behind the newest (${this.highest}); the window is ${this.window}` };
      } else this.highest = seq;
    } else this.highest = seq;
    if (m.retry !== 'cached') return { kind: 'execute' };
    const digest = crc32(Buffer.concat([Buffer.from([m.type]), payload])) >>> 0;
    const k = seq % this.window;
    const s = this.slots[k];
    if (s && s.seq === seq) {
      if (s.digest !== digest) return { kind: 'refuse', code: ErrCode.SEQ_CONFLICT, message: `seq ${seq} was used for another request in this session` };
      if (s.state === 'executing') return { kind: 'drop' };
      return { kind: 'replay', reply: s.reply! };
    }
    const slot: Slot = { seq, digest, state: 'executing' };
    this.slots[k] = slot;
    return { kind: 'execute', slot };
  }

  /** Stores a cached request's reply (if its slot still belongs to it). */
  complete(slot: Slot | undefined, reply: Buffer): void {
    if (!slot) return;
    slot.state = 'done';
    slot.reply = reply;
  }
}
