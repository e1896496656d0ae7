/**
 * Issue 31's speed goal: a 4096-cell, 8-level `rram characterize` over `rram emulate --pty` with
 * the link model at 921600 baud, its write-verify climbs from the host (--onboard-verify off) and on
 * the board (WRITE_VERIFY, the default `auto` behind a link). Wall time of the whole CLI command,
 * its pulses and success as it reports them. Each row is one fresh emulator (seed 1).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';

const main = () => join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

export const CHARACTERIZE_PTY_ROWS: { label: string; args: string[] }[] = [
  { label: 'igvva (IGVVA-10), climbs from the host', args: ['--algo', 'igvva', '--onboard-verify', 'off'] },
  { label: 'igvva (IGVVA-10), climbs on the board', args: ['--algo', 'igvva'] },
  { label: 'igvva-predict --prep fast --predict-sigmas 2, from the host', args: ['--algo', 'igvva-predict', '--prep', 'fast', '--predict-sigmas', '2', '--onboard-verify', 'off'] },
  { label: 'igvva-predict --prep fast --predict-sigmas 2, on the board', args: ['--algo', 'igvva-predict', '--prep', 'fast', '--predict-sigmas', '2'] },
];

async function emulator(baud: number): Promise<{ path: string; stop: () => void }> {
  const p = spawn(process.execPath, [main(), 'emulate', '--pty', '--json', '--seed', '1', '--baud', String(baud)], { stdio: ['ignore', 'pipe', 'ignore'] });
  const line = await new Promise<string>((res, rej) => {
    let out = '';
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) res(out.split('\n')[0]);
    });
    p.on('exit', (c) => rej(new Error(`rram emulate exited ${c}`)));
  });
  return { path: JSON.parse(line).path, stop: () => p.kill('SIGTERM') };
}

export async function characterizePtyBench(rows = CHARACTERIZE_PTY_ROWS, baud = 921600): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const row of rows) {
    const e = await emulator(baud);
    try {
      const store = mkdtempSync(join(tmpdir(), 'bench-chr-'));
      const args = ['characterize', '--levels', '8', '--cells-per-level', '512', '--port', e.path, '--baud', String(baud), '--calibration', join(repoRoot(), 'calibration', 'ihp-hfo2-4kbit.json'), '--store', store, '--json', ...row.args];
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [main(), ...args], { encoding: 'utf8', cwd: store, maxBuffer: 1 << 30 });
      const wall_s = +((performance.now() - t0) / 1000).toFixed(1);
      if (r.status !== 0 && r.status !== 3) {
        out.push({ label: row.label, error: r.stderr.slice(-2000), status: r.status });
        continue;
      }
      const j = JSON.parse(r.stdout) as { summary: { cells: number; ok: number; successRate: number }; levels: { spec: { kind: string }; cells: { pulses: number }[] }[] };
      const lrs = j.levels.filter((l) => l.spec.kind === 'lrs').flatMap((l) => l.cells.map((c) => c.pulses)).sort((a, b) => a - b);
      out.push({
        label: row.label,
        command: `rram ${args.map((a) => (a === e.path ? 'PTY' : a === store ? 'STORE' : a)).join(' ')}`,
        wall_s,
        cells: j.summary.cells,
        successPct: +(100 * j.summary.successRate).toFixed(2),
        lrsPulsesMean: +(lrs.reduce((a, b) => a + b, 0) / lrs.length).toFixed(1),
        lrsPulsesP99: lrs[Math.min(lrs.length - 1, Math.ceil(0.99 * lrs.length) - 1)],
        exit: r.status,
      });
    } finally {
      e.stop();
    }
  }
  return out;
}
