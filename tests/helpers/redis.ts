/**
 * A private redis-server for a test: a free loopback port, its own temporary folder, started as a
 * child (no service manager), killed after. `kill()` is kill -9; `start()` again brings it back on
 * the same port and folder (with `aof`, the jobs it had survive).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './influxd.js';

export class RedisServer {
  proc?: ChildProcess;
  port = 0;
  readonly dir = mkdtempSync(join(tmpdir(), 'redis-'));

  constructor(private readonly aof = false) {}

  url(db = 0): string {
    return `redis://127.0.0.1:${this.port}/${db}`;
  }

  async start(): Promise<void> {
    this.port ||= await freePort();
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', this.aof ? 'yes' : 'no', '--appendfsync', 'always', '--dir', this.dir], { stdio: 'ignore' });
    for (let k = 0; k < 100; k++) {
      if (spawnSync('redis-cli', ['-p', String(this.port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG') return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server did not answer on port ${this.port}`);
  }

  /** kill -9, and wait until it is gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
