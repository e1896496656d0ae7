/**
 * An in-process byte link between the serial driver and the emulator firmware, with seeded fault
 * injection in both directions (drop, corrupt, duplicate, delay, stall, garbage bursts) and
 * firmware reboots with or without lost cells. Tests and benchmarks run the real driver and the
 * real firmware through it, fast and reproducibly, with no pty.
 */
import { Rng } from '../../lib/rng.js';
import type { Transport, TransportFactory } from '../serial/transport.js';
import type { EmulatedBoard } from './emulated-board.js';
import type { Firmware } from './firmware.js';
import { LineNoise, type LineNoiseStats } from './line-noise.js';

/** What the loopback needs of a board's firmware (ours, or an independent one in the tests). */
export type FirmwareLike = Pick<Firmware, 'onData' | 'setWriter'> & { reboot?: Firmware['reboot'] };

export interface LinkFaults {
  seed: number;
  /** Probabilities per frame and direction. */
  drop?: number;
  corrupt?: number;
  duplicate?: number;
  /** Pause the direction (order kept) for up to delayMax_ms. */
  delay?: number;
  delayMax_ms?: number;
  /** Deliver only the first part of a frame (the rest is lost). */
  stall?: number;
  /** A burst of random bytes (with fake frame starts) before a frame. */
  garbage?: number;
  /** Probability per host frame that the firmware reboots as it arrives. */
  reboot?: number;
  /** Share of reboots that also lose the cells (a fresh board from `freshBoard`). */
  rebootLosesCells?: number;
  freshBoard?: () => EmulatedBoard;
  /** Byte-level noise (LineNoise) per direction: probability per byte of a flip, drop, double or burst. */
  byteNoise?: { toBoard?: number; toHost?: number };
}

export interface LoopbackStats {
  frames: number;
  dropped: number;
  corrupted: number;
  duplicated: number;
  delayed: number;
  stalled: number;
  garbage: number;
  reboots: number;
  rebootsLosingCells: number;
}

class Channel {
  private t = 0;
  constructor(private readonly deliver: (b: Buffer) => void) {}
  /** In-order delivery after `delay` ms beyond whatever is queued. */
  push(b: Buffer, delay = 0): void {
    const now = performance.now();
    this.t = Math.max(this.t, now) + delay;
    const wait = this.t - now;
    if (wait <= 0) setImmediate(() => this.deliver(b));
    else setTimeout(() => this.deliver(b), wait);
  }
}

export interface Loopback {
  factory: TransportFactory;
  stats: LoopbackStats;
  /** The port vanishes (the driver sees a close); the factory opens a new one. */
  unplug(): void;
  /** While true the board hears nothing and says nothing (a hung or powered-off board, port still open). */
  mute: boolean;
  /** Rewrites frames in flight: return the bytes to deliver instead (tests craft hostile replies). */
  tamper?: (dir: 'to-board' | 'to-host', b: Buffer) => Buffer;
  /** Bytes the host wrote, in total. */
  hostBytes: number;
  /** Transports currently open (never more than one if the driver behaves). */
  open: number;
  maxOpen: number;
  /** Byte noise applied so far, per direction. */
  noise: { toBoard: LineNoiseStats; toHost: LineNoiseStats };
}

export function loopback(fw: FirmwareLike, faults?: LinkFaults): Loopback {
  const rng = new Rng(faults?.seed ?? 1);
  const stats: LoopbackStats = { frames: 0, dropped: 0, corrupted: 0, duplicated: 0, delayed: 0, stalled: 0, garbage: 0, reboots: 0, rebootsLosingCells: 0 };
  let current: { closeCb?: (r: string) => void; dataCb?: (b: Buffer) => void; open: boolean } | undefined;
  const p = (x?: number) => x !== undefined && rng.uniform() < x;

  const noise = { toBoard: new LineNoise(faults?.byteNoise?.toBoard ?? 0, (faults?.seed ?? 1) * 2 + 1), toHost: new LineNoise(faults?.byteNoise?.toHost ?? 0, (faults?.seed ?? 1) * 2 + 2) };
  const mangle = (b: Buffer, ch: Channel, hostSide: boolean) => {
    stats.frames++;
    if (lb.mute) return;
    if (lb.tamper) b = lb.tamper(hostSide ? 'to-board' : 'to-host', b);
    b = (hostSide ? noise.toBoard : noise.toHost).apply(b);
    if (!faults) return ch.push(b);
    if (hostSide && p(faults.reboot)) {
      stats.reboots++;
      const lose = faults.freshBoard && p(faults.rebootLosesCells ?? 0);
      if (lose) stats.rebootsLosingCells++;
      fw.reboot?.(lose ? { board: faults.freshBoard!() } : {});
    }
    if (p(faults.garbage)) {
      stats.garbage++;
      const g = Buffer.alloc(1 + rng.int(40));
      for (let k = 0; k < g.length; k++) g[k] = rng.int(256);
      if (g.length > 8 && rng.uniform() < 0.5) g.set([0xa5, 0x5a, 2, 0x91, 0, 0, rng.int(256), rng.int(16)], 0); // a header that lies
      ch.push(g);
    }
    if (p(faults.drop)) {
      stats.dropped++;
      return;
    }
    let out = b;
    if (p(faults.corrupt)) {
      stats.corrupted++;
      out = Buffer.from(b);
      out[rng.int(out.length)] ^= 1 + rng.int(255);
    }
    if (p(faults.stall)) {
      stats.stalled++;
      out = out.subarray(0, 1 + rng.int(Math.max(1, out.length - 1)));
    }
    const delay = p(faults.delay) ? (stats.delayed++, rng.uniform() * (faults.delayMax_ms ?? 50)) : 0;
    ch.push(out, delay);
    if (p(faults.duplicate)) {
      stats.duplicated++;
      ch.push(Buffer.from(out), rng.uniform() * 20);
    }
  };

  const toBoard = new Channel((b) => {
    if (!lb.mute) fw.onData(b);
  });
  const toHost = new Channel((b) => {
    if (current?.open) current.dataCb?.(b);
  });
  fw.setWriter((b) => mangle(b, toHost, false));

  const factory: TransportFactory = async () => {
    const me = { open: true } as { closeCb?: (r: string) => void; dataCb?: (b: Buffer) => void; open: boolean };
    current = me;
    lb.open++;
    lb.maxOpen = Math.max(lb.maxOpen, lb.open);
    const t: Transport = {
      write: (b) => {
        lb.hostBytes += b.length;
        if (me.open) mangle(b, toBoard, true);
      },
      onData: (cb) => {
        me.dataCb = cb;
      },
      onClose: (cb) => {
        me.closeCb = cb;
      },
      close: async () => {
        if (me.open) lb.open--;
        me.open = false;
      },
    };
    return t;
  };
  const lb: Loopback = {
    factory,
    stats,
    noise: { toBoard: noise.toBoard.stats, toHost: noise.toHost.stats },
    mute: false,
    hostBytes: 0,
    open: 0,
    maxOpen: 0,
    unplug: () => {
      if (!current?.open) return;
      current.open = false;
      lb.open--;
      current.closeCb?.('unplugged');
    },
  };
  return lb;
}
