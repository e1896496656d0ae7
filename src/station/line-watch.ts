/**
 * What the station knows of a board's lines: a Board wrapper that counts the operations in flight
 * and remembers the last GROUND the board acknowledged. "Grounded" is claimed only for a GROUND
 * the board answered with no operation sent after it (a halt ends that way); otherwise the view
 * says what was last sent and when (a board grounds its lines after every operation, by the
 * protocol, but the station has no acknowledgement of that beyond the operation's reply).
 */
import type { Board } from '../../drivers/board.js';

export interface LineState {
  /** 'grounded': the board acknowledged GROUND and nothing was sent since; 'driven': operations in flight; 'idle': neither. */
  state: 'grounded' | 'driven' | 'idle';
  inFlight: number;
  /** When the board acknowledged the last GROUND (ISO), and what asked for it. */
  groundedAt?: string;
  groundedBy?: string;
  lastOp?: string;
  lastOpAt?: string;
}

const OPS = new Set(['form', 'set', 'reset', 'read', 'readRow', 'readArray', 'wait', 'ground', 'writeVerify', 'counters']);

export interface WatchedBoard {
  board: Board;
  lines(): LineState;
  /** GROUND, awaited, remembered as asked by `by` (a halt, a pause). */
  ground(by: string): Promise<void>;
}

export function watchLines(inner: Board): WatchedBoard {
  let inFlight = 0;
  let lastOp: string | undefined;
  let lastOpAt: string | undefined;
  let grounded: { at: string; by: string } | undefined;
  let groundBy = 'a run';
  let opSeq = 0;
  const board = new Proxy(inner, {
    get(target, prop, receiver) {
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
          if (prop === 'ground' && mine === opSeq) grounded = { at: new Date().toISOString(), by: groundBy };
          return r;
        } finally {
          inFlight--;
        }
      };
    },
  });
  return {
    board,
    lines: () => ({ state: inFlight > 0 ? 'driven' : grounded ? 'grounded' : 'idle', inFlight, ...(grounded ? { groundedAt: grounded.at, groundedBy: grounded.by } : {}), lastOp, lastOpAt }),
    async ground(by: string) {
      groundBy = by;
      try {
        await board.ground();
      } finally {
        groundBy = 'a run';
      }
    },
  };
}
