/**
 * CLI commands through a station (issue 29): with `rram serve` running on a store (as `npm start`
 * does), a board command aimed at its board joins the station's queue instead of failing on the
 * board's lock, shows its progress as a local run does, and exits as a local run would. Two CLI
 * processes at once: both complete, in queue order, never interleaved on the board. A dead
 * station's entry in the store never blocks a command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { cli, emulatePty, MAIN, queueControl, serveStation } from './helpers/station.js';
import { waitFor } from './helpers/server.js';
import { needTool } from './helpers/env.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { saveModel } from '../src/inference/model-io.js';

interface Item {
  id: string;
  state: string;
  submitter?: string;
}

test('two CLI characterize runs beside `rram serve`: queued in order, never interleaved, progress shown, same exit codes', { timeout: 400000 }, async () => {
  const store = mkdtempSync(join(tmpdir(), 'rram-station-cli-'));
  const st = await serveStation(store);
  try {
    await waitFor(() => existsSync(join(store, 'stations')) && readdirSync(join(store, 'stations')).some((n) => n.endsWith('.json')), 10000, 'the station file');
    const out1 = join(store, 'a.json');
    const out2 = join(store, 'b.json');
    // Both wait in the queue before either starts (so the second is surely behind the first).
    const control = queueControl(store, st.url);
    assert.equal((await control('pause')).status, 200);
    // The README's command, smaller; the first under a terminal (its progress bar), the second piped.
    // Long enough for the progress bar to draw a few times (the streaming engine runs 96 cells within one tick).
    const a = cli(['characterize', '--levels', '4', '--cells-per-level', '96', '--store', store, '--out', out1, '--sample', 'S1'], { tty: true });
    await waitFor(() => /queued/.test(a.out() + a.err()), 30000, 'the first run queued');
    const b = cli(['characterize', '--levels', '2', '--cells-per-level', '4', '--store', store, '--out', out2, '--json']);
    await waitFor(() => /queued/.test(b.err()), 30000, 'the second run queued');
    assert.equal((await control('resume')).status, 200);
    const [ca, cb] = await Promise.all([a.done, b.done]);
    assert.equal(ca, 0, a.out() + a.err());
    assert.equal(cb, 0, b.out() + b.err());
    // As if local: the progress bar on the terminal, the level table on stdout, the result file.
    assert.match(a.out(), /\[[\u2588\u2591 ]+\] \d+\/\d+ cells/, 'the progress bar drew');
    assert.match(a.out(), /level/i);
    assert.match(b.err(), /served by the station at http:\/\/127\.0\.0\.1:\d+: run \S+ queued behind 1 run/);
    const ja = JSON.parse(readFileSync(out1, 'utf8')) as { runId: string; levels: unknown[] };
    const jb = JSON.parse(readFileSync(out2, 'utf8')) as { runId: string; levels: unknown[] };
    assert.equal(ja.levels.length, 4);
    assert.equal(jb.levels.length, 2);
    assert.equal((JSON.parse(b.out()) as { runId: string }).runId, jb.runId);
    // The station's queue ran them in the order they came, one after the other.
    const hist = ((await (await fetch(`${st.url}/api/boards/board0/queue/history`)).json()) as { items: Item[] }).items;
    assert.deepEqual(hist.map((h) => [h.id, h.state]), [[ja.runId, 'completed'], [jb.runId, 'completed']]);
    assert.match(hist[0].submitter ?? '', /rram characterize/);
    const s = new EmbeddedStore(store);
    const span = async (id: string) => {
      const ts: number[] = [];
      for await (const e of s.events(id)) ts.push(e.t);
      return [Math.min(...ts), Math.max(...ts)];
    };
    const [, endA] = await span(ja.runId);
    const [startB] = await span(jb.runId);
    assert.ok(startB >= endA, 'the second run began after the first ended');
    assert.deepEqual(s.getRun(ja.runId).metadata, { sample: 'S1' }, 'metadata flags travel with the request');

    // Same exit codes as a local run: a flag the station does not carry is refused by name (2), before anything is queued;
    const relax = cli(['characterize', '--levels', '2', '--cells-per-level', '2', '--influx', 'http://127.0.0.1:9/rram', '--store', store]);
    assert.equal(await relax.done, 2);
    assert.match(relax.err(), /--influx.*not carried through the station/);
    // a request the station refuses (400) exits 2; a preflight refusal on the station (a step off the DAC grid) exits 2 as it does locally.
    const huge = cli(['characterize', '--levels', '8', '--cells-per-level', '5000', '--store', store]);
    assert.equal(await huge.done, 2, huge.err());
    const offGrid = cli(['characterize', '--levels', '2', '--cells-per-level', '2', '--step', '0.0015', '--store', store]);
    assert.equal(await offGrid.done, 2, offGrid.err());
    assert.match(offGrid.err(), /step/i);
    const local = spawnSync(process.execPath, [MAIN, 'characterize', '--levels', '2', '--cells-per-level', '2', '--step', '0.0015', '--store', mkdtempSync(join(tmpdir(), 'rram-local-'))], { encoding: 'utf8' });
    assert.equal(local.status, 2, 'the same refusal, locally');
    assert.equal(((await (await fetch(`${st.url}/api/boards/board0/queue/history`)).json()) as { items: Item[] }).items.length, 3, 'only the off-grid one was queued (and failed)');
    // rram info shows the station's board (its HELLO) without opening it again.
    const info = cli(['info', '--json', '--store', store]);
    assert.equal(await info.done, 0, info.err());
    assert.equal((JSON.parse(info.out()) as { id: string }).id, 'emu-1');
    assert.match(info.err(), /served by the station/);
    // The README's first session beside the station: a pulse, then a read of the same cell, both queued there.
    const form = cli(['pulse', 'form', '--cell', '9,9', '--vte', '3.9', '--vg', '1.6', '--width', '1e-5', '--verify', '--store', store]);
    assert.equal(await form.done, 0, form.err());
    assert.match(form.out(), /^form applied to 0:9,9; read [\d.]+ uA at 0\.2 V \(run \S+\)/);
    const readJson = async (cell: string) => {
      const r = cli(['read', '--cell', cell, '--json', '--store', store]);
      assert.equal(await r.done, 0, r.err());
      assert.match(r.err(), /served by the station/);
      return (JSON.parse(r.out()) as { cells: { current_A: number }[] }).cells[0].current_A;
    };
    const formed = await readJson('9,9');
    const pristine = await readJson('9,10');
    assert.ok(formed > 10 * pristine, `the read sees the formed cell: ${formed} A vs a pristine ${pristine} A`);
    // wv-bench goes through the station too (its entries as consecutive queue items, tests/station-wv-bench.test.ts).
    const bench = cli(['wv-bench', '--algos', 'igvva', '--levels', '2', '--cells-per-level', '1', '--relax', 'none', '--store', store]);
    assert.equal(await bench.done, 0, bench.err());
    assert.match(bench.err(), /served by the station/);
    // A command that opens the board itself (a second station) names the station that holds it, not a bare pid.
    const second = spawnSync(process.execPath, [MAIN, 'serve', '--listen', '127.0.0.1:0', '--store', store], { encoding: 'utf8', timeout: 60000 });
    assert.equal(second.status, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`served by the station at ${st.url.replace(/[.]/g, '\\.')} \\(rram serve, process ${st.proc.pid}\\)`));
  } finally {
    await st.stop();
  }
  assert.ok(!readdirSync(join(store, 'stations')).some((n) => n.endsWith('.json')), 'a stopped station removes its entry');
});

test("a dead station's entry in the store does not block a command: it runs directly", { timeout: 120000 }, async () => {
  const store = mkdtempSync(join(tmpdir(), 'rram-stale-'));
  // A process that has exited: its pid names no live station.
  const gone = spawn('true');
  const pid = await new Promise<number>((r) => gone.once('exit', () => r(gone.pid!)));
  mkdirSync(join(store, 'stations'));
  const key = spawnSync(process.execPath, ['-e', `import('${join(MAIN, '..', 'board-options.js')}').then(m => process.stdout.write(m.boardKey({ board: 'emulated', seed: 1, arrays: 2, store: '.', baud: 921600 })))`], { encoding: 'utf8' }).stdout;
  assert.match(key, /^emulated:emu-1-/);
  writeFileSync(join(store, 'stations', `${hostname()}-${pid}.json`), JSON.stringify({ url: 'http://127.0.0.1:9', pid, host: hostname(), started: new Date().toISOString(), token: 'x', boards: [{ id: 'board0', key }] }));
  const r = cli(['characterize', '--levels', '2', '--cells-per-level', '2', '--store', store]);
  assert.equal(await r.done, 0, r.err());
  assert.doesNotMatch(r.err(), /station/);
});

test("the README's program-net beside `rram serve`: the net and the level CDF go by the store, Ctrl-C aborts the station's run (exit 130)", { timeout: 300000 }, async () => {
  const store = mkdtempSync(join(tmpdir(), 'rram-station-pn-'));
  const nets = mkdtempSync(join(tmpdir(), 'rram-nets-'));
  await initTf();
  await saveModel(tf, buildModel(tf, parseArch('dense:8'), 4), join(nets, 'd8'));
  const st = await serveStation(store);
  try {
    const cdf = join(store, 'cdf.json');
    const c = cli(['characterize', '--levels', '4', '--cells-per-level', '16', '--store', store, '--out', cdf]);
    assert.equal(await c.done, 0, c.err());
    // A level-CDF file that is no run of this store is refused (2) before anything is queued.
    const foreign = join(nets, 'foreign.json');
    writeFileSync(foreign, JSON.stringify({ ...JSON.parse(readFileSync(cdf, 'utf8')), runId: '20200101-000000-0000' }));
    const bad = cli(['program-net', '--model', join(nets, 'd8'), '--device', foreign, '--levels', '4', '--store', store]);
    assert.equal(await bad.done, 2);
    assert.match(bad.err(), /--device.*not the level CDF of a run in the store/);
    const rep = cli(['program-net', '--model', join(nets, 'd8'), '--device', cdf, '--repeat', '2', '--store', store]);
    assert.equal(await rep.done, 2);
    assert.match(rep.err(), /--repeat.*not carried through the station/);
    // The README's command: queued on the station, the net copied into the store, the CDF named by its run.
    const pn = cli(['program-net', '--model', join(nets, 'd8'), '--device', cdf, '--levels', '4', '--trials', '5', '--images', '100', '--store', store, '--out', join(store, 'pn')]);
    const runId = await waitFor(() => /run (\S+) queued/.exec(pn.err())?.[1], 60000, 'program-net queued');
    await waitFor(async () => ((await (await fetch(`${st.url}/api/runs/${runId}/map`)).json()) as { cells?: unknown[] }).cells?.length, 120000, 'its first cells on the board');
    pn.proc.kill('SIGINT');
    assert.equal(await pn.done, 130, pn.err());
    const s = new EmbeddedStore(store);
    await waitFor(() => s.getRun(runId).status !== 'running', 30000, 'the station to end the run');
    const rec = s.getRun(runId);
    assert.equal(rec.status, 'aborted');
    const params = rec.params as { model: string; levelCdf?: string; device?: string };
    assert.match(params.model, /^cli-[0-9a-f]{12}$/);
    assert.ok(existsSync(join(store, 'models', params.model, 'model.json')), 'the model copied into the store');
    assert.equal(params.levelCdf ?? params.device, `run:${(JSON.parse(readFileSync(cdf, 'utf8')) as { runId: string }).runId}`);
  } finally {
    await st.stop();
  }
});

test('a station on a serial board (rram emulate --pty): the CLI on the same --port goes through it; halt sends GROUND over the link, the lines are grounded, the CLI exits as an aborted run (130)', { timeout: 180000 }, async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const store = mkdtempSync(join(tmpdir(), 'rram-station-pty-'));
  const { path, proc: emu } = await emulatePty(['--virtual-time']);
  const st = await serveStation(store, ['--port', path]);
  try {
    const run = cli(['characterize', '--port', path, '--levels', '4', '--cells-per-level', '32', '--store', store]);
    const runId = await waitFor(() => /run (\S+) queued/.exec(run.err())?.[1], 60000, `queued on the station (${run.err()})`);
    await waitFor(async () => ((await (await fetch(`${st.url}/api/runs/${runId}/map`)).json()) as { cells?: unknown[] }).cells?.length, 60000, 'cells on the board');
    const halt = await queueControl(store, st.url)('halt');
    const h = (await halt.json()) as { aborted: string; lines: { state: string; inFlight: number; groundedBy: string; lastOp: string } };
    assert.equal(h.aborted, runId);
    assert.deepEqual([h.lines.state, h.lines.inFlight, h.lines.groundedBy, h.lines.lastOp], ['grounded', 0, 'halt', 'ground']);
    assert.equal(await run.done, 130, run.err());
    assert.match(run.err(), /aborted/);
    assert.equal(new EmbeddedStore(store).getRun(runId).status, 'aborted');
  } finally {
    await st.stop();
    emu.kill('SIGTERM');
  }
});
