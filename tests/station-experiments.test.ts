/**
 * Board commands through a station (issue 29): `rram characterize`, `rram program` (every flag), `rram iv`, `rram
 * endurance`, `rram retention` and `rram sweep` aimed at a board `rram serve` holds join its queue and end as the
 * same command run directly. Invariant, per command: on two stores whose emulated boards start
 * alike (same seed, pristine) and see the same commands in the same order, the run through the
 * station and the direct run store the same result - every cell, pulse count and statistic - apart
 * from the run's id, its clock and the board's per-store state key; every non-default flag given
 * shows in the stored parameters (a dropped flag fails here); the exit code is the direct run's
 * (3 below --min-success). A flag a station cannot carry is refused by name, with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { cli, serveStation } from './helpers/station.js';
import { waitFor } from './helpers/server.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { saveModel } from '../src/inference/model-io.js';

/** What may differ between two runs of the same request: ids, clocks, the store's own board key. */
const VARIES = new Set(['runId', 'created', 'finished', 'state', 'origin_ms']);
const strip = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (k: string, v: unknown) => (VARIES.has(k) ? undefined : v)));

interface Case {
  name: string;
  args: string[];
  /** What the stored params must show for the flags given. */
  params: (p: Record<string, unknown>) => void;
  exit: number;
}

const stationFile = (store: string) => waitFor(() => existsSync(join(store, 'stations')) && readdirSync(join(store, 'stations')).some((n) => n.endsWith('.json')), 10000, 'the station file');

/** A one-unit dense MNIST net (1600 cells with diff mapping on 2 levels: a program-net of seconds). */
async function smallNet(): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), 'rram-nets-')), 'd1');
  await initTf();
  await saveModel(tf, buildModel(tf, parseArch('dense:1'), 2), dir);
  return dir;
}

/** A cell list with levels (`rram program --cells`): read on the CLI's side, sent as levels and cells. */
const CELLS = join(mkdtempSync(join(tmpdir(), 'rram-cells-')), 'cells.csv');
writeFileSync(CELLS, 'row,col,level\n0,0,1\n0,1,2\n1,0,3\n2,5,1\n');

const CASES: Case[] = [
  {
    name: 'program',
    args: ['program', '--map', 'checkerboard', '--region', '0:2,0:3', '--levels', '4', '--max-pulses', '300', '--vread', '0.25'],
    params: (p) => assert.deepEqual([p.levels, p.cellsName, p.maxPulses, p.vread_V], [4, 'region 0:2,0:3', 300, 0.25]),
    exit: 0,
  },
  { name: 'program', args: ['program', '--cells', CELLS, '--levels', '4', '--array', '1'], params: (p) => assert.deepEqual([p.array, p.cellsName], [1, `cells ${CELLS}`]), exit: 0 },
  {
    name: 'characterize',
    args: ['characterize', '--levels', '3', '--cells-per-level', '3', '--relax', '1s,10s', '--tolerance', '3uA', '--max-pulses', '80', '--algo', 'igvva-predict', '--concurrency', '8', '--fresh-cells'],
    params: (p) => assert.deepEqual([p.levels, p.cellsPerLevel, p.relax_s, Math.round((p.tolerance_A as number) * 1e9), p.maxPulses, p.algo], [3, 3, [1, 10], 3000, 80, 'igvva-predict']),
    exit: 0,
  },
  { name: 'iv', args: ['iv', '--count', '3', '--cycles', '2', '--step', '0.04', '--compliance', '25uA'], params: (p) => assert.deepEqual([p.cycles, p.step_V, Math.round((p.complianceTarget_A as number) * 1e9)], [2, 0.04, 25000]), exit: 0 },
  { name: 'endurance', args: ['endurance', '--count', '3', '--cycles', '20', '--every', '5', '--vte', '1.3', '--confirm', '3'], params: (p) => assert.deepEqual([p.cycles, p.every, p.vte_V, p.confirm], [20, 5, 1.3, 3]), exit: 0 },
  // Below --min-success on purpose (one SET pulse per cell): exits 3 both ways, everything stored.
  { name: 'retention', args: ['retention', '--levels', '4', '--cells-per-level', '2', '--times', '1s,10s', '--max-pulses', '1', '--min-success', '0.9'], params: (p) => assert.deepEqual([p.levels, p.cellsPerLevel, p.times_s, p.maxPulses, p.minSuccess], [4, 2, [1, 10], 1, 0.9]), exit: 3 },
  {
    name: 'sweep',
    args: ['sweep', '--cells', '4', '--noise-reads', '2', '--cycles', '1', '--ispva-cycles', '1', '--gate-step', '0.04'], params: (p) => {
      const cfg = p.config as { cycles: number; ispvaCycles: number; gate: { vgStep_V: number } };
      assert.deepEqual([p.cells, p.noiseReads, cfg.cycles, cfg.ispvaCycles, cfg.gate.vgStep_V], [4, 2, 1, 1, 0.04]);
    },
    exit: 0,
  },
];

test('characterize, program, iv, endurance, retention and sweep through a station store what the direct run stores, flags carried, same exit codes', { timeout: 240000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'rram-station-exp-'));
  const viaStore = join(root, 'station');
  const directStore = join(root, 'direct');
  const st = await serveStation(viaStore);
  try {
    await stationFile(viaStore);
    for (const c of CASES) {
      const outs: Record<string, unknown>[] = [];
      for (const store of [viaStore, directStore]) {
        const out = join(root, `${c.name}-${store === viaStore ? 'station' : 'direct'}.json`);
        const r = cli([...c.args, '--store', store, '--out', out, '--json']);
        assert.equal(await r.done, c.exit, `${c.name} ${store === viaStore ? 'through the station' : 'directly'}: ${r.err()}`);
        if (store === viaStore) assert.match(r.err(), /served by the station at http:\/\/127\.0\.0\.1:\d+: run \S+ queued/, `${c.name} went through the station`);
        outs.push(JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>);
      }
      const [via, direct] = outs;
      assert.ok((via.summary as { cells?: number } | undefined)?.cells, `${c.name}: a result that measured cells`);
      assert.deepEqual(strip(via), strip(direct), `${c.name}: the station's result is the direct run's`);
      const rec = new EmbeddedStore(viaStore).getRun(via.runId as string);
      assert.equal(rec.kind, c.name);
      c.params(rec.params as Record<string, unknown>);
    }
    // The station ran each as a queue item of its own kind.
    const hist = ((await (await fetch(`${st.url}/api/boards/board0/queue/history`)).json()) as { items: { kind: string; state: string }[] }).items;
    assert.deepEqual(hist.map((h) => h.kind), CASES.map((c) => c.name));
    // What a station cannot carry is refused by name with its reason (exit 2), nothing queued.
    const influx = cli(['iv', '--count', '2', '--influx', 'http://127.0.0.1:1/db', '--store', viaStore]);
    assert.equal(await influx.done, 2);
    assert.match(influx.err(), /--influx.*not carried through the station.*its own InfluxDB/);
    // --data naming another folder than the station's: refused by name with the reason, nothing queued.
    const data = cli(['program-net', '--model', '/nonexistent', '--data', '/elsewhere', '--store', viaStore]);
    assert.equal(await data.done, 2);
    assert.match(data.err(), /--data.*not carried through the station.*its own folder/);
    const after = ((await (await fetch(`${st.url}/api/boards/board0/queue/history`)).json()) as { items: unknown[] }).items;
    assert.equal(after.length, hist.length, 'a refused command queues nothing');
  } finally {
    await st.stop();
  }
});

test('program-net through a station carries --reads, --relax, --use-arrays and the prediction\'s stuck share and read noise; --repeat is refused with its reason', { timeout: 180000 }, async () => {
  const store = mkdtempSync(join(tmpdir(), 'rram-station-pn-flags-'));
  const [model, st] = await Promise.all([smallNet(), serveStation(store)]);
  try {
    await stationFile(store);
    const rep = cli(['program-net', '--model', model, '--repeat', '2', '--store', store]);
    assert.equal(await rep.done, 2);
    assert.match(rep.err(), /--repeat.*not carried through the station.*the first repeat programs the cells of the station's board/);
    const pn = cli(['program-net', '--model', model, '--levels', '2', '--trials', '2', '--images', '50', '--use-arrays', '1', '--reads', '2', '--relax', '10s', '--stuck-hrs', '0.01', '--read-noise', '0.05uA', '--store', store, '--json']);
    assert.equal(await pn.done, 0, pn.err());
    assert.match(pn.err(), /served by the station/);
    const r = JSON.parse(pn.out()) as { runId: string; programming: { arrays: number[]; reads: number; relax_s?: number } };
    assert.deepEqual([r.programming.arrays, r.programming.reads, r.programming.relax_s], [[1], 2, 10], 'the board-side flags reached the run');
    const hist = ((await (await fetch(`${st.url}/api/boards/board0/queue/history`)).json()) as { items: { id: string; request: Record<string, unknown> }[] }).items;
    const req = hist.find((i) => i.id === r.runId)!.request;
    assert.deepEqual([req.stuckHrs, Math.round((req.readNoise_A as number) * 1e10)], [0.01, 500], 'the prediction flags reached the station');
  } finally {
    await st.stop();
  }
});
