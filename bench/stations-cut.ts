/**
 * Issue 29's goal "a 60 s network cut loses and duplicates nothing", at full length (the CI test,
 * tests/stations-hub.test.ts, cuts for ~10 s): the scene of tests/helpers/stations-scenario.ts
 * (a real influxd, probe-1 behind a cuttable TCP proxy, probe-2 direct, a hub), probe-1's network
 * cut for SECONDS while both stations keep running characterize runs back to back, then restored.
 * Reported: runs and points per station, what probe-1 spilled, how long the catch-up took (restore
 * to every run's points in InfluxDB equal to its store), and points lost / duplicated / mis-tagged
 * over every run. `node dist/bench/run.js stations-cut [SECONDS] [blackhole|refuse]`.
 */
import { checkEveryRun, DB, ended, influxPoints, queueCharacterize, spilledFiles, startScene, type Member, type RunCheck } from '../tests/helpers/stations-scenario.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { waitFor } from '../tests/helpers/server.js';
import type { CutMode } from '../tests/helpers/tcp-proxy.js';

const CELLS = 32;

/** Runs characterize runs on `m` one after the other until `until()` says stop; their ids. */
async function keepBusy(m: Member, until: () => boolean): Promise<string[]> {
  const ids: string[] = [];
  while (!until()) {
    const id = await queueCharacterize(m, CELLS);
    ids.push(id);
    const s = await ended(m, id, 300000);
    if (s !== 'completed') throw new Error(`${m.name} run ${id}: ${s}`);
  }
  return ids;
}

/** Whether InfluxDB's point count equals the store's for every run of `m` (one grouped count query: cheap enough to poll). */
async function countsMatch(port: number, m: Member): Promise<boolean> {
  const q = `SELECT count(seq) FROM /.*/ WHERE station='${m.name}' AND time > '2000-01-01T00:00:00Z' AND time < '2100-01-01T00:00:00Z' GROUP BY "run"`;
  const body = (await (await fetch(`http://127.0.0.1:${port}/query?db=${DB}&q=${encodeURIComponent(q)}`)).json()) as { results: { series?: { tags: { run: string }; values: [unknown, number][] }[] }[] };
  const got = new Map<string, number>();
  for (const s of body.results[0].series ?? []) got.set(s.tags.run, (got.get(s.tags.run) ?? 0) + s.values[0][1]);
  return new EmbeddedStore(m.store).listRuns().every((r) => got.get(r.id) === r.events - (r.counts.intent ?? 0));
}

const sum = (rs: RunCheck[], k: keyof Omit<RunCheck, 'run'>) => rs.reduce((n, r) => n + r[k], 0);

export async function stationsCutBench(seconds = 60, mode: CutMode = 'blackhole'): Promise<Record<string, unknown>> {
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`SECONDS ${seconds}: a cut of more than 0 s`);
  if (mode !== 'blackhole' && mode !== 'refuse') throw new Error(`mode ${JSON.stringify(mode)}: blackhole or refuse`);
  const scene = await startScene();
  try {
    const { a, b } = scene;
    const first = await queueCharacterize(a, CELLS * 2);
    await waitFor(async () => ((await influxPoints(scene.influxd.port, first)).length > 0 ? true : undefined), 60000, 'the first points');
    await Promise.all([scene.cutInflux.cut(mode), scene.cutHttp.cut(mode)]);
    const cutAt = Date.now();
    let cut = true;
    const busy = Promise.all([keepBusy(a, () => !cut), keepBusy(b, () => !cut)]);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const spilled = spilledFiles(a);
    await Promise.all([scene.cutInflux.restore(), scene.cutHttp.restore()]);
    const restoreAt = Date.now();
    cut = false;
    const [idsA, idsB] = await busy;
    const runsEnded = Date.now();
    // Catch-up: every run's point count in InfluxDB equal to its store's (polled), then every point checked once.
    let spillGone = 0;
    await waitFor(
      async () => {
        if (!spillGone && spilledFiles(a) === 0) spillGone = Date.now();
        return spillGone && (await countsMatch(scene.influxd.port, a)) && (await countsMatch(scene.influxd.port, b)) ? true : undefined;
      },
      600000,
      'the catch-up',
    );
    const caughtUp = Date.now();
    const checks = await Promise.all([checkEveryRun(scene.influxd.port, a), checkEveryRun(scene.influxd.port, b)]);
    const per = (m: Member, rs: RunCheck[]) => ({ station: m.name, runs: rs.length, points: sum(rs, 'stored'), lost: sum(rs, 'lost'), duplicated: sum(rs, 'duplicated'), wrong_tag: sum(rs, 'wrongTag') });
    return {
      mode,
      cut_s: +((restoreAt - cutAt) / 1000).toFixed(1),
      runs_started_in_cut: { 'probe-1': idsA.length, 'probe-2': idsB.length },
      probe1_spill_files_at_restore: spilled,
      last_run_ended_after_restore_s: +((runsEnded - restoreAt) / 1000).toFixed(1),
      spill_gone_after_restore_s: +((spillGone - restoreAt) / 1000).toFixed(1),
      catch_up_after_restore_s: +((caughtUp - restoreAt) / 1000).toFixed(1),
      blackholed_bytes: scene.cutInflux.stats.swallowed,
      stations: [per(a, checks[0]), per(b, checks[1])],
    };
  } finally {
    await scene.close();
  }
}
