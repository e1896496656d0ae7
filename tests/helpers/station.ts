/** `rram serve` as `npm start` runs it (a process on its own store), and CLI processes beside it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { repoRoot } from '../../lib/repo-root.js';
import { waitFor } from './server.js';

export const MAIN = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

export interface Station {
  url: string;
  proc: ChildProcess;
  err: () => string;
  stop: () => Promise<void>;
}

export async function serveStation(store: string, args: string[] = []): Promise<Station> {
  const proc = spawn(process.execPath, [MAIN, 'serve', '--listen', '127.0.0.1:0', '--store', store, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const host = await waitFor(() => /http:\/\/(127\.0\.0\.1:\d+)\//.exec(out)?.[1], 60000, `rram serve to listen (${err})`);
  return {
    url: `http://${host}`,
    proc,
    err: () => err,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return; // ended (a kill -9 leaves exitCode null)
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

export interface Cli {
  proc: ChildProcess;
  out: () => string;
  err: () => string;
  done: Promise<number>;
}

/** A CLI command; `tty`: under script(1), so stderr is a terminal and the progress bar draws. */
export function cli(args: string[], o: { tty?: boolean; env?: NodeJS.ProcessEnv } = {}): Cli {
  const cmd = [process.execPath, MAIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const proc = o.tty ? spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env: o.env ?? process.env }) : spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: o.env ?? process.env });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const done = new Promise<number>((r) => proc.once('exit', (code) => r(code ?? -1)));
  return { proc, out: () => out, err: () => err, done };
}

/** `rram emulate --pty --json ARGS`: the emulated board behind a pseudo-terminal, and its path. */
export async function emulatePty(args: string[] = []): Promise<{ path: string; proc: ChildProcess; err: () => string }> {
  const proc = spawn(process.execPath, [MAIN, 'emulate', '--pty', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  // What the emulator said (its last 4 kB), for a failing test's message.
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4096)));
  const path = await new Promise<string>((res, rej) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) res((JSON.parse(out.split('\n')[0]) as { path: string }).path);
    });
    proc.on('exit', (c) => rej(new Error(`rram emulate exited ${c}`)));
  });
  return { path, proc, err: () => err };
}

/** The token the station of `store` wrote there. */
export function stationToken(store: string): string {
  const dir = join(store, 'stations');
  return (JSON.parse(readFileSync(join(dir, readdirSync(dir).find((n) => n.endsWith('.json'))!), 'utf8')) as { token: string }).token;
}

/** POST /api/boards/board0/queue/WHAT on the station of `store`, with the token it wrote there. */
export function queueControl(store: string, url: string): (what: string) => Promise<Response> {
  const token = stationToken(store);
  return (what) => fetch(`${url}/api/boards/board0/queue/${what}`, { method: 'POST', headers: { 'x-rram-token': token, 'content-type': 'application/json' }, body: '{}' });
}
