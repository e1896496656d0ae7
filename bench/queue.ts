/**
 * `node dist/bench/run.js queue`: studies on BullMQ over a private redis-server (docs/benchmarks.md,
 * "Studies on the queue"). Every figure is repeated (`QUEUE_BENCH_REPEATS`, default 3) and each run
 * reported, since the machine's cores are shared; the workers' CPU seconds are reported beside the
 * wall times, as contention stretches the wall time but not the CPU a job needs.
 *  - scaling: 8 Monte Carlo points of 1000 trials (dense:32 on the 10,000 MNIST test images) on 1
 *    and on 2 worker processes (one job at a time, one trial thread each): trials/s, and the
 *    2-worker throughput over twice the 1-worker one (the goal: >= 0.9);
 *  - overhead: the same points run in this process one by one (one trial thread), against the
 *    1-worker queue run: what the queue adds per point, as a share of a point's time (goal < 2 %);
 *  - `rram study levels-variation --replicates 5` on 1 and on 2 workers (goal: 2 workers <= 0.6x).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobResources, modelDigest, splitDigest } from '../src/inference/job-resources.js';
import type { QueueTask } from '../src/queue/job.js';
import { parseQueueUrl } from '../src/queue/redis-url.js';
import { submitAndCollect } from '../src/queue/submit.js';
import { inProcess } from '../src/studies/executors.js';
import { mcPointTask } from '../src/studies/mc-point-job.js';
import { RedisServer } from '../tests/helpers/redis.js';
import { repoRoot } from '../lib/repo-root.js';

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const repeats = Number(process.env.QUEUE_BENCH_REPEATS) || 3;
const r2 = (x: number) => +x.toFixed(2);

/** CPU seconds (user + system, all threads) of a live process, from /proc. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function startWorkers(url: string, n: number): Promise<ChildProcess[]> {
  const ws = Array.from({ length: n }, () => spawn(process.execPath, [main, 'worker', '--queue', url, '--concurrency', '1', '--threads', '1'], { stdio: ['ignore', 'ignore', 'pipe'] }));
  await Promise.all(
    ws.map(
      (w) =>
        new Promise<void>((res, rej) => {
          let err = '';
          w.stderr!.on('data', (d) => {
            err += d;
            if (/serving/.test(err)) res();
          });
          w.once('exit', () => rej(new Error(err)));
        }),
    ),
  );
  return ws;
}

async function stop(ws: ChildProcess[]): Promise<number> {
  const cpu = ws.reduce((s, w) => s + cpuSeconds(w.pid!), 0);
  await Promise.all(ws.map((w) => new Promise((r) => (w.once('exit', r), w.kill('SIGKILL')))));
  return cpu;
}

function points(model: string, seed: number, test: Parameters<typeof splitDigest>[0]): QueueTask[] {
  const study = { study: 'bench-queue', model, dataset: 'mnist', seed };
  const inputs = { model: modelDigest(model), dataset: { name: 'mnist', digest: splitDigest(test) } };
  return [5, 10, 15, 20].flatMap((v) => [10, 100].map((dr) => mcPointTask({ study, point: { key: `L16_dr${dr}_v${v}%`, device: `truncnorm:${v}%`, levels: 16, scheme: 'signed', quantizer: 'histogram-bins', dynamicRange: dr }, seed, trials: 1000, inputs }, { model })));
}

/** One queue run of `tasks` on `n` fresh workers: wall seconds from submission to the last result, the jobs' own seconds, the workers' CPU seconds. */
async function onWorkers(url: string, n: number, tasks: QueueTask[]) {
  const ws = await startWorkers(url, n);
  const own: number[] = [];
  const t0 = performance.now();
  await submitAndCollect(tasks, { url: parseQueueUrl(url), log: () => undefined, onResult: (_k, _r, ran) => void own.push(ran.seconds), pollMs: 500 });
  const wall = (performance.now() - t0) / 1000;
  const cpu = await stop(ws);
  const trials = tasks.reduce((s, t) => s + t.weight, 0);
  return { workers: n, wall_s: r2(wall), jobs_s: r2(own.reduce((a, b) => a + b, 0)), worker_cpu_s: r2(cpu), trials_per_s: r2(trials / wall) };
}

/**
 * The no-queue control: the machine's own scaling. The same Monte Carlo (`rram infer`, 1000
 * trials, one kernel thread) in one process alone, then in two processes at once; per-process
 * throughput alone over at once is what two cores give without any queue in between.
 */
async function noQueueControl(model: string): Promise<{ alone_s: number; together_s: number[]; per_core_vs_linear: number }> {
  const args = ['infer', '--model', model, '--dataset', 'mnist', '--device', 'truncnorm:10%', '--levels', '16', '--dynamic-range', '10', '--quantizer', 'histogram-bins', '--mapping', 'signed', '--trials', '1000', '--engine', 'native', '--workers', '1', '--json'];
  const once = () =>
    new Promise<number>((res, rej) => {
      const t0 = performance.now();
      const p = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      p.on('exit', (c) => (c === 0 ? res((performance.now() - t0) / 1000) : rej(new Error(`rram infer exited ${c}: ${err}`))));
    });
  const alone = await once();
  const together = await Promise.all([once(), once()]);
  return { alone_s: r2(alone), together_s: together.map(r2), per_core_vs_linear: r2(alone / Math.max(...together)) };
}

export async function queueBench(): Promise<unknown> {
  const redis = new RedisServer();
  await redis.start();
  const dir = mkdtempSync(join(tmpdir(), 'bench-queue-'));
  const model = join(dir, 'd32');
  const t = spawnSync(process.execPath, [main, 'train', '--arch', 'dense:32', '--dataset', 'mnist', '--epochs', '1', '--out', model, '--json'], { encoding: 'utf8' });
  if (t.status !== 0) throw new Error(t.stderr);
  // QUEUE_BENCH_CONTROL_ONLY=1: only the no-queue control, `repeats` times (no Redis work).
  if (process.env.QUEUE_BENCH_CONTROL_ONLY) {
    const control: unknown[] = [];
    for (let rep = 0; rep < repeats; rep++) control.push(await noQueueControl(model));
    await redis.stop();
    return { no_queue_control: control };
  }
  const resources = new JobResources();
  const test = resources.testSplit({ name: 'mnist' });
  const scaling: unknown[] = [];
  const overhead: unknown[] = [];
  const study: unknown[] = [];
  try {
    for (let rep = 0; rep < repeats; rep++) {
      // New seeds every run: new job ids, nothing reused from an earlier run.
      const one = await onWorkers(redis.url(1), 1, points(model, 100 + rep, test));
      const two = await onWorkers(redis.url(2), 2, points(model, 200 + rep, test));
      scaling.push({ one, two, per_core_vs_linear: r2(two.trials_per_s / (2 * one.trials_per_s)), no_queue_control: await noQueueControl(model) });
      // The same 8 points in this process, one trial thread, one after the other.
      const local = points(model, 300 + rep, test);
      const own: number[] = [];
      const t0 = performance.now();
      await inProcess({ resources, threads: 1 }).run(local, { log: () => undefined, onProgress: () => undefined, onResult: (_k, _r, ran) => void own.push(ran.seconds) });
      const wall = (performance.now() - t0) / 1000;
      const q = await onWorkers(redis.url(3), 1, points(model, 400 + rep, test));
      const perPoint = wall / local.length;
      overhead.push({ in_process_s_per_point: r2(perPoint), queue_s_per_point: r2(q.wall_s / local.length), overhead_share: +((q.wall_s / local.length - perPoint) / perPoint).toFixed(4), queue_gap_s_per_point: r2((q.wall_s - q.jobs_s) / local.length) });
      // The study, as a user runs it.
      const row: Record<string, unknown> = {};
      for (const n of [1, 2]) {
        const ws = await startWorkers(redis.url(4 + n), n);
        const t1 = performance.now();
        const args = ['study', 'levels-variation', '--model', model, '--dataset', 'mnist', '--levels', '4,16,64', '--variation', '0,10%,20%', '--dynamic-range', '10,100', '--table2-levels', '0', '--trials', '200', '--replicates', '5', '--seed', String(500 + rep), '--queue', redis.url(4 + n), '--out', join(dir, `lv-${rep}-${n}`), '--json'];
        const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(r.stderr);
        row[`workers_${n}_s`] = r2((performance.now() - t1) / 1000);
        row[`workers_${n}_cpu_s`] = r2(await stop(ws));
      }
      row.ratio = r2((row.workers_2_s as number) / (row.workers_1_s as number));
      study.push(row);
      process.stderr.write(`queue bench run ${rep + 1}/${repeats}: ${JSON.stringify({ scaling: scaling.at(-1), overhead: overhead.at(-1), study: row })}\n`);
    }
  } finally {
    await redis.stop();
  }
  return { scaling, overhead, study_levels_variation_replicates_5: study };
}
