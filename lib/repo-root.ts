import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's top folder (holding package.json), found from this file whether run from dist/ or not. */
export function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'calibration'))) return d;
    d = dirname(d);
  }
  throw new Error('cannot locate the rram-hil project folder');
}
