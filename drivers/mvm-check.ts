/**
 * The analog MVM's request rules (docs/protocol.md, "MVM"), checked in the document's order by the
 * host before sending and by the emulated board before executing: shape and grid (malformed:
 * InvalidArgumentError, BAD_PAYLOAD on the wire), then the tile's address (AddressError), then the
 * voltages' limits (LimitError).
 */
import type { BoardInfo, MvmTile } from './board.js';
import { AddressError, InvalidArgumentError, LimitError } from './errors.js';

/** A reply frame's fixed bytes: header 8 + session 8 + CRC 4, count 4. */
export const MVM_REPLY_OVERHEAD = 8 + 8 + 4 + 4;

/** Bytes of an MVM reply frame carrying `vectors` results of `cols` columns. */
export function mvmReplyFrameBytes(vectors: number, cols: number): number {
  return MVM_REPLY_OVERHEAD + 8 * vectors * cols;
}

/**
 * Input vectors of a product, after checking every rule; throws the first broken one. `perRequest`:
 * one protocol request, whose reply may carry at most rows x cols results (a host splits a larger
 * product into several requests).
 */
export function checkMvm(info: Pick<BoardInfo, 'arrays' | 'rows' | 'cols' | 'dacStep_V' | 'limits'>, t: MvmTile, voltages_V: ArrayLike<number>, o: { perRequest?: boolean } = {}): number {
  for (const k of ['array', 'row0', 'col0', 'rows', 'cols'] as const) if (!Number.isInteger(t[k]) || t[k] < 0) throw new InvalidArgumentError(k, t[k], 'must be an integer >= 0');
  if (t.rows < 1) throw new InvalidArgumentError('rows', t.rows, 'a tile needs at least one row');
  if (t.cols < 1) throw new InvalidArgumentError('cols', t.cols, 'a tile needs at least one column');
  const n = voltages_V.length;
  if (n < t.rows || n % t.rows !== 0) throw new InvalidArgumentError('voltages', n, `count must be a positive multiple of rows=${t.rows}`);
  const vectors = n / t.rows;
  // The reply is never larger than READ_ARRAY's, the largest a host accepts (docs/protocol.md, section 2).
  if (o.perRequest && vectors * t.cols > info.rows * info.cols) throw new InvalidArgumentError('voltages', n, `${vectors} vectors x ${t.cols} columns = ${vectors * t.cols} results: at most rows x cols = ${info.rows * info.cols} per request`);
  const step = Math.round(info.dacStep_V * 1e6);
  for (let k = 0; k < n; k++) {
    const uv = Math.round(voltages_V[k] * 1e6);
    if (!Number.isFinite(voltages_V[k]) || uv % step !== 0) throw new InvalidArgumentError(`voltages[${k}]`, voltages_V[k], `must be on the DAC grid (a multiple of ${step} uV); MVM inputs are never rounded`);
  }
  if (t.array >= info.arrays) throw new AddressError('array', t.array, info.arrays);
  if (t.row0 + t.rows > info.rows) throw new AddressError('row0+rows', t.row0 + t.rows, info.rows + 1);
  if (t.col0 + t.cols > info.cols) throw new AddressError('col0+cols', t.col0 + t.cols, info.cols + 1);
  const max = info.limits.vread_max_V;
  for (let k = 0; k < n; k++) {
    if (voltages_V[k] > max) throw new LimitError(`voltages[${k}]`, voltages_V[k], max, 'max');
    if (voltages_V[k] < 0) throw new LimitError(`voltages[${k}]`, voltages_V[k], 0, 'min');
  }
  return vectors;
}
