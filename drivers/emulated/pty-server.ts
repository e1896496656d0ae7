/**
 * Serves an EmulatedBoard behind a real pseudo-terminal pair made by socat: the firmware owns
 * one end, users open the other (`hostPath`) exactly as they would a USB-serial board.
 * An optional link model throttles replies to a UART's byte rate (ptys ignore the baud rate).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { Firmware, type FirmwareOptions } from './firmware.js';
import { RramError } from '../errors.js';
import type { EmulatedBoard } from './emulated-board.js';
import { LineNoise } from './line-noise.js';
import { patchPoller } from '../serial/poller-fix.js';

export interface PtyServerOptions {
  /** Throttle replies to baud/10 bytes per second (8N1). Undefined = pty speed. */
  baud?: number;
  /** Folder for the pty links; default a fresh temporary folder. */
  dir?: string;
  /** Firmware options (window, timing, WAIT in real or virtual time, features). */
  firmware?: FirmwareOptions;
  /** Seeded byte noise on the line, both directions (probability per byte; LineNoise). */
  noise?: { rate: number; seed?: number };
}

export class PtyServer {
  readonly firmware: Firmware;
  readonly dir: string;
  readonly hostPath: string;
  readonly boardPath: string;
  private socat?: ChildProcess;
  private port?: SerialPort;
  private readonly ownsDir: boolean;
  private txQueue: Buffer[] = [];
  /** The line model's noise, host -> board and board -> host. */
  readonly rxNoise: LineNoise;
  readonly txNoise: LineNoise;
  private txBusy = false;

  constructor(
    board: EmulatedBoard,
    private readonly o: PtyServerOptions = {},
  ) {
    this.ownsDir = !o.dir;
    this.dir = o.dir ?? mkdtempSync(join(tmpdir(), 'rram-pty-'));
    this.hostPath = join(this.dir, 'host');
    this.boardPath = join(this.dir, 'board');
    this.firmware = new Firmware(board, (b) => this.send(b), { baud: o.baud, ...o.firmware });
    this.firmware.flushed = () => this.flushed();
    this.rxNoise = new LineNoise(o.noise?.rate ?? 0, (o.noise?.seed ?? 1) * 2 + 1);
    this.txNoise = new LineNoise(o.noise?.rate ?? 0, (o.noise?.seed ?? 1) * 2 + 2);
  }

  async start(): Promise<void> {
    await this.startSocat();
    await this.openBoardSide();
  }

  private async startSocat(): Promise<void> {
    rmSync(this.hostPath, { force: true });
    rmSync(this.boardPath, { force: true });
    const p = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.boardPath}`, `pty,raw,echo=0,link=${this.hostPath}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.socat = p;
    let err = '';
    p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const spawnError = new Promise<never>((_, rej) => p.on('error', (e) => rej(new RramError('PORT', `cannot start socat (apt-get install socat): ${e.message}`))));
    const ready = (async () => {
      for (let k = 0; k < 200; k++) {
        if (existsSync(this.hostPath) && existsSync(this.boardPath)) return;
        if (p.exitCode !== null) throw new RramError('PORT', `socat exited: ${err.trim()}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new RramError('PORT', 'socat did not create the pty links within 2 s');
    })();
    await Promise.race([ready, spawnError]);
  }

  private openBoardSide(): Promise<void> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path: this.boardPath, baudRate: this.o.baud ?? 921600, lock: false, autoOpen: false });
      port.open((e) => {
        if (e) return reject(e);
        patchPoller(port); // a long reply must not stop mid-frame (poller-fix.ts)
        this.port = port;
        this.txQueue = [];
        port.on('data', (d: Buffer) => {
          this.bytesRead += d.length;
          this.firmware.onData(this.rxNoise.apply(d));
        });
        port.on('error', () => undefined);
        resolve();
      });
    });
  }

  /** Settles when the last write handed to the port is in the kernel (or the port failed). */
  private lastWrite: Promise<void> = Promise.resolve();
  private lastWriteDone?: () => void;
  private idleWaiters: (() => void)[] = [];

  private write(b: Buffer): void {
    const port = this.port;
    if (!port) return;
    this.writesPending++;
    this.lastWrite = new Promise<void>((r) => {
      this.lastWriteDone = r;
      port.write(b, () => {
        this.writesPending--;
        this.bytesWritten += b.length;
        r();
      });
    });
  }

  private writesPending = 0;
  private bytesWritten = 0;
  private bytesRead = 0;
  /** The line's state, for a diagnosis (`rram emulate` prints it on SIGUSR2). */
  debugState(): Record<string, unknown> {
    const p = this.port as unknown as { writableLength?: number; writableNeedDrain?: boolean; port?: { poller?: { listenerCount(e: string): number } } } | undefined;
    const poller = p?.port?.poller;
    return { firmware: this.firmware.debugState(), bytesRead: this.bytesRead, writesPending: this.writesPending, bytesWritten: this.bytesWritten, txBusy: this.txBusy, txQueued: this.txQueue.length, writableLength: p?.writableLength, writableNeedDrain: p?.writableNeedDrain, poller: poller ? { readable: poller.listenerCount('readable'), writable: poller.listenerCount('writable') } : undefined };
  }

  /** Every reply sent so far has left this process (the link model's queue included). */
  async flushed(): Promise<void> {
    if (this.txBusy) await new Promise<void>((r) => this.idleWaiters.push(r));
    await this.lastWrite;
  }

  private send(b: Buffer): void {
    b = this.txNoise.apply(b);
    if (!this.o.baud) {
      this.write(b);
      return;
    }
    this.txQueue.push(b);
    if (!this.txBusy) this.drain();
  }

  /**
   * Link model: a token bucket releasing baud/10 bytes per second (8N1). Timers tick at ~1 ms,
   * so each tick sends every byte the elapsed time has paid for, not one reply per tick.
   */
  private allowance = 0;
  private lastTick = 0;
  private drain(): void {
    const perMs = (this.o.baud ?? 0) / 10 / 1000;
    const now = performance.now();
    if (!this.txBusy) {
      this.lastTick = now;
      this.allowance = 0;
    }
    this.allowance = Math.min(this.allowance + (now - this.lastTick) * perMs, perMs * 4);
    this.lastTick = now;
    this.txBusy = true;
    const parts: Buffer[] = [];
    while (this.txQueue.length && this.allowance >= 1) {
      const next = this.txQueue[0];
      const n = Math.min(next.length, Math.floor(this.allowance));
      parts.push(next.subarray(0, n));
      this.allowance -= n;
      if (n === next.length) this.txQueue.shift();
      else this.txQueue[0] = next.subarray(n);
    }
    if (parts.length) this.write(Buffer.concat(parts));
    if (!this.txQueue.length) {
      this.txBusy = false;
      this.idleWaiters.splice(0).forEach((r) => r());
      return;
    }
    setTimeout(() => this.drain(), 1);
  }

  /** Tests: make the port vanish (socat killed), as when a USB cable is pulled. */
  async unplug(): Promise<void> {
    const s = this.socat;
    this.socat = undefined;
    if (s && s.exitCode === null) {
      const gone = new Promise((r) => s.once('exit', r));
      s.kill('SIGTERM');
      await gone;
    }
    // Bounded: serialport's close can wait for ever on a write the dead pty will never take.
    await new Promise<void>((r) => {
      if (!this.port?.isOpen) return r();
      const t = setTimeout(r, 2000);
      this.port.close(() => (clearTimeout(t), r()));
    });
    this.port = undefined;
    this.lastWriteDone?.(); // what was not written is lost with the cable: the firmware goes on
  }

  /** Tests: plug the same board back in (same firmware, same boot id, same replay cache). */
  async replug(): Promise<void> {
    await this.start();
  }

  async stop(): Promise<void> {
    this.firmware.stop();
    await this.unplug();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
