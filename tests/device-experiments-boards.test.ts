/**
 * The device experiments as a lab runs them: the real CLI, on our emulator and on the independent
 * foreign-v2 board over its pty. What must hold every time: the run completes, its record equals
 * what the board did (per cell the board's own pulse count between the record's confirmed pulses
 * and those plus its unknown ones; no request executed twice), and a retention run killed with
 * kill -9 at any point and resumed pulses no cell the record had done, reads every time point once,
 * and records the ages the board's clock gave.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { eventsTextSync } from '../src/store/event-files.js';
import type { MarkEvent, RunEvent } from '../src/engine/events.js';
import { Rng } from '../lib/rng.js';
import { repoRoot } from '../lib/repo-root.js';
import { needForeign, startForeign } from './helpers/foreign-board.js';
import { assertRecordMatchesBoard, assertSerialCountersMatch, cellKey, foreignAudit, recordPulses, storedEvents } from './helpers/record.js';

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const key = cellKey;

function rram(args: string[], onStart?: (p: ReturnType<typeof spawn>) => void): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [main, ...args], { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d));
    p.stderr!.on('data', (d: Buffer) => (stderr += d));
    onStart?.(p);
    p.on('exit', (status) => res({ status, stdout, stderr }));
  });
}
const events = storedEvents;
const runOf = (store: string, kind: string) => readdirSync(join(store, 'runs')).find((id) => JSON.parse(readFileSync(join(store, 'runs', id, 'run.json'), 'utf8')).kind === kind)!;
const assertBoardGot = assertRecordMatchesBoard;
const audit = foreignAudit;

interface Trial {
  store: string;
  id: string;
  args: string[];
  doneBefore: Set<string>;
  phase: string;
}

/**
 * When to kill: once the record holds `lines` events, or `ms` after the record holds the mark
 * `afterMark`. A point in the run's own progress, not a time since start: a quiet machine ends a
 * run before a slow one has begun it.
 */
type KillAt = { lines: number } | { afterMark: string; ms: number };

/** Runs `args` and kills it (kill -9) at `at`; the interrupted run, or undefined when it had not begun or had completed. */
async function killed(args: string[], store: string, at: KillAt): Promise<Trial | undefined> {
  await rram(args, (p) => {
    let markSeen = 0;
    const iv = setInterval(() => {
      if (p.exitCode !== null) return clearInterval(iv);
      if (!existsSync(join(store, 'runs'))) return;
      const id = readdirSync(join(store, 'runs'))[0];
      if (!id) return;
      let text: string;
      try {
        text = eventsTextSync(join(store, 'runs', id), 'latin1');
      } catch {
        return;
      }
      const fire = 'lines' in at ? text.split('\n').length - 1 >= at.lines : (markSeen ||= text.includes(`"name":"${at.afterMark}"`) ? Date.now() : 0) > 0 && Date.now() - markSeen >= at.ms;
      if (fire) {
        clearInterval(iv);
        p.kill('SIGKILL');
      }
    }, 5);
  });
  if (!existsSync(join(store, 'runs')) || !readdirSync(join(store, 'runs')).length) return undefined;
  const id = readdirSync(join(store, 'runs'))[0];
  if (JSON.parse(readFileSync(join(store, 'runs', id, 'run.json'), 'utf8')).status === 'completed') return undefined;
  const before = events(store, id);
  const marks = before.filter((e): e is MarkEvent => e.type === 'mark');
  // Before the origin: programming; after it: waiting for (or reading) the next point.
  const phase = !marks.some((m) => m.name === 'retention-origin') ? 'programming' : 'waiting';
  return { store, id, args, phase, doneBefore: new Set(before.filter((e) => e.type === 'cell-done').map((e) => key((e as { cell: { array: number; row: number; col: number } }).cell))) };
}

/** Resumes a killed retention run and checks the record: seq, no re-pulse, each point once in order; returns its events. */
async function resumedRecord(t: Trial, times: number[]): Promise<RunEvent[]> {
  const r = await rram([...t.args, '--resume', t.id, '--json']);
  assert.equal(r.status, 0, `${t.phase}: ${r.stderr}`);
  const all = events(t.store, t.id);
  assert.deepEqual(all.map((e) => e.seq), all.map((_, k) => k), 'seq contiguous across the kill');
  const after = all.slice(all.findIndex((e) => e.type === 'run-resume'));
  const repulsed = after.filter((e) => e.type === 'pulse' && !e.recovered && t.doneBefore.has(key(e.cell)));
  assert.equal(repulsed.length, 0, `killed while ${t.phase}: ${repulsed.length} pulses on cells the record had done`);
  const points = all.filter((e): e is MarkEvent => e.type === 'mark' && e.name === 'retention-point');
  assert.deepEqual(points.map((m) => m.value.t_s), times, 'each time point read and marked once, in order');
  const d = JSON.parse(readFileSync(join(t.store, 'runs', t.id, 'retention.json'), 'utf8'));
  const lastDone = new Map<string, number>();
  for (const e of all) if (e.type === 'cell-done') lastDone.set(key(e.cell), e.outcome.final_A);
  for (const l of d.levels) for (const c of l.cells) if (c.status === 'ok') assert.equal(c.verify_A, lastDone.get(key(c)), "the dataset's verify read is the record's");
  return all;
}

test('retention on the in-process emulator killed (kill -9) at random points and resumed: no done cell pulsed again, every point read once at its nominal age, the board got what the record says', { timeout: 600000 }, async () => {
  const rng = new Rng(31);
  let trials = 0;
  for (let attempt = 0; trials < 5 && attempt < 20; attempt++) {
    const store = mkdtempSync(join(tmpdir(), 'ret-kill-'));
    const seed = 40 + attempt;
    const args = ['retention', '--levels', '4', '--cells-per-level', '24', '--times', '1s,10s,...,1d', '--step', '0.02', '--store', store, '--seed', String(seed)];
    // Anywhere in its ~13,900 events (programming, the origin, the points).
    const tr = await killed(args, store, { lines: Math.floor(20 + rng.uniform() * 13000) });
    if (!tr) continue;
    trials++;
    const all = await resumedRecord(tr, [1, 10, 100, 1000, 10000, 86400]);
    for (const m of all.filter((e): e is MarkEvent => e.type === 'mark' && e.name === 'retention-point')) assert.equal(m.value.age_s, m.value.t_s, 'a virtual clock reads at the nominal age');
    const board = new EmulatedBoard({ seed });
    board.attachState(join(store, 'boards'));
    const cells = new Set(all.filter((e) => e.type === 'read').map((e) => key((e as { cell: { array: number; row: number; col: number } }).cell)));
    assertBoardGot(recordPulses(all), (k) => {
      const [array, row, col] = k.split(':').map(Number);
      const n = board.countersSync({ array, row, col });
      return n.form + n.set + n.reset;
    }, cells, `killed while ${tr.phase}`);
    await board.close();
  }
  assert.equal(trials, 5, `only ${trials} kills landed inside a run`);
});

test('retention behind rram emulate --pty (real waits) killed (kill -9) while programming and while waiting: resumed at the real ages, the board\'s own counters equal the records', { timeout: 600000 }, async () => {
  const emu = spawn(process.execPath, [main, 'emulate', '--pty', '--json', '--seed', '9'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const path = await new Promise<string>((res) => emu.stdout!.once('data', (d: Buffer) => res(JSON.parse(d.toString().split('\n')[0]).path)));
    const rng = new Rng(32);
    const phases = new Set<string>();
    const times = [1, 2, 3];
    const used = new Map<string, { confirmed: number; unknown: number }>();
    for (let attempt = 0; !(phases.has('programming') && phases.has('waiting') && attempt >= 4) && attempt < 12; attempt++) {
      const store = mkdtempSync(join(tmpdir(), 'ret-pty-'));
      const args = ['retention', '--levels', '2', '--cells-per-level', '8', '--times', '1s,2s,3s', '--array', String(attempt % 2), '--port', path, '--store', store, '--seed', String(attempt + 1), '--min-success', '0'];
      // Every other attempt while programming (its first events), the others while waiting for a point.
      const tr = await killed(args, store, attempt % 2 ? { afterMark: 'retention-origin', ms: rng.uniform() * 3000 } : { lines: Math.floor(5 + rng.uniform() * 150) });
      if (!tr) continue;
      phases.add(tr.phase);
      const resumedAt = Date.now();
      const all = await resumedRecord(tr, times);
      const origin = all.find((e): e is MarkEvent => e.type === 'mark' && e.name === 'retention-origin')!;
      assert.equal(origin.value.clock, 'real');
      for (const m of all.filter((e): e is MarkEvent => e.type === 'mark' && e.name === 'retention-point')) {
        const age = m.value.age_s as number;
        // At least its time after the origin, at most the real time the read was taken (its event's wall time).
        assert.ok(age >= (m.value.t_s as number) - 1e-3 && age <= (m.t - (origin.value.t_ms as number)) / 1000 + 1e-3, `point ${m.value.t_s} s read at age ${age} s`);
        if (m.t > resumedAt && (m.value.t_s as number) < (resumedAt - (origin.value.t_ms as number)) / 1000) assert.ok(age > (m.value.t_s as number), 'a point missed while no process ran is read late, at its real age');
      }
      for (const [k, v] of recordPulses(all)) {
        const c = used.get(k) ?? { confirmed: 0, unknown: 0 };
        used.set(k, { confirmed: c.confirmed + v.confirmed, unknown: c.unknown + v.unknown });
      }
    }
    assert.ok(phases.has('programming') && phases.has('waiting'), `kills landed while ${[...phases].join(', ')}`);
    // The board's own counters (since it started: every run of this test) against all the records.
    await assertSerialCountersMatch(path, used, 'retention behind the pty');
  } finally {
    emu.kill('SIGTERM');
  }
});

test('foreign-v2 board: rram iv, rram endurance and rram retention complete, the record equals what the board did; a retention killed mid-wait on its real clock resumes at the real ages', { timeout: 600000 }, async (t) => {
  if (!needForeign(t)) return;
  const b = startForeign();
  const store = mkdtempSync(join(tmpdir(), 'fx-'));
  try {
    const common = ['--port', b.dev, '--store', store];
    const ivr = await rram(['iv', '--count', '6', '--cycles', '2', '--step', '0.05', '--vg', '1.6', '--json', ...common]);
    assert.equal(ivr.status, 0, ivr.stderr);
    const ivd = JSON.parse(ivr.stdout);
    assert.ok(ivd.summary.ok >= 5, JSON.stringify(ivd.summary));
    // The board's physics (physics.py): SET switches near VTE 0.86 V, RESET starts near VSL 1.05 V plus its transistor drop.
    assert.ok(ivd.stats.vset_V.median > 0.6 && ivd.stats.vset_V.median < 1.2, `V_SET ${ivd.stats.vset_V.median}`);
    assert.ok(ivd.stats.vreset_V.median > 0.8 && ivd.stats.vreset_V.median < 1.8, `V_RESET ${ivd.stats.vreset_V.median}`);
    const er = await rram(['endurance', '--count', '6', '--cycles', '60', '--every', '20', '--vg', '1.6', '--json', ...common]);
    assert.equal(er.status, 0, er.stderr);
    assert.ok(JSON.parse(er.stdout).summary.cycled >= 5, er.stdout);
    // Retention on the board's real clock: killed during the wait for the 3 s point, resumed 2 s later.
    const rargs = ['retention', '--levels', '2', '--cells-per-level', '6', '--times', '1s,3s', '--min-success', '0', ...common];
    let killedAt = 0;
    await rram(rargs, (p) => {
      const iv = setInterval(() => {
        const id = existsSync(join(store, 'runs')) ? runOf(store, 'retention') : undefined;
        if (id && events(store, id).some((e) => e.type === 'mark' && e.name === 'retention-point')) {
          clearInterval(iv);
          killedAt = Date.now();
          p.kill('SIGKILL');
        }
      }, 20);
    });
    const id = runOf(store, 'retention');
    assert.ok(killedAt > 0, 'killed after the 1 s point');
    await new Promise((r) => setTimeout(r, 2000));
    const rr = await rram([...rargs, '--resume', id, '--json']);
    assert.equal(rr.status, 0, rr.stderr);
    const all = events(store, id);
    const origin = all.find((e): e is MarkEvent => e.type === 'mark' && e.name === 'retention-origin')!;
    assert.equal(origin.value.clock, 'real');
    const points = all.filter((e): e is MarkEvent => e.type === 'mark' && e.name === 'retention-point');
    assert.deepEqual(points.map((m) => m.value.t_s), [1, 3]);
    const age3 = points[1].value.age_s as number;
    const t0 = origin.value.t_ms as number;
    // Read after the resume at the board's real age: at least the time until the kill plus the 2 s no process ran, at most when its read event was written.
    assert.ok(age3 >= 3 && age3 >= (killedAt - t0) / 1000 + 2 && age3 <= (points[1].t - t0) / 1000 + 1e-3, `age of the 3 s point ${age3} s (killed ${(killedAt - t0) / 1000} s after the origin)`);
    b.stop();
    const fw = audit(b);
    assert.equal(fw.duplicates, 0, 'no request executed twice');
    const rec = new Map<string, { confirmed: number; unknown: number }>();
    for (const run of readdirSync(join(store, 'runs')))
      for (const [k, v] of recordPulses(events(store, run))) {
        const c = rec.get(k) ?? { confirmed: 0, unknown: 0 };
        rec.set(k, { confirmed: c.confirmed + v.confirmed, unknown: c.unknown + v.unknown });
      }
    assertBoardGot(rec, (k) => fw.pulses.get(k) ?? 0, fw.pulses.keys(), 'foreign-v2');
  } finally {
    b.stop();
  }
});
