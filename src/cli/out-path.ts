/**
 * Output files named by flags (`--out FILE`), checked before any work: a folder, or a file in a
 * folder that does not exist, is refused naming the flag (instead of failing after the work, or
 * as a write stream's uncaught error).
 */
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError } from '../../drivers/errors.js';

const stat = (p: string) => {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
};

export function checkOutFile(flag: string, path: string): string {
  if (stat(path)?.isDirectory()) throw new InvalidArgumentError(flag, path, 'is a folder: give a file name');
  const dir = dirname(resolve(path));
  const d = stat(dir);
  if (!d) throw new InvalidArgumentError(flag, path, `its folder ${dir} does not exist`);
  if (!d.isDirectory()) throw new InvalidArgumentError(flag, path, `${dir} is not a folder`);
  return path;
}

/** commander's parser for `--out <file>`. */
export const outFile = (raw: string): string => checkOutFile('--out', raw);
