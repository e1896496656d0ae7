/**
 * Serial-link figures for docs/benchmarks.md (issue 12): READ round trips and whole-array reads
 * over a real pty through the UART link model at 921600 and 115200 baud, against the link's byte
 * limit; and the CPU cost of protocol v2's session and boot checks.
 */
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { Firmware } from '../drivers/emulated/firmware.js';
import { loopback } from '../drivers/emulated/loopback.js';
import { PtyServer } from '../drivers/emulated/pty-server.js';
import { BoardSession } from '../drivers/protocol/board-session.js';
import { encodeFrame, FrameDecoder, splitBody } from '../drivers/protocol/frame.js';
import { decodeReply, encodeReply, encodeRequest, MsgType, spec, VERSIONS } from '../drivers/protocol/messages.js';
import { frameBytes } from '../drivers/protocol/timing.js';
import { SerialBoard } from '../drivers/serial/serial-board.js';

async function roundTrips(drv: SerialBoard, n: number, window: number): Promise<number> {
  const c = { array: 0, row: 0, col: 0 };
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (next++ < n) await drv.read(c);
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

/** Round trips and array reads over a pty with the link model (undefined baud = raw pty speed). */
export async function serialLinkBench(baud?: number) {
  const srv = new PtyServer(new EmulatedBoard({ seed: 1 }), { baud, firmware: { time: 'virtual' } });
  await srv.start();
  const drv = await SerialBoard.open({ path: srv.hostPath, baudRate: baud ?? 921600, keepAlive_ms: 0 });
  try {
    const readReply = frameBytes(8);
    const seq = await roundTrips(drv, baud === 115200 ? 300 : 2000, 1);
    const win = await roundTrips(drv, baud === 115200 ? 3000 : 30000, drv.link.window);
    const n = baud === 115200 ? 4 : 12;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: n }, (_, k) => drv.readArray(k % 2)));
    const s = (performance.now() - t0) / 1000;
    const arrayBytes = n * frameBytes(4 + 8 * 4096);
    const bytesPerS = baud ? baud / 10 : undefined;
    return {
      link: baud ? `pty + link model ${baud} baud (8N1: ${baud / 10} B/s board->host)` : 'pty, no link model',
      read_reply_bytes: readReply,
      sequential_reads_per_s: Math.round(seq),
      windowed_reads_per_s: Math.round(win),
      window: drv.link.window,
      read_limit_per_s: bytesPerS ? Math.round(bytesPerS / readReply) : null,
      read_ratio_to_limit: bytesPerS ? +(win / (bytesPerS / readReply)).toFixed(3) : null,
      array_reads: n,
      array_read_s: +(s / n).toFixed(3),
      array_bytes_per_s: Math.round(arrayBytes / s),
      array_ratio_to_limit: bytesPerS ? +(arrayBytes / s / bytesPerS).toFixed(3) : null,
      retransmits: drv.stats.retransmits,
    };
  } finally {
    await drv.close();
    await srv.stop();
  }
}

/**
 * What the session and boot checks cost: per reply on the host (session + boot compare after the
 * body split) and per pulse request on the board (session, window, replay-cache lookup with its
 * payload CRC), as a share of a whole in-process round trip through driver, firmware and board.
 */
export async function sessionCheckCost() {
  const N = 200000;
  const reply = encodeFrame({ version: 2, type: MsgType.READ | 0x80, seq: 7, session: 0x1234, boot: 0x5678, payload: encodeReply(spec('READ'), { current: 1e-5 }) });
  const time = (f: () => void) => {
    for (let k = 0; k < 20000; k++) f();
    const t0 = performance.now();
    for (let k = 0; k < N; k++) f();
    return ((performance.now() - t0) * 1e6) / N; // ns per call
  };
  const dec = new FrameDecoder();
  let sink = 0;
  const hostWith = time(() => {
    const f = splitBody(dec.push(reply)[0])!;
    if (f.boot === 0x5678 && f.session === 0x1234) sink += (decodeReply(spec('READ'), f.payload).current as number) > 0 ? 1 : 0;
  });
  const hostWithout = time(() => {
    const f = splitBody(dec.push(reply)[0])!;
    sink += (decodeReply(spec('READ'), f.payload).current as number) > 0 ? 1 : 0;
  });
  const bs = new BoardSession(32, 0x5678, () => 0x1234, VERSIONS);
  bs.hello({ min_version: 2, max_version: 2, resume_session: 0 }, 0);
  const setPayload = encodeRequest(spec('SET'), { array: 0, row: 1, col: 1, vte: 1.2, vg: 1, width: 1e-6 });
  let seq = 0;
  const boardAdmit = time(() => {
    const a = bs.admit(spec('SET'), (seq = (seq + 1) & 0xffff), 0x1234, 0x5678, setPayload);
    if (a.kind === 'execute') bs.complete(a.slot, reply);
  });
  // A whole round trip in process (driver + firmware + board model), windowed.
  const board = new EmulatedBoard({ seed: 1 });
  const fw = new Firmware(board, () => undefined, { time: 'virtual' });
  const drv = await SerialBoard.open({ transport: loopback(fw).factory, keepAlive_ms: 0 });
  const rt = await roundTrips(drv, 40000, drv.link.window);
  await drv.close();
  const roundTrip_ns = 1e9 / rt;
  const checks_ns = hostWith - hostWithout + boardAdmit;
  void sink;
  return {
    host_reply_path_ns: +hostWith.toFixed(0),
    host_session_boot_check_ns: +(hostWith - hostWithout).toFixed(0),
    board_admit_with_cache_ns: +boardAdmit.toFixed(0),
    in_process_round_trips_per_s: Math.round(rt),
    round_trip_ns: Math.round(roundTrip_ns),
    checks_share_of_round_trip: +(checks_ns / roundTrip_ns).toFixed(4),
    header_bytes_added_per_frame: 8,
  };
}

/**
 * Whole-array reads over a pty through the link model at `baud` with seeded byte noise (issue 24):
 * seconds per array and the share of the link's byte limit the useful bytes (one READ_ARRAY reply
 * per array) take; `rows` forces row-by-row reads, to price the chunking on a clean line.
 */
export async function arrayReadBench(baud: number, noise: number, mode: 'auto' | 'rows' = 'auto') {
  const srv = new PtyServer(new EmulatedBoard({ seed: 1 }), { baud, noise: noise ? { rate: noise, seed: 11 } : undefined, firmware: { time: 'virtual' } });
  await srv.start();
  const drv = await SerialBoard.open({ path: srv.hostPath, baudRate: baud, keepAlive_ms: 0, arrayReads: mode });
  try {
    const n = baud <= 115200 ? 3 : 8;
    await drv.readArray(0); // warm-up: the line estimate starts from what it saw
    const t0 = performance.now();
    for (let k = 0; k < n; k++) {
      const a = await drv.readArray(k % 2);
      if (a.some((x) => !Number.isFinite(x))) throw new Error('a cell was not read');
    }
    const s = (performance.now() - t0) / 1000;
    const useful = frameBytes(4 + 8 * 4096);
    return {
      baud,
      noise_per_byte: noise,
      mode,
      s_per_array: +(s / n).toFixed(3),
      share_of_byte_limit: +((n * useful) / (s * (baud / 10))).toFixed(3),
      pieces: { ...drv.readStats },
      retransmits: drv.stats.retransmits,
      timeouts: drv.stats.timeouts,
    };
  } finally {
    await drv.close();
    await srv.stop();
  }
}
