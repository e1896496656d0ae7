/**
 * The saved state of an emulated board, so its cells persist between commands like a real chip's
 * (a `rram pulse` then a `rram read` see the same cell; a resumed run finds what it programmed).
 *   <dir>/<key>.state   snapshot: every cell's record and the board's clock (written atomically)
 *   <dir>/<key>.log     cells a pulse changed, appended before any event about them is written
 *                       (CRC per entry; fsync'd with every durable commit), so a killed process
 *                       loses no pulse the record holds; folded into the snapshot at close and
 *                       whenever it grows past 4 MB
 *   <dir>/<key>.lock    the pid using the board (one process at a time)
 *   <dir>/<key>.gen     the board's generation: a new one whenever it starts pristine, so a run
 *                       begun on an earlier generation can tell this is not the chip it programmed
 * The key names seed, geometry and a hash of calibration and limits: another calibration is
 * another board.
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { CellAddress } from '../board.js';
import { DataError, RramError } from '../errors.js';
import { CellArrayModel } from './cell-model.js';

const MAGIC = 'RRAMEMU1';

/** What an emulated board's state needs to be the same board next time. */
export interface BoardIdentity {
  seed: number;
  arrays: number;
  rows: number;
  cols: number;
  /** Calibration content and limits: hashed. */
  fingerprint: unknown;
}

export function stateKey(b: BoardIdentity): string {
  const h = createHash('sha256').update(JSON.stringify(b.fingerprint)).digest('hex').slice(0, 10);
  return `emu-${b.seed}-${b.arrays}x${b.rows}x${b.cols}-${h}`;
}

/** The part of an emulated board the state file reads and writes. */
export interface StatefulBoard {
  now_s: number;
  readonly cellsPerArray: number;
  arrayModel(a: number): CellArrayModel;
  readonly arrayCount: number;
}

export class BoardStateFile {
  readonly statePath: string;
  readonly logPath: string;
  readonly lockPath: string;
  readonly genPath: string;
  private logFd?: number;
  private locked = false;

  constructor(
    readonly dir: string,
    readonly key: string,
  ) {
    mkdirSync(dir, { recursive: true });
    this.statePath = join(dir, `${key}.state`);
    this.logPath = join(dir, `${key}.log`);
    this.lockPath = join(dir, `${key}.lock`);
    this.genPath = join(dir, `${key}.gen`);
  }

  /** The generation of the saved board (created with the first use of a pristine board). */
  generation(): string {
    if (existsSync(this.genPath)) return readFileSync(this.genPath, 'utf8').trim();
    const g = randomBytes(4).toString('hex');
    writeFileSync(this.genPath, g);
    return g;
  }

  /** One process at a time: a live holder is an error naming it; a dead one's lock is taken over. */
  acquire(): void {
    if (existsSync(this.lockPath)) {
      const pid = Number(readFileSync(this.lockPath, 'utf8').trim());
      let alive = false;
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
        try {
          process.kill(pid, 0);
          alive = true;
        } catch (e) {
          alive = (e as NodeJS.ErrnoException).code === 'EPERM';
        }
      }
      if (alive) throw new RramError('BUSY', `emulated board ${this.key} is in use by process ${pid} (its state is in ${this.dir}); wait for it, or serve it with \`rram emulate --pty\` and share the port`);
    }
    writeFileSync(this.lockPath, String(process.pid));
    this.locked = true;
  }

  release(): void {
    if (this.logFd !== undefined) closeSync(this.logFd);
    this.logFd = undefined;
    if (this.locked) rmSync(this.lockPath, { force: true });
    this.locked = false;
  }

  /** Forget the saved board (a pristine chip next time). */
  discard(): void {
    rmSync(this.statePath, { force: true });
    rmSync(this.logPath, { force: true });
    rmSync(this.genPath, { force: true });
  }

  /** Loads snapshot + log into the board; false when there is none (a pristine board). */
  loadInto(b: StatefulBoard): boolean {
    let any = false;
    const R = CellArrayModel.RECORD_BYTES;
    if (existsSync(this.statePath)) {
      const s = readFileSync(this.statePath);
      const n = b.arrayCount * b.cellsPerArray;
      if (s.length !== 8 + 8 + 4 + n * R || s.toString('latin1', 0, 8) !== MAGIC) throw new DataError(this.statePath, `not a saved state of board ${this.key} (size ${s.length}); remove it or use --new-board`);
      b.now_s = s.readDoubleLE(8);
      if ((crc32(s.subarray(20)) >>> 0) !== s.readUInt32LE(16)) throw new DataError(this.statePath, 'checksum mismatch: the saved board state is damaged; use --new-board to start a pristine board');
      for (let a = 0; a < b.arrayCount; a++) for (let i = 0; i < b.cellsPerArray; i++) b.arrayModel(a).importCell(i, s, 20 + (a * b.cellsPerArray + i) * R);
      any = true;
    }
    if (existsSync(this.logPath)) {
      const l = readFileSync(this.logPath);
      let o = 0;
      while (o + 8 <= l.length) {
        const len = l.readUInt32LE(o);
        if (o + 8 + len > l.length || (crc32(l.subarray(o + 8, o + 8 + len)) >>> 0) !== l.readUInt32LE(o + 4)) break; // torn tail: never journaled
        const e = l.subarray(o + 8, o + 8 + len);
        b.now_s = Math.max(b.now_s, e.readDoubleLE(0));
        const count = e.readUInt32LE(8);
        for (let k = 0; k < count; k++) {
          const at = 12 + k * (5 + R);
          const a = e[at];
          const i = e.readUInt32LE(at + 1);
          if (a < b.arrayCount && i < b.cellsPerArray) b.arrayModel(a).importCell(i, e, at + 5);
        }
        o += 8 + len;
        any = true;
      }
    }
    return any;
  }

  /** Bytes appended to the log since the last snapshot. */
  logBytes = 0;

  /** Appends these cells' state (written on return; durable, fsync'd, when `durable`). */
  append(b: StatefulBoard & { cols: number }, cells: CellAddress[], durable = true): void {
    if (!cells.length) {
      if (durable && this.logFd !== undefined) fsyncSync(this.logFd);
      return;
    }
    const R = CellArrayModel.RECORD_BYTES;
    const e = Buffer.alloc(12 + cells.length * (5 + R));
    e.writeDoubleLE(b.now_s, 0);
    e.writeUInt32LE(cells.length, 8);
    cells.forEach((c, k) => {
      const at = 12 + k * (5 + R);
      const i = c.row * b.cols + c.col;
      e[at] = c.array;
      e.writeUInt32LE(i, at + 1);
      b.arrayModel(c.array).exportCell(i, e, at + 5);
    });
    const head = Buffer.alloc(8);
    head.writeUInt32LE(e.length, 0);
    head.writeUInt32LE(crc32(e) >>> 0, 4);
    this.logFd ??= openSync(this.logPath, 'a');
    const size = fstatSync(this.logFd).size;
    try {
      appendFileSync(this.logFd, Buffer.concat([head, e]));
      if (durable) fsyncSync(this.logFd);
    } catch (err) {
      // A torn entry would end the log for every later one (loadInto stops there): cut it off.
      ftruncateSync(this.logFd, size);
      throw err;
    }
    this.logBytes += head.length + e.length;
  }

  /** Writes every cell atomically, then drops the log it now contains. */
  snapshot(b: StatefulBoard): void {
    const R = CellArrayModel.RECORD_BYTES;
    const n = b.arrayCount * b.cellsPerArray;
    const s = Buffer.alloc(20 + n * R);
    s.write(MAGIC, 0, 'latin1');
    s.writeDoubleLE(b.now_s, 8);
    for (let a = 0; a < b.arrayCount; a++) for (let i = 0; i < b.cellsPerArray; i++) b.arrayModel(a).exportCell(i, s, 20 + (a * b.cellsPerArray + i) * R);
    s.writeUInt32LE(crc32(s.subarray(20)) >>> 0, 16);
    const tmp = `${this.statePath}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      appendFileSync(fd, s);
      fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      rmSync(tmp, { force: true }); // the snapshot and log on disk are still whole
      throw err;
    }
    closeSync(fd);
    renameSync(tmp, this.statePath);
    if (this.logFd !== undefined) closeSync(this.logFd);
    this.logFd = undefined;
    rmSync(this.logPath, { force: true });
    this.logBytes = 0;
  }
}
