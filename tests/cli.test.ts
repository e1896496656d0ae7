/** The `rram` command as users run it: exit codes, error messages naming the bad field, outputs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const rram = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', cwd: mkdtempSync(join(tmpdir(), 'cli-')) });

test('rram --help and <command> --help', () => {
  const h = rram('--help');
  assert.equal(h.status, 0);
  for (const c of ['info', 'read', 'pulse', 'characterize', 'program', 'emulate', 'runs', 'export', 'train', 'infer', 'program-net', 'serve', 'influx-flush', 'calibrate']) assert.match(h.stdout, new RegExp(`\\b${c}\\b`));
  const r = rram('read', '--help');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /--cell <R,C>/);
});

test('rram info --json and rram read --cell/--row/--all with --json and --csv', () => {
  const i = JSON.parse(rram('info', '--json').stdout);
  assert.equal(i.arrays, 2);
  assert.equal(i.limits.vread_max_V, 0.5);
  const one = JSON.parse(rram('read', '--cell', '3,4', '--json').stdout);
  assert.equal(one.cells.length, 1);
  assert.equal(one.cells[0].row, 3);
  const row = rram('read', '--row', '2', '--csv');
  assert.equal(row.stdout.trim().split('\n').length, 65);
  const all = JSON.parse(rram('read', '--all', '--array', '1', '--json').stdout);
  assert.equal(all.cells.length, 4096);
});

test('bad input: non-zero exit and a message naming the field and the value', () => {
  const cases: [string[], RegExp][] = [
    [['read', '--cell', '99,4'], /row=99 is out of range/],
    [['read', '--cell', 'x'], /--cell="x"/],
    [['read'], /give exactly one of/],
    [['pulse', 'set', '--cell', '1,1', '--vte', '9', '--vg', '1'], /vte_V=9 is above the maximum 4/],
    [['pulse', 'zap', '--cell', '1,1', '--vg', '1'], /kind="zap"/],
    [['characterize', '--levels', '9', '--cells-per-level', '4'], /--levels="9": must be <= 8/],
    [['characterize', '--levels', '4', '--cells-per-level', '4', '--relax', '5parsecs'], /--relax="5parsecs"/],
    [['info', '--calibration', '/nonexistent.json'], /calibration key "\(file\)"/],
    [['serve', '--port', '8081'], /--port="8081": is the board's serial port .* use --listen 127\.0\.0\.1:8081/],
    [['runs', 'prune', '--older-than', '3 fortnights'], /--older-than="3 fortnights"/],
    [['export', '--run', 'x', '--format', 'hdf5'], /--out="missing": an HDF5 file cannot go to stdout/],
    [['export', '--run', 'x', '--format', 'xml', '--out', '/tmp/x'], /--format="xml": must be csv, json, hdf5 or event-model/],
    [['export', '--run', 'x', '--format', 'csv', '--array', '1'], /--array=1: applies to hdf5/],
  ];
  for (const [args, re] of cases) {
    const r = rram(...args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, re, `${args.join(' ')} -> ${r.stderr}`);
  }
});

test('rram pulse form then read in one emulator session via --verify; characterize --json; runs; export', () => {
  const p = JSON.parse(rram('pulse', 'form', '--cell', '1,1', '--vte', '3.9', '--vg', '1.6', '--width', '1e-5', '--verify', '--json').stdout);
  assert.ok(p.verify_A > 1e-6);
  const dir = mkdtempSync(join(tmpdir(), 'cli-store-'));
  const c = rram('characterize', '--levels', '3', '--cells-per-level', '8', '--store', dir, '--json');
  assert.equal(c.status, 0, c.stderr);
  const d = JSON.parse(c.stdout);
  assert.equal(d.levels.length, 3);
  const runs = JSON.parse(rram('runs', '--store', dir, '--json').stdout);
  assert.equal(runs[0].id, d.runId);
  assert.equal(runs[0].status, 'completed');
  const csv = rram('export', '--run', d.runId, '--store', dir, '--format', 'csv', '--type', 'cell-done');
  assert.equal(csv.stdout.trim().split('\n').length, 25);
  const bad = rram('export', '--run', 'nope', '--store', dir);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /run nope not found/);
});

test('rram emulate --pty --json serves the board; --port gives the same results as in process', async (t) => {
  const { needTool } = await import('./helpers/env.js');
  if (!needTool(t, 'socat', 'socat')) return;
  const { spawn } = await import('node:child_process');
  const emu = spawn(process.execPath, [main, 'emulate', '--pty', '--json', '--seed', '4'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const line = await new Promise<string>((res, rej) => {
      let buf = '';
      emu.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('\n')) res(buf.split('\n')[0]);
      });
      emu.on('exit', (c) => rej(new Error(`emulate exited ${c}`)));
    });
    const { path } = JSON.parse(line) as { path: string };
    const viaPort = spawnSync(process.execPath, [main, 'read', '--row', '0', '--json', '--port', path], { encoding: 'utf8' });
    assert.equal(viaPort.status, 0, viaPort.stderr);
    const local = rram('read', '--row', '0', '--json', '--seed', '4');
    const cellsOf = (t: string) => (JSON.parse(t) as { cells: unknown[] }).cells;
    assert.deepEqual(cellsOf(viaPort.stdout), cellsOf(local.stdout), 'the same reads (each a stored run of its own)');
  } finally {
    emu.kill('SIGTERM');
  }
});

test('InfluxDB URL from the config file: a bad entry is refused naming the file and the key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  const cfg = join(dir, 'rram.config.json');
  writeFileSync(cfg, JSON.stringify({ influx: 42 }));
  const r = spawnSync(process.execPath, [main, 'characterize', '--levels', '2', '--cells-per-level', '1', '--store', join(dir, 's')], { encoding: 'utf8', env: { ...process.env, RRAM_CONFIG: cfg } });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /rram.config.json: influx = 42: Expected string/);
  writeFileSync(cfg, JSON.stringify({ influx: 'ftp://x' }));
  const r2 = spawnSync(process.execPath, [main, 'characterize', '--levels', '2', '--cells-per-level', '1', '--store', join(dir, 's')], { encoding: 'utf8', env: { ...process.env, RRAM_CONFIG: cfg } });
  assert.notEqual(r2.status, 0);
  assert.match(r2.stderr, /ftp:\/\/x/);
});
