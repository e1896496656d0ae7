/**
 * `rram program-net` through a station carries every flag it takes (issue 29). Invariants:
 * - On two stores whose emulated boards start alike (same seed, pristine) and see the same
 *   commands in the same order, program-net through the station and directly - with write-verify
 *   flags, the engine's knobs, --refresh-after/--refresh-budget, --keep, --no-yield-aware, and then
 *   --fine-tune progressive with its --fine-tune-* flags - print the same result and store the same
 *   run record, result and event stream, apart from ids and clocks.
 * - Every program-net flag is either in the station's request or refused by name before anything is
 *   queued (never silently dropped): checked flag by flag over all the command's options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { cli, serveStation } from './helpers/station.js';
import { waitFor } from './helpers/server.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { saveModel } from '../src/inference/model-io.js';
import { registerProgramNet } from '../src/cli/commands/program-net.js';
import { programNetRequest, type NetStationFlags } from '../src/cli/commands/program-net-station.js';
import { parseJobRequest } from '../src/server/job-requests.js';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';

/** What may differ between two runs of the same request: ids, clocks, wall times, the model's store name. */
const VARIES = new Set(['runId', 'id', 'created', 'finished', 'state', 'origin_ms', 't', 'elapsed_s', 'rate_per_s', 'eta_s', 'wall_s', 'programming_s', 'fineTuning_s', 'prediction_s', 'baseline_s', 'total_s', 'submitter', 'eventsBytes', 'started', 'ended', 'pid', 'stateKey', 'model']);
/** Ids and clocks out; a run id inside a text (e.g. "run 2026...") made RUN. */
const strip = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (k: string, v: unknown) => (VARIES.has(k) ? undefined : typeof v === 'string' ? v.replace(/[0-9]{8}-[0-9]{6}-[0-9a-f]{4}/g, 'RUN') : v)));

async function smallNet(): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), 'rram-nets-')), 'd1');
  await initTf();
  await saveModel(tf, buildModel(tf, parseArch('dense:1'), 2), dir);
  return dir;
}

const CASES: { name: string; args: string[] }[] = [
  { name: 'write-verify, engine, refresh, --keep, --no-yield-aware', args: ['--levels', '2', '--trials', '3', '--images', '40', '--max-pulses', '300', '--vread', '0.25', '--tolerance', '3uA', '--concurrency', '16', '--refresh-after', '30s', '--refresh-budget', '0.5', '--keep', '--no-yield-aware', '--seed', '5'] },
  { name: '--fine-tune progressive and its flags', args: ['--levels', '2', '--trials', '3', '--images', '40', '--fine-tune', 'progressive', '--fine-tune-images', '30', '--fine-tune-epochs', '1', '--fine-tune-lr', '0.002', '--fine-tune-batch-size', '16', '--fine-tune-trials', '2', '--fine-tune-outputs', 'read-back', '--baseline', 'none', '--reads', '2', '--use-arrays', '1', '--seed', '5'] },
];

async function stored(store: string, runId: string): Promise<unknown> {
  const s = new EmbeddedStore(store);
  const events: unknown[] = [];
  // Progress events come by the clock (how many cells were done at each tick): the rest is the board's doing.
  for await (const e of s.events(runId)) if (e.type !== 'progress') events.push({ ...e, seq: undefined });
  // The run's event counts, less the progress events (clocked, above).
  const run = JSON.parse(JSON.stringify(s.getRun(runId), (k: string, v: unknown) => (k === 'progress' || k === 'events' ? undefined : v))) as unknown;
  return strip({ run, result: s.loadResult(runId, 'program-net'), events });
}

test('program-net through a station with every carried flag prints and stores what the direct run does', { timeout: 300000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'rram-station-pn-eq-'));
  const viaStore = join(root, 'station');
  const directStore = join(root, 'direct');
  const [model, st] = await Promise.all([smallNet(), serveStation(viaStore, ['--seed', '5', '--arrays', '16'])]);
  try {
    await waitFor(() => existsSync(join(viaStore, 'stations')) && readdirSync(join(viaStore, 'stations')).some((n) => n.endsWith('.json')), 10000, 'the station file');
    for (const c of CASES) {
      const printed: { runId: string }[] = [];
      for (const store of [viaStore, directStore]) {
        const r = cli(['program-net', '--model', model, ...c.args, '--arrays', '16', '--store', store, '--json']);
        assert.equal(await r.done, 0, `${c.name} ${store === viaStore ? "through the station" : "directly"}: ${r.err()}\nstation: ${st.err().slice(-3000)}`);
        assert.equal(/served by the station/.test(r.err()), store === viaStore, `${c.name}: went where it should`);
        printed.push(JSON.parse(r.out()) as { runId: string });
      }
      const [via, direct] = printed;
      assert.deepEqual(strip(via), strip(direct), `${c.name}: the printed result is the direct run's`);
      assert.deepEqual(await stored(viaStore, via.runId), await stored(directStore, direct.runId), `${c.name}: the stored record is the direct run's`);
    }
    // --keep: the placement `rram infer --on-board` drives is stored with the station's run.
    const s = new EmbeddedStore(viaStore);
    const first = s.listRuns().filter((r) => r.kind === 'program-net').sort((a, b) => a.started.localeCompare(b.started))[0];
    assert.ok(s.loadResult<{ onBoard?: unknown }>(first.id, 'program-net').onBoard, '--keep stored the placement with the run');
    await st.stop();
    // The station gone, `rram infer --on-board` drives the kept net on the board with the original model folder (the run names its store copy).
    const inf = cli(['infer', '--on-board', first.id, '--model', model, '--dataset', 'mnist', '--images', '10', '--board-seed', '5', '--board-arrays', '16', '--store', viaStore, '--json']);
    assert.equal(await inf.done, 0, inf.err());
  } finally {
    await st.stop();
  }
});

/** A value for each flag that its parser accepts and that differs from its default (so a carried flag changes the request). */
const VALUES: Record<string, string> = { '--dataset': 'fashion', '--mapping': 'offset', '--device': 'gaussian:5%', '--algo': 'igvva-predict', '--prep': 'fast', '--onboard-verify': 'off', '--lrs-range': '10uA,30uA', '--ispva-vg': '1,1,1,1,1,1,1,1', '--reverify': '60s', '--fine-tune': 'progressive', '--fine-tune-outputs': 'read-back', '--baseline': '20260101-000000-abcd', '--bn-merge': 'signed', '--relax': '10s', '--refresh-after': '10s', '--refresh-budget': '5%', '--use-arrays': '0', '--read-noise': '0.05uA', '--tolerance': '2uA', '--lrs-range ': '', '--hrs-max': '3uA', '--form-jump-min': '1uA', '--formed-above': '1uA', '--levels': '2', '--min-success': '0.5', '--on-unknown-outcome': 'stop', '--fine-tune-lr': '0.01', '--resume': '20260101-000000-abcd', '--influx': 'http://127.0.0.1:1/db', '--clip': '0.999', '--stuck-hrs': '0.01', '--stuck-lrs': '0.01', '--data': '/nowhere', '--temperature': '25', '--step': '0.02', '--width': '0.000002', '--form-jump': '4' };

/** Flags that pick the board, the store or the output: they stay on the CLI's side (station-route.ts LOCAL); --resume goes as the resume call's run id. */
const CLI_SIDE = new Set(['--board', '--port', '--baud', '--arrays', '--limits', '--calibration', '--store', '--json', '--out', '--station', '--token', '--resume', '--help']);

test('every program-net flag is carried in the station request or refused by name before anything is queued, never dropped', async () => {
  const st = { url: 'http://127.0.0.1:1', token: 't', boardId: 'board0' };
  const board = new EmulatedBoard({ seed: 1 });
  const info = board.info();
  await board.close();
  const modelDir = mkdtempSync(join(tmpdir(), 'rram-m-'));
  writeFileSync(join(modelDir, 'model.json'), '{}');
  const store = mkdtempSync(join(tmpdir(), 'rram-s-'));
  /** The request for these arguments (after `program-net --model DIR`), or the error refusing them. */
  const requestFor = async (args: string[]): Promise<Record<string, unknown> | Error> => {
    const program = new Command().exitOverride();
    registerProgramNet(program);
    const sub = program.commands[0];
    sub.action(() => undefined);
    await program.parseAsync(['node', 'rram', 'program-net', '--model', modelDir, '--store', store, ...args]);
    try {
      return programNetRequest(st, sub.opts() as NetStationFlags, sub);
    } catch (e) {
      return e as Error;
    }
  };
  const program = new Command();
  registerProgramNet(program);
  const carried: string[] = [];
  const refused: string[] = [];
  for (const o of program.commands[0].options) {
    const flag = o.long!;
    if (flag === '--model' || CLI_SIDE.has(flag)) continue;
    // The fine-tune flags apply with --fine-tune only, --refresh-budget with --refresh-after (refused without, as directly).
    const extra = flag.startsWith('--fine-tune-') || flag === '--baseline' ? ['--fine-tune', 'progressive'] : flag === '--refresh-budget' ? ['--refresh-after', '10s'] : [];
    const without = await requestFor(extra);
    assert.ok(!(without instanceof Error), `${extra.join(' ')}: ${(without as Error).message}`);
    const withIt = await requestFor([...extra, ...(o.negate || o.isBoolean() ? [flag] : [flag, VALUES[flag] ?? '3'])]);
    if (withIt instanceof Error) {
      assert.match(withIt.message, new RegExp(`${flag}.*(not carried|is not)`), `${flag}: refused by its name with the reason`);
      refused.push(flag);
      continue;
    }
    assert.notDeepEqual(withIt, without, `${flag}: given, it must change the station's request`);
    // ... and the station takes it (the model's store name stands for the copied folder).
    parseJobRequest(withIt, info);
    carried.push(flag);
  }
  assert.deepEqual(refused.sort(), ['--data', '--influx', '--new-board', '--repeat'], `refused: ${refused.join(' ')}; carried: ${carried.join(' ')}`);
  assert.ok(carried.length > 40, `${carried.length} flags carried`);
  // --baseline twin has no station twin: refused by name with the reason.
  const twin = await requestFor(['--fine-tune', 'progressive', '--baseline', 'twin']);
  assert.ok(twin instanceof Error && /--baseline.*twin.*not carried/.test(twin.message), String(twin));
});
