/**
 * End to end on boards we did not write, over real ptys (issue 24): the independent foreign-v2
 * firmware (../shared/boards/foreign-v2: other physics, leaky cells, its own protocol code) and
 * our emulator behind `rram emulate --pty`, on clean and noisy lines (1e-4 and 1e-3 errors per
 * byte), through a board reset, after a power cycle, and with two host processes on one board.
 * What must hold every time: the run completes with every cell read back, no request the board
 * executed twice, and per cell the board's own count of pulses lies between the pulses the
 * record holds as confirmed and those plus its pulses of unknown outcome.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needTool } from './helpers/env.js';
import { needForeign, startForeign } from './helpers/foreign-board.js';
import { assertRecordMatchesBoard, foreignAudit, recordPulses } from './helpers/record.js';
import { events, key, main, onlyRun, rram } from './helpers/record-check.js';


const audit = foreignAudit;
const assertRecordMatchesBoardMap = (rec: Map<string, { confirmed: number; unknown: number }>, fw: Map<string, number>, what: string) => assertRecordMatchesBoard(rec, (k) => fw.get(k) ?? 0, fw.keys(), what);

const CHAR = ['characterize', '--levels', '4', '--cells-per-level', '32', '--json'];

for (const noise of [0, 1e-4, 1e-3]) {
  test(`foreign-v2 board, line noise ${noise} per byte: characterize completes, every cell read back, the record equals what the board did`, { timeout: 300000 }, async (t) => {
    if (!needForeign(t)) return;
    const b = startForeign(noise ? ['--noise', String(noise), '--noise-seed', '5'] : []);
    try {
      const store = mkdtempSync(join(tmpdir(), 'fg-'));
      const r = await rram([...CHAR, '--port', b.dev, '--store', store]);
      assert.equal(r.status, 0, r.stderr);
      const d = JSON.parse(r.stdout);
      assert.equal(d.summary.cells, 128);
      assert.ok(d.summary.successRate >= 0.95, JSON.stringify(d.summary));
      const cdf = JSON.parse(readFileSync(join(store, 'runs', onlyRun(store), 'level-cdf.json'), 'utf8'));
      const cells = cdf.levels.flatMap((l: { cells: { status: string; reads_A: (number | null)[] }[] }) => l.cells);
      assert.equal(cells.filter((c: { reads_A: (number | null)[] }) => c.reads_A.some((x) => x === null)).length, 0, 'every cell was read back');
      b.stop();
      const fw = audit(b);
      assert.equal(fw.duplicates, 0, 'no request executed twice');
      assertRecordMatchesBoardMap(recordPulses(events(store, onlyRun(store))), fw.pulses, `noise ${noise}`);
    } finally {
      b.stop();
    }
  });
}

for (const noise of [1e-4, 1e-3]) {
  test(`our emulator behind rram emulate --pty --noise ${noise}: characterize completes with every cell read back`, { timeout: 300000 }, async (t) => {
    if (!needTool(t, 'socat', 'socat')) return;
    const emu = spawn(process.execPath, [main, 'emulate', '--pty', '--json', '--virtual-time', '--noise', String(noise), '--seed', '3'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const path = await new Promise<string>((res) => emu.stdout!.once('data', (d: Buffer) => res(JSON.parse(d.toString().split('\n')[0]).path)));
      const store = mkdtempSync(join(tmpdir(), 'pn-'));
      const r = await rram([...CHAR, '--port', path, '--store', store]);
      assert.equal(r.status, 0, r.stderr);
      const d = JSON.parse(r.stdout);
      assert.ok(d.summary.successRate >= 0.95, JSON.stringify(d.summary));
      const cdf = JSON.parse(readFileSync(join(store, 'runs', onlyRun(store), 'level-cdf.json'), 'utf8'));
      const cells = cdf.levels.flatMap((l: { cells: { reads_A: (number | null)[] }[] }) => l.cells);
      assert.equal(cells.length, 128);
      assert.equal(cells.filter((c: { reads_A: (number | null)[] }) => c.reads_A.some((x) => x === null)).length, 0, 'every cell was read back');
    } finally {
      emu.kill('SIGTERM');
    }
  });
}

test('foreign-v2: the firmware reset (kill -9) in the middle of a run: the console says so as it happens and at the end; pulses in flight are unknown; the record equals what the board did', { timeout: 300000 }, async (t) => {
  if (!needForeign(t)) return;
  const b = startForeign();
  try {
    const store = mkdtempSync(join(tmpdir(), 'fr-'));
    const run = rram([...CHAR, '--port', b.dev, '--store', store], {
      onStart: () => {
        // Reset the board once the run has finished some cells.
        const iv = setInterval(() => {
          const runs = existsSync(join(store, 'runs')) ? readdirSync(join(store, 'runs')) : [];
          if (runs.length && existsSync(join(store, 'runs', runs[0], 'events.ndjson')) && readFileSync(join(store, 'runs', runs[0], 'events.ndjson'), 'utf8').includes('"cell-done"')) {
            clearInterval(iv);
            b.killFirmware();
          }
        }, 20);
      },
    });
    const r = await run;
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /rram: warning: link to board at .* lost/);
    assert.match(r.stderr, /rram: warning: board rebooted/);
    assert.match(r.stderr, /rram: run \S+: link lost \d+ times?; board rebooted 1 time/);
    b.stop();
    const fw = audit(b);
    assert.equal(fw.duplicates, 0);
    assertRecordMatchesBoardMap(recordPulses(events(store, onlyRun(store))), fw.pulses, 'reset mid-run');
  } finally {
    b.stop();
  }
});

test('foreign-v2 after a power cycle (COUNTERS back to 0): a sweep takes none of the cells earlier runs pulsed', { timeout: 300000 }, async (t) => {
  if (!needForeign(t)) return;
  const b = startForeign();
  const store = mkdtempSync(join(tmpdir(), 'fp-'));
  try {
    // Same seed: the sweep's fresh-cell search walks the same shuffled order the characterize took its cells from.
    const c = await rram(['characterize', '--levels', '2', '--cells-per-level', '64', '--port', b.dev, '--store', store, '--seed', '1', '--min-success', '0']);
    assert.equal(c.status, 0, c.stderr);
    const used = new Set(events(store, onlyRun(store)).filter((e) => e.type === 'pulse').map((e) => key((e as { cell: { array: number; row: number; col: number } }).cell)));
    b.restart(); // power cycle: cells keep their state, COUNTERS start from 0
    const s = await rram(['sweep', '--cells', '24', '--cycles', '1', '--ispva-cycles', '0', '--noise-reads', '0', '--port', b.dev, '--store', store, '--seed', '1', '--json']);
    assert.equal(s.status, 0, s.stderr);
    assert.match(s.stderr, /fresh cells: passed over: \d+ pulsed by earlier runs of this board/);
    const sweepRun = readdirSync(join(store, 'runs')).find((id) => JSON.parse(readFileSync(join(store, 'runs', id, 'run.json'), 'utf8')).kind === 'sweep')!;
    const swept = new Set(events(store, sweepRun).filter((e) => e.type === 'pulse').map((e) => key((e as { cell: { array: number; row: number; col: number } }).cell)));
    assert.equal(swept.size, 24);
    const reused = [...swept].filter((k) => used.has(k));
    assert.deepEqual(reused, [], 'no cell an earlier run pulsed was taken as fresh');
  } finally {
    b.stop();
  }
});

test("two host processes on one board at once: no request executed twice; each ends (done, or refused as another host's board); the records together equal what the board did", { timeout: 300000 }, async (t) => {
  if (!needForeign(t) || !needTool(t, 'socat', 'socat')) return;
  const b = startForeign();
  // Two programs on one device without the port lock (two bridges, as two TCP clients of one board
  // would be): the board hears both, and each reply goes to whichever reader takes it.
  const dir = mkdtempSync(join(tmpdir(), 'two-'));
  const bridges = ['a', 'b'].map((n) => spawn('socat', [`PTY,link=${join(dir, n)},raw,echo=0`, `FILE:${b.dev},raw,echo=0`], { stdio: 'ignore' }));
  try {
    for (let k = 0; k < 200 && !(existsSync(join(dir, 'a')) && existsSync(join(dir, 'b'))); k++) await new Promise((r) => setTimeout(r, 10));
    const stores = [mkdtempSync(join(tmpdir(), 'c1-')), mkdtempSync(join(tmpdir(), 'c2-'))];
    const rs = await Promise.all(stores.map((store, k) => rram([...CHAR, '--port', join(dir, 'ab'[k]), '--store', store, '--seed', String(k + 1), '--min-success', '0'])));
    // The hosts really contended, and said so as it happened: a session the board ended is a warning
    // on the console (three within a minute and the host gives up, naming the other host as the likely cause).
    assert.ok(rs.some((r) => /board ended the session|another host \(process, script or station\) is probably using it/.test(r.stderr)), `a host that loses its session says so: ${rs.map((r) => r.stderr.slice(-300)).join(' | ')}`);
    for (const r of rs) assert.ok(r.status === 0 || /another host .* is probably using it|disconnected/.test(r.stderr), `exit ${r.status}: ${r.stderr.slice(-400)}`);
    b.stop();
    const fw = audit(b);
    assert.equal(fw.duplicates, 0, 'no request executed twice');
    const rec = new Map<string, { confirmed: number; unknown: number }>();
    for (const store of stores) {
      if (!existsSync(join(store, 'runs')) || !readdirSync(join(store, 'runs')).length) continue;
      for (const [k, v] of recordPulses(events(store, onlyRun(store)))) {
        const c = rec.get(k) ?? { confirmed: 0, unknown: 0 };
        rec.set(k, { confirmed: c.confirmed + v.confirmed, unknown: c.unknown + v.unknown });
      }
    }
    assertRecordMatchesBoardMap(rec, fw.pulses, 'two hosts');
  } finally {
    for (const p of bridges) p.kill('SIGTERM');
    b.stop();
  }
});
