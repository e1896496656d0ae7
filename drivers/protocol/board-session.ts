/**
 * The board's side of a session (docs/protocol.md, sections 4 and 5): which requests run, which
 * are answered from the replay cache, which are refused unexecuted. Pure state, no I/O: the
 * emulator firmware drives it, and it is the reference a firmware author can read beside the
 * document.
 *
 * The replay cache (revision 2.1) is keyed by the whole seq and an entry lives only while its seq
 * is less than W behind the newest seq of the session. Indexing W slots by `seq mod W` without
 * those two checks has two flaws the document names: with a W that does not divide 65536 two
 * live seqs share a slot at the u16 wrap, and a slot kept while only reads passed would answer an
 * identical pulse 65536 requests later from the cache, unexecuted.
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

/**
 * Deliberate deviations from the document, for the conformance suite's mutation tests (each one
 * a flaw a real firmware has had or could have). Never set in a board meant to be used.
 */
export type SessionBug =
  /** W slots indexed by seq mod W, trusting the slot's seq alone (the 2.0 reading). */
  | 'slot-mod-w'
  /** A retransmitted cached request runs again instead of being answered from the cache. */
  | 'reexec'
  /** STALE_SEQ never answered: old seqs run as new requests. */
  | 'no-stale'
  /** SEQ_CONFLICT never answered: a reused seq with another payload runs. */
  | 'no-conflict'
  /** HELLO's seq counts as the newest seq of the session. */
  | 'hello-seq-counts';

/** a is behind b by (b - a) mod 2^16 when that is below 32768 (docs/protocol.md, section 5). */
export function behind(a: number, b: number): number | undefined {
  const d = (b - a) & 0xffff;
  return d < 0x8000 ? d : undefined;
}

export class BoardSession {
  /** Current session id; 0 = none (after boot, nothing is accepted but HELLO). */
  session = 0;
  private highest: number | undefined;
  /** Live cache entries by seq, oldest first (insertion order). */
  private entries = new Map<number, Slot>();
  /** The 2.0-style table for the 'slot-mod-w' mutation. */
  private modSlots: (Slot | undefined)[] = [];

  constructor(
    readonly window: number,
    readonly boot: number,
    private readonly random: () => number,
    readonly versions: { min: number; max: number },
    private readonly bugs: ReadonlySet<SessionBug> = new Set(),
  ) {}

  /** HELLO: version check, then resume (same session, cache kept) or a new session (cache cleared). */
  hello(req: { min_version: number; max_version: number; resume_session: number }, bootField: number, seq?: number): HelloOutcome {
    if (req.max_version < this.versions.min || req.min_version > this.versions.max || req.min_version > req.max_version)
      return { ok: false, code: ErrCode.VERSION, message: `board speaks v${this.versions.min}..v${this.versions.max}, host asked v${req.min_version}..v${req.max_version}`, session: this.session, resumed: false };
    if (req.resume_session !== 0 && req.resume_session === this.session && bootField === this.boot) {
      if (this.bugs.has('hello-seq-counts') && seq !== undefined) this.advance(seq);
      return { ok: true, session: this.session, resumed: true };
    }
    let s = 0;
    while (s === 0 || s === this.session) s = this.random() >>> 0;
    this.session = s;
    this.highest = undefined;
    this.entries = new Map();
    this.modSlots = [];
    if (this.bugs.has('hello-seq-counts') && seq !== undefined) this.highest = seq;
    return { ok: true, session: s, resumed: false };
  }

  /** The newest seq moves to `seq` if it is ahead; entries W or more behind it die. */
  private advance(seq: number): void {
    if (this.highest !== undefined && behind(seq, this.highest) !== undefined) return;
    this.highest = seq;
    for (const [k] of this.entries) {
      const d = behind(k, seq);
      if (d !== undefined && d < this.window) break; // entries are in seq order: the rest are live
      this.entries.delete(k);
    }
  }

  /** NO_SESSION, when the request's session and boot fields are not the current ones (step 4 of the order of checks). */
  sessionRefusal(session: number, bootField: number): { kind: 'refuse'; code: number; message: string } | undefined {
    if (this.session !== 0 && session === this.session && bootField === this.boot) return undefined;
    return { kind: 'refuse', code: ErrCode.NO_SESSION, message: this.session === 0 ? 'no session: send HELLO first' : `session ${session.toString(16)}/boot ${bootField.toString(16)} is not the board's current session` };
  }

  /** Decides what to do with a (non-HELLO) request of a known type, in the document's order of checks. */
  admit(m: MessageSpec, seq: number, session: number, bootField: number, payload: Buffer): Admission {
    const ns = this.sessionRefusal(session, bootField);
    if (ns) return ns;
    if (this.highest !== undefined && !this.bugs.has('no-stale')) {
      const d = behind(seq, this.highest);
      if (d !== undefined && d >= this.window) return { kind: 'refuse', code: ErrCode.STALE_SEQ, message: `seq ${seq} is ${d} behind the newest (${this.highest}); the window is ${this.window}` };
    }
    this.advance(seq);
    const digest = crc32(Buffer.concat([Buffer.from([m.type]), payload])) >>> 0;
    const s = this.lookup(seq);
    if (s) {
      if (s.digest !== digest) {
        if (!this.bugs.has('no-conflict')) return { kind: 'refuse', code: ErrCode.SEQ_CONFLICT, message: `seq ${seq} was used for another request in this session` };
      } else if (m.retry === 'cached' && !this.bugs.has('reexec')) {
        if (s.state === 'executing') return { kind: 'drop' };
        return { kind: 'replay', reply: s.reply! };
      }
    }
    // Reexecuted requests take no entry and clear none (revision 2.1).
    if (m.retry !== 'cached') return { kind: 'execute' };
    const slot: Slot = { seq, digest, state: 'executing' };
    this.store(slot);
    return { kind: 'execute', slot };
  }

  private lookup(seq: number): Slot | undefined {
    if (this.bugs.has('slot-mod-w')) {
      const s = this.modSlots[seq % this.window];
      return s && s.seq === seq ? s : undefined;
    }
    const e = this.entries.get(seq);
    const d = e && this.highest !== undefined ? behind(seq, this.highest) : undefined;
    return e && d !== undefined && d < this.window ? e : undefined;
  }

  private store(slot: Slot): void {
    if (this.bugs.has('slot-mod-w')) this.modSlots[slot.seq % this.window] = slot;
    else {
      this.entries.delete(slot.seq);
      this.entries.set(slot.seq, slot);
    }
  }

  /** Stores a cached request's reply (if its slot still belongs to it). */
  complete(slot: Slot | undefined, reply: Buffer): void {
    if (!slot) return;
    slot.state = 'done';
    slot.reply = reply;
  }

  /** Live cache entries (tests). */
  get cacheSize(): number {
    return this.bugs.has('slot-mod-w') ? this.modSlots.filter(Boolean).length : this.entries.size;
  }
}
