/**
 * Issue 31's speed goal: a 4096-cell, 8-level `rram characterize` over `rram emulate --pty` with
 * the link model at 921600 baud, its write-verify climbs from the host (--onboard-verify off) and on
 * the board (WRITE_VERIFY, the default `auto` behind a link). Wall time of the whole CLI command,
 * its pulses and success as it reports them. Each row is one fresh emulator (seed 1).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';

const main = () => join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

export const CHARACTERIZE_PTY_ROWS: { label: string; args: string[] }[] = [
  { label: 'igvva-predict --prep fast --predict-sigmas 2, climbs on the board', args: ['--algo', 'igvva-predict', '--prep', 'fast', '--predict-sigmas', '2'] },
  { label: 'igvva-predict --prep fast --predict-sigmas 2, climbs from the host', args: ['--algo', 'igvva-predict', '--prep', 'fast', '--predict-sigmas', '2', '--onboard-verify', 'off'] },
  { label: 'igvva (IGVVA-10), climbs on the board', args: ['--algo', 'igvva'] },
  { label: 'igvva (IGVVA-10), climbs from the host', args: ['--algo', 'igvva', '--onboard-verify', 'off'] },
];

/** CPU seconds (user + system) a live process has used so far (Linux /proc). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(v[11]) + Number(v[12])) / 100;
}

async function emulator(baud: number): Promise<{ path: string; cpu: () => number; stop: () => void }> {
  const p = spawn(process.execPath, [main(), 'emulate', '--pty', '--json', '--seed', '1', '--baud', String(baud)], { stdio: ['ignore', 'pipe', 'ignore'] });
  const line = await new Promise<string>((res, rej) => {
    let out = '';
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) res(out.split('\n')[0]);
    });
    p.on('exit', (c) => rej(new Error(`rram emulate exited ${c}`)));
  });
  return { path: JSON.parse(line).path, cpu: () => cpuSeconds(p.pid!), stop: () => p.kill('SIGTERM') };
}

export async function characterizePtyBench(rows = CHARACTERIZE_PTY_ROWS, baud = 921600): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const row of rows) {
    const e = await emulator(baud);
    try {
      const store = mkdtempSync(join(tmpdir(), 'bench-chr-'));
      const args = ['characterize', '--levels', '8', '--cells-per-level', '512', '--port', e.path, '--baud', String(baud), '--calibration', join(repoRoot(), 'calibration', 'ihp-hfo2-4kbit.json'), '--store', store, '--json', ...row.args];
      // The machine is shared: besides the wall time, the CPU seconds of the host CLI (GNU time) and of the emulator.
      const timing = join(store, 'time.txt');
      const cpu0 = e.cpu();
      const t0 = performance.now();
      const r = spawnSync('/usr/bin/time', ['-f', '%U %S', '-o', timing, process.execPath, main(), ...args], { encoding: 'utf8', cwd: store, maxBuffer: 1 << 30 });
      const wall_s = +((performance.now() - t0) / 1000).toFixed(1);
      const emulatorCpu_s = +(e.cpu() - cpu0).toFixed(1);
      const [u, sy] = readFileSync(timing, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
      const hostCpu_s = +(u + sy).toFixed(1);
      if (r.status !== 0 && r.status !== 3) {
        out.push({ label: row.label, error: r.stderr.slice(-2000), status: r.status });
        continue;
      }
      const id = readdirSync(join(store, 'runs'))[0];
      const j = JSON.parse(readFileSync(join(store, 'runs', id, 'level-cdf.json'), 'utf8')) as { summary: { cells: number; ok: number; successRate: number }; levels: { spec: { kind: string }; cells: { pulses: number }[] }[] };
      const lrs = j.levels.filter((l) => l.spec.kind === 'lrs').flatMap((l) => l.cells.map((c) => c.pulses)).sort((a, b) => a - b);
      out.push({
        label: row.label,
        command: `rram ${args.map((a) => (a === e.path ? 'PTY' : a === store ? 'STORE' : a)).join(' ')}`,
        wall_s,
        hostCpu_s,
        emulatorCpu_s,
        loadavg: loadavg().map((x) => +x.toFixed(1)),
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
