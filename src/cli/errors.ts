/** Turns any error into one clear line on stderr and a non-zero exit code. */
import { RramError, StoreWriteError, isFileSystemError } from '../../drivers/errors.js';

/** 2: refused (bad input, preflight); 3: the run completed below --min-success. */
export const EXIT = { ok: 0, failure: 1, usage: 2, belowThreshold: 3, aborted: 130 } as const;

export function reportAndExit(e: unknown): never {
  if (e instanceof RramError) {
    process.stderr.write(`rram: ${e.message}\n`);
    const usage = e.code === 'INVALID_ARGUMENT' || e.code === 'LIMIT' || e.code === 'ADDRESS' || e.code === 'CALIBRATION' || e.code === 'DATA' || e.code === 'NOT_FOUND' || e.code === 'PRUNED';
    process.exit(e.code === 'ABORTED' ? EXIT.aborted : usage ? EXIT.usage : EXIT.failure);
  }
  // A disk that is full or failing is the machine's state, not a bug: one line, no stack.
  if (isFileSystemError(e)) {
    process.stderr.write(`rram: ${StoreWriteError.from(e, e.path ?? '?').message}\n`);
    process.exit(EXIT.failure);
  }
  process.stderr.write(`rram: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(EXIT.failure);
}
