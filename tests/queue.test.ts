/**
 * Studies and sweeps on BullMQ over a real redis-server (issue 30): the same study.json (timings
 * aside) in process and with 1, 2 or 3 workers in any job order; a worker killed mid-job; Redis
 * killed and restarted mid-study, with and without persistence; wrong and unreachable URLs
 * refused before any work; content ids (a finished study resubmitted adds no job and computes
 * nothing). Points are tiny: the plumbing is under test, the Monte Carlo has its own tests.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import fc from 'fast-check';
import { repoRoot } from '../lib/repo-root.js';
import { canonicalJson, contentId } from '../src/queue/content-id.js';
import { QUEUE_NAME } from '../src/queue/job.js';
import { parseQueueUrl } from '../src/queue/redis-url.js';
import { withoutTimings } from '../src/studies/study-output.js';
import { needTool } from './helpers/env.js';
import { freePort } from './helpers/influxd.js';
import { RedisServer } from './helpers/redis.js';
import { randomNet } from './helpers/bnn-random.js';
import { smallTestSplit, smallTraining } from './helpers/small-training.js';

// The nets trained here (the test net, the studies' nets, on the queue and in process) only need to
// train the same way everywhere: on the first 12000 training images (tests/helpers/small-training.ts).
smallTraining();

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
// A deadline on every command (spawnSync blocks the test's own timeout): a refusal that hangs
// instead of answering fails the test. Generous, since a loaded machine stretches a training.
const rramSync = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 600000 });

interface Done {
  status: number | null;
  stdout: string;
  stderr: string;
}
function rram(args: string[], env: Record<string, string> = {}): { proc: ChildProcess; done: Promise<Done>; stderr: () => string } {
  const proc = spawn(process.execPath, [main, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (err += d));
  const done = new Promise<Done>((res) => proc.once('exit', (status) => res({ status, stdout: out, stderr: err })));
  return { proc, done, stderr: () => err };
}

const workers: ChildProcess[] = [];
function worker(url: string, ...extra: string[]): { proc: ChildProcess; log: () => string; name: Promise<string> } {
  const w = rram(['worker', '--queue', url, '--concurrency', '1', ...extra]);
  workers.push(w.proc);
  const name = (async () => {
    for (;;) {
      const m = /worker (\S+) serving/.exec(w.stderr());
      if (m) return m[1];
      if (w.proc.exitCode !== null) throw new Error(`worker exited ${w.proc.exitCode}: ${w.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return { proc: w.proc, log: w.stderr, name };
}
async function stopWorkers(): Promise<void> {
  await Promise.all(
    workers.splice(0).map((p) => {
      if (p.exitCode !== null || p.signalCode !== null) return undefined;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      return gone;
    }),
  );
}

const redis: RedisServer[] = [];
async function startRedis(aof = false): Promise<RedisServer> {
  const r = new RedisServer(aof);
  redis.push(r);
  await r.start();
  return r;
}
after(async () => {
  await stopWorkers();
  await Promise.all(redis.map((r) => r.stop()));
});

// The small net most tests run, trained once before them: its training (minutes on a loaded
// machine) does not eat into any test's own deadline. A failed training fails the tests that need
// the net, not the others.
let training: Done | undefined;
const modelDir = join(mkdtempSync(join(tmpdir(), 'queue-')), 'm');
before(() => {
  training = rramSync('train', '--arch', 'dense:32', '--dataset', 'mnist', '--epochs', '1', '--out', modelDir, '--json');
}, { timeout: 700000 });
function trainedModel(): string {
  assert.equal(training?.status, 0, `training the test net: ${training?.stderr}`);
  return modelDir;
}

const studyOf = (dir: string) => withoutTimings(JSON.parse(readFileSync(join(dir, 'study.json'), 'utf8')));
const tmp = (name: string) => join(mkdtempSync(join(tmpdir(), 'queue-')), name);

async function jobCount(url: string): Promise<number> {
  const u = parseQueueUrl(url);
  const q = new Queue(QUEUE_NAME, { connection: { host: u.host, port: u.port, db: u.db } });
  try {
    const c = await q.getJobCounts();
    return Object.values(c).reduce((a, b) => a + b, 0);
  } finally {
    await q.close();
  }
}

test('queue URLs: every valid redis:// URL parses to its parts; anything else is refused naming --queue', () => {
  fc.assert(
    fc.property(fc.constantFrom('redis', 'rediss'), fc.constantFrom('127.0.0.1', 'localhost', 'lab-box.example.org', '[::1]'), fc.integer({ min: 1, max: 65535 }), fc.option(fc.integer({ min: 0, max: 15 })), fc.option(fc.stringMatching(/^ZZ[0-9]{1,10}$/)), (scheme, host, port, db, pw) => {
      const raw = `${scheme}://${pw ? `:${pw}@` : ''}${host}:${port}${db === null ? '' : `/${db}`}`;
      const u = parseQueueUrl(raw);
      assert.equal(u.host, host.replace(/[[\]]/g, ''));
      assert.equal(u.port, port);
      assert.equal(u.db, db ?? 0);
      assert.equal(u.tls, scheme === 'rediss');
      assert.equal(u.password, pw ?? undefined);
      assert.ok(!pw || !u.shown.includes(pw), 'the password never appears in what is printed');
    }),
  );
  for (const bad of ['http://127.0.0.1:6379', 'redis://127.0.0.1:0', 'redis://127.0.0.1:70000', 'redis://127.0.0.1:6379/x', 'redis://127.0.0.1:6379/0?a=1', 'redis://', '127.0.0.1:6379', 'redis://:secret@h:1/z']) {
    assert.throws(() => parseQueueUrl(bad), (e: Error) => /^--queue=/.test(e.message) && !e.message.includes('secret'), bad);
  }
});

test('content ids: the same content in any key order gives one id; any changed value gives another', () => {
  const value = fc.letrec((tie) => ({ v: fc.oneof({ depthSize: 'small' }, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string(), fc.boolean(), fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 4 }), tie('v'), { maxKeys: 4 })) })).v;
  const shuffled = (v: unknown): unknown => (Array.isArray(v) ? v.map(shuffled) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, shuffled(x)])) : v);
  fc.assert(
    fc.property(fc.dictionary(fc.string({ maxLength: 5 }), value, { minKeys: 1, maxKeys: 6 }), (o) => {
      assert.equal(contentId(shuffled(o)), contentId(o));
      assert.deepEqual(JSON.parse(canonicalJson(o)), JSON.parse(JSON.stringify(o)));
      const k = Object.keys(o)[0];
      assert.notEqual(contentId({ ...o, [k]: [o[k]] }), contentId(o));
    }),
  );
});

test('a wrong or unreachable --queue is refused before any work: exit 2, the URL named, no study folder', { timeout: 60000 }, async (t) => {
  const m = trainedModel();
  const closed = await freePort();
  const out = tmp('s');
  const t0 = performance.now();
  const r = rramSync('study', 'levels-variation', '--model', m, '--dataset', 'mnist', '--levels', '4', '--variation', '0', '--queue', `redis://127.0.0.1:${closed}/0`, '--out', out);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`^rram: --queue="redis://127\\.0\\.0\\.1:${closed}/0": no usable Redis there: .*ECONNREFUSED`));
  assert.ok(!existsSync(out), 'nothing written');
  assert.ok(performance.now() - t0 < 10000, 'answered at once, not after retries');
  const bad = rramSync('infer', '--model', m, '--dataset', 'mnist', '--device', 'ideal', '--queue', 'http://127.0.0.1:6379');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--queue="http:\/\/127\.0\.0\.1:6379": scheme http: is not redis: or rediss:/);
  assert.equal(rramSync('worker', '--queue', `redis://127.0.0.1:${closed}`).status, 2);
  // A port that answers, but not as Redis: refused with the deadline, not hung.
  const srv = createServer((s) => s.on('data', () => undefined)).listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  try {
    const port = (srv.address() as { port: number }).port;
    const w = rram(['worker', '--queue', `redis://127.0.0.1:${port}`]);
    const d = await w.done;
    assert.equal(d.status, 2, d.stderr);
    assert.match(d.stderr, /no usable Redis there: no answer to PING within 3 s/);
  } finally {
    srv.close();
  }
  if (!needTool(t, 'redis-server', 'redis-server')) return;
  const rs = await startRedis();
  const nodb = rramSync('study', 'crossbar', '--model', m, '--dataset', 'mnist', '--queue', `redis://127.0.0.1:${rs.port}/99999`, '--out', out);
  assert.equal(nodb.status, 2);
  assert.match(nodb.stderr, /that database number does not exist/);
});

const LV = (m: string, ...extra: string[]) => ['study', 'levels-variation', '--model', m, '--dataset', 'mnist', '--dynamic-range', '10', '--table2-levels', '0', ...extra];
/** The workers named in a study's per-point lines ("... (0.1 s on host:pid, ETA ...)"). */
const ranOn = (stderr: string, label: string) => [...stderr.matchAll(new RegExp(`^${label} \\d+/\\d+ \\S+: .* on ([^\\s,)]+)`, 'gm'))].map((x) => x[1]);

test('the same study.json (timings aside) in process and with 1, 2 or 3 workers in any job order; resubmitted, a finished study adds no job', { timeout: 300000 }, async (t) => {
  if (!needTool(t, 'redis-server', 'redis-server')) return;
  const m = trainedModel();
  const rs = await startRedis();
  const args = LV(m, '--levels', '4,16', '--variation', '0,10%', '--trials', '12', '--images', '300', '--replicates', '2');
  const out0 = tmp('s0');
  const r0 = rramSync(...args, '--out', out0);
  assert.equal(r0.status, 0, r0.stderr);
  const ref = studyOf(out0) as { rows: { key: string; seed: number }[]; tables: { id: string; rows: unknown[][] }[] };
  // Replicates: the noise-free points once, the others once per seed, each seed its own draws.
  assert.deepEqual(ref.rows.map((r) => r.key), ['L4_dr10_v0%', 'L4_dr10_v10%', 'L16_dr10_v0%', 'L16_dr10_v10%', 'L4_dr10_v10%@r1', 'L16_dr10_v10%@r1']);
  assert.equal(ref.rows[1].seed, 1);
  assert.notEqual(ref.rows[4].seed, 1);
  const fig7 = ref.tables.find((x) => x.id === 'fig7')!;
  assert.ok(fig7.rows.every((row) => / ± /.test(String(row[1]))), `mean ± sd in the 10 % variation cells: ${JSON.stringify(fig7.rows)}`);
  for (const [n, order] of [[1, 'reverse'], [2, 'shuffle:1'], [3, 'shuffle:2']] as const) {
    const url = rs.url(n); // a database per run: nothing computed by one run is reused by the next
    const names = await Promise.all(Array.from({ length: n }, () => worker(url).name));
    const out = tmp(`s${n}`);
    const r = await rram([...args, '--queue', url, '--out', out], { RRAM_QUEUE_ORDER: order }).done;
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(studyOf(out), ref, `${n} worker(s), order ${order}`);
    const ran = ranOn(r.stderr, 'study levels-variation');
    assert.equal(ran.length, 6, r.stderr);
    assert.ok(ran.every((w) => names.includes(w)), `every point ran on a worker: ${ran} vs ${names}`);
    await stopWorkers();
  }
  // Resubmitted to another folder with no worker running: every result comes from Redis, no job is added.
  const before = await jobCount(rs.url(2));
  const again = tmp('again');
  const r = await rram([...args, '--queue', rs.url(2), '--out', again]).done;
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /6 job\(s\): 0 added, 6 already finished there/);
  assert.equal(await jobCount(rs.url(2)), before);
  assert.deepEqual(studyOf(again), ref);
  // Other options are other content: new ids, new jobs.
  const other = rram([...LV(m, '--levels', '4', '--variation', '0', '--trials', '12', '--images', '300'), '--queue', rs.url(2), '--out', tmp('other')]);
  for (let i = 0; i < 600 && !/1 job\(s\): 1 added/.test(other.stderr()); i++) await new Promise((res) => setTimeout(res, 100));
  other.proc.kill('SIGKILL');
  assert.equal(await jobCount(rs.url(2)), before + 1);
});

test('rram infer --sweep on the queue: the same results as in process', { timeout: 180000 }, async (t) => {
  if (!needTool(t, 'redis-server', 'redis-server')) return;
  const m = trainedModel();
  const rs = await startRedis();
  const args = ['infer', '--model', m, '--dataset', 'mnist', '--device', 'truncnorm:5%', '--trials', '10', '--images', '300', '--sweep', 'levels=2,8,sigma=5%,20%', '--json'];
  const local = rramSync(...args);
  assert.equal(local.status, 0, local.stderr);
  await Promise.all([worker(rs.url()).name, worker(rs.url()).name]);
  const q = await rram([...args, '--queue', rs.url()], { RRAM_QUEUE_ORDER: 'reverse' }).done;
  assert.equal(q.status, 0, q.stderr);
  await stopWorkers();
  const volatile = ['elapsed_s', 'trialsPerSec', 'imageTrialsPerSec', 'peakRss_MB', 'workers'];
  const same = (s: string) => JSON.parse(s, (k, v) => (volatile.includes(k) ? undefined : v));
  const [a, b] = [same(local.stdout), same(q.stdout)];
  assert.equal(a.sweep.length, 4);
  assert.deepEqual(b, a);
});

/** Waits until some job on the queue is running (a dense net's Monte Carlo reports progress only at its end). */
async function waitForActive(url: string, ms = 60000): Promise<void> {
  const u = parseQueueUrl(url);
  const q = new Queue(QUEUE_NAME, { connection: { host: u.host, port: u.port, db: u.db } });
  try {
    for (const t0 = Date.now(); Date.now() - t0 < ms; await new Promise((r) => setTimeout(r, 100))) {
      const active = await q.getJobs(['active']);
      if (active.length) return;
    }
    throw new Error('no job started');
  } finally {
    await q.close();
  }
}

test('a worker killed with kill -9 mid-job: the job is retried on another worker, with the same result', { timeout: 240000 }, async (t) => {
  if (!needTool(t, 'redis-server', 'redis-server')) return;
  const m = trainedModel();
  const rs = await startRedis();
  const args = LV(m, '--levels', '16', '--variation', '10%', '--trials', '1000', '--images', '3000');
  const ref = tmp('ref');
  assert.equal(rramSync(...args, '--out', ref).status, 0);
  const a = worker(rs.url());
  await a.name;
  const out = tmp('killed');
  const study = rram([...args, '--queue', rs.url(), '--out', out]);
  await waitForActive(rs.url());
  await new Promise((r) => setTimeout(r, 1500)); // into the job: loading the net, or its trials (A's log must show no finish)
  a.proc.kill('SIGKILL');
  const b = worker(rs.url());
  const bName = await b.name;
  const r = await study.done;
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(ranOn(r.stderr, 'study levels-variation'), [bName]);
  assert.match(b.log(), /started L16_dr10_v10%/);
  assert.doesNotMatch(a.log(), /finished/);
  assert.deepEqual(studyOf(out), studyOf(ref));
  await stopWorkers();
});

for (const aof of [true, false]) {
  test(`Redis killed and restarted mid-study (${aof ? 'append-only file: jobs survive' : 'no persistence: jobs lost and added again'}): the study ends with the same study.json, no finished point recomputed`, { timeout: 240000 }, async (t) => {
    if (!needTool(t, 'redis-server', 'redis-server')) return;
    const m = trainedModel();
    const rs = await startRedis(aof);
    const args = LV(m, '--levels', '4,8,16', '--variation', '5%,20%', '--trials', '60', '--images', '2000');
    const ref = tmp('ref');
    assert.equal(rramSync(...args, '--out', ref).status, 0);
    const w = worker(rs.url());
    await w.name;
    const out = tmp('restart');
    const study = rram([...args, '--queue', rs.url(), '--out', out]);
    const file = join(out, 'points.ndjson');
    const lines = () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
    for (let i = 0; i < 600 && lines().length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    await rs.kill();
    const kept = lines().map((l) => JSON.parse(l).key as string);
    assert.ok(kept.length >= 2 && kept.length < 6, `points before the kill: ${kept}`);
    // Redis stays down until the submitter says it waits (it speaks after 5 s without an answer, checked each second).
    for (let i = 0; i < 300 && !/no answer from Redis/.test(study.stderr()); i++) await new Promise((r) => setTimeout(r, 100));
    await rs.start();
    const r = await study.done;
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /no answer from Redis at redis:\/\/127\.0\.0\.1:\d+\/0 for \d+ s/);
    if (!aof) assert.match(r.stderr, /is gone from Redis \(restarted without persistence\?\): added again/);
    for (const k of kept) assert.equal(w.log().split('\n').filter((l) => l.endsWith(`finished ${k}`) || l.includes(`finished ${k} in`)).length, 1, `${k} ran once`);
    assert.deepEqual(studyOf(out), studyOf(ref));
    await stopWorkers();
  });
}

test('study synapse-budget on the queue: the worker trains the net, its files land in the study folder, the same study.json', { timeout: 480000 }, async (t) => {
  if (!needTool(t, 'redis-server', 'redis-server')) return;
  const rs = await startRedis();
  const args = ['study', 'synapse-budget', '--dataset', 'mnist', '--archs', 'dense:4', '--levels', '2', '--epochs', '1', '--images', '300'];
  const local = tmp('sb0');
  assert.equal(rramSync(...args, '--out', local).status, 0);
  await worker(rs.url()).name;
  const out = tmp('sb1');
  const r = await rram([...args, '--queue', rs.url(), '--out', out]).done;
  assert.equal(r.status, 0, r.stderr);
  await stopWorkers();
  assert.deepEqual(studyOf(out), studyOf(local));
  for (const f of ['model.json', 'weights.bin']) assert.ok(readFileSync(join(out, 'nets', 'mnist', 'dense_4', f)).equals(readFileSync(join(local, 'nets', 'mnist', 'dense_4', f))), f);
  assert.equal(rramSync(...args, '--queue', rs.url(), '--trainers', '2', '--out', tmp('x')).status, 2, '--trainers is this process\'s');
});

test('study bnn on the queue: the net a folder lacks is trained by a worker and kept there, as in process; --replicates gives mean ± sd', { timeout: 600000 }, async (t) => {
  if (!needTool(t, 'redis-server', 'redis-server')) return;
  const rs = await startRedis();
  // The rows' accuracies on the first 2000 test images: what is checked is how the rows are made.
  smallTestSplit(t, 2000);
  // Table 1's four large nets as an earlier run left them (random weights); the 12x12 one is missing.
  const folder = (replicates: number[], crops = [28, 24, 20, 16, 12]) => {
    const out = tmp('bnn');
    for (const r of replicates)
      for (const crop of crops) {
        const dir = join(out, 'nets', `bnn-${crop * crop}-128-128-10_c${crop}_w1_a1${r ? `@r${r}` : ''}`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'bnn.json'), JSON.stringify(randomNet(crop + 100 * r, [crop * crop, 128, 128, 10], 1, 1)));
      }
    return out;
  };
  const args = ['study', 'bnn', '--tables', '1', '--epochs', '1', '--json'];
  const local = folder([0], [28, 24, 20, 16]);
  const l = rramSync(...args, '--out', local);
  assert.equal(l.status, 0, l.stderr);
  const name = await worker(rs.url()).name;
  const out = folder([0], [28, 24, 20, 16]);
  const q = await rram([...args, '--queue', rs.url(), '--out', out]).done;
  assert.equal(q.status, 0, q.stderr);
  await stopWorkers();
  assert.match(q.stderr, new RegExp(`bnn-144-128-128-10_c12_w1_a1: [\\d.]+ % \\(trained in \\d+ s on ${name}\\)`));
  assert.equal((q.stderr.match(/kept from an earlier run/g) ?? []).length, 4);
  const net = 'nets/bnn-144-128-128-10_c12_w1_a1/bnn.json';
  assert.ok(readFileSync(join(out, net)).equals(readFileSync(join(local, net))), 'the worker trained the same net');
  assert.deepEqual(JSON.parse(q.stdout), JSON.parse(l.stdout));
  // Two seeds per net (all kept): each row the mean of its two nets, with their spread.
  const two = folder([0, 1]);
  const r = rramSync('study', 'bnn', '--tables', '1', '--replicates', '2', '--out', two, '--json');
  assert.equal(r.status, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as { ours: number; std: number; oursPerSeed: number[] }[];
  for (const row of rows) {
    assert.equal(row.oursPerSeed.length, 2);
    assert.ok(Math.abs(row.ours - (row.oursPerSeed[0] + row.oursPerSeed[1]) / 2) <= 0.005 + 1e-9, JSON.stringify(row));
    assert.ok(Math.abs(row.std - Math.abs(row.oursPerSeed[0] - row.oursPerSeed[1]) / Math.SQRT2) <= 0.005 + 1e-9, JSON.stringify(row));
  }
  assert.match(readFileSync(join(two, 'study.md'), 'utf8'), /mean ± sd over 2 seeds/);
  assert.match(readFileSync(join(two, 'study.md'), 'utf8'), new RegExp(`\\| 20x20 \\| ${rows[2].ours.toFixed(2)} ± ${rows[2].std.toFixed(2)} / 96\\.23 \\|`));
});

// What the queue hands over is checked (src/queue/envelope.ts, src/studies/job-schemas.ts): a row
// that would put nonsense into a study is refused naming the field, whatever the field.
const goodRow = () => ({ key: 'L4_dr10_v0%', device: 'truncnorm:0%', levels: 4, scheme: 'signed', dynamicRange: 10, floatAccuracy: 0.95, quantizedAccuracy: 0.9, summary: { mean: 0.9, std: 0.01, min: 0.88, max: 0.92, p1: 0.88, p5: 0.88, p25: 0.89, p50: 0.9, p75: 0.91, p95: 0.92, p99: 0.92 }, accuracies: [0.88, 0.92], trials: 2, images: 300, seed: 1, arrays: 1, zeroShare: [0.1], engine: 'native', elapsed_s: 0.5 });
/** [field, bad value, the field the refusal must name]. trials one above the accuracies' count: refused as "not one accuracy per trial". */
const BAD: [string, unknown, string][] = [['floatAccuracy', 1.5, 'floatAccuracy'], ['quantizedAccuracy', null, 'quantizedAccuracy'], ['summary.mean', -0.1, 'summary.mean'], ['accuracies', [0.9, 'x'], 'accuracies[1]'], ['trials', 'one more', 'accuracies'], ['trials', 0, 'trials'], ['images', 2.5, 'images'], ['seed', -1, 'seed'], ['levels', 1, 'levels'], ['scheme', 'both', 'scheme'], ['engine', '', 'engine'], ['elapsed_s', null, 'elapsed_s'], ['key', undefined, 'key'], ['zeroShare', [2], 'zeroShare[0]']];

test('a study row from the queue is accepted only when every field makes sense: any one bad field is refused naming it', async () => {
  const { checkJobResult } = await import('../src/studies/job-schemas.js');
  const { MC_POINT_JOB } = await import('../src/studies/mc-point-job.js');
  checkJobResult(MC_POINT_JOB, 'p', goodRow());
  fc.assert(
    fc.property(fc.constantFrom(...BAD), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 20 }), ([path, bad, named], accs) => {
      const row: Record<string, unknown> = { ...goodRow(), accuracies: accs, trials: accs.length };
      checkJobResult(MC_POINT_JOB, 'p', row); // valid with any number of trials in [0, 1]
      const parts = path.split('.');
      const target = parts.length > 1 ? (row[parts[0]] = { ...(row[parts[0]] as object) }) : row;
      if (bad === undefined) delete (target as Record<string, unknown>)[parts.at(-1)!];
      else (target as Record<string, unknown>)[parts.at(-1)!] = bad === 'one more' ? accs.length + 1 : bad;
      assert.throws(() => checkJobResult(MC_POINT_JOB, 'p', row), (e: Error) => e.message.includes(`${named} = `) && e.message.includes('the result of p'));
    }),
  );
  assert.throws(() => checkJobResult('no-such-kind', 'p', goodRow()), /unknown job kind no-such-kind/);
});

test('the queue refuses what makes no sense: a tampered finished result is not stored (exit non-zero, the field named); a job with bad content fails at once, without retries', { timeout: 240000 }, async (t) => {
  if (!needTool(t, 'redis-server', 'redis-server')) return;
  const m = trainedModel();
  const rs = await startRedis();
  const url = rs.url(1);
  const args = LV(m, '--levels', '4', '--variation', '0,10%', '--trials', '6', '--images', '200');
  await worker(url).name;
  const first = await rram([...args, '--queue', url, '--out', tmp('ok')]).done;
  assert.equal(first.status, 0, first.stderr);
  await stopWorkers();
  const u = parseQueueUrl(url);
  const q = new Queue(QUEUE_NAME, { connection: { host: u.host, port: u.port, db: u.db } });
  try {
    const done = await q.getJobs(['completed']);
    assert.equal(done.length, 2);
    const victim = done.find((j) => (j.data as { key: string }).key === 'L4_dr10_v10%')!;
    const ret = victim.returnvalue as { result: { summary: { mean: number } } };
    ret.result.summary.mean = 1.5;
    const set = spawnSync('redis-cli', ['-h', u.host, '-p', String(u.port), '-n', String(u.db), 'HSET', `bull:${QUEUE_NAME}:${victim.id}`, 'returnvalue', JSON.stringify(ret)], { encoding: 'utf8' });
    assert.equal(set.status, 0, set.stderr);
    // Resubmitted elsewhere: both results come from Redis; the tampered one is refused.
    const out = tmp('tampered');
    const again = await rram([...args, '--queue', url, '--out', out]).done;
    assert.equal(again.status, 2, again.stderr);
    assert.match(again.stderr, /L4_dr10_v10%.*summary\.mean = 1\.5/);
    const stored = existsSync(join(out, 'points.ndjson')) ? readFileSync(join(out, 'points.ndjson'), 'utf8') : '';
    assert.ok(!stored.includes('L4_dr10_v10%'), `the refused row is not stored: ${stored}`);
    assert.ok(!existsSync(join(out, 'study.json')));
    // A job whose content makes no sense (negative trials), added by hand: failed on its first attempt.
    const bad = { kind: 'study-mc-point', key: 'bad', content: { study: { study: 'x' }, point: { key: 'bad', device: 'ideal', levels: 4, scheme: 'signed' }, seed: 1, trials: -3, inputs: { model: 'a', dataset: { name: 'mnist', digest: 'b' } } }, where: { model: m } };
    await q.add('study-mc-point', bad, { jobId: 'bad-content', attempts: 3 });
    const w = worker(url);
    await w.name;
    let job = await q.getJob('bad-content');
    for (let i = 0; i < 300 && (await job?.getState()) !== 'failed'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      job = await q.getJob('bad-content');
    }
    assert.equal(await job?.getState(), 'failed', w.log());
    // Read again: the copy fetched before the state check may predate the worker's (atomic) move to failed.
    job = await q.getJob('bad-content');
    assert.equal(job!.attemptsMade, 1, 'no retry of a job no worker can run');
    assert.match(job!.failedReason, /job bad \(study-mc-point\): content: trials = -3/);
  } finally {
    await q.close();
    await stopWorkers();
  }
});
