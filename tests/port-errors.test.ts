/**
 * A serial port that is missing, not a serial device, or vanishes mid-run is reported as what it
 * is: the port named, its reason, exit 4, never "run failed ... resume" for a run that never began.
 */
import { test } from 'node:test';
import { emulatePty } from './helpers/station.js';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { PortError } from '../drivers/errors.js';
import { portReason } from '../drivers/serial/transport.js';
import { repoRoot } from '../lib/repo-root.js';
import { needTool } from './helpers/env.js';

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const rram = (store: string, ...args: string[]) => spawnSync(process.execPath, [main, ...args, '--store', store], { encoding: 'utf8', timeout: 60000 });
const runsIn = (store: string) => (existsSync(join(store, 'runs')) ? readdirSync(join(store, 'runs')) : []);

test('portReason: the OS message decides the reason; every reason has its own hint naming the port', () => {
  assert.equal(portReason('Error: Permission denied, cannot open /dev/ttyUSB0'), 'permission');
  assert.equal(portReason('Error: EACCES: permission denied'), 'permission');
  assert.equal(portReason('Error: Inappropriate ioctl for device setting custom baud rate of 921600'), 'not-serial');
  assert.equal(portReason('Error: Resource temporarily unavailable Cannot lock port'), 'busy');
  assert.equal(portReason('Error: ENOENT: no such file or directory'), 'missing');
  assert.equal(portReason('Error: something else'), 'open-failed');
  const reasons = ['missing', 'busy', 'permission', 'not-serial', 'open-failed', 'closed'] as const;
  fc.assert(fc.property(fc.stringMatching(/^\/dev\/[a-zA-Z0-9_.-]{1,20}$/), fc.constantFrom(...reasons), (path, reason) => {
    const m = new PortError(path, reason, '').message;
    assert.ok(m.startsWith(`serial port ${path}: ${reason}: `), m);
    assert.ok(!m.includes('PATH'), `placeholder left in ${m}`);
  }));
});

test('CLI: a missing or non-serial port names the port, exits 4, stores no run and suggests no resume', () => {
  const store = mkdtempSync(join(tmpdir(), 'port-missing-'));
  const missing = join(store, 'ttyACM-gone');
  for (const [port, reason] of [[missing, 'missing'], ['/dev/null', 'not-serial']] as const) {
    for (const cmd of [['read', '--cell', '0,0'], ['characterize', '--levels', '2', '--cells-per-level', '2'], ['program', '--map', 'random', '--levels', '2', '--region', '0:0,0:1']]) {
      const r = rram(store, ...cmd, '--port', port);
      assert.equal(r.status, 4, `${cmd[0]} on ${port}: exit ${r.status}: ${r.stderr}`);
      assert.ok(r.stderr.includes(`serial port ${port}: ${reason}:`), r.stderr);
      assert.doesNotMatch(r.stderr, /--resume|run \S+ failed/, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    }
  }
  assert.deepEqual(runsIn(store), [], 'no run stored for a board never reached');
});

test('CLI: the port vanishing mid-run: the port first, exit 4, the run kept and continued only once the board answers', async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const store = mkdtempSync(join(tmpdir(), 'port-vanish-'));
  const { path, proc: emu } = await emulatePty(['--virtual-time']);
  const run = spawn(process.execPath, [main, 'characterize', '--levels', '4', '--cells-per-level', '32', '--port', path, '--store', store], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  run.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((res) => run.on('exit', (c) => res(c)));
  // Unplug once the run has recorded events.
  for (let k = 0; k < 300; k++) {
    const [id] = runsIn(store);
    const f = id && join(store, 'runs', id, 'events.ndjson');
    if (f && existsSync(f) && statSync(f).size > 20000) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  emu.kill('SIGTERM');
  const code = await exited;
  const [id] = runsIn(store);
  assert.equal(code, 4, stderr);
  const lines = stderr.trim().split('\n').filter((l) => !l.includes('warning'));
  const portLine = lines.findIndex((l) => l.startsWith(`rram: serial port ${path}: `));
  assert.ok(portLine >= 0, stderr);
  assert.match(lines[portLine + 1], new RegExp(`run ${id} stopped: the board is unreachable`));
  assert.match(lines[portLine + 1], new RegExp(`When the board answers again .*--resume ${id}`));
  assert.doesNotMatch(stderr, /run \S+ failed/);
});
