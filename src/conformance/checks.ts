/**
 * `rram conformance`: the checks a firmware author runs against a board (docs/protocol.md). Each
 * check sends real frames through a Probe and reports pass/fail with the evidence it saw.
 * Pulses touch one chosen cell only, always with the gate at 0 V or the driving electrode at
 * 0 V (no current flows), so the suite is safe on a lab's only wafer.
 */
import { AbortedError } from '../../drivers/errors.js';
import type { CellAddress } from '../../drivers/board.js';
import { encodeRaw, encodeFrame, linkStall, HEADER_LEN, CRC_LEN } from '../../drivers/protocol/frame.js';
import { decodeError, decodeFields, decodeReply, encodeRequest, ErrCode, errName, Feature, MESSAGES, MsgType, PROTOCOL_VERSION, REPLY, spec, type MessageSpec, type Payload } from '../../drivers/protocol/messages.js';
import { execMax_s, frameBytes, maxReplyPayload, txTime_s } from '../../drivers/protocol/timing.js';
import { Rng } from '../../lib/rng.js';
import type { Probe, Received } from './probe.js';

export interface CheckResult {
  name: string;
  pass: boolean;
  evidence: string[];
}

export interface ConformanceOptions {
  /** The one cell the suite pulses (gate or drive at 0 V). Default: the last cell of the last array. */
  cell?: CellAddress;
  /** OS/USB latency allowance (ms). Default 250. */
  margin_ms?: number;
  seed?: number;
  /** Stops the suite between two checks (a station's abort or halt): an AbortedError; the checks run so far were each given to onResult. */
  signal?: AbortSignal;
}

interface Ctx {
  p: Probe;
  cell: CellAddress;
  margin: number;
  rng: Rng;
  timings: { name: string; elapsed_ms: number; budget_ms: number }[];
  errors: { r: Received; session: number }[];
}

type Check = { name: string; run: (c: Ctx, ev: string[]) => Promise<boolean> };

/** Time a request may take: its cost by the timing rule plus the margin. */
function budget(c: Ctx, m: MessageSpec, req: Payload, payloadLen: number): number {
  const g = c.p.info;
  return c.margin + 1000 * (txTime_s(frameBytes(payloadLen), c.p.baud) + execMax_s(m.type, req, c.p.link, g) + txTime_s(frameBytes(maxReplyPayload(m.type, g, req)), c.p.baud));
}

/** Sends a request of this session and returns the reply, recording timing and ERRORs. */
async function call(c: Ctx, name: string, m: MessageSpec, req: Payload, o: { seq?: number; session?: number; boot?: number; extra_ms?: number } = {}) {
  const body = encodeRequest(m, req, { raw: true }); // the suite sends what a board must refuse too (NaN, infinities)
  const b = budget(c, m, req, body.length) + (o.extra_ms ?? 0);
  const r = await c.p.call(m, body, b + 1000, o);
  c.timings.push({ name, elapsed_ms: r.elapsed_ms, budget_ms: b });
  if (r.reply.raw.type === MsgType.ERROR) c.errors.push({ r: r.reply, session: o.session ?? c.p.session });
  return r;
}

/** 'ok' for the expected reply type, else 'ERROR <NAME>' or a description. */
function outcome(m: MessageSpec, r: Received): string {
  if (!r.frame) return `a version-${r.raw.version} frame`;
  if (r.raw.type === (m.type | REPLY)) return 'ok';
  if (r.raw.type === MsgType.ERROR) {
    try {
      return `ERROR ${errName(decodeError(r.frame.payload).code)}`;
    } catch {
      return 'malformed ERROR';
    }
  }
  return `type 0x${r.raw.type.toString(16)}`;
}

const fmt = (x: number) => (Math.abs(x) < 1e-3 && x !== 0 ? x.toExponential(3) : +x.toFixed(6));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function safeWidth(c: Ctx): number {
  const l = c.p.info.limits;
  return Math.min(Math.max(1e-6, l.width_min_s), l.width_max_s);
}
/** Harmless pulses: no current can flow (gate or drive at 0 V). */
function safe(c: Ctx, kind: 'FORM' | 'SET' | 'RESET', over: Payload = {}): Payload {
  const base: Payload = kind === 'RESET' ? { ...c.cell, vsl: 0, vg: 0, width: safeWidth(c) } : { ...c.cell, vte: 0, vg: 0, width: safeWidth(c) };
  return { ...base, ...over };
}

async function counters(c: Ctx): Promise<Payload | undefined> {
  if (!c.p.info.features?.counters) return undefined;
  const r = await call(c, 'COUNTERS', spec('COUNTERS'), { ...c.cell });
  return r.reply.raw.type === (MsgType.COUNTERS | REPLY) ? decodeReply(spec('COUNTERS'), r.reply.frame!.payload) : undefined;
}
const pulses = (k: Payload) => (k.form as number) + (k.set as number) + (k.reset as number);

/**
 * The refusal of an optional message a board does not offer: UNSUPPORTED; for MVM (revision 2.2)
 * also UNKNOWN_TYPE, the answer of a board written before the type was defined (docs/protocol.md).
 */
function absent(m: MessageSpec, o: string): boolean {
  return o === 'ERROR UNSUPPORTED' || (m.type === MsgType.MVM && o === 'ERROR UNKNOWN_TYPE');
}

/** An MVM request on the first rows x cols of the suite's array. */
function mvmRequest(c: Ctx, rows: number, cols: number, voltages: number[], over: Payload = {}): Payload {
  return { array: c.cell.array, row0: 0, col0: 0, rows, cols, voltages: Float64Array.from(voltages), ...over };
}

/** Mean and standard deviation per column of K repeats (vectors k*rows.. of one reply, K x cols currents). */
function columnStats(a: Float64Array, K: number, cols: number): { mean: number[]; sd: number[] } {
  const mean = Array.from({ length: cols }, (_, j) => { let s = 0; for (let k = 0; k < K; k++) s += a[k * cols + j]; return s / K; });
  const sd = mean.map((m, j) => { let s = 0; for (let k = 0; k < K; k++) s += (a[k * cols + j] - m) ** 2; return Math.sqrt(s / Math.max(1, K - 1)); });
  return { mean, sd };
}

/** Relative allowance for the cells' I-V curvature when the voltages double (docs/protocol.md, MVM). */
const MVM_LINEARITY = 0.02;

/** The MVM rules of docs/protocol.md (feature bit 2): linearity, reply size, refusals. */
async function mvmCheck(c: Ctx, ev: string[]): Promise<boolean> {
  const m = spec('MVM');
  if (!(c.p.link.features & Feature.MVM)) {
    const o = outcome(m, (await call(c, 'MVM', m, mvmRequest(c, 1, 1, [0]))).reply);
    ev.push(`MVM absent (HELLO features bit 2 clear); an MVM request -> ${o}`);
    return absent(m, o);
  }
  const i = c.p.info;
  const stepUV = Math.round(i.dacStep_V * 1e6);
  const maxUV = Math.floor(Math.round(i.limits.vread_max_V * 1e6) / stepUV) * stepUV;
  const v1UV = Math.max(stepUV, Math.floor(Math.min(50_000, maxUV / 4) / stepUV) * stepUV);
  const rows = Math.min(8, i.rows);
  const cols = Math.min(8, i.cols);
  // Repeats: enough for the spread to be known (6 sd of a t with K - 1 >= 15 degrees of freedom is beyond 1e-5 per column).
  const K = Math.max(2, Math.min(16, Math.floor((c.p.link.maxPayload - 11) / (4 * rows)), Math.floor((i.rows * i.cols) / cols)));
  const pattern = Array.from({ length: rows }, () => (c.rng.uniform() < 0.7 ? 1 : 0));
  pattern[0] = 1;
  const send = async (scale: number) => {
    const v = Array.from({ length: K }, () => pattern.map((p) => (p * scale * v1UV) / 1e6)).flat();
    const r = await call(c, 'MVM', m, mvmRequest(c, rows, cols, v));
    if (outcome(m, r.reply) !== 'ok') return { o: outcome(m, r.reply) };
    return { o: 'ok', a: decodeReply(m, r.reply.frame!.payload).currents as Float64Array };
  };
  const one = await send(1);
  const two = await send(2);
  let ok = true;
  if (!one.a || !two.a) {
    ev.push(`MVM of ${K} x ${rows} voltages -> ${one.o}, doubled -> ${two.o}`);
    return false;
  }
  if (one.a.length !== K * cols || two.a.length !== K * cols) {
    ev.push(`replies of ${one.a.length} and ${two.a.length} currents for ${K} vectors x ${cols} columns`);
    return false;
  }
  const s1 = columnStats(one.a, K, cols);
  const s2 = columnStats(two.a, K, cols);
  let worst = 0;
  for (let j = 0; j < cols; j++) {
    const dev = Math.abs(s2.mean[j] - 2 * s1.mean[j]);
    const tol = 6 * Math.sqrt((s2.sd[j] ** 2 + 4 * s1.sd[j] ** 2) / K) + MVM_LINEARITY * Math.abs(2 * s1.mean[j]) + 1e-15;
    worst = Math.max(worst, dev / tol);
    if (dev > tol) ok = false;
  }
  ev.push(`tile ${rows}x${cols}, rows driven ${pattern.join('')} at ${v1UV / 1e6} V, then ${(2 * v1UV) / 1e6} V, ${K} repeats: column 0 ${fmt(s1.mean[0])} A -> ${fmt(s2.mean[0])} A; worst |I(2v) - 2 I(v)| ${worst.toFixed(2)} of its allowance (6 sd + ${MVM_LINEARITY * 100} %; read noise ${fmt(Math.max(...s1.sd))} A)`);
  const refusals: [string, Payload, string][] = [
    [`a voltage one DAC step above vread_max (${(maxUV + stepUV) / 1e6} V)`, mvmRequest(c, rows, cols, pattern.map((_, k) => (k === 0 ? (maxUV + stepUV) / 1e6 : 0))), 'ERROR LIMIT'],
    [`a tile one row beyond the array (row0 ${i.rows - rows + 1})`, mvmRequest(c, rows, cols, pattern.map(() => v1UV / 1e6), { row0: i.rows - rows + 1 }), 'ERROR ADDRESS'],
    [`${rows + 1} voltages for ${rows} rows`, mvmRequest(c, rows, cols, [...pattern, 1].map(() => v1UV / 1e6)), 'ERROR BAD_PAYLOAD'],
  ];
  if (stepUV > 1) refusals.push([`a voltage off the DAC grid (${(v1UV + Math.floor(stepUV / 2)) / 1e6} V)`, mvmRequest(c, rows, cols, pattern.map((_, k) => (k === 0 ? (v1UV + Math.floor(stepUV / 2)) / 1e6 : 0))), 'ERROR BAD_PAYLOAD']);
  else ev.push('dac_step is 1 uV: no voltage is off the grid');
  for (const [what, req, want] of refusals) {
    const o = outcome(m, (await call(c, 'MVM', m, req)).reply);
    ev.push(`${what} -> ${o} (expected ${want})`);
    if (o !== want) ok = false;
  }
  return ok;
}

const CHECKS: Check[] = [
  {
    name: 'handshake: HELLO fields, session and boot id in the header',
    run: async (c, ev) => {
      const r = await c.p.hello(0, 2000 + c.margin);
      const f = r.frame!;
      const i = c.p.info;
      const l = c.p.link;
      ev.push(`board ${i.id} (${i.kind}), firmware ${i.firmware}, ${i.arrays}x${i.rows}x${i.cols}, dac ${fmt(i.dacStep_V)} V, window ${l.window}, max_payload ${l.maxPayload}, features ${l.features}, t_op ${fmt(l.tOp_s)} s, t_cell ${fmt(l.tCell_s)} s, wait_max ${l.waitMax_s} s`);
      ev.push(`limits ${JSON.stringify(i.limits)}; session ${f.session.toString(16)}, boot ${f.boot.toString(16)}`);
      const bad: string[] = [];
      if (l.version !== PROTOCOL_VERSION) bad.push(`version ${l.version}`);
      if (!l.session || f.session !== l.session) bad.push('header session differs from the granted one (or is 0)');
      if (!f.boot) bad.push('boot id 0');
      if (l.window < 1) bad.push('window 0');
      if (l.maxPayload < 40) bad.push('max_payload < 40');
      if (!(i.dacStep_V > 0)) bad.push('dac_step 0');
      if (!(l.tOp_s > 0)) bad.push('t_op 0');
      for (const [k, v] of Object.entries(i.limits)) if (!(v > 0)) bad.push(`${k}=${v}`);
      if (i.rows * i.cols * 8 + 4 > 60000 - 8) bad.push('array too large for one READ_ARRAY reply');
      if (bad.length) ev.push(`problems: ${bad.join('; ')}`);
      return bad.length === 0;
    },
  },
  {
    name: 'versions: unsupported ranges and frame versions are refused, the session is untouched',
    run: async (c, ev) => {
      const session = c.p.session;
      const h = await c.p.call(spec('HELLO'), { min_version: 1, max_version: 1, resume_session: 0 }, 1000 + c.margin, { session: 0, boot: 0 });
      const a = outcome(spec('HELLO'), h.reply);
      ev.push(`HELLO asking v1..v1 -> ${a}`);
      const v3 = c.p.frame(MsgType.PING, Buffer.alloc(0), { version: 3 });
      const w3 = c.p.wait((r) => r.raw.seq === v3.seq, 1000 + c.margin);
      c.p.send(v3.bytes);
      const r3 = await w3;
      const b = r3 ? outcome(spec('PING'), r3) : 'no reply';
      ev.push(`PING in a version-3 frame -> ${b}`);
      const seq1 = c.p.nextSeq();
      const w1 = c.p.wait((r) => r.raw.seq === seq1, 1000 + c.margin);
      c.p.send(encodeRaw({ version: 1, type: MsgType.PING, seq: seq1, body: Buffer.alloc(0) }));
      const r1 = await w1;
      let v1ok = false;
      if (r1) {
        try {
          const e = decodeFields(spec('ERROR').reply, r1.raw.body);
          v1ok = r1.raw.version === 1 && r1.raw.type === MsgType.ERROR && e.code === ErrCode.VERSION;
          ev.push(`v1 PING -> version-${r1.raw.version} frame type 0x${r1.raw.type.toString(16)}, code ${e.code}: "${e.message}"`);
        } catch (e) {
          ev.push(`v1 PING -> undecodable v1 reply (${(e as Error).message})`);
        }
      } else ev.push('v1 PING -> no reply');
      const ping = await call(c, 'PING', spec('PING'), {});
      const still = outcome(spec('PING'), ping.reply) === 'ok' && c.p.session === session;
      ev.push(`PING in the session afterwards -> ${outcome(spec('PING'), ping.reply)}`);
      return a === 'ERROR VERSION' && b === 'ERROR VERSION' && v1ok && still;
    },
  },
  {
    name: 'sessions: a new HELLO ends the old session; old session and wrong boot refused; resume keeps it',
    run: async (c, ev) => {
      const old = c.p.session;
      await c.p.hello(0);
      const fresh = c.p.session;
      ev.push(`session ${old.toString(16)} -> ${fresh.toString(16)}`);
      const a = outcome(spec('PING'), (await call(c, 'PING', spec('PING'), {}, { session: old })).reply);
      ev.push(`PING with the old session -> ${a}`);
      const b = outcome(spec('PING'), (await call(c, 'PING', spec('PING'), {}, { boot: (c.p.boot ^ 0x5a5a5a5a) >>> 0 })).reply);
      ev.push(`PING with a wrong boot id -> ${b}`);
      const k0 = await counters(c);
      const s = outcome(spec('SET'), (await call(c, 'SET', spec('SET'), safe(c, 'SET'), { session: old })).reply);
      const k1 = await counters(c);
      ev.push(`SET with the old session -> ${s}${k0 && k1 ? `; pulses on the cell ${pulses(k0)} -> ${pulses(k1)}` : ''}`);
      const r = await c.p.hello(fresh);
      const resumed = c.p.link.resumed && c.p.session === fresh;
      ev.push(`HELLO resuming ${fresh.toString(16)} -> resumed=${c.p.link.resumed}, session ${r.frame!.session.toString(16)}`);
      return old !== fresh && a === 'ERROR NO_SESSION' && b === 'ERROR NO_SESSION' && s === 'ERROR NO_SESSION' && resumed && (!k0 || pulses(k0) === pulses(k1!));
    },
  },
  {
    name: 'operations: every required message answered with its reply type and exact payload',
    run: async (c, ev) => {
      const i = c.p.info;
      const vread = Math.min(0.2, i.limits.vread_max_V);
      let ok = true;
      const tryOp = async (name: keyof typeof MsgType, req: Payload, check: (p: Payload) => string | undefined = () => undefined) => {
        const m = spec(name);
        const r = await call(c, name, m, req);
        const o = outcome(m, r.reply);
        let note = '';
        if (o === 'ok') {
          try {
            note = check(decodeReply(m, r.reply.frame!.payload)) ?? '';
          } catch (e) {
            note = `payload does not decode: ${(e as Error).message}`;
          }
        }
        ev.push(`${name} -> ${o}${note ? ` (${note})` : ''} in ${r.elapsed_ms.toFixed(1)} ms`);
        if (o !== 'ok' || note.startsWith('payload') || note.startsWith('bad')) ok = false;
      };
      await tryOp('PING', {});
      await tryOp('GROUND', {});
      await tryOp('READ', { ...c.cell, vread }, (p) => (Number.isFinite(p.current) ? `${fmt(p.current as number)} A` : `bad current ${p.current}`));
      await tryOp('READ_ROW', { array: c.cell.array, row: c.cell.row, vread }, (p) => ((p.currents as Float64Array).length === i.cols ? `${i.cols} currents` : `bad count ${(p.currents as Float64Array).length}`));
      await tryOp('READ_ARRAY', { array: c.cell.array, vread }, (p) => ((p.currents as Float64Array).length === i.rows * i.cols ? `${i.rows * i.cols} currents` : `bad count ${(p.currents as Float64Array).length}`));
      await tryOp('FORM', safe(c, 'FORM'));
      await tryOp('SET', safe(c, 'SET'));
      await tryOp('RESET', safe(c, 'RESET'));
      await tryOp('WAIT', { seconds: 0 });
      return ok;
    },
  },
  {
    name: 'limits: amplitudes, widths, read voltage and WAIT beyond the limits refused unexecuted',
    run: async (c, ev) => {
      const l = c.p.info.limits;
      const d = c.p.info.dacStep_V;
      const cases: [string, keyof typeof MsgType, Payload][] = [
        ['FORM vte above vte_max', 'FORM', safe(c, 'FORM', { vte: l.vte_max_V + d })],
        ['SET vte above vte_max', 'SET', safe(c, 'SET', { vte: l.vte_max_V + d })],
        ['SET vg above vg_max', 'SET', safe(c, 'SET', { vg: l.vg_max_V + d })],
        ['SET vte negative', 'SET', safe(c, 'SET', { vte: -d })],
        ['SET width above width_max', 'SET', safe(c, 'SET', { width: l.width_max_s + 1e-6 })],
        ['RESET vsl above vsl_max', 'RESET', safe(c, 'RESET', { vsl: l.vsl_max_V + d })],
        ['RESET vg above vg_max', 'RESET', safe(c, 'RESET', { vg: l.vg_max_V + d })],
        ['READ vread above vread_max', 'READ', { ...c.cell, vread: l.vread_max_V + d }],
        ['WAIT above wait_max', 'WAIT', { seconds: c.p.link.waitMax_s + 1 }],
      ];
      if (l.width_min_s >= 2e-9) cases.push(['SET width below width_min', 'SET', safe(c, 'SET', { width: l.width_min_s - 1e-9 })]);
      const k0 = await counters(c);
      let ok = true;
      for (const [what, name, req] of cases) {
        const o = outcome(spec(name), (await call(c, name, spec(name), req)).reply);
        ev.push(`${what} -> ${o}`);
        if (o !== 'ERROR LIMIT') ok = false;
      }
      const k1 = await counters(c);
      if (k0 && k1) {
        ev.push(`pulses on the cell ${pulses(k0)} -> ${pulses(k1)}`);
        if (pulses(k0) !== pulses(k1)) ok = false;
      }
      return ok;
    },
  },
  {
    name: 'DAC rounding: values are rounded to dac_step, then checked',
    run: async (c, ev) => {
      const l = c.p.info.limits;
      const d = c.p.info.dacStep_V;
      const cases: [string, Payload, string][] = [
        ['SET vte = vte_max + 0.4 step (rounds to vte_max)', safe(c, 'SET', { vte: l.vte_max_V + 0.4 * d }), 'ok'],
        ['SET vte = vte_max + 0.6 step (rounds above)', safe(c, 'SET', { vte: l.vte_max_V + 0.6 * d }), 'ERROR LIMIT'],
        ['SET vg = vg_max + 0.4 step (rounds to vg_max)', safe(c, 'SET', { vg: l.vg_max_V + 0.4 * d }), 'ok'],
        ['SET vg = vg_max + 0.6 step (rounds above)', safe(c, 'SET', { vg: l.vg_max_V + 0.6 * d }), 'ERROR LIMIT'],
      ];
      let ok = true;
      for (const [what, req, want] of cases) {
        const o = outcome(spec('SET'), (await call(c, 'SET', spec('SET'), req)).reply);
        ev.push(`${what} -> ${o}`);
        if (o !== want) ok = false;
      }
      return ok;
    },
  },
  {
    name: 'addresses: array, row and column out of range refused',
    run: async (c, ev) => {
      const i = c.p.info;
      const vread = Math.min(0.2, i.limits.vread_max_V);
      const cases: [string, keyof typeof MsgType, Payload][] = [
        ['READ array = arrays', 'READ', { ...c.cell, array: Math.min(255, i.arrays), vread }],
        ['READ row = rows', 'READ', { ...c.cell, row: i.rows, vread }],
        ['READ col = cols', 'READ', { ...c.cell, col: i.cols, vread }],
        ['SET col = cols', 'SET', safe(c, 'SET', { col: i.cols })],
        ['RESET row = rows', 'RESET', safe(c, 'RESET', { row: i.rows })],
        ['READ_ROW row = rows', 'READ_ROW', { array: c.cell.array, row: i.rows, vread }],
        ['READ_ARRAY array = arrays', 'READ_ARRAY', { array: Math.min(255, i.arrays), vread }],
      ];
      let ok = true;
      for (const [what, name, req] of cases) {
        const o = outcome(spec(name), (await call(c, name, spec(name), req)).reply);
        ev.push(`${what} -> ${o}`);
        if (o !== 'ERROR ADDRESS') ok = false;
      }
      return ok;
    },
  },
  {
    name: 'retransmission of a finished pulse: answered from the cache, not executed again',
    run: async (c, ev) => {
      const k0 = await counters(c);
      const first = await call(c, 'SET', spec('SET'), safe(c, 'SET'));
      const again = await c.p.call(spec('SET'), first.bytes.subarray(HEADER_LEN + 8, first.bytes.length - CRC_LEN), 2000 + c.margin, { seq: first.seq });
      const k1 = await counters(c);
      const same = first.reply.raw.body.equals(again.reply.raw.body) && first.reply.raw.type === again.reply.raw.type;
      ev.push(`SET seq ${first.seq} -> ${outcome(spec('SET'), first.reply)}; same bytes again -> ${outcome(spec('SET'), again.reply)}, ${same ? 'identical' : 'different'} reply`);
      let ok = same && outcome(spec('SET'), first.reply) === 'ok';
      if (k0 && k1) {
        ev.push(`SET pulses on the cell ${k0.set} -> ${k1.set} (must be +1)`);
        ok &&= (k1.set as number) === (k0.set as number) + 1;
      }
      // Timing evidence: a re-executed WAIT would take its time again.
      const w = Math.min(0.3, c.p.link.waitMax_s);
      const wf = await call(c, 'WAIT', spec('WAIT'), { seconds: w });
      const wa = await c.p.call(spec('WAIT'), encodeRequest(spec('WAIT'), { seconds: w }), 2000 + c.margin + w * 1000, { seq: wf.seq });
      ev.push(`WAIT ${w} s took ${wf.elapsed_ms.toFixed(0)} ms; its retransmission was answered in ${wa.elapsed_ms.toFixed(0)} ms`);
      ok &&= wf.elapsed_ms >= w * 900 && wa.elapsed_ms < w * 500;
      return ok;
    },
  },
  {
    name: 'retransmission of a request still executing: answered once, when done, executed once',
    run: async (c, ev) => {
      const w = Math.min(0.6, c.p.link.waitMax_s);
      const req = encodeRequest(spec('WAIT'), { seconds: w });
      const { bytes, seq } = c.p.frame(MsgType.WAIT, req);
      const t0 = c.p.send(bytes);
      await sleep((w * 1000) / 4);
      c.p.send(bytes);
      const ping = c.p.frame(MsgType.PING, Buffer.alloc(0));
      const pw = c.p.wait((r) => r.raw.seq === ping.seq, w * 3000 + c.margin + 1000);
      c.p.send(ping.bytes);
      const pr = await pw;
      const replies = await c.p.collect(seq, t0, c.margin + 300);
      const tw = replies[0] ? replies[0].t - t0 : NaN;
      const tp = pr ? pr.t - t0 : NaN;
      ev.push(`WAIT ${w} s, same bytes again after ${(w * 250).toFixed(0)} ms, then PING: ${replies.length} WAIT repl${replies.length === 1 ? 'y' : 'ies'} (first after ${tw.toFixed(0)} ms), PING answered after ${tp.toFixed(0)} ms`);
      return replies.length === 1 && tw >= w * 900 && !!pr && tp >= tw && tp < w * 1500 + c.margin;
    },
  },
  {
    name: 'reads are re-executed on retransmission (never cached)',
    run: async (c, ev) => {
      const vread = Math.min(0.2, c.p.info.limits.vread_max_V);
      const k0 = await counters(c);
      const a = await call(c, 'READ', spec('READ'), { ...c.cell, vread });
      const b = await c.p.call(spec('READ'), encodeRequest(spec('READ'), { ...c.cell, vread }), 2000 + c.margin, { seq: a.seq });
      const k1 = await counters(c);
      const both = outcome(spec('READ'), a.reply) === 'ok' && outcome(spec('READ'), b.reply) === 'ok';
      ev.push(`READ seq ${a.seq} twice -> ${outcome(spec('READ'), a.reply)}, ${outcome(spec('READ'), b.reply)}`);
      if (k0 && k1) {
        ev.push(`reads counted on the cell ${k0.read} -> ${k1.read} (must be +2)`);
        return both && (k1.read as number) === (k0.read as number) + 2;
      }
      return both;
    },
  },
  {
    name: 'stale and conflicting sequence numbers refused unexecuted',
    run: async (c, ev) => {
      const W = c.p.link.window;
      const first = await call(c, 'SET', spec('SET'), safe(c, 'SET'));
      const conflict = await call(c, 'SET', spec('SET'), safe(c, 'SET', { width: safeWidth(c) === c.p.info.limits.width_max_s ? c.p.info.limits.width_min_s : safeWidth(c) * 2 }), { seq: first.seq });
      const a = outcome(spec('SET'), conflict.reply);
      ev.push(`SET seq ${first.seq} with another payload -> ${a}`);
      for (let k = 0; k < W; k++) await call(c, 'PING', spec('PING'), {});
      const old = (c.p.seq - 1 - W) & 0xffff;
      const k0 = await counters(c);
      const stale = await call(c, 'SET', spec('SET'), safe(c, 'SET'), { seq: old });
      const k1 = await counters(c);
      const b = outcome(spec('SET'), stale.reply);
      ev.push(`after ${W} PINGs, SET with seq ${old} (${W} behind the newest) -> ${b}${k0 && k1 ? `; pulses ${pulses(k0)} -> ${pulses(k1)}` : ''}`);
      return a === 'ERROR SEQ_CONFLICT' && b === 'ERROR STALE_SEQ' && (!k0 || pulses(k0) === pulses(k1!));
    },
  },
  {
    name: 'garbage on the line is skipped',
    run: async (c, ev) => {
      const g = Buffer.alloc(200);
      for (let k = 0; k < g.length; k++) g[k] = c.rng.int(256);
      for (let k = 0; k < 5; k++) g.set([0xa5, 0x5a, 2, c.rng.int(256), 0, 0, c.rng.int(256), 0], 30 * k + c.rng.int(20));
      c.p.send(g);
      const stall = linkStall(c.p.baud);
      const r = await call(c, 'PING', spec('PING'), {}, { extra_ms: stall });
      ev.push(`200 random bytes with 5 fake headers, then PING -> ${outcome(spec('PING'), r.reply)} after ${r.elapsed_ms.toFixed(0)} ms (stall timeout ${stall.toFixed(0)} ms)`);
      return outcome(spec('PING'), r.reply) === 'ok';
    },
  },
  {
    name: 'a stalled frame is dropped after its stall timeout; an oversized length at once',
    run: async (c, ev) => {
      const n = c.p.link.maxPayload;
      const lying = encodeFrame({ version: PROTOCOL_VERSION, type: MsgType.PING, seq: c.p.nextSeq(), session: c.p.session, boot: c.p.boot, payload: Buffer.alloc(n) }).subarray(0, 12);
      c.p.send(lying);
      // A 2.0 board times the frame from its first byte (its transfer time, doubled): allow that too.
      const stall = Math.max(linkStall(c.p.baud), 50 + (2 * (HEADER_LEN + 8 + n + CRC_LEN) * 10 * 1000) / c.p.baud);
      await sleep(stall + 50);
      const r = await call(c, 'PING', spec('PING'), {});
      ev.push(`12 bytes of a frame claiming ${8 + n} body bytes, ${Math.round(stall + 50)} ms of silence, then PING -> ${outcome(spec('PING'), r.reply)} after ${r.elapsed_ms.toFixed(0)} ms`);
      const big = encodeFrame({ version: PROTOCOL_VERSION, type: MsgType.PING, seq: c.p.nextSeq(), session: c.p.session, boot: c.p.boot, payload: Buffer.alloc(n + 1) });
      const bigSeq = big.readUInt16LE(4);
      const t0 = c.p.send(big);
      const r2 = await call(c, 'PING', spec('PING'), {});
      const none = (await c.p.collect(bigSeq, t0, 50)).length === 0;
      ev.push(`a CRC-valid frame with a ${n + 1}-byte payload (max_payload ${n}) -> ${none ? 'dropped' : 'answered'}; PING right after -> ${outcome(spec('PING'), r2.reply)} after ${r2.elapsed_ms.toFixed(0)} ms`);
      return outcome(spec('PING'), r.reply) === 'ok' && outcome(spec('PING'), r2.reply) === 'ok' && none && r2.elapsed_ms < stall;
    },
  },
  {
    name: 'a frame with a bad CRC is dropped unanswered',
    run: async (c, ev) => {
      const { bytes, seq } = c.p.frame(MsgType.PING, Buffer.alloc(0));
      const bad = Buffer.from(bytes);
      bad[bad.length - 1] ^= 0xff;
      const t0 = c.p.send(bad);
      const r = await call(c, 'PING', spec('PING'), {});
      const none = (await c.p.collect(seq, t0, c.margin)).length === 0;
      ev.push(`PING seq ${seq} with a bad CRC -> ${none ? 'no reply' : 'answered'}; valid PING -> ${outcome(spec('PING'), r.reply)}`);
      return none && outcome(spec('PING'), r.reply) === 'ok';
    },
  },
  {
    name: 'malformed payloads of every type refused with BAD_PAYLOAD',
    run: async (c, ev) => {
      let ok = true;
      const f = c.p.link.features;
      const sample: Record<string, Payload> = {
        PING: {},
        FORM: safe(c, 'FORM'),
        SET: safe(c, 'SET'),
        RESET: safe(c, 'RESET'),
        READ: { ...c.cell, vread: 0.1 },
        READ_ROW: { array: c.cell.array, row: c.cell.row, vread: 0.1 },
        READ_ARRAY: { array: c.cell.array, vread: 0.1 },
        WAIT: { seconds: 0 },
        GROUND: {},
        WRITE_VERIFY: { ...c.cell, algo: 0, target: 0, fixed: 0, start: 0, step: c.p.info.dacStep_V, stop: 0, max_pulses: 1, width: safeWidth(c), vread: 0.1 },
        COUNTERS: { ...c.cell },
        MVM: mvmRequest(c, 1, 1, [0]),
      };
      for (const m of MESSAGES) {
        if (m.type === MsgType.HELLO || m.type === MsgType.ERROR || (m.feature && !(f & m.feature))) continue;
        const good = encodeRequest(m, sample[m.name]);
        const variants: [string, Buffer][] = [[`${m.name} + 1 byte`, Buffer.concat([good, Buffer.from([0])])]];
        if (good.length) variants.push([`${m.name} - 1 byte`, good.subarray(0, good.length - 1)]);
        for (const [what, body] of variants) {
          const r = await c.p.call(m.type, body, budget(c, m, sample[m.name], body.length) + 1000);
          const o = outcome(m, r.reply);
          if (r.reply.raw.type === MsgType.ERROR) c.errors.push({ r: r.reply, session: c.p.session });
          if (o !== 'ERROR BAD_PAYLOAD') {
            ok = false;
            ev.push(`${what} -> ${o}`);
          }
        }
      }
      for (const s of [NaN, -1, Infinity]) {
        const o = outcome(spec('WAIT'), (await call(c, 'WAIT', spec('WAIT'), { seconds: s })).reply);
        ev.push(`WAIT ${s} -> ${o}`);
        if (o !== 'ERROR BAD_PAYLOAD') ok = false;
      }
      const short = c.p.frame(MsgType.PING, Buffer.alloc(0));
      const raw = encodeRaw({ version: PROTOCOL_VERSION, type: MsgType.PING, seq: short.seq, body: Buffer.alloc(4) });
      const w = c.p.wait((r) => r.raw.seq === short.seq, 1000 + c.margin);
      c.p.send(raw);
      const r = await w;
      const o = r ? outcome(spec('PING'), r) : 'no reply';
      ev.push(`a body of 4 bytes (no session header) -> ${o}`);
      if (o !== 'ERROR BAD_PAYLOAD') ok = false;
      ev.push(ok ? 'every truncated and extended payload -> ERROR BAD_PAYLOAD' : 'see above');
      const alive = outcome(spec('PING'), (await call(c, 'PING', spec('PING'), {})).reply);
      return ok && alive === 'ok';
    },
  },
  {
    name: 'unknown types and unsupported options',
    run: async (c, ev) => {
      const u = await c.p.call(0x33, Buffer.alloc(0), 1000 + c.margin);
      const a = outcome(spec('PING'), u.reply);
      ev.push(`type 0x33 -> ${a}`);
      let ok = a === 'ERROR UNKNOWN_TYPE';
      for (const m of MESSAGES.filter((x) => x.feature)) {
        const offered = (c.p.link.features & m.feature!) !== 0;
        if (m.type === MsgType.WRITE_VERIFY) {
          const req = { ...c.cell, algo: 0, target: 0, fixed: 0, start: 0, step: c.p.info.dacStep_V, stop: 0, max_pulses: 1, width: safeWidth(c), vread: Math.min(0.2, c.p.info.limits.vread_max_V) };
          const r = await call(c, m.name, m, req);
          const o = outcome(m, r.reply);
          if (offered && o === 'ok') {
            const s = decodeReply(m, r.reply.frame!.payload);
            ev.push(`WRITE_VERIFY (offered) with target 0 A -> success ${s.success}, ${s.pulses} pulses`);
            ok &&= s.success === 1 && s.pulses === 0;
          } else {
            ev.push(`WRITE_VERIFY (${offered ? 'offered' : 'not offered'}) -> ${o}`);
            ok &&= !offered && o === 'ERROR UNSUPPORTED';
          }
        } else {
          const r = await call(c, m.name, m, m.type === MsgType.MVM ? mvmRequest(c, 1, 1, [0]) : { ...c.cell });
          const o = outcome(m, r.reply);
          ev.push(`${m.name} (${offered ? 'offered' : 'not offered'}) -> ${o}`);
          ok &&= offered ? o === 'ok' : absent(m, o);
        }
      }
      return ok;
    },
  },
  {
    name: 'order of checks: several faults in one request get the first error of section 3',
    run: async (c, ev) => {
      const i = c.p.info;
      const l = i.limits;
      const d = i.dacStep_V;
      const cases: [string, number, Buffer, { session?: number }, string][] = [
        ['type 0x33 with another session', 0x33, Buffer.alloc(0), { session: (c.p.session ^ 0x1234567) >>> 0 }, 'ERROR NO_SESSION'],
        ['SET with col = cols and vte above vte_max', MsgType.SET, encodeRequest(spec('SET'), safe(c, 'SET', { col: i.cols, vte: l.vte_max_V + 2 * d })), {}, 'ERROR ADDRESS'],
        ['SET one byte short with vte above vte_max', MsgType.SET, encodeRequest(spec('SET'), safe(c, 'SET', { vte: l.vte_max_V + 2 * d })).subarray(0, 16), {}, 'ERROR BAD_PAYLOAD'],
        ['RESET with row = rows and a width above width_max', MsgType.RESET, encodeRequest(spec('RESET'), safe(c, 'RESET', { row: i.rows, width: l.width_max_s + 1e-6 })), {}, 'ERROR ADDRESS'],
      ];
      let ok = true;
      for (const [what, type, body, o, want] of cases) {
        const r = await c.p.call(type, body, 1000 + c.margin, o);
        if (r.reply.raw.type === MsgType.ERROR) c.errors.push({ r: r.reply, session: o.session ?? c.p.session });
        const got = outcome(spec('PING'), r.reply).replace(/^ok$/, 'executed');
        ev.push(`${what} -> ${got} (expected ${want})`);
        if (got !== want) ok = false;
      }
      return ok;
    },
  },
  {
    name: 'HELLO is handled at once, never queued behind a request (a WAIT executing)',
    run: async (c, ev) => {
      const w = Math.min(0.8, c.p.link.waitMax_s);
      const wait = c.p.frame(MsgType.WAIT, encodeRequest(spec('WAIT'), { seconds: w }));
      const t0 = c.p.send(wait.bytes);
      await sleep(100);
      const h = await c.p.hello(c.p.session, w * 1000 + 2000 + c.margin);
      const th = h.t - t0;
      const wr = await c.p.wait((r) => r.raw.seq === wait.seq, w * 1000 + c.margin + 1000);
      const tw = wr ? wr.t - t0 : NaN;
      ev.push(`WAIT ${w} s sent; HELLO (resume) 100 ms later answered after ${th.toFixed(0)} ms, resumed=${c.p.link.resumed}; the WAIT answered after ${tw.toFixed(0)} ms`);
      return c.p.link.resumed && th < w * 1000 - 100 && tw >= w * 900;
    },
  },
  {
    name: "a new session discards the old session's queued requests (never executed, never answered)",
    run: async (c, ev) => {
      const k0 = await counters(c);
      const w = Math.min(0.6, c.p.link.waitMax_s);
      const old = c.p.session;
      const wait = c.p.frame(MsgType.WAIT, encodeRequest(spec('WAIT'), { seconds: w }));
      const set = c.p.frame(MsgType.SET, encodeRequest(spec('SET'), safe(c, 'SET')));
      const t0 = c.p.send(wait.bytes);
      c.p.send(set.bytes);
      await sleep(100);
      await c.p.hello(0, 2000 + c.margin);
      await sleep(w * 1000 + 200);
      const setReplies = c.p.received.filter((r) => r.raw.seq === set.seq && r.t >= t0 && r.frame?.session === old);
      const k1 = await counters(c);
      ev.push(`WAIT ${w} s then SET queued in session ${old.toString(16)}; new session ${c.p.session.toString(16)} 100 ms later: SET answered ${setReplies.length} time(s)${k0 && k1 ? `, SET pulses on the cell ${k0.set} -> ${k1.set}` : ''}`);
      return old !== c.p.session && setReplies.length === 0 && (!k0 || k1!.set === k0.set);
    },
  },
  {
    name: 'WRITE_VERIFY with a real target: every pulse within start..stop (after rounding), final_stepped applied, pulses counted',
    run: async (c, ev) => {
      if (!(c.p.link.features & 1)) {
        ev.push('WRITE_VERIFY not offered: nothing to audit');
        return true;
      }
      const i = c.p.info;
      const d = i.dacStep_V;
      const vread = Math.min(0.2, i.limits.vread_max_V);
      const m = spec('WRITE_VERIFY');
      // The drive electrode at 0 V: no current can flow, so no target is ever reached (the loop runs to stop).
      const steps = 7;
      const base = { ...c.cell, target: 1e-3, fixed: 0, width: safeWidth(c), vread, max_pulses: 200 };
      const jobs: [string, Payload, number, number][] = [
        ['IGVVA gate 0..7 steps (VTE 0 V)', { ...base, algo: 0, start: 0, step: d, stop: steps * d }, steps + 1, steps * d],
        ['IGVVA stop 0.4 step past a grid point rounds down', { ...base, algo: 0, start: 0, step: 2 * d, stop: (2 * steps + 0.4) * d }, steps + 1, 2 * steps * d],
        ['ISPVA VTE 0..7 steps (gate 0 V)', { ...base, algo: 1, start: 0, step: d, stop: steps * d }, steps + 1, steps * d],
        ['IGVVA max_pulses 3 before stop', { ...base, algo: 0, start: 0, step: d, stop: steps * d, max_pulses: 3 }, 3, 2 * d],
      ];
      let ok = true;
      for (const [what, req, wantPulses, wantStepped] of jobs) {
        const k0 = await counters(c);
        const r = await call(c, 'WRITE_VERIFY', m, req);
        const o = outcome(m, r.reply);
        const k1 = await counters(c);
        if (o !== 'ok') {
          ev.push(`${what} -> ${o}`);
          ok = false;
          continue;
        }
        const s = decodeReply(m, r.reply.frame!.payload);
        const dSet = k0 && k1 ? (k1.set as number) - (k0.set as number) : undefined;
        const dRead = k0 && k1 ? (k1.read as number) - (k0.read as number) : undefined;
        const good = s.success === 0 && s.pulses === wantPulses && Math.abs((s.final_stepped as number) - wantStepped) < d / 2 && (dSet === undefined || (dSet === wantPulses && dRead === wantPulses + 1));
        ev.push(`${what} -> success ${s.success}, ${s.pulses} pulses (want ${wantPulses}), final_stepped ${fmt(s.final_stepped as number)} V (want ${fmt(wantStepped)})${dSet !== undefined ? `, counters +${dSet} SET +${dRead} READ` : ''}`);
        if (!good) ok = false;
      }
      const l = i.limits;
      const refusals: [string, Payload, string][] = [
        ['stop above vg_max', { ...base, algo: 0, start: 0, step: d, stop: l.vg_max_V + 2 * d }, 'ERROR LIMIT'],
        ['step rounding to 0', { ...base, algo: 0, start: 0, step: 0.4 * d, stop: steps * d }, 'ERROR BAD_PAYLOAD'],
        ['stop below start', { ...base, algo: 0, start: 2 * d, step: d, stop: d }, 'ERROR BAD_PAYLOAD'],
        ['algo 2', { ...base, algo: 2, start: 0, step: d, stop: d }, 'ERROR BAD_PAYLOAD'],
      ];
      const k0 = await counters(c);
      for (const [what, req, want] of refusals) {
        const o = outcome(m, (await call(c, 'WRITE_VERIFY', m, req)).reply);
        ev.push(`WRITE_VERIFY ${what} -> ${o}`);
        if (o !== want) ok = false;
      }
      const k1 = await counters(c);
      if (k0 && k1 && pulses(k1) !== pulses(k0)) {
        ev.push(`refused jobs pulsed the cell: ${pulses(k0)} -> ${pulses(k1)}`);
        ok = false;
      }
      return ok;
    },
  },
  {
    name: "HELLO's seq is outside the request sequence (a request numbered after a far-ahead HELLO is not stale)",
    run: async (c, ev) => {
      const W = c.p.link.window;
      const before = c.p.seq;
      const far = (before + W + 10) & 0xffff;
      await c.p.hello(c.p.session, 2000 + c.margin, undefined, far);
      c.p.seq = before;
      const r = await call(c, 'PING', spec('PING'), {});
      const o = outcome(spec('PING'), r.reply);
      ev.push(`HELLO (resume) numbered ${far}, ${W + 10} ahead of the next request; PING seq ${r.seq} -> ${o}`);
      c.p.seq = (far + 1) & 0xffff; // on past the HELLO's seq either way, so a board that counted it does not fail the next checks too
      return o === 'ok';
    },
  },
  {
    name: 'seq wrap: cache entries are keyed by the whole seq and forgotten outside the window',
    run: async (c, ev) => {
      const W = c.p.link.window;
      // Evidence without COUNTERS too: a WAIT answered from the cache comes back at once, one executed takes its time.
      const w = Math.min(0.25, c.p.link.waitMax_s);
      const jump = async (to: number) => {
        while (((to - c.p.seq) & 0xffff) > 30000) {
          c.p.seq = (c.p.seq + 30000) & 0xffff;
          await call(c, 'PING', spec('PING'), {});
        }
        c.p.seq = to;
      };
      // (a) Identical requests 65536 seqs later are new requests: executed, not answered from the cache.
      const k0 = await counters(c);
      const set1 = await call(c, 'SET', spec('SET'), safe(c, 'SET'));
      const wait1 = await call(c, 'WAIT', spec('WAIT'), { seconds: w });
      await jump((set1.seq + 65535) & 0xffff);
      await call(c, 'PING', spec('PING'), {});
      const set2 = await call(c, 'SET', spec('SET'), safe(c, 'SET')); // seq set1.seq again
      const wait2 = await call(c, 'WAIT', spec('WAIT'), { seconds: w }); // seq wait1.seq again
      const k1 = await counters(c);
      ev.push(`SET seq ${set1.seq} and WAIT ${w} s seq ${wait1.seq}, then 65536 seqs on (forward jumps with PINGs), the same two with seqs ${set2.seq}, ${wait2.seq}: ${outcome(spec('SET'), set2.reply)}, WAIT took ${wait2.elapsed_ms.toFixed(0)} ms${k0 && k1 ? `; SET pulses ${k0.set} -> ${k1.set} (must be +2)` : ''}`);
      const firstOk = outcome(spec('SET'), set1.reply) === 'ok' && outcome(spec('WAIT'), wait1.reply) === 'ok' && wait1.elapsed_ms >= w * 900;
      if (!firstOk) ev.push(`the first SET -> ${outcome(spec('SET'), set1.reply)}, WAIT -> ${outcome(spec('WAIT'), wait1.reply)} in ${wait1.elapsed_ms.toFixed(0)} ms`);
      let ok = firstOk && set2.seq === set1.seq && outcome(spec('SET'), set2.reply) === 'ok' && wait2.elapsed_ms >= w * 900 && (!k0 || (k1!.set as number) === (k0.set as number) + 2);
      // (b) Two live seqs that share seq mod W across the wrap (only when W does not divide 65536).
      const dShare = 65536 % W;
      if (dShare) {
        await jump(65535);
        const x = await call(c, 'WAIT', spec('WAIT'), { seconds: w });
        c.p.seq = (x.seq + dShare) & 0xffff;
        const y = await call(c, 'WAIT', spec('WAIT'), { seconds: w / 2 });
        const rx = await c.p.call(spec('WAIT'), x.bytes.subarray(HEADER_LEN + 8, x.bytes.length - CRC_LEN), 2000 + c.margin + w * 1000, { seq: x.seq });
        const same = rx.reply.raw.body.equals(x.reply.raw.body) && rx.reply.raw.type === x.reply.raw.type;
        ev.push(`W = ${W}: WAIT seq ${x.seq} and WAIT seq ${y.seq} (the same seq mod W, both live), then WAIT ${x.seq} again -> ${outcome(spec('WAIT'), rx.reply)} in ${rx.elapsed_ms.toFixed(0)} ms (${same ? 'the cached reply' : 'a new reply'}; executed again it would take ${w * 1000} ms)`);
        ok &&= same && rx.elapsed_ms < w * 500;
      } else ev.push(`W = ${W} divides 65536: no two live seqs share seq mod W`);
      return ok;
    },
  },
  {
    name: 'keep-alive: the session survives 2.5 s of silence; PING answered',
    run: async (c, ev) => {
      await sleep(2500);
      const r = await call(c, 'PING', spec('PING'), {});
      ev.push(`PING after 2.5 s idle -> ${outcome(spec('PING'), r.reply)} in ${r.elapsed_ms.toFixed(1)} ms`);
      return outcome(spec('PING'), r.reply) === 'ok';
    },
  },
  {
    name: 'ERROR frames: version, seq and session echoed, code known, payload well formed',
    run: async (c, ev) => {
      const known = new Set<number>(Object.values(ErrCode));
      let bad = 0;
      for (const { r, session } of c.errors) {
        try {
          const e = decodeError(r.frame!.payload);
          const problems = [r.raw.version !== PROTOCOL_VERSION && 'version', !known.has(e.code) && `unknown code ${e.code}`, r.frame!.session !== session && 'session not echoed', r.frame!.boot !== c.p.boot && 'boot id'].filter(Boolean);
          if (problems.length) {
            bad++;
            ev.push(`seq ${r.raw.seq}: ${problems.join(', ')}`);
          }
        } catch (e) {
          bad++;
          ev.push(`seq ${r.raw.seq}: ${(e as Error).message}`);
        }
      }
      ev.push(`${c.errors.length} ERROR frames seen, ${bad} malformed`);
      return c.errors.length > 0 && bad === 0;
    },
  },
  { name: 'MVM (optional, bit 2): doubled voltages double the currents; over vread_max, off the grid, out of range refused; absent: UNSUPPORTED', run: mvmCheck },
  {
    name: 'timing: every reply within the advertised maxima (timing rule of section 6)',
    run: async (c, ev) => {
      const vread = Math.min(0.2, c.p.info.limits.vread_max_V);
      await call(c, 'READ_ARRAY', spec('READ_ARRAY'), { array: c.cell.array, vread });
      await call(c, 'WAIT', spec('WAIT'), { seconds: Math.min(0.1, c.p.link.waitMax_s) });
      const late = c.timings.filter((t) => t.elapsed_ms > t.budget_ms);
      const worst = new Map<string, { elapsed_ms: number; budget_ms: number }>();
      for (const t of c.timings) if (!worst.has(t.name) || t.elapsed_ms > worst.get(t.name)!.elapsed_ms) worst.set(t.name, t);
      for (const [k, t] of worst) ev.push(`${k}: slowest ${t.elapsed_ms.toFixed(1)} ms of ${t.budget_ms.toFixed(1)} ms allowed`);
      for (const t of late) ev.push(`LATE ${t.name}: ${t.elapsed_ms.toFixed(1)} ms > ${t.budget_ms.toFixed(1)} ms`);
      return late.length === 0;
    },
  },
];

export async function runConformance(p: Probe, o: ConformanceOptions = {}, onResult?: (r: CheckResult) => void): Promise<CheckResult[]> {
  const ctx: Ctx = { p, cell: o.cell ?? { array: 0, row: 0, col: 0 }, margin: o.margin_ms ?? 250, rng: new Rng(o.seed ?? 1), timings: [], errors: [] };
  const out: CheckResult[] = [];
  for (const [k, ch] of CHECKS.entries()) {
    if (o.signal?.aborted) throw new AbortedError(`conformance aborted after ${k} of ${CHECKS.length} checks`);
    const ev: string[] = [];
    let pass = false;
    try {
      pass = await ch.run(ctx, ev);
    } catch (e) {
      ev.push(`stopped: ${(e as Error).message}`);
    }
    if (k === 0 && !o.cell && p.info) ctx.cell = { array: p.info.arrays - 1, row: p.info.rows - 1, col: p.info.cols - 1 };
    const r = { name: ch.name, pass, evidence: ev };
    out.push(r);
    onResult?.(r);
    if (k === 0 && !pass && !p.info) break; // no handshake: nothing else can run
  }
  return out;
}

export const CHECK_COUNT = CHECKS.length;
