/**
 * `rram infer --on-board RUN` through a station (issue 29): a queue item of kind `infer-on-board`
 * the station runs on its board with the net from its own store. Invariants:
 * - on a quiet board (no read noise, no relaxation: MVMs repeat), a net programmed with --keep
 *   through the station evaluates through the station's queue exactly as the direct command
 *   evaluates it on the same board afterwards: the same confusion matrix and printed result (clocks
 *   aside), each stored as a run of kind infer holding what it printed; the terminal shows the
 *   direct run's batch-by-batch progress lines;
 * - a bad request is refused before anything is queued, naming its field: over the API (400:
 *   a field out of range, an unknown field, a run that is not in the store, a drive voltage the
 *   station's board does not take) and through the CLI (exit 2: the station's refusal, a --model
 *   that is not the run's).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import type { OnBoardResult } from '../src/jobs/infer-on-board-job.js';
import { cli, MAIN, serveStation, stationToken } from './helpers/station.js';
import { waitFor } from './helpers/server.js';
import { quietCalibration } from './helpers/quiet-calibration.js';
import { smallTraining } from './helpers/small-training.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { saveModel } from '../src/inference/model-io.js';

// Any trained net will do (the checks compare the station's evaluation with the direct one of the same board).
smallTraining(3000);

/** What differs between two evaluations of the same board: wall times and run ids. */
const clockless = (r: OnBoardResult) => ({ ...r, onBoard: { ...r.onBoard, elapsed_s: undefined } });

test('infer --on-board through a station: the direct evaluation of the same board, stored alike; bad requests refused by field', { timeout: 120000 }, async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'rram-station-onboard-'));
  const store = join(cwd, 'store');
  const cal = join(cwd, 'cal.json');
  const net = join(cwd, 'net');
  writeFileSync(cal, JSON.stringify(quietCalibration()));
  const train = spawnSync(process.execPath, [MAIN, 'train', '--arch', 'cnn:1x4/p5/h6', '--dataset', 'mnist', '--epochs', '1', '--lr', '0.03', '--batch-size', '32', '--out', net], { encoding: 'utf8' });
  assert.equal(train.status, 0, train.stderr);
  const board = ['--board-arrays', '4', '--calibration', cal, '--store', store];
  const st = await serveStation(store, ['--arrays', '4', '--calibration', cal]);
  let via: OnBoardResult;
  let runId = '';
  const viaRuns: string[] = [];
  try {
    await waitFor(() => existsSync(join(store, 'stations')) && readdirSync(join(store, 'stations')).some((n) => n.endsWith('.json')), 10000, 'the station file');
    const p = cli(['program-net', '--model', net, '--levels', '4', '--device', 'gaussian:5%', '--images', '100', '--trials', '5', '--keep', '--arrays', '4', '--calibration', cal, '--store', store, '--json']);
    assert.equal(await p.done, 0, p.err());
    assert.match(p.err(), /served by the station/);
    runId = (JSON.parse(p.out()) as { runId: string }).runId;
    const args = ['infer', '--model', net, '--dataset', 'mnist', '--on-board', `run:${runId}`, '--batch', '25', ...board];
    const [json, text] = [cli([...args, '--json']), cli(args)];
    assert.equal(await json.done, 0, json.err());
    assert.equal(await text.done, 0, text.err());
    for (const c of [json, text]) {
      assert.match(c.err(), /served by the station at http:\/\/127\.0\.0\.1:\d+: run \S+ queued/);
      viaRuns.push(/stored as run (\S+) \(kind infer/.exec(c.err())![1]);
    }
    via = JSON.parse(json.out()) as OnBoardResult;
    assert.equal(via.images, 100);
    // The direct run's progress, batch by batch, and its table.
    const lines = text.err().split('\r').filter((l) => l.startsWith('on-board: '));
    assert.deepEqual(lines.map((l) => Number(/^on-board: (\d+)\/100 images/.exec(l)?.[1])), [25, 50, 75, 100], text.err());
    assert.match(lines[3], new RegExp(`^on-board: 100/100 images, ${(100 * via.onBoard.accuracy).toFixed(2)} %`));
    assert.match(text.out(), new RegExp(`on the board \\(analog MVM\\) +${(100 * via.onBoard.accuracy).toFixed(2)} +100\\n`));

    // Bad requests: refused by field, nothing queued.
    const post = (request: Record<string, unknown>) => fetch(`${st.url}/api/boards/board0/queue`, { method: 'POST', headers: { 'x-rram-token': stationToken(store), 'content-type': 'application/json' }, body: JSON.stringify({ request }) });
    const before = ((await (await fetch(`${st.url}/api/boards/board0/queue/history`)).json()) as { items: unknown[] }).items.length;
    for (const [request, field] of [
      [{ kind: 'infer-on-board', run: runId, batch: 0 }, 'batch'],
      [{ kind: 'infer-on-board', run: runId, model: net }, 'model'],
      [{ kind: 'infer-on-board', run: '20260101-000000-abcd' }, 'run'],
      [{ kind: 'infer-on-board', run: runId, vIn_V: 0.6 }, 'vIn_V'],
    ] as const) {
      const r = await post(request);
      const body = (await r.json()) as { error: string; field?: string };
      assert.equal(r.status, 400, `${field}: ${body.error}`);
      assert.equal(body.field, field, body.error);
    }
    // Another net of the same architecture is not the run's.
    await initTf();
    await saveModel(tf, buildModel(tf, parseArch('cnn:1x4/p5/h6'), 7), join(cwd, 'other'));
    const [vIn, model] = [cli([...args, '--v-in', '0.6']), cli(args.map((a) => (a === net ? join(cwd, 'other') : a)))];
    assert.equal(await vIn.done, 2, vIn.err());
    assert.match(vIn.err(), /station http\S+: vIn_V=0\.6: must be on the DAC grid in \(0, vread_max = 0\.5 V\]/);
    assert.equal(await model.done, 2, model.err());
    assert.match(model.err(), /--model=".*other": the contents of this model folder changed since run \S+ programmed it/);
    assert.equal(((await (await fetch(`${st.url}/api/boards/board0/queue/history`)).json()) as { items: unknown[] }).items.length, before, 'nothing queued');
  } finally {
    await st.stop();
  }
  // The station stopped, the same board (its saved state) directly.
  const d = cli(['infer', '--model', net, '--dataset', 'mnist', '--on-board', `run:${runId}`, '--batch', '25', ...board, '--json']);
  assert.equal(await d.done, 0, d.err());
  assert.doesNotMatch(d.err(), /served by the station/);
  const direct = JSON.parse(d.out()) as OnBoardResult;
  assert.deepEqual(clockless(via!), clockless(direct), 'the station evaluated the board as the direct command does');
  const s = new EmbeddedStore(store);
  for (const id of [...viaRuns, /stored as run (\S+) \(kind infer/.exec(d.err())![1]]) {
    const rec = s.getRun(id);
    assert.deepEqual([rec.kind, rec.status, rec.params.onBoard], ['infer', 'completed', runId]);
    assert.deepEqual(clockless(s.loadResult<OnBoardResult>(id, 'infer-on-board')), clockless(direct));
  }
});
