/** Turns any error into one clear line on stderr and a non-zero exit code. */
import { RramError, StoreWriteError, isFileSystemError } from '../../drivers/errors.js';

/** 2: refused (bad input, preflight, a station's queue locked); 3: the run completed below --min-success; 4: the board's serial port is missing, busy, forbidden or not a serial device. */
export const EXIT = { ok: 0, failure: 1, usage: 2, belowThreshold: 3, port: 4, aborted: 130 } as const;

export function reportAndExit(e: unknown): never {
  if (e instanceof RramError) {
    process.stderr.write(`rram: ${e.message}\n`);
    const usage = e.code === 'INVALID_ARGUMENT' || e.code === 'LIMIT' || e.code === 'ADDRESS' || e.code === 'CALIBRATION' || e.code === 'DATA' || e.code === 'NOT_FOUND' || e.code === 'PRUNED' || e.code === 'LOCKED';
    process.exit(e.code === 'ABORTED' ? EXIT.aborted : e.code === 'PORT' ? EXIT.port : usage ? EXIT.usage : EXIT.failure);
  }
  // A disk that is full or failing is the machine's state, not a bug: one line, no stack.
  if (isFileSystemError(e)) {
    // A read is not a write: a folder given where a file is read (EISDIR) says so.
    if (e.syscall === 'read' || e.syscall === 'scandir') process.stderr.write(`rram: cannot read ${e.path ?? 'a path it was given'}: ${e.code === 'EISDIR' ? 'a folder where a file was expected' : e.message} (${e.code})\n`);
    else process.stderr.write(`rram: ${StoreWriteError.from(e, e.path ?? '?').message}\n`);
    process.exit(EXIT.failure);
  }
  process.stderr.write(`rram: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(EXIT.failure);
}
