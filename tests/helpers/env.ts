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

/** Returns false (after skipping) when the tool is missing locally; throws under CI. */
export function needTool(t: TestContext, cmd: string, pkg: string): boolean {
  if (hasTool(cmd)) return true;
  if (process.env.CI === 'true') throw new Error(`${cmd} is missing under CI=true: .ci/run must install ${pkg}`);
  t.skip(`${cmd} not installed (apt-get install ${pkg}); skipped locally, required in CI`);
  return false;
}
