/**
 * Test helpers for external pieces (socat, influxd, chromium): locally a missing tool skips the
 * test with a clear message; under CI=true it fails, since CI must run everything.
 */
import { execFileSync } from 'node:child_process';
import type { TestContext } from 'node:test';

export function hasTool(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Returns false (after skipping) when `what` is missing locally; throws under CI, which must run everything. */
export function needPresent(t: TestContext, present: boolean, what: string, fix: string): boolean {
  if (present) return true;
  if (process.env.CI === 'true') throw new Error(`${what} is missing under CI=true: ${fix}`);
  t.skip(`${what} missing (${fix}); skipped locally, required in CI`);
  return false;
}

export function needTool(t: TestContext, cmd: string, pkg: string): boolean {
  return needPresent(t, hasTool(cmd), cmd, `.ci/run must install ${pkg} (apt-get install ${pkg})`);
}
