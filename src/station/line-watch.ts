/**
 * What the station knows of a board's lines: a Board wrapper that counts the operations in flight
 * and remembers the last GROUND the board acknowledged. "Grounded" is claimed only for a GROUND
 * the board answered with no operation sent after it (a halt ends that way); otherwise the view
 * says what was last sent and when (a board grounds its lines after every operation, by the
 * protocol, but the station has no acknowledgement of that beyond the operation's reply). While
 * its port is lent out (conformance) another program drives the lines unseen: the state is
 * unknown until the board, back, has acknowledged a GROUND sent through the reopened link - which
 * the wrapper sends as soon as the port is back. A board whose link is down is unknown too, and
 * so it stays once reconnected until the board has acknowledged the GROUND sent at once then.
 */
import type { Board } from '../../drivers/board.js';

export interface LineState {
  /**
   * 'grounded': the board acknowledged GROUND and nothing was sent since; 'driven': operations in
   * flight; 'unknown': the port lent out, not grounded since, or the link down (`why`); 'idle': none of these.
   */
  state: 'grounded' | 'driven' | 'idle' | 'unknown';
  inFlight: number;
  /** When the board acknowledged the last GROUND (ISO), and what asked for it. */
  groundedAt?: string;
  groundedBy?: string;
  lastOp?: string;
  lastOpAt?: string;
  /** Why the state is unknown. */
  why?: string;
  /** The board takes no request (its link given up): why. */
  down?: string;
}

// Every request that drives a line (the MVM drives rows at up to vread_max: not grounded while it runs).
const OPS = new Set(['form', 'set', 'reset', 'read', 'readRow', 'readArray', 'mvm', 'wait', 'ground', 'writeVerify', 'counters']);

export interface WatchedBoard {
  board: Board;
  lines(): LineState;
  /** GROUND, awaited, remembered as asked by `by` (a halt, a pause). */
  ground(by: string): Promise<void>;
}

const LENT = 'the port is lent out (conformance): a program the station does not see drives the lines';
const NOT_REGROUNDED = 'no GROUND acknowledged since the port was lent out (conformance)';
const NOT_REGROUNDED_DOWN = 'no GROUND acknowledged since the board was down (its link given up)';
/** What a reconnected board's GROUND is remembered as asked by. */
export const RECONNECTED = 'the board back (reconnected)';

export function watchLines(inner: Board): WatchedBoard {
  let inFlight = 0;
  let lastOp: string | undefined;
  let lastOpAt: string | undefined;
  let grounded: { at: string; by: string } | undefined;
  let groundBy = 'a run';
  let opSeq = 0;
  /** Why the lines are not known (the port lent out, or not grounded since); cleared by an acknowledged GROUND. */
  let unknown: string | undefined;
  const ground = async (by: string) => {
    groundBy = by;
    try {
      await board.ground();
    } finally {
      groundBy = 'a run';
    }
  };
  const outOfService: Board['outOfService'] = inner.outOfService && (async (use) => {
    grounded = undefined;
    unknown = LENT;
    lastOp = 'outOfService';
    lastOpAt = new Date().toISOString();
    let out: Awaited<ReturnType<typeof use>>;
    try {
      out = await inner.outOfService!(use);
    } catch (e) {
      unknown = NOT_REGROUNDED;
      // `use` failed with the board back: grounded all the same (its own error is the one that counts).
      if (!inner.linkDown?.()) await ground('the port back in service').catch(() => undefined);
      throw e;
    }
    unknown = NOT_REGROUNDED;
    await ground('the port back in service');
    return out;
  });
  // A down board taken back: the lines as the board left them are unknown until its GROUND is acknowledged.
  const reconnect: Board['reconnect'] = inner.reconnect && (async (o) => {
    if (!inner.linkDown?.()) return;
    grounded = undefined;
    unknown = NOT_REGROUNDED_DOWN;
    await inner.reconnect!(o);
    await ground(RECONNECTED);
  });
  const board = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'outOfService') return outOfService;
      if (prop === 'reconnect') return reconnect;
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof prop !== 'string' || !OPS.has(prop) || typeof v !== 'function') return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      return async (...args: unknown[]) => {
        inFlight++;
        const mine = ++opSeq;
        lastOp = prop;
        lastOpAt = new Date().toISOString();
        if (prop !== 'ground') grounded = undefined;
        try {
          const r = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          // Only a GROUND with nothing sent after it leaves the lines known grounded.
          if (prop === 'ground' && mine === opSeq && unknown !== LENT) {
            grounded = { at: new Date().toISOString(), by: groundBy };
            unknown = undefined;
          }
          return r;
        } finally {
          inFlight--;
        }
      };
    },
  });
  return {
    board,
    lines: () => {
      const down = inner.linkDown?.();
      const why = down ?? unknown;
      const state = down || unknown === LENT || unknown === NOT_REGROUNDED_DOWN ? 'unknown' : inFlight > 0 ? 'driven' : unknown ? 'unknown' : grounded ? 'grounded' : 'idle';
      return { state, inFlight, ...(grounded ? { groundedAt: grounded.at, groundedBy: grounded.by } : {}), lastOp, lastOpAt, ...(state === 'unknown' ? { why } : {}), ...(down ? { down } : {}) };
    },
    ground,
  };
}
