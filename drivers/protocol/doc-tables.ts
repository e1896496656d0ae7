/**
 * Renders docs/protocol.md's message tables and example transcripts from the code (the schema in
 * messages.ts and a run of the emulator firmware), so a test can check the document says exactly
 * what both ends do. `node dist/drivers/protocol/doc-tables.js` prints them.
 */
import { pathToFileURL } from 'node:url';
import { EmulatedBoard } from '../emulated/emulated-board.js';
import { Firmware } from '../emulated/firmware.js';
import { encodeFrame } from './frame.js';
import { HELLO_RANGES } from './hello.js';
import { encodeRequest, ErrCode, MESSAGES, MsgType, PROTOCOL_VERSION, spec, VERSIONS, type Field } from './messages.js';

const fieldList = (fs: Field[]) => (fs.length ? fs.map((f) => `${f.name} ${f.type}`).join(', ') : '(empty)');

export function messageTable(): string {
  const rows = MESSAGES.filter((m) => m.type !== MsgType.ERROR).map(
    (m) => `| 0x${m.type.toString(16).padStart(2, '0')} | ${m.name} | ${m.retry} | ${m.feature ? `bit ${Math.log2(m.feature)}` : 'required'} | ${fieldList(m.request)} | ${fieldList(m.reply)} |`,
  );
  return ['| type | name | retransmission | feature | request payload | reply payload |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

export function helloTable(): string {
  const rows = spec('HELLO').reply.map((f) => `| ${f.name} | ${f.type} | ${f.doc} |`);
  return ['| field | type | meaning |', '|---|---|---|', ...rows].join('\n');
}

/** The HELLO ranges table of section 4 (revision 2.1), from HELLO_RANGES. */
export function rangeTable(): string {
  const units: Record<string, string> = { dac_step: 'uV', vte_max: 'uV', vsl_max: 'uV', vg_max: 'uV', vread_max: 'uV', width_min: 'ns', width_max: 'ns' };
  const rows = [
    '| session | not 0; equal to the reply header\'s session |',
    ...HELLO_RANGES.map((r) => `| ${r.field} | ${r.min} .. ${r.max}${units[r.field] ? ` ${units[r.field]}` : ''}${r.note ? ` (${r.note})` : ''} |`),
    '| rows x cols | 12 + 8 x rows x cols <= 60000 (one READ_ARRAY reply) |',
    '| features | any (unknown bits are ignored) |',
    '| id | 1 .. 255 bytes |',
  ];
  return ['| field | valid |', '|---|---|', ...rows].join('\n');
}

export function errorTable(): string {
  const meaning: Record<keyof typeof ErrCode, string> = {
    UNKNOWN_TYPE: 'message type not defined in this version',
    BAD_PAYLOAD: 'payload length or a value is malformed (NaN, negative WAIT, algo not 0/1, ...); also a body shorter than 8 bytes',
    LIMIT: 'an amplitude (after DAC rounding), width, read voltage or WAIT is beyond the limits',
    ADDRESS: 'array, row or column out of range',
    VERSION: 'protocol version not spoken by this board',
    INTERNAL: 'the board failed while executing: the effect is unknown',
    UNSUPPORTED: 'an optional message the board does not offer',
    NO_SESSION: 'no session, or session/boot fields are not the current ones',
    STALE_SEQ: 'seq is W or more behind the newest seq of the session',
    SEQ_CONFLICT: 'seq already used in this session by a different request (type or payload)',
  };
  const rows = (Object.keys(ErrCode) as (keyof typeof ErrCode)[]).map((k) => `| ${ErrCode[k]} | ${k} | ${meaning[k]} |`);
  return ['| code | name | meaning |', '|---|---|---|', ...rows].join('\n');
}

const hex = (b: Buffer) => b.toString('hex').replace(/(..)/g, '$1 ').trim();

/** The example exchanges of the document, produced by the real firmware with fixed ids. */
export async function transcripts(): Promise<string> {
  const board = new EmulatedBoard({ seed: 1, id: 'doc-board' });
  const out: Buffer[] = [];
  const fw = new Firmware(board, (b) => out.push(b), { bootId: 0xb0071d01, random: () => 0x5e551001, time: 'virtual' });
  const lines: string[] = [];
  const exchange = async (title: string, req: Buffer, times = 1) => {
    lines.push(`${title}`, '```');
    for (let k = 0; k < times; k++) {
      out.length = 0;
      fw.onData(req);
      // The executor answers asynchronously (an MVM after a turn of the loop's I/O): wait for the reply.
      for (let turn = 0; turn < 50 && !out.length; turn++) await new Promise((r) => setImmediate(r));
      lines.push(`host  -> ${hex(req)}`);
      for (const r of out) lines.push(`board <- ${hex(r)}`);
    }
    lines.push('```');
  };
  const boot = fw.bootId;
  await exchange(
    `1. Handshake: HELLO (seq 1, session 0, boot 0, versions ${VERSIONS.min}..${VERSIONS.max}, new session); the reply grants session 0x5e551001 on boot 0xb0071d01:`,
    encodeFrame({ version: PROTOCOL_VERSION, type: MsgType.HELLO, seq: 1, session: 0, boot: 0, payload: encodeRequest(spec('HELLO'), { min_version: VERSIONS.min, max_version: VERSIONS.max, resume_session: 0 }) }),
  );
  const set = encodeFrame({ version: PROTOCOL_VERSION, type: MsgType.SET, seq: 2, session: 0x5e551001, boot, payload: encodeRequest(spec('SET'), { array: 0, row: 3, col: 5, vte: 1.2, vg: 0.51, width: 1e-6 }) });
  await exchange('2. A retried pulse: SET cell 0:3,5, VTE 1.2 V, VG 0.51 V, 1 us, seq 2. The reply is lost; the host sends the same bytes again and the board answers from its replay cache (identical reply, the cell pulsed once):', set, 2);
  await exchange(
    '3. An error: SET with VG 3.4 V on a board whose vg_max is 3.3 V is refused with LIMIT (code 3), not executed:',
    encodeFrame({ version: PROTOCOL_VERSION, type: MsgType.SET, seq: 3, session: 0x5e551001, boot, payload: encodeRequest(spec('SET'), { array: 0, row: 3, col: 5, vte: 1.2, vg: 3.4, width: 1e-6 }) }),
  );
  await exchange(
    '4. (2.2) An MVM: tile rows 0..1 x columns 0..2 of array 0 (pristine cells), two vectors (0.1 V, 0.2 V) and (0.2 V, 0 V); the reply carries 2 x 3 column currents:',
    encodeFrame({ version: PROTOCOL_VERSION, type: MsgType.MVM, seq: 4, session: 0x5e551001, boot, payload: encodeRequest(spec('MVM'), { array: 0, row0: 0, col0: 0, rows: 2, cols: 3, voltages: Float64Array.of(0.1, 0.2, 0.2, 0) }) }),
  );
  if (board.countersSync({ array: 0, row: 3, col: 5 }).set !== 1) throw new Error('transcript: the retried SET must be applied once');
  fw.stop();
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(`${messageTable()}\n\n${helloTable()}\n\n${rangeTable()}\n\n${errorTable()}\n\n${await transcripts()}\n`);
}
