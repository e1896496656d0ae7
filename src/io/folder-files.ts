/** A small folder's files as base64 (a trained net travelling back from a queue worker) and back into a folder. */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../drivers/errors.js';

export function readFolderFiles(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).filter((f) => statSync(join(dir, f)).isFile()).map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
}

export function writeFolderFiles(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, b64] of Object.entries(files)) {
    // The names come from another machine: plain file names only, never a path.
    if (!/^[\w.-]+$/.test(name) || name === '.' || name === '..') throw new InvalidArgumentError('net file', name, 'is not a plain file name');
    writeFileSync(join(dir, name), Buffer.from(b64, 'base64'));
  }
}
