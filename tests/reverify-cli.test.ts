/**
 * `rram reverify` from the command line (issue 29): the same re-verify run directly and through the
 * station serving the board stores the same result (every cell's reads, action and pulses); a bad
 * flag is refused by name before anything runs; the exit code is the verdict's (3 when the cells
 * end below --min-success, 0 otherwise), the run stored either way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { loadCalibration, values } from '../calibration/calibration.js';
import { withValues } from '../src/calibrate/fit.js';
import { cli, serveStation } from './helpers/station.js';
import { waitFor } from './helpers/server.js';

const VARIES = new Set(['runId', 'created', 'finished', 'state', 'origin_ms']);
const strip = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (k: string, v: unknown) => (VARIES.has(k) ? undefined : v)));

test('rram reverify: through a station it stores what the direct run stores; bad flags refused by name; the exit code follows the verdict', { timeout: 180000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'rram-reverify-'));
  const viaStore = join(root, 'station');
  const directStore = join(root, 'direct');
  // A board that relaxes ten times as much as the default one: an hour moves a share of the cells.
  const base = loadCalibration();
  const cal = join(root, 'strong-relax.json');
  writeFileSync(cal, JSON.stringify({ ...withValues(base, { ...values(base), relaxation_scale: values(base).relaxation_scale * 10 }), id: 'strong-relax' }));
  const st = await serveStation(viaStore, ['--calibration', cal]);
  try {
    await waitFor(() => existsSync(join(viaStore, 'stations')) && readdirSync(join(viaStore, 'stations')).some((n) => n.endsWith('.json')), 10000, 'the station file');
    const outs: { reverify: Record<string, unknown> & { source: unknown }; strict: number }[] = [];
    for (const store of [viaStore, directStore]) {
      const prog = cli(['program', '--map', 'random', '--region', '0:3,0:7', '--levels', '4', '--calibration', cal, '--store', store, '--json']);
      assert.equal(await prog.done, 0, prog.err());
      const src = (JSON.parse(prog.out()) as { runId: string }).runId;
      const out = join(root, `rv-${store === viaStore ? 'station' : 'direct'}.json`);
      const r = cli(['reverify', '--run', src, '--region', '0:3,0:5', '--band', 'inner', '--passes', '2', '--after', '1h', '--calibration', cal, '--store', store, '--out', out, '--json']);
      const code = await r.done;
      if (store === viaStore) assert.match(r.err(), /served by the station at http:\/\/127\.0\.0\.1:\d+: run \S+ queued/, 'went through the station');
      const d = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown> & { summary: { checked: number; reprogrammed: number; belowThreshold: boolean }; source: { runId: string } };
      assert.equal(d.source.runId, src);
      assert.equal(d.summary.checked + (d.summary as unknown as { notProgrammed: number }).notProgrammed, 24);
      assert.ok(d.summary.reprogrammed > 0, 'an hour of relaxation moved cells out of the inner half of their band');
      assert.equal(code, d.summary.belowThreshold ? 3 : 0, r.err());
      const rec = new EmbeddedStore(store).getRun(d.runId as string);
      assert.deepEqual([rec.kind, (rec.params as { band: string }).band, (rec.params as { passes: number }).passes, (rec.params as { after_s: number }).after_s], ['reverify', 'inner', 2, 3600]);
      // A strict threshold on every cell the run programmed on array 0 (--array alone): exit 3 exactly when the verdict is below it.
      const strictRun = cli(['reverify', '--run', src, '--array', '0', '--band', 'inner', '--min-success', '1', '--calibration', cal, '--store', store, '--json']);
      const strict = await strictRun.done;
      const sj = JSON.parse(strictRun.out()) as { runId: string; summary: { belowThreshold: boolean; checked: number; notProgrammed: number } };
      assert.equal(sj.summary.checked + sj.summary.notProgrammed, 32, 'every cell of the source run');
      assert.equal(strict, sj.summary.belowThreshold ? 3 : 0, strictRun.err());
      assert.equal(new EmbeddedStore(store).getRun(sj.runId).kind, 'reverify', 'stored either way');
      outs.push({ reverify: d, strict });
    }
    assert.deepEqual(strip(outs[0].reverify), strip(outs[1].reverify), "the station's result is the direct run's");
    assert.equal(outs[0].strict, outs[1].strict, 'same exit code both ways');
    // The station checks a re-verify when it arrives: a cell the run never programmed is a 400 naming it, nothing queued.
    const token = ((await (await fetch(`${st.url}/api/config`)).json()) as { sessionToken: string }).sessionToken;
    const hist = async () => ((await (await fetch(`${st.url}/api/boards/board0/queue/history`)).json()) as { items: unknown[] }).items.length;
    const before = await hist();
    const post = await fetch(`${st.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-rram-token': token }, body: JSON.stringify({ kind: 'reverify', run: (outs[0].reverify.source as { runId: string }).runId, cells: [{ array: 0, row: 40, col: 40 }] }) });
    assert.equal(post.status, 400);
    assert.match(((await post.json()) as { error: string }).error, /^cells="0:40:40": 1 chosen cell\(s\) were not programmed by run/);
    assert.equal(await hist(), before, 'nothing queued');
    assert.equal(((await (await fetch(`${st.url}/api/boards/board0/queue`)).json()) as { queued: unknown[] }).queued.length, 0);
    // Bad flags: refused by name, nothing run.
    const n = new EmbeddedStore(directStore).listRuns().length;
    for (const [args, re] of [
      [['--band', 'middle'], /--band=.*middle.*decision or inner/],
      [['--band', 'decision', '--passes', '3'], /--passes=3.*one pass/],
      [['--after', 'soon'], /--after=.*soon.*duration/],
      [['--map', 'levels.csv'], /--map=.*levels\.csv.*own targets: choose the cells with --region or --cells/],
    ] as const) {
      const r = cli(['reverify', '--run', new EmbeddedStore(directStore).listRuns().find((x) => x.kind === 'program')!.id, ...args, '--store', directStore]);
      assert.equal(await r.done, 2, r.err());
      assert.match(r.err(), re);
    }
    const missing = cli(['reverify', '--store', directStore]);
    assert.notEqual(await missing.done, 0);
    assert.match(missing.err(), /--run/);
    assert.equal(new EmbeddedStore(directStore).listRuns().length, n, 'nothing stored by a refused command');
  } finally {
    await st.stop();
  }
});
