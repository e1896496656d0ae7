/**
 * `rram program-net --refresh-after T` killed (-9) inside a refresh, then `--resume` (issue 28 on
 * issue 24's record): no cell the record had refreshed (cell-done in the refresh step) is pulsed
 * again, programmed tiles are not programmed again, every cell ends done once per step, seq runs on
 * without a gap, and the board's saved state got exactly the pulses the record holds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { loadCalibration } from '../calibration/calibration.js';
import { assertRecordMatchesBoard, events, key, main, recordPulses } from './helpers/record-check.js';
import { repoRoot } from '../lib/repo-root.js';
import type { RunEvent } from '../src/engine/events.js';
import { smallTraining } from './helpers/small-training.js';

// The net trained here only needs to be a trained net (the checks are about programming it, reading
// it back and what the record says; accuracy bounds are loose): on the first 12000 training images
// (tests/helpers/small-training.ts).
smallTraining();

const cwd = mkdtempSync(join(tmpdir(), 'rfk-'));
const sync = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', cwd, timeout: 300000 });

test('program-net killed (-9) inside a refresh, then --resume: no refreshed cell pulsed again, no tile programmed twice, the board got what the record says', { timeout: 420000 }, async () => {
  // A board that relaxes ten times as much as the default, so that a refresh has cells to rewrite.
  const cal = JSON.parse(readFileSync(join(repoRoot(), 'calibration', 'ihp-hfo2-4kbit.json'), 'utf8'));
  cal.params.relaxation_scale.value *= 10;
  cal.id = 'strong-relax';
  writeFileSync(join(cwd, 'strong.json'), JSON.stringify(cal));
  // dense:4 under diff: 13 tiles of 64 x 8 cells and one of 5 x 20 (a refresh's rules do not depend on a tile's width).
  const t = sync('train', '--arch', 'dense:4', '--dataset', 'mnist', '--epochs', '1', '--out', 'net', '--json');
  assert.equal(t.status, 0, t.stderr);
  const store = join(cwd, 'store');
  const seed = 6;
  const args = ['program-net', '--model', 'net', '--device', 'gaussian:5%', '--levels', '4', '--images', '300', '--trials', '4', '--refresh-after', '10000s', '--calibration', 'strong.json', '--store', store, '--seed', String(seed), '--json'];
  const p = spawn(process.execPath, [main, ...args, '--new-board'], { cwd, stdio: 'ignore' });
  const lines = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : []);
  const t0 = Date.now();
  let id = '';
  // Killed once a refresh has rewritten a cell and is still going (its run not ended).
  for (;;) {
    await new Promise((r) => setTimeout(r, 10));
    const runs = existsSync(join(store, 'runs')) ? readdirSync(join(store, 'runs')) : [];
    const evs = runs.length ? lines(join(store, 'runs', runs[0], 'events.ndjson')) : [];
    if (evs.some((l) => l.startsWith('{"type":"cell-done"') && /"step":"tile \d+ refresh"/.test(l))) {
      id = runs[0];
      break;
    }
    if (p.exitCode !== null || Date.now() - t0 > 300000) throw new Error('the run ended before a refresh rewrote a cell');
  }
  p.kill('SIGKILL');
  await new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));
  const before = events(store, id);
  assert.ok(!before.some((e) => e.type === 'run-end'), 'killed inside the run');
  const doneBefore = new Set(before.filter((e) => e.type === 'cell-done').map((e) => `${e.step}|${key(e.cell)}`));
  const r = sync(...args, '--resume', id);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  const all = events(store, id);
  assert.deepEqual(all.map((e) => e.seq), all.map((_, k) => k), 'seq contiguous across the kill and the resume');
  const after = all.slice(all.findIndex((e) => e.type === 'run-resume'));
  const repulsed = after.filter((e) => e.type === 'pulse' && !e.recovered && doneBefore.has(`${e.step}|${key(e.cell)}`));
  assert.equal(repulsed.length, 0, `${repulsed.length} pulses on cells the record had done in their step`);
  // A tile programmed before the kill is not programmed again (its refresh may still run).
  const tilesDone = new Set(before.filter((e): e is Extract<RunEvent, { type: 'cell-done' }> => e.type === 'cell-done' && /^tile \d+$/.test(e.step ?? '')).map((e) => e.step));
  for (const s of tilesDone) {
    const cellsOf = before.filter((e) => e.type === 'cell-done' && e.step === s).length;
    const whole = all.filter((e) => e.type === 'cell-done' && e.step === s).length;
    if (cellsOf === whole) assert.equal(after.filter((e) => e.type === 'pulse' && e.step === s).length, 0, `${s} was programmed: no pulse of it after the resume`);
  }
  // Every cell done at most once per step, and the refresh reported.
  const dones = all.filter((e) => e.type === 'cell-done').map((e) => `${e.step}|${key(e.cell)}`);
  assert.equal(new Set(dones).size, dones.length, 'a cell done twice in one step');
  assert.ok(res.programming.refresh.rewritten > 0, JSON.stringify(res.programming.refresh));
  assert.equal(res.programming.refresh.rewritten, all.filter((e) => e.type === 'cell-done' && / refresh$/.test((e as { step?: string }).step ?? '')).length);
  // The board's saved state got what the record says, cell by cell.
  const board = new EmulatedBoard({ seed, calibration: loadCalibration(join(cwd, 'strong.json')) });
  board.attachState(join(store, 'boards'));
  const rec = recordPulses(all);
  const fw = new Map(
    [...rec.keys()].map((k) => {
      const [a, row, col] = k.split(':').map(Number);
      const c = board.countersSync({ array: a, row, col });
      return [k, c.form + c.set + c.reset];
    }),
  );
  assertRecordMatchesBoard(rec, fw, 'refresh killed and resumed');
  await board.close();
});
