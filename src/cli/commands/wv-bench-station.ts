/**
 * `rram wv-bench` through a station (issue 29, src/server/wv-bench-job.ts): one characterize item
 * per entry, added in one step at consecutive places of the board's queue (nothing another
 * submitter queues comes between them), each followed here in turn as a local run is shown; the
 * comparison is made, stored and printed from their results as the direct command makes it
 * (reportBench). An entry that does not complete stops the benchmark: the items after it are taken
 * out of the queue (and would refuse to run: their `wvBench.previous` did not complete). A
 * benchmark is not resumed, through a station or directly: run it again on fresh cells.
 */
import type { Command } from 'commander';
import type { Algo } from '../../plans/program-cell.js';
import type { LevelCdfDataset } from '../../procedures/characterize.js';
import { summarizeAlgo, type AlgoSummary, type LevelRow } from '../../procedures/wv-bench.js';
import { EmbeddedStore } from '../../store/embedded-store.js';
import { metadataFromFlags } from '../metadata-flags.js';
import { PROGRAM_FLAGS, type programOptions } from '../program-flags.js';
import { followOnStation, queueBatchOnStation, removeFromStation, stationBoardInfo, type StationTarget } from '../station-client.js';
import { refuseNotCarried, refuseUncarried } from '../station-route.js';
import { consoleSinks, stationMetadata } from './programming.js';
import { attachProgressBar } from '../../sinks/progress-bar.js';
import { reportBench, type BenchFlags } from './wv-bench.js';

/** Seconds between a stored run's start and end (the entry's wall time, as the direct command times its run). */
const wallOf = (store: EmbeddedStore, runId: string): number => {
  const r = store.getRun(runId) as { started: string; ended?: string };
  return r.ended ? (Date.parse(r.ended) - Date.parse(r.started)) / 1000 : NaN;
};

/** A spread over no cell is NaN; JSON (the station's answer) made it null: NaN again, so the table says NaN as directly, never 0. */
function withNaN(d: LevelCdfDataset): LevelCdfDataset {
  for (const l of d.levels) l.tails.spread = l.tails.spread.map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, v === null ? NaN : v])) as typeof x);
  return d;
}

export async function wvBenchOnStation(st: StationTarget, f: BenchFlags, cmd: Command, entries: { label: string; algo: Algo; reverify: boolean }[], po: ReturnType<typeof programOptions>): Promise<void> {
  refuseNotCarried(cmd, st);
  refuseUncarried(cmd, [...PROGRAM_FLAGS, 'algos', 'cellsPerLevel', 'relax', 'reads', 'array', 'concurrency'], st);
  const info = (await stationBoardInfo(st, true)).info();
  const anyTagged = entries.some((e) => e.reverify);
  const requests = entries.map((e, k) => ({
    kind: 'characterize',
    ...po,
    algo: e.algo,
    reverify: !anyTagged || e.reverify ? po.reverify : undefined,
    levels: f.levels,
    cellsPerLevel: f.cellsPerLevel,
    reads: f.reads,
    relax_s: f.relax,
    array: f.array,
    seed: f.seed,
    concurrency: f.concurrency,
    onUnknownOutcome: f.onUnknownOutcome,
    wvBench: { label: e.label, entry: k, of: entries.length },
    ...stationMetadata(f),
  }));
  const items = await queueBatchOnStation(st, requests, 'rram wv-bench');
  const store = new EmbeddedStore(f.store);
  const algos: AlgoSummary[] = [];
  const rows: LevelRow[] = [];
  let failure: { label: string; status: string; error?: unknown } | undefined;
  for (const [k, e] of entries.entries()) {
    if (failure) {
      await removeFromStation(st, items[k].runId).catch(() => undefined);
      continue;
    }
    // The setup notes once, as directly (before the first entry).
    const out = await followOnStation<LevelCdfDataset>(st, items[k], 'level-cdf', k === 0 ? consoleSinks : attachProgressBar);
    if (out.status !== 'completed') {
      failure = { label: e.label, status: out.status, error: out.error };
      continue;
    }
    const s = summarizeAlgo(e.algo, withNaN(out.result!), wallOf(store, out.runId));
    algos.push({ ...s.summary, algo: e.label as Algo });
    rows.push(...s.rows.map((r) => ({ ...r, algo: e.label as Algo })));
  }
  const m = metadataFromFlags(f);
  await reportBench(f, { entries, info, po, calibrationId: info.calibration, algos, rows, failure, store, metadata: Object.keys(m).length ? m : undefined });
}
