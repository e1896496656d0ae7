/**
 * The time rules of docs/protocol.md, "Timing": the most time a board may take for each operation
 * (from the maxima it advertises in HELLO) and the bytes each frame puts on the link. The host's
 * timeout and the conformance suite's timing checks both come from here.
 */
import { HEADER_LEN, CRC_LEN, SESSION_LEN } from './frame.js';
import { MsgType, type Payload } from './messages.js';
import type { LinkParams } from './hello.js';

export interface Geometry {
  rows: number;
  cols: number;
}

/** Bytes on the wire of a v2 frame carrying `payload` bytes. */
export function frameBytes(payload: number): number {
  return HEADER_LEN + SESSION_LEN + payload + CRC_LEN;
}

/** Seconds to move `bytes` over an 8N1 UART (10 bits per byte). */
export function txTime_s(bytes: number, baud: number): number {
  return (bytes * 10) / baud;
}

/** MVM input vectors of a request (its voltages over its rows; 0 when malformed). */
function mvmVectors(req?: Payload): number {
  const v = req?.voltages as Float64Array | undefined;
  const rows = req?.rows as number | undefined;
  return v && rows && rows > 0 ? Math.floor(v.length / rows) : 0;
}

/** Largest reply payload of a request type on a board of this geometry (MVM: of this request). */
export function maxReplyPayload(type: number, g: Geometry, req?: Payload): number {
  switch (type) {
    case MsgType.MVM:
      return Math.max(2 + 256, 4 + 8 * mvmVectors(req) * ((req?.cols as number) ?? 0));
    case MsgType.READ:
      return 8;
    case MsgType.READ_ROW:
      return 2 + 8 * g.cols;
    case MsgType.READ_ARRAY:
      return 4 + 8 * g.rows * g.cols;
    case MsgType.WRITE_VERIFY:
      return 15;
    case MsgType.COUNTERS:
      return 16;
    case MsgType.HELLO:
      return 2048;
    default:
      return 2 + 256; // an ERROR: code + message
  }
}

/** Most seconds a board may spend executing one request (docs/protocol.md, "Timing"). */
export function execMax_s(type: number, req: Payload, t: Pick<LinkParams, 'tOp_s' | 'tCell_s'>, g: Geometry): number {
  switch (type) {
    case MsgType.FORM:
    case MsgType.SET:
    case MsgType.RESET:
      return t.tOp_s + (req.width as number);
    case MsgType.READ_ROW:
      return t.tOp_s + g.cols * t.tCell_s;
    case MsgType.READ_ARRAY:
      return t.tOp_s + g.rows * g.cols * t.tCell_s;
    case MsgType.WAIT: {
      // A WAIT the board must refuse (NaN, negative, infinite) is answered at once.
      const s = req.seconds as number;
      return t.tOp_s + (Number.isFinite(s) && s > 0 ? s : 0);
    }
    case MsgType.MVM:
      // every input vector senses the tile's cells
      return t.tOp_s + mvmVectors(req) * (req.rows as number) * (req.cols as number) * t.tCell_s;
    case MsgType.WRITE_VERIFY:
      // one verify read first, then up to max_pulses pulse + verify read pairs
      return t.tOp_s + (req.max_pulses as number) * (2 * t.tOp_s + (req.width as number));
    default:
      return t.tOp_s;
  }
}
