/**
 * A board over the serial link: the Board interface on top of a protocol-v2 Link. Every amplitude
 * is put on the board's DAC grid and checked against its limits before anything is sent (the
 * board checks again); WAITs longer than the board's maximum are split; optional capabilities are
 * used only when HELLO advertised them.
 */
import type { Board, BoardInfo, CellAddress, CellCounts, FormPulse, LinkEventSource, MvmTile, ReadOptions, ResetPulse, SetPulse, WriteVerifyJob, WriteVerifySummary } from '../board.js';
import { checkMvm, mvmReplyFrameBytes } from '../mvm-check.js';
import { DEFAULT_VREAD_V } from '../board.js';
import { AbortedError, InvalidArgumentError, ProtocolError, UnsupportedError } from '../errors.js';
import { checkCell, checkIndex, checkRead, checkResetPulse, checkSetPulse, onGrid, resetOnGrid, setOnGrid } from '../limits.js';
import { MsgType, spec } from '../protocol/messages.js';
import { frameBytes, maxReplyPayload } from '../protocol/timing.js';
import { Link, type LinkOptions } from './link.js';
import { serialTransport, type TransportFactory } from './transport.js';

export interface SerialBoardOptions extends Omit<LinkOptions, 'factory' | 'label'> {
  path?: string;
  /** Custom byte pipe (tests, TCP bridges); default serialport on `path`. */
  transport?: TransportFactory;
  /** How arrays are read: 'auto' (the largest piece the line carries, default) or always 'rows' (benchmarks compare them). */
  arrayReads?: 'auto' | 'rows';
}

/** An MVM request's payload before its voltages: array u8, row0, col0, rows, cols u16, the count u16. */
const MVM_REQUEST_OVERHEAD = 11;

export class SerialBoard implements Board {
  readonly linkEvents: LinkEventSource;

  private constructor(
    readonly link: Link,
    private readonly arrayReads: 'auto' | 'rows' = 'auto',
    /** The serial port it was opened on (absent on a custom transport). */
    private readonly port?: { path: string; baud: number },
  ) {
    this.linkEvents = { subscribe: (cb) => link.events.subscribe(cb) };
  }

  static async open(o: SerialBoardOptions): Promise<SerialBoard> {
    const baudRate = o.baudRate ?? 921600;
    const factory = o.transport ?? serialTransport(o.path ?? '', baudRate);
    return new SerialBoard(await Link.open({ ...o, baudRate, factory, label: o.path ?? 'transport' }), o.arrayReads, o.path && !o.transport ? { path: o.path, baud: baudRate } : undefined);
  }

  /**
   * The port lent out while `use` runs (conformance through a station): lines grounded, the link
   * closed and kept closed, then opened again with a new session (HELLO) whatever `use` did. When
   * the board does not come back, that is what this throws (the link is down then): a caller keeps
   * what `use` produced itself.
   */
  readonly outOfService = async <T>(use: (port: { path: string; baud: number }) => Promise<T>): Promise<T> => {
    if (!this.port) throw new UnsupportedError('a serial port to lend (it was opened on a custom transport)');
    await this.ground();
    await this.link.suspend();
    try {
      return await use(this.port);
    } finally {
      await this.link.reopen();
    }
  };

  linkDown(): string | undefined {
    return this.link.downReason;
  }

  /** A board whose link gave up, taken back on the same port (Link.revive: a new session, the same board or it stays down). */
  reconnect(o: { within_ms?: number } = {}): Promise<void> {
    return this.link.revive(o.within_ms);
  }

  reprobeAllowed(): boolean {
    return this.link.downKind === undefined || this.link.downKind === 'lost';
  }

  get stats() {
    return this.link.stats;
  }

  /**
   * The board as HELLO described it. An emulator behind a link keeps its cells only while its
   * process (its boot) lives: its boot id stands for the saved state an in-process emulator has,
   * so a resume finds the chip it programmed, and a restarted emulator is another, pristine chip.
   */
  info(): BoardInfo {
    const info = structuredClone(this.link.info);
    if (info.kind === 'emulated' && !info.state) info.state = `boot-${(this.link.boot >>> 0).toString(16).padStart(8, '0')}`;
    return info;
  }

  private get dac(): number {
    return this.link.info.dacStep_V;
  }

  async form(c: CellAddress, p: FormPulse): Promise<void> {
    await this.pulse('FORM', c, setOnGrid(p, this.dac));
  }
  async set(c: CellAddress, p: SetPulse): Promise<void> {
    await this.pulse('SET', c, setOnGrid(p, this.dac));
  }
  async reset(c: CellAddress, p: ResetPulse): Promise<void> {
    const q = resetOnGrid(p, this.dac);
    checkResetPulse(this.link.info.limits, q);
    checkCell(this.link.info, c);
    await this.link.request(spec('RESET'), { ...c, vsl: q.vsl_V, vg: q.vg_V, width: q.width_s }, c);
  }
  private async pulse(name: 'FORM' | 'SET', c: CellAddress, q: SetPulse): Promise<void> {
    checkSetPulse(this.link.info.limits, q);
    checkCell(this.link.info, c);
    await this.link.request(spec(name), { ...c, vte: q.vte_V, vg: q.vg_V, width: q.width_s }, c);
  }

  private vread(o?: ReadOptions): number {
    const v = onGrid(o?.vread_V ?? DEFAULT_VREAD_V, this.dac);
    checkRead(this.link.info.limits, v);
    return v;
  }
  async read(c: CellAddress, o?: ReadOptions): Promise<number> {
    const vread = this.vread(o);
    checkCell(this.link.info, c);
    return (await this.link.request(spec('READ'), { ...c, vread })).current as number;
  }
  async readRow(array: number, row: number, o?: ReadOptions): Promise<Float64Array> {
    const vread = this.vread(o);
    checkIndex('array', array, this.link.info.arrays);
    checkIndex('row', row, this.link.info.rows);
    const a = (await this.link.request(spec('READ_ROW'), { array, row, vread })).currents as Float64Array;
    if (a.length !== this.link.info.cols) throw new ProtocolError(`READ_ROW returned ${a.length} currents for ${this.link.info.cols} columns`);
    return a;
  }
  /**
   * A whole array, in the largest pieces the line carries (docs/protocol.md, section 6): one
   * READ_ARRAY while such a frame would arrive intact with probability >= 1/2 at the byte error
   * rate seen so far, else READ_ROW per row, else READ per cell; a piece whose replies keep
   * arriving damaged is read in smaller pieces. A cell no piece could read is NaN (unreadable).
   */
  async readArray(array: number, o?: ReadOptions): Promise<Float64Array> {
    const vread = this.vread(o);
    checkIndex('array', array, this.link.info.arrays);
    const { rows, cols } = this.link.info;
    const n = rows * cols;
    if (this.arrayReads === 'auto' && this.carries(frameBytes(maxReplyPayload(MsgType.READ_ARRAY, this.link.info)))) {
      try {
        const a = (await this.link.request(spec('READ_ARRAY'), { array, vread }, undefined, { maxDamaged: 1 })).currents as Float64Array;
        if (a.length !== n) throw new ProtocolError(`READ_ARRAY returned ${a.length} currents for ${n} cells`);
        this.readStats.arrays++;
        return a;
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        this.readStats.arrayFallbacks++;
      }
    }
    const out = new Float64Array(n);
    await Promise.all(
      Array.from({ length: rows }, async (_, row) => {
        out.set(await this.readRowPieces(array, row, vread), row * cols);
      }),
    );
    return out;
  }

  private async readRowPieces(array: number, row: number, vread: number): Promise<Float64Array> {
    const cols = this.link.info.cols;
    if (this.carries(frameBytes(maxReplyPayload(MsgType.READ_ROW, this.link.info)))) {
      try {
        const a = (await this.link.request(spec('READ_ROW'), { array, row, vread }, undefined, { maxDamaged: 6 })).currents as Float64Array;
        if (a.length !== cols) throw new ProtocolError(`READ_ROW returned ${a.length} currents for ${cols} columns`);
        this.readStats.rows++;
        return a;
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        this.readStats.rowFallbacks++;
      }
    }
    const out = new Float64Array(cols);
    await Promise.all(
      Array.from({ length: cols }, async (_, col) => {
        try {
          out[col] = (await this.link.request(spec('READ'), { array, row, col, vread })).current as number;
          this.readStats.cells++;
        } catch (e) {
          if (!(e instanceof ProtocolError)) throw e;
          out[col] = NaN; // unreadable: every reply damaged or malformed (e.g. a board answering NaN)
          this.readStats.unreadable++;
        }
      }),
    );
    return out;
  }

  /** Whether a reply of `bytes` would arrive intact with probability >= 1/2 at the line's estimated byte error rate. */
  private carries(bytes: number): boolean {
    return this.link.line.intactProbability(bytes) >= 0.5;
  }

  /** How array reads were split (the benchmark and tests read these). */
  readonly readStats = { arrays: 0, arrayFallbacks: 0, rows: 0, rowFallbacks: 0, cells: 0, unreadable: 0 };
  /** Grounded wait; longer than the board's single-WAIT maximum goes as several WAITs. */
  async wait(seconds: number): Promise<void> {
    if (!(Number.isFinite(seconds) && seconds >= 0)) throw new InvalidArgumentError('seconds', seconds, 'must be a finite number >= 0');
    const max = this.link.params.waitMax_s;
    let left = seconds;
    do {
      const s = Math.min(left, max);
      await this.link.request(spec('WAIT'), { seconds: s });
      left -= s;
    } while (left > 1e-9);
  }
  async ground(): Promise<void> {
    await this.link.request(spec('GROUND'), {});
  }
  async writeVerify(c: CellAddress, job: WriteVerifyJob): Promise<WriteVerifySummary> {
    if (!this.link.info.features?.writeVerify) throw new UnsupportedError('on-board write-verify (WRITE_VERIFY)');
    checkCell(this.link.info, c);
    const l = this.link.info.limits;
    const vread = this.vread({ vread_V: job.vread_V });
    const g = (v: number) => onGrid(v, this.dac);
    if (job.algo === 'igvva') checkSetPulse(l, { vte_V: g(job.fixed_V), vg_V: g(job.stop_V), width_s: job.width_s });
    else checkSetPulse(l, { vte_V: g(job.stop_V), vg_V: g(job.fixed_V), width_s: job.width_s });
    const r = await this.link.request(
      spec('WRITE_VERIFY'),
      { ...c, algo: job.algo === 'igvva' ? 0 : 1, target: job.target_A, fixed: g(job.fixed_V), start: g(job.start_V), step: g(job.step_V), stop: g(job.stop_V), max_pulses: job.maxPulses, width: job.width_s, vread },
      c,
    );
    return { success: r.success === 1, pulses: r.pulses as number, final_A: r.final_current as number, finalStepped_V: r.final_stepped as number };
  }
  async counters(c: CellAddress): Promise<CellCounts> {
    if (!this.link.info.features?.counters) throw new UnsupportedError('per-cell counters (COUNTERS)');
    checkCell(this.link.info, c);
    const r = await this.link.request(spec('COUNTERS'), { ...c });
    return { form: r.form as number, set: r.set as number, reset: r.reset as number, read: r.read as number };
  }
  /**
   * The analog MVM (docs/protocol.md "MVM"): the vectors checked as the board will, then sent in
   * requests as large as the board accepts (max_payload, replies no larger than READ_ARRAY's) and
   * the line carries (a reply arriving intact with probability >= 1/2 at the estimated byte error
   * rate, the rule of array reads), all in flight at once within the link's window. A tile whose
   * one vector does not fit in max_payload is driven in blocks of rows, each an MVM of every
   * vector with the other rows at 0 V, and the blocks' column currents are added (superposition:
   * exact for a linear array; see docs/protocol.md section 6). Nothing within the documented
   * limits is refused for its size.
   */
  async mvm(t: MvmTile, voltages_V: Float64Array, o: { signal?: AbortSignal } = {}): Promise<Float64Array> {
    if (!this.link.info.features?.mvm) throw new UnsupportedError('analog MVM (MVM, HELLO feature bit 2)');
    const vectors = checkMvm(this.link.info, t, voltages_V);
    const block = Math.floor((this.link.params.maxPayload - MVM_REQUEST_OVERHEAD) / 4);
    if (t.rows <= block) return this.mvmVectors(t, voltages_V, vectors, o.signal);
    const out = new Float64Array(vectors * t.cols);
    const parts: Promise<void>[] = [];
    for (let r0 = 0; r0 < t.rows; r0 += block) {
      const rows = Math.min(block, t.rows - r0);
      const v = new Float64Array(vectors * rows);
      for (let k = 0; k < vectors; k++) v.set(voltages_V.subarray(k * t.rows + r0, k * t.rows + r0 + rows), k * rows);
      parts.push(this.mvmVectors({ ...t, row0: t.row0 + r0, rows }, v, vectors, o.signal).then((a) => a.forEach((x, i) => (out[i] += x))));
    }
    await settleAll(parts);
    return out;
  }

  /** One tile's vectors in as few requests as mvmBatch allows, all in flight at once (an abort drops the ones not sent yet). */
  private async mvmVectors(t: MvmTile, voltages_V: Float64Array, vectors: number, signal?: AbortSignal): Promise<Float64Array> {
    const per = this.mvmBatch(t);
    const out = new Float64Array(vectors * t.cols);
    const jobs: Promise<void>[] = [];
    // The first real failure (a board error, a bad reply) drops the call's requests not sent yet, as an abort does.
    const failed = new AbortController();
    signal = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
    for (let k0 = 0; k0 < vectors; k0 += per) {
      const k1 = Math.min(vectors, k0 + per);
      const req = { array: t.array, row0: t.row0, col0: t.col0, rows: t.rows, cols: t.cols, voltages: voltages_V.subarray(k0 * t.rows, k1 * t.rows) };
      jobs.push(
        this.link.request(spec('MVM'), req, undefined, { signal }).then((r) => {
          const a = r.currents as Float64Array;
          if (a.length !== (k1 - k0) * t.cols) throw new ProtocolError(`MVM returned ${a.length} currents for ${k1 - k0} vectors x ${t.cols} columns`);
          out.set(a, k0 * t.cols);
        }).catch((e: unknown) => {
          if (!(e instanceof AbortedError)) failed.abort();
          throw e;
        }),
      );
    }
    await settleAll(jobs);
    return out;
  }

  /**
   * Input vectors per MVM request for this tile: as many as max_payload holds, the reply no larger
   * than READ_ARRAY's, halved until the reply would arrive intact with probability >= 1/2.
   */
  private mvmBatch(t: MvmTile): number {
    const { rows, cols } = this.link.info;
    let k = Math.max(1, Math.min(Math.floor((this.link.params.maxPayload - MVM_REQUEST_OVERHEAD) / (4 * t.rows)), Math.floor((rows * cols) / t.cols)));
    while (k > 1 && !this.carries(mvmReplyFrameBytes(k, t.cols))) k = Math.floor(k / 2);
    return k;
  }
  async close(): Promise<void> {
    await this.link.close();
  }
}

/**
 * Waits for every promise (nothing of the call is still on the line when it settles), then throws
 * the first failure that is not an abort, else the abort: a board's error outranks the user's stop.
 */
async function settleAll(ps: Promise<unknown>[]): Promise<void> {
  const r = await Promise.allSettled(ps);
  const failed = r.filter((x): x is PromiseRejectedResult => x.status === 'rejected').map((x) => x.reason as unknown);
  if (failed.length) throw failed.find((e) => !(e instanceof AbortedError)) ?? failed[0];
}
