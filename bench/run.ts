/**
 * `npm run bench`: the figures in docs/benchmarks.md. Not tests: they print numbers.
 *  - serial round trips/s, sequential and windowed, over the pty and through the 921600-baud link model;
 *  - a whole 4096-cell array to a random 8-level map with IGVVA-10, in process and over the pty;
 *  - a 4096-cell 8-level characterize over `rram emulate --pty` at 921600 baud, climbs from the host and on the board;
 *  - sustained events/s into the embedded store and into InfluxDB while the engine programs;
 *  - calibration: fit time and the twin's distances to a board with hidden parameters;
 *  - write-verify algorithms compared by `rram wv-bench` and the lab's goals checked;
 *  - the dashboard's event-to-pixel latency in Chromium, the store's size per event and export times;
 *  - conv-net Monte Carlo: the conv kernel against the general tfjs path (`cnn`);
 *  - issue 27's goals (`fine-tune [all|hw|dense|cnn] [DIR]`, only when asked for: fine-tune.ts).
 *  - studies on the queue: scaling over worker processes, queue overhead, replicates (`queue`, alone).
 *  - issue 28's on-board MVM inference over a 921600-baud pty (`on-board [N]`, alone: on-board.ts).
 *  - issue 29's network cut of one of two stations on one InfluxDB (`stations-cut [SECONDS] [MODE]`, alone).
 */
import { cpus, totalmem } from 'node:os';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { PtyServer } from '../drivers/emulated/pty-server.js';
import { SerialBoard } from '../drivers/serial/serial-board.js';
import type { Board } from '../drivers/board.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { runJob, type Sink } from '../src/jobs/run-job.js';
import { programArray } from '../src/procedures/program-array.js';
import { patternMap } from '../src/procedures/level-map.js';
import { hasTool } from '../tests/helpers/env.js';

const only = process.argv[2];
const out: Record<string, unknown> = { date: new Date().toISOString(), cpu: cpus()[0]?.model, cores: cpus().length, mem_GiB: Math.round(totalmem() / 2 ** 30), node: process.version };

async function programBench(board: Board, label: string, sinks: Sink[] = []) {
  const store = new EmbeddedStore(mkdtempSync(join(tmpdir(), 'bench-')));
  const map = patternMap('random', 8, 64, 64, 1);
  let events = 0;
  const t0 = performance.now();
  const o = await runJob({ store, sinks }, (ctx) => {
    ctx.events$.subscribe(() => events++);
    return programArray(board, ctx, { algo: 'igvva', levels: 8, array: 0, map, mapName: 'random', engine: { concurrency: 64 } });
  });
  const s = (performance.now() - t0) / 1000;
  const r = o.result!;
  return { label, seconds: +s.toFixed(2), cells: 4096, pulses: r.totalPulses, events, events_per_s: Math.round(events / s), misplaced: r.misplaced, rss_MiB: Math.round(process.memoryUsage().rss / 2 ** 20) };
}

if (!only || only === 'serial') {
  const { serialLinkBench, sessionCheckCost } = await import('./serial.js');
  out.serial_session_checks = await sessionCheckCost();
  if (hasTool('socat')) {
    out.serial_pty = await serialLinkBench();
    out.serial_link_921600 = await serialLinkBench(921600);
    out.serial_link_115200 = await serialLinkBench(115200);
  } else out.serial = 'socat missing';
}
if (!only || only === 'array-read') {
  const { arrayReadBench } = await import('./serial.js');
  if (hasTool('socat')) {
    const rows = [];
    for (const baud of [115200, 921600]) for (const noise of [0, 1e-4, 1e-3]) rows.push(await arrayReadBench(baud, noise));
    for (const baud of [115200, 921600]) rows.push(await arrayReadBench(baud, 0, 'rows'));
    out.array_read = rows;
  } else out.array_read = 'socat missing';
}
if (only === 'queue') {
  // Not in the default run (about 10 minutes on a quiet machine, and it wants one): `node dist/bench/run.js queue`.
  const { queueBench } = await import('./queue.js');
  out.queue = await queueBench();
}
if (only === 'calibrate-seeds') {
  // Not in the default run (about 40 s per seed): `node dist/bench/run.js calibrate-seeds [11,21,31,41]`.
  const { calibrateSeedsBench } = await import('./calibrate-seeds.js');
  out.calibrate_seeds = await calibrateSeedsBench((process.argv[3] ?? '11,21,31,41').split(',').map(Number));
}
if (only === 'coverage') {
  // Not in the default run (about 30 minutes): `node dist/bench/run.js coverage`.
  const { coverageBench } = await import('./coverage.js');
  out.coverage = coverageBench();
}
if (!only || only === 'wv') {
  const { wvBench } = await import('./wv-bench.js');
  out.wv_bench = wvBench();
}
if (!only || only === 'retention') {
  const { retentionHfoxBench } = await import('./retention-hfox.js');
  out.retention_hfox = await retentionHfoxBench();
}
if ((!only || only === 'characterize-pty') && hasTool('socat')) {
  const { characterizePtyBench, CHARACTERIZE_PTY_ROWS } = await import('./characterize-pty.js');
  // `characterize-pty 1,2`: only those rows (1-based) of CHARACTERIZE_PTY_ROWS.
  const pick = only === 'characterize-pty' && process.argv[3] ? process.argv[3].split(',').map((k) => CHARACTERIZE_PTY_ROWS[Number(k) - 1]) : CHARACTERIZE_PTY_ROWS;
  if (pick.some((r) => !r)) throw new Error(`characterize-pty rows: ${process.argv[3]}: each a number 1..${CHARACTERIZE_PTY_ROWS.length}`);
  out.characterize_pty_921600 = await characterizePtyBench(pick);
}
if (!only || only === 'calibrate') {
  const { calibrateBench } = await import('./calibrate.js');
  out.calibrate = await calibrateBench();
}
if (!only || only === 'program') {
  out.program_in_process = await programBench(new EmulatedBoard({ seed: 1 }), 'in process, embedded store');
  if (hasTool('socat')) {
    const srv = new PtyServer(new EmulatedBoard({ seed: 1 }));
    await srv.start();
    const drv = await SerialBoard.open({ path: srv.hostPath, window: 64, keepAlive_ms: 0, margin_ms: 250 });
    out.program_over_pty = await programBench(drv, 'over pty, window 64, embedded store');
    await drv.close();
    await srv.stop();
  }
  if (hasTool('influxd')) {
    const { Influxd } = await import('../tests/helpers/influxd.js');
    const { InfluxSink } = await import('../src/store/influx-sink.js');
    const d = new Influxd();
    await d.start();
    const sink = await InfluxSink.create({ host: '127.0.0.1', port: d.port, database: 'bench', spillDir: mkdtempSync(join(tmpdir(), 'spill-')) });
    const t0 = performance.now();
    const r = await programBench(new EmulatedBoard({ seed: 1 }), 'in process, embedded store + InfluxDB', [sink]);
    out.program_with_influx = { ...r, influx_points_written: sink.stats.written, influx_points_per_s_until_flushed: Math.round(sink.stats.written / ((performance.now() - t0) / 1000)), spilled: sink.stats.spilled };
    await d.destroy();
  }
}
if (!only || only === 'store') {
  const { exportBench } = await import('./dashboard.js');
  out.store_export = await exportBench();
}
if ((!only || only === 'dashboard') && hasTool('chromium')) {
  const { dashboardBench } = await import('./dashboard.js');
  out.dashboard_live = await dashboardBench();
}
// Not in the default run (about a minute on the idle machine): the full serial fault soak, 20 seeds
// x 8192 cells (CI runs 5 of them: tests/serial-soak.test.ts). `node dist/bench/run.js serial-soak [SEEDS]`.
if (only === 'serial-soak') {
  const { soakSeeds } = await import('../tests/helpers/serial-soak.js');
  const t0 = performance.now();
  const lines = await soakSeeds(1, Number(process.argv[3]) || 20);
  out.serial_soak = { seeds: lines.length, cells_per_seed: 8192, seconds: +((performance.now() - t0) / 1000).toFixed(1), seeds_with_reboots: lines.filter((l) => !/reboots 0 /.test(l)).length, lines };
}
// Not in the default run: the wired MVM over `rram emulate --pty`, repeated (an open intermittent fault).
if (only === 'mvm-wired-pty' && hasTool('socat')) {
  const { mvmWiredPtyBench } = await import('./mvm-wired-pty.js');
  out.mvm_wired_pty = await mvmWiredPtyBench(Number(process.argv[3]) || 20);
}
// Not in the default run (10 browser pages): `node dist/bench/run.js dashboard-viewers [N [TICK_MS]]`.
if (only === 'dashboard-viewers' && hasTool('chromium')) {
  const { dashboardViewersBench } = await import('./dashboard.js');
  out.dashboard_viewers = await dashboardViewersBench(Number(process.argv[3]) || 10, process.argv[4] ? Number(process.argv[4]) : undefined);
}
if (!only || only === 'influx') {
  // Sink capacity, apart from the engine's own rate: a recorded 4096-cell programming run (~1 M
  // events) is replayed into each sink as fast as it takes them (5000 events per macrotask).
  const { RecordedRun } = await import('./recorded-run.js');
  const rec = await RecordedRun.record(new EmulatedBoard({ seed: 1 }));
  out.store_sink_capacity = await rec.replayIntoStore(new EmbeddedStore(mkdtempSync(join(tmpdir(), 'bench-'))));
  if (hasTool('influxd')) {
    const { Influxd } = await import('../tests/helpers/influxd.js');
    // As fast as it takes them with 1 and 2 writes in flight, then offered at a steady 100k/s.
    for (const [concurrency, rate] of [[1, Infinity], [2, Infinity], [2, 100000]]) {
      const d = new Influxd();
      await d.start();
      const r = await rec.replayIntoInflux(d.port, concurrency, rate);
      const points_in_db = ['run', 'pulse', 'read', 'cell_result', 'progress', 'warning', 'mark', 'run_summary'].reduce((n, m) => n + d.count('bench', m, rec.runId), 0);
      out[`influx_sink_${concurrency}_in_flight_${Number.isFinite(rate) ? rate + '_per_s' : 'max'}`] = { ...r, points_in_db };
      await d.destroy();
    }
  }
}
if (!only || only === 'infer') {
  // Monte Carlo speed: dense:32,32, 10,000 MNIST test images, 8 levels, per-device draws, 1000 trials.
  const tfb = await import('../src/inference/tf-backend.js');
  const { loadDataset } = await import('../src/inference/datasets.js');
  const { parseArch } = await import('../src/inference/arch-spec.js');
  const { train } = await import('../src/inference/train.js');
  const { loadModel } = await import('../src/inference/model-io.js');
  const { toCrossbarNet } = await import('../src/inference/crossbar-net.js');
  const { buildDeviceModel, parseDeviceSpec } = await import('../src/inference/device-models.js');
  const { monteCarlo } = await import('../src/inference/monte-carlo.js');
  const backend = await tfb.initTf();
  const tf = tfb.tf; // a live binding: set by initTf
  const ds = loadDataset('mnist');
  const dir = mkdtempSync(join(tmpdir(), 'bench-net-'));
  const rep = await train(tf, backend, ds, { arch: parseArch('dense:32,32'), epochs: 2, seed: 1, learningRate: 0.1, momentum: 0.9, batchSize: 64, out: dir });
  const net = toCrossbarNet(await loadModel(tf, dir));
  const none = { shared: false, stuckHrs: 0, stuckLrs: 0, readNoise_A: 0, vread_V: 0.2 };
  const runs: Record<string, unknown> = { net: 'dense:32,32', trained_test_accuracy: rep.testAccuracy, tfBackend: backend };
  const cdf = process.env.BENCH_CDF;
  for (const [label, spec, trials, engine] of [
    ['gaussian:5%, native kernel, 2 workers', 'gaussian:5%', 1000, 'auto'],
    ...(cdf ? [['empirical level-CDF, native kernel, 2 workers', cdf, 1000, 'auto']] : []),
    ['gaussian:5%, JavaScript kernel (fallback), 2 workers', 'gaussian:5%', 48, 'js'],
    ['gaussian:5%, naive tfjs path (one forward per trial)', 'gaussian:5%', 48, 'tfjs'],
  ] as [string, string, number, 'auto' | 'js' | 'tfjs'][]) {
    const measured = spec.includes(':') ? undefined : (await import('../src/inference/device-models.js')).loadMeasuredLevels(spec);
    const device = buildDeviceModel(parseDeviceSpec(spec), 8, none, measured);
    const r = await monteCarlo(tf, backend, net, ds.test, { scheme: 'diff', device, trials, seed: 1, engine });
    runs[label] = { engine: r.engine, trials, elapsed_s: +r.elapsed_s.toFixed(2), trials_per_s: Math.round(r.trialsPerSec), image_trials_per_s: Math.round(r.imageTrialsPerSec), peak_rss_MB: Math.round(r.peakRss_MB), mean_accuracy: +r.summary.mean.toFixed(4) };
  }
  out.infer_monte_carlo = runs;
}
if (!only || only === 'cnn') {
  const { cnnMcBench } = await import('./cnn-mc.js');
  out.cnn_monte_carlo = await cnnMcBench();
}
if (only === 'on-board') {
  // Issue 28's on-board MVM inference over a 921600-baud pty (only when asked for: minutes).
  const { onBoardBench } = await import('./on-board.js');
  out.on_board = await onBoardBench(process.argv[3] ? Number(process.argv[3]) : undefined);
}
if (only === 'stations-cut') {
  // Issue 29: a station's network cut for SECONDS (default 60), every run checked (minutes: only when asked for).
  const { stationsCutBench } = await import('./stations-cut.js');
  out.stations_cut = await stationsCutBench(process.argv[3] ? Number(process.argv[3]) : undefined, (process.argv[4] ?? 'blackhole') as 'blackhole' | 'refuse');
}
if (only === 'fine-tune') {
  // Long (about an hour on 2 cores): only when asked for.
  const { fineTuneBench } = await import('./fine-tune.js');
  out.fine_tune = await fineTuneBench(process.argv[3], process.argv[4]);
}
console.log(JSON.stringify(out, null, 2));
