/**
 * One error class per failure family, each with a literal `code` so callers can narrow with
 * `err instanceof X` or `err.code === '...'` (zwave-js / node-serialport style).
 */
export type RramErrorCode =
  | 'LIMIT'
  | 'ADDRESS'
  | 'INVALID_ARGUMENT'
  | 'BUSY'
  | 'NOT_FOUND'
  | 'CALIBRATION'
  | 'PROTOCOL'
  | 'TIMEOUT'
  | 'PORT'
  | 'VERSION_MISMATCH'
  | 'BOARD_ERROR'
  | 'OUTCOME_UNKNOWN'
  | 'ABORTED'
  | 'DISCONNECTED'
  | 'UNSUPPORTED'
  | 'DATA'
  | 'STORE'
  | 'PRUNED'
  | 'LOCKED';

export class RramError extends Error {
  constructor(
    readonly code: RramErrorCode,
    message: string,
    readonly context: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A voltage, width or current outside the board's (or the user's) safety limits. */
export class LimitError extends RramError {
  constructor(
    readonly field: string,
    readonly value: number,
    readonly limit: number,
    readonly bound: 'min' | 'max',
  ) {
    super(
      'LIMIT',
      `${field}=${value} is ${bound === 'max' ? 'above the maximum' : 'below the minimum'} ${limit}`,
      { field, value, limit, bound },
    );
  }
}

/** A cell, row or array index outside the board's geometry. */
export class AddressError extends RramError {
  constructor(
    readonly field: string,
    readonly value: number,
    readonly limit: number,
  ) {
    super('ADDRESS', `${field}=${value} is out of range (valid 0..${limit - 1})`, { field, value, limit });
  }
}

/** Bad user input (CLI flag, file field, API body): names the field and the offending value. */
export class InvalidArgumentError extends RramError {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super('INVALID_ARGUMENT', value === undefined ? `${field} (not given): ${reason}` : `${field}=${shownValue(value)}: ${reason}`, { field, value, reason });
  }
}

/** A value as an error shows it: NaN and infinities by name (JSON says null), a long list or text cut to its first 200 characters. */
export function shownValue(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const s = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)) ?? String(value);
  return s.length > 200 ? `${s.slice(0, 200)}... (${s.length} characters)` : s;
}

export class CalibrationError extends RramError {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super('CALIBRATION', `calibration key "${key}": ${reason}`, { key });
  }
}

export class ProtocolError extends RramError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('PROTOCOL', message, context);
  }
}

export class TimeoutError extends RramError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('TIMEOUT', message, context);
  }
}

/** The serial port is missing, busy, or could not be opened. */
/** Why a serial port could not be used; each has one sentence the user can act on (docs/getting-started-board.md). */
export type PortReason = 'missing' | 'busy' | 'permission' | 'not-serial' | 'open-failed' | 'closed';
const PORT_HINT: Record<PortReason, string> = {
  missing: 'no such device: check the path (ls -l /dev/serial/by-id/), the cable and that the board is powered',
  busy: 'in use by another process (see `fuser PATH`): stop it, or send the work through the process that holds the board',
  permission: 'permission denied: add your user to the group that owns the port (ls -l PATH; usually `sudo usermod -aG dialout $USER`, then log in again)',
  'not-serial': 'not a serial device (a regular file or /dev/null?): give the tty of the board, e.g. /dev/ttyACM0 or /dev/serial/by-id/...',
  'open-failed': 'cannot be opened',
  closed: 'closed',
};

/** The board's serial port is missing, busy, forbidden or not a serial device: no run was (or is any longer) reachable through it. */
export class PortError extends RramError {
  constructor(
    readonly path: string,
    readonly reason: PortReason,
    detail: string,
  ) {
    const hint = PORT_HINT[reason].replaceAll('PATH', path);
    super('PORT', `serial port ${path}: ${reason}: ${hint}${detail && !hint.startsWith(detail) ? ` (${detail})` : ''}`, { path, reason });
  }
}

export class VersionMismatchError extends RramError {
  constructor(
    readonly boardVersion: number,
    readonly hostVersion: number,
    detail?: string,
  ) {
    super(
      'VERSION_MISMATCH',
      `board speaks protocol v${boardVersion || '?'}, this host speaks v${hostVersion}${detail ? ` (${detail})` : ''}: update the ${boardVersion && boardVersion < hostVersion ? 'board firmware' : 'host'}`,
      { boardVersion, hostVersion },
    );
  }
}

/** The board does not offer an optional capability (docs/protocol.md, HELLO `features`). */
export class UnsupportedError extends RramError {
  constructor(readonly feature: string) {
    super('UNSUPPORTED', `the board does not offer ${feature}`, { feature });
  }
}

/** The board answered with an error reply (its code is the protocol's error code). */
export class BoardError extends RramError {
  constructor(
    readonly boardCode: number,
    message: string,
    readonly codeName = `code ${boardCode}`,
  ) {
    super('BOARD_ERROR', `board refused (${codeName}): ${message}`, { boardCode, codeName });
  }
}

/**
 * A pulse was sent but its outcome cannot be known (link lost and the board rebooted or
 * forgot the request). The cell must be re-read before anyone trusts its state.
 */
export class OutcomeUnknownError extends RramError {
  constructor(
    readonly cell: { array: number; row: number; col: number } | undefined,
    readonly op: string,
    readonly reason = 'no reply',
  ) {
    super('OUTCOME_UNKNOWN', `outcome of ${op}${cell ? ` on cell ${cell.array}:${cell.row},${cell.col}` : ''} is unknown (${reason})`, {
      cell,
      op,
      reason,
    });
  }
}

export class AbortedError extends RramError {
  constructor(message = 'run aborted') {
    super('ABORTED', message);
  }
}

export class DisconnectedError extends RramError {
  readonly disconnected = true;
  constructor(message = 'board disconnected') {
    super('DISCONNECTED', message);
  }
}

export class DataError extends RramError {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super('DATA', `${file}: ${message}`, { file });
  }
}

/**
 * A write to the store (events, run.json, a result, the emulated board's state) failed: a full disk
 * (ENOSPC), an I/O error (EIO), a read-only or over-quota file system. The run ends `failed` with
 * this message; what was flushed before stays readable and the run can be resumed once fixed.
 */
export class StoreWriteError extends RramError {
  constructor(
    readonly path: string,
    readonly errno: string,
    readonly reason: string,
  ) {
    super('STORE', `cannot write ${path}: ${reason} (${errno})`, { path, errno });
  }

  /** From a Node fs error (its code and path), or any other error thrown while writing `path`. */
  static from(e: unknown, path: string): StoreWriteError {
    if (e instanceof StoreWriteError) return e;
    const err = e as NodeJS.ErrnoException;
    const why: Record<string, string> = { ENOSPC: 'no space left on the device', EIO: 'input/output error', EROFS: 'read-only file system', EDQUOT: 'disk quota exceeded', EACCES: 'permission denied', EPERM: 'not permitted', EMFILE: 'too many open files', ENOENT: 'the folder no longer exists' };
    const code = typeof err?.code === 'string' ? err.code : 'EUNKNOWN';
    return new StoreWriteError(typeof err?.path === 'string' ? err.path : path, code, why[code] ?? (err?.message ?? String(e)).replace(/^[A-Z]+: /, ''));
  }
}

/** A Node fs error that a write can meet (the disk, not the program): reported in one line. */
export function isFileSystemError(e: unknown): e is NodeJS.ErrnoException {
  const c = (e as NodeJS.ErrnoException)?.code;
  return typeof c === 'string' && /^E(NOSPC|IO|ROFS|DQUOT|ACCES|PERM|MFILE|NFILE|NOENT|NOTDIR|ISDIR|EXIST|FBIG)$/.test(c) && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}

/** The run's events were removed by `rram runs prune`: what needs them (an export, a resume) cannot be done. */
export class PrunedError extends RramError {
  constructor(
    readonly runId: string,
    readonly pruned: string,
    readonly left: string[],
  ) {
    super('PRUNED', `run ${runId}: its events were pruned on ${pruned} (rram runs prune): there are none to export; what is left: run.json${left.length ? ` and the results ${left.join(', ')}` : ''}`, { runId, pruned, left });
  }
}
