/** Starts a private influxd on 127.0.0.1 with its own data folder (environment.md's config). */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

export class Influxd {
  proc?: ChildProcess;
  port = 0;
  private dir = mkdtempSync(join(tmpdir(), 'influxd-'));
  private conf = '';

  async start(): Promise<void> {
    if (!this.port) {
      this.port = await freePort();
      const rpc = await freePort();
      this.conf = join(this.dir, 'influxdb.conf');
      writeFileSync(
        this.conf,
        `reporting-enabled = false\nbind-address = "127.0.0.1:${rpc}"\n[meta]\n  dir = "${this.dir}/meta"\n[data]\n  dir = "${this.dir}/data"\n  wal-dir = "${this.dir}/wal"\n  query-log-enabled = false\n[http]\n  bind-address = "127.0.0.1:${this.port}"\n  log-enabled = false\n[monitor]\n  store-enabled = false\n`,
      );
    }
    this.proc = spawn('influxd', ['-config', this.conf], { stdio: 'ignore' });
    for (let k = 0; k < 200; k++) {
      try {
        const r = await fetch(`http://127.0.0.1:${this.port}/ping`);
        if (r.status === 204) return;
      } catch {
        /* not up yet */
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('influxd did not start');
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await gone;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Count points of a measurement for a run with the influx shell (both time bounds given). */
  count(db: string, measurement: string, run: string): number {
    return countWithShell(this.port, db, measurement, run);
  }
}

import { execFileSync } from 'node:child_process';
export function countWithShell(port: number, db: string, measurement: string, run: string): number {
  const q = `SELECT count(seq) FROM "${measurement}" WHERE run='${run}' AND time > '2000-01-01T00:00:00Z' AND time < '2100-01-01T00:00:00Z'`;
  const out = execFileSync('influx', ['-host', '127.0.0.1', '-port', String(port), '-database', db, '-format', 'json', '-execute', q], { encoding: 'utf8' });
  const j = JSON.parse(out) as { results: { series?: { values: [string, number][] }[] }[] };
  return j.results[0].series?.[0].values[0][1] ?? 0;
}
