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
    features: { writeVerify: (features & Feature.WRITE_VERIFY) !== 0, counters: (features & Feature.COUNTERS) !== 0, mvm: (features & Feature.MVM) !== 0 },
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

/**
 * The valid range of every HELLO reply field (docs/protocol.md, section 4, revision 2.1): the
 * host refuses a board advertising anything else, naming the field and its value. Values in wire
 * units (uV, ns, ms, us). The doc's table is generated from this list.
 */
export const HELLO_RANGES: { field: string; min: number; max: number; note?: string }[] = [
  { field: 'version', min: 2, max: 2 },
  { field: 'resumed', min: 0, max: 1 },
  { field: 'window', min: 1, max: 32767 },
  { field: 'max_payload', min: 64, max: 59992 },
  { field: 'arrays', min: 1, max: 255, note: 'a request addresses the array with a u8' },
  { field: 'rows', min: 1, max: 65535 },
  { field: 'cols', min: 1, max: 65535 },
  { field: 'dac_step', min: 1, max: 1_000_000 },
  { field: 'vte_max', min: 1, max: 50_000_000 },
  { field: 'vsl_max', min: 1, max: 50_000_000 },
  { field: 'vg_max', min: 1, max: 50_000_000 },
  { field: 'vread_max', min: 1, max: 10_000_000 },
  { field: 'width_min', min: 1, max: 0xffffffff, note: 'and at most width_max' },
  { field: 'width_max', min: 1, max: 0xffffffff },
  { field: 'wait_max_ms', min: 1000, max: 86_400_000, note: '1 s .. 1 day' },
  { field: 't_op_us', min: 1, max: 60_000_000, note: '60 s' },
  { field: 't_cell_us', min: 0, max: 1_000_000, note: '1 s' },
  { field: 'kind', min: 0, max: 1 },
];

/** Problems of a HELLO reply (each naming its field and value); empty when the board is usable. */
export function helloProblems(payload: Buffer, headerSession: number): string[] {
  const dec = decodeReply(spec('HELLO'), payload) as Record<string, number | string>;
  // Back to wire units (uV, ns), the units of HELLO_RANGES and of the document's table.
  const o = Object.fromEntries(spec('HELLO').reply.map((f) => [f.name, f.type === 'uV' ? Math.round((dec[f.name] as number) * 1e6) : f.type === 'ns' ? Math.round((dec[f.name] as number) * 1e9) : dec[f.name]])) as Record<string, number> & { id: string };
  const p: string[] = [];
  for (const r of HELLO_RANGES) {
    const v = o[r.field];
    if (!(v >= r.min && v <= r.max)) p.push(`${r.field}=${v} is outside ${r.min}..${r.max}`);
  }
  if (o.session === 0) p.push('session=0 (never 0)');
  if (o.session !== headerSession) p.push(`session=${o.session.toString(16)} differs from the reply header's ${headerSession.toString(16)}`);
  if (o.width_min > o.width_max) p.push(`width_min=${o.width_min} is above width_max=${o.width_max}`);
  if (12 + 8 * o.rows * o.cols > 60000) p.push(`rows=${o.rows} x cols=${o.cols}: one READ_ARRAY reply of ${12 + 8 * o.rows * o.cols} bytes exceeds a frame (60000)`);
  if (!o.id || Buffer.byteLength(o.id) < 1) p.push('id is empty');
  return p;
}
