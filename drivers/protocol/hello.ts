/** HELLO payloads <-> BoardInfo and the link parameters a session runs with (docs/protocol.md). */
import type { BoardInfo } from '../board.js';
import { decodeReply, encodeReply, Feature, spec, type Payload } from './messages.js';

export interface LinkParams {
  version: number;
  session: number;
  resumed: boolean;
  /** Most unanswered requests, and the seq window of the replay cache. */
  window: number;
  maxPayload: number;
  features: number;
  waitMax_s: number;
  /** Most time of one operation, pulse width and WAIT excluded. */
  tOp_s: number;
  /** Most time per cell of row and array reads. */
  tCell_s: number;
}

export function encodeHelloReply(info: BoardInfo, link: LinkParams): Buffer {
  const l = info.limits;
  const o: Payload = {
    version: link.version,
    session: link.session,
    resumed: link.resumed ? 1 : 0,
    window: link.window,
    max_payload: link.maxPayload,
    features: link.features,
    arrays: info.arrays,
    rows: info.rows,
    cols: info.cols,
    dac_step: info.dacStep_V,
    vte_max: l.vte_max_V,
    vsl_max: l.vsl_max_V,
    vg_max: l.vg_max_V,
    vread_max: l.vread_max_V,
    width_min: l.width_min_s,
    width_max: l.width_max_s,
    wait_max_ms: Math.round(link.waitMax_s * 1000),
    t_op_us: Math.round(link.tOp_s * 1e6),
    t_cell_us: Math.round(link.tCell_s * 1e6),
    kind: info.kind === 'emulated' ? 1 : 0,
    id: info.id,
    firmware: info.firmware,
    calibration: info.calibration ?? '',
  };
  return encodeReply(spec('HELLO'), o);
}

export function decodeHelloReply(p: Buffer): { info: BoardInfo; link: LinkParams } {
  const o = decodeReply(spec('HELLO'), p) as Record<string, number> & { id: string; firmware: string; calibration: string };
  const features = o.features;
  const info: BoardInfo = {
    id: o.id,
    firmware: o.firmware,
    protocolVersion: o.version,
    arrays: o.arrays,
    rows: o.rows,
    cols: o.cols,
    limits: { vte_max_V: o.vte_max, vsl_max_V: o.vsl_max, vg_max_V: o.vg_max, vread_max_V: o.vread_max, width_min_s: o.width_min, width_max_s: o.width_max },
    dacStep_V: o.dac_step,
    kind: o.kind === 1 ? 'emulated' : 'hardware',
    calibration: o.calibration || undefined,
    features: { writeVerify: (features & Feature.WRITE_VERIFY) !== 0, counters: (features & Feature.COUNTERS) !== 0 },
  };
  const link: LinkParams = {
    version: o.version,
    session: o.session,
    resumed: o.resumed === 1,
    window: o.window,
    maxPayload: o.max_payload,
    features,
    waitMax_s: o.wait_max_ms / 1000,
    tOp_s: o.t_op_us / 1e6,
    tCell_s: o.t_cell_us / 1e6,
  };
  return { info, link };
}

/** What is wrong with a HELLO reply's numbers, if anything (a board that would make the host misbehave). */
export function helloProblems(info: BoardInfo, link: LinkParams): string[] {
  const p: string[] = [];
  if (link.session === 0) p.push('session is 0');
  if (link.window < 1) p.push('window is 0');
  if (link.maxPayload < 40) p.push(`max_payload ${link.maxPayload} < 40 (a WRITE_VERIFY request does not fit)`);
  if (info.arrays < 1 || info.rows < 1 || info.cols < 1) p.push(`geometry ${info.arrays}x${info.rows}x${info.cols}`);
  if (info.rows * info.cols * 8 + 4 > 60000 - 8) p.push(`an array of ${info.rows}x${info.cols} does not fit one READ_ARRAY reply`);
  if (!(info.dacStep_V > 0)) p.push(`dac_step ${info.dacStep_V}`);
  const l = info.limits;
  for (const [k, v] of Object.entries(l)) if (!(v >= 0)) p.push(`${k} ${v}`);
  if (!(l.width_max_s >= l.width_min_s)) p.push('width_max < width_min');
  if (!(link.tOp_s > 0)) p.push('t_op_us is 0');
  return p;
}
