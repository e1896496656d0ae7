import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { CellArrayModel } from '../drivers/emulated/cell-model.js';
import { loadCalibration } from '../calibration/calibration.js';

const cal = loadCalibration();
const c0 = { array: 0, row: 5, col: 7 };

async function formed(seed = 3) {
  const b = new EmulatedBoard({ seed });
  await b.form(c0, { vte_V: 3.9, vg_V: 1.6, width_s: 10e-6 });
  await b.reset(c0, { vsl_V: 2.5, vg_V: 2.7, width_s: 1e-6 });
  return b;
}

test('pristine cells conduct nothing until formed', async () => {
  const b = new EmulatedBoard({ seed: 1 });
  assert.ok((await b.read(c0)) < 0.5e-6);
  await b.form(c0, { vte_V: 3.9, vg_V: 1.6, width_s: 10e-6 });
  assert.ok((await b.read(c0)) > 1e-6, 'formed cell conducts');
});

test('gate-limited SET: conductance rises with VG in a saturating transfer and never falls on a SET', async () => {
  const b = await formed();
  let last = await b.read(c0);
  const seen: number[] = [];
  for (let vg = 0.5; vg <= 3.3; vg += 0.1) {
    await b.set(c0, { vte_V: 1.2, vg_V: vg, width_s: 1e-6 });
    const i = await b.read(c0);
    seen.push(i);
    // Never lower than before beyond read noise (a few tenths of a uA at most).
    assert.ok(i > last - 0.5e-6, `SET lowered the current at VG=${vg.toFixed(1)}: ${last} -> ${i}`);
    last = Math.max(last, i);
  }
  const g = seen.map((i) => i / 0.2);
  assert.ok(g[0] < 15e-6, 'below threshold nothing happens');
  assert.ok(g[g.length - 1] > 200e-6 && g[g.length - 1] < 260e-6, `saturates near 240 uS, got ${g[g.length - 1]}`);
  const m = new CellArrayModel(cal, 1, 1);
  assert.ok(m.transfer(1.5) < m.transfer(2.0) && m.transfer(2.0) < m.transfer(2.5));
});

test('ISPVA-style SET switches abruptly near VTE ~ 0.9 V at fixed VG', async () => {
  const b = await formed(5);
  const before = await b.read(c0);
  let switched = NaN;
  for (let vte = 0.3; vte <= 1.6; vte = Math.round((vte + 0.05) * 100) / 100) {
    await b.set(c0, { vte_V: vte, vg_V: 2.0, width_s: 1e-6 });
    if ((await b.read(c0)) > before + 8e-6) {
      switched = vte;
      break;
    }
  }
  assert.ok(switched >= 0.75 && switched <= 1.1, `switched at ${switched} V`);
});

test('RESET lowers conductance gradually with the SL amplitude', async () => {
  const b = await formed(7);
  await b.set(c0, { vte_V: 1.2, vg_V: 2.6, width_s: 1e-6 });
  const steps: number[] = [await b.read(c0)];
  for (const vsl of [0.9, 1.1, 1.3, 1.6, 2.0, 2.5]) {
    await b.reset(c0, { vsl_V: vsl, vg_V: 2.7, width_s: 1e-6 });
    steps.push(await b.read(c0));
  }
  assert.ok(steps[steps.length - 1] < 3e-6, 'ends in HRS');
  const drops = steps.slice(1).filter((x, k) => x < steps[k] - 0.5e-6).length;
  assert.ok(drops >= 3, `gradual: several partial drops, got ${drops} in ${steps.map((s) => (s * 1e6).toFixed(1))}`);
});

test('same seed, same results; another seed, other results', async () => {
  const run = async (seed: number) => {
    const b = new EmulatedBoard({ seed });
    for (let col = 0; col < 8; col++) await b.form({ array: 0, row: 0, col }, { vte_V: 3.5, vg_V: 1.6, width_s: 1e-5 });
    return Array.from(await b.readRow(0, 0));
  };
  assert.deepEqual(await run(11), await run(11));
  assert.notDeepEqual(await run(11), await run(12));
});

test('read noise is a few tenths of a uS; relaxation spread grows with log time (virtual clock)', async () => {
  const b = new EmulatedBoard({ seed: 9 });
  const cells = Array.from({ length: 64 }, (_, col) => ({ array: 0, row: 1, col }));
  for (const c of cells) {
    await b.form(c, { vte_V: 3.9, vg_V: 1.6, width_s: 1e-5 });
    await b.reset(c, { vsl_V: 2.5, vg_V: 2.7, width_s: 1e-6 });
    await b.set(c, { vte_V: 1.2, vg_V: 1.4, width_s: 1e-6 });
  }
  const r1 = Array.from(await b.readRow(0, 1));
  const r2 = Array.from(await b.readRow(0, 1));
  const dn = r1.map((x, k) => (x - r2[k]) / 0.2 / Math.SQRT2);
  const noise = Math.sqrt(dn.reduce((s, x) => s + x * x, 0) / dn.length);
  assert.ok(noise > 0.1e-6 && noise < 0.8e-6, `read noise ${noise}`);
  await b.wait(1);
  const a1 = Array.from(await b.readRow(0, 1));
  await b.wait(1e4);
  const a2 = Array.from(await b.readRow(0, 1));
  const spread = (a: number[]) => {
    const d = a.map((x, k) => x - r1[k]);
    const m = d.reduce((s, x) => s + x, 0) / d.length;
    return Math.sqrt(d.reduce((s, x) => s + (x - m) ** 2, 0) / d.length);
  };
  assert.ok(spread(a2) > spread(a1), `spread at 1e4 s (${spread(a2)}) > at 1 s (${spread(a1)})`);
});

test('read current includes the I-V curvature: ~7 % below G0*V at 62.5 uS', () => {
  const m = new CellArrayModel(cal, 1, 1) as unknown as { ivRatio(g: number, v: number): number };
  const r = m.ivRatio(62.5e-6, 0.2);
  assert.ok(r > 0.9 && r < 0.95, `ratio ${r}`);
  assert.ok(Math.abs(m.ivRatio(150e-6, 0.2) - 1) < 0.02);
});

test('full-width seeds: no two seeds below 2^32 give the same board (20,000 seeds, the colliding pair 1000000/1005311, the edges)', async () => {
  const { EmulatedBoard } = await import('../drivers/emulated/emulated-board.js');
  const { Rng } = await import('../lib/rng.js');
  const rng = new Rng(99);
  const seeds = new Set<number>([0, 1, 2, 1000000, 1005311, 2 ** 31, 2 ** 32 - 1]);
  while (seeds.size < 20000) seeds.add(Math.floor(rng.uniform() * 2 ** 32));
  const seen = new Map<string, number>();
  for (const seed of seeds) {
    const b = new EmulatedBoard({ seed, arrays: 2, rows: 4, cols: 4 });
    // What a board is made of: its cells' pristine reads on both arrays (device-to-device draws and read noise).
    const f = [0, 1].map((a) => Array.from(b.readArraySync(a)).map((x) => x.toPrecision(12)).join(',')).join('|');
    assert.equal(seen.get(f), undefined, `seeds ${seen.get(f)} and ${seed} give the same board`);
    seen.set(f, seed);
  }
  assert.throws(() => new EmulatedBoard({ seed: 2 ** 32 }), /seed=4294967296: must be an integer in 0\.\.4294967295/);
});
