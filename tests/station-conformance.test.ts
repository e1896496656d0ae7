/**
 * `rram conformance` through a station (issue 29) on a real pty link (`rram emulate --pty`).
 * Invariants: with `rram serve --port PTY` holding the port, the command queues a conformance item;
 * the station runs the suite on its own port with its link out of service, reopens its board (a
 * board command goes through it afterwards) and the command prints and exits as the direct run does
 * on the same port (the same checks pass and fail; exit 1 when one fails: a broken firmware). A
 * suite aborted midway (Ctrl-C) prints the checks the station stored - table or JSON, as a
 * completed report is printed, marked partial - then the abort, and exits as an aborted run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, emulatePty, serveStation } from './helpers/station.js';
import { CHECK_COUNT } from '../src/conformance/checks.js';
import type { ConformanceReport } from '../src/server/conformance-job.js';
import { waitFor } from './helpers/server.js';
import { needTool } from './helpers/env.js';

interface Report {
  passed: number;
  failed: number;
  checks: { name: string; pass: boolean }[];
}

async function throughStationThenDirect(bug: string[]): Promise<{ via: Report; direct: Report; viaText: string; code: number; directCode: number; err: string; after: number }> {
  const emu = await emulatePty(bug);
  const store = mkdtempSync(join(tmpdir(), 'rram-station-conf-'));
  const env = { ...process.env, RRAM_STORE: store };
  const st = await serveStation(store, ['--port', emu.path]);
  let via: Report;
  let viaText = '';
  let code = -1;
  let err = '';
  let after = -1;
  try {
    await waitFor(() => existsSync(join(store, 'stations')) && readdirSync(join(store, 'stations')).some((n) => n.endsWith('.json')), 10000, 'the station file');
    const json = cli(['conformance', '--port', emu.path, '--json'], { env });
    const text = cli(['conformance', '--port', emu.path], { env });
    [code] = await Promise.all([json.done, text.done]);
    assert.equal(await text.done, code, text.err());
    assert.match(json.err(), /served by the station at http:\/\/127\.0\.0\.1:\d+: run \S+ queued/, json.err());
    via = JSON.parse(json.out()) as Report;
    viaText = text.out();
    err = json.err();
    // The station has its board back: a read goes through it.
    const read = cli(['read', '--cell', '0,0', '--port', emu.path, '--store', store, '--json']);
    after = await read.done;
    assert.match(read.err(), /served by the station/, read.err());
    const hist = ((await (await fetch(`${st.url}/api/boards/${'board0'}/queue/history`)).json()) as { items: { kind: string; state: string }[] }).items;
    assert.deepEqual(hist.map((h) => [h.kind, h.state]), [['conformance', 'completed'], ['conformance', 'completed'], ['read', 'completed']]);
  } finally {
    await st.stop();
  }
  try {
    const d = cli(['conformance', '--port', emu.path, '--json'], { env });
    const directCode = await d.done;
    return { via: via!, direct: JSON.parse(d.out()) as Report, viaText, code, directCode, err, after };
  } finally {
    emu.proc.kill();
  }
}

const verdicts = (r: Report) => r.checks.map((c) => [c.name, c.pass]);

test('conformance through a station on a pty board: the suite runs on the station\'s port, the board comes back, the report is the direct one', { timeout: 300000 }, async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await throughStationThenDirect([]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.after, 0, 'a read through the station after the suite');
  assert.equal(r.via.failed, 0, JSON.stringify(r.via.checks.filter((c) => !c.pass)));
  assert.deepEqual(verdicts(r.via), verdicts(r.direct));
  assert.equal(r.directCode, 0);
  assert.match(r.viaText, new RegExp(`PASS  ${r.via.checks[0].name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(r.viaText, new RegExp(`${r.via.passed} of ${r.via.checks.length} checks passed\\n$`));
});

test('conformance through a station on a broken firmware fails the check it breaks and exits 1, as directly', { timeout: 300000 }, async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const r = await throughStationThenDirect(['--bug', 'wait-neg-limit']);
  assert.equal(r.code, 1, r.err);
  assert.equal(r.directCode, 1);
  assert.ok(r.via.failed >= 1);
  assert.deepEqual(verdicts(r.via), verdicts(r.direct));
  assert.match(r.viaText, /FAIL  /);
  assert.match(r.viaText, /checks passed; \d+ failed\n$/);
});

test('conformance through a station aborted midway (Ctrl-C): the stored partial report printed as a completed one is (table, JSON), marked partial, then the abort; exit 130', { timeout: 120000 }, async (t) => {
  if (!needTool(t, 'socat', 'socat')) return;
  const emu = await emulatePty([]);
  const store = mkdtempSync(join(tmpdir(), 'rram-station-conf-abort-'));
  const env = { ...process.env, RRAM_STORE: store };
  const st = await serveStation(store, ['--port', emu.path]);
  try {
    await waitFor(() => existsSync(join(store, 'stations')) && readdirSync(join(store, 'stations')).some((n) => n.endsWith('.json')), 10000, 'the station file');
    for (const json of [false, true]) {
      const c = cli(['conformance', '--port', emu.path, ...(json ? ['--json'] : [])], { env });
      const id = await waitFor(() => /run (\S+) queued/.exec(c.err())?.[1], 20000, 'the item queued');
      // Two checks done on the station: then Ctrl-C, as a user would.
      await waitFor(async () => (((await (await fetch(`${st.url}/api/runs/${id}/events?type=progress`)).json()) as { events?: unknown[] }).events ?? []).length >= 2, 30000, 'two checks done');
      c.proc.kill('SIGINT');
      const code = await c.done;
      const rep = (await (await fetch(`${st.url}/api/runs/${id}/results/conformance`)).json()) as ConformanceReport;
      assert.ok(rep.checks.length >= 2 && rep.checks.length < CHECK_COUNT, `stored ${rep.checks.length} checks`);
      assert.match(rep.partial ?? '', /aborted/);
      assert.equal(code, 130, c.err());
      assert.match(c.err(), /rram: conformance aborted after \d+ of \d+ checks .*stored as a partial report/);
      if (json) assert.deepEqual(JSON.parse(c.out()), rep, 'the JSON is the stored report');
      else {
        // Every stored check, as a completed report prints them, then the partial mark and the count.
        const printed = [...c.out().matchAll(/^(PASS|FAIL)  (.+)$/gm)].map((m) => [m[2], m[1] === 'PASS']);
        assert.deepEqual(printed, rep.checks.map((x) => [x.name, x.pass]));
        assert.ok(c.out().includes(`\nPARTIAL: ${rep.partial}; ${CHECK_COUNT - rep.checks.length} of ${CHECK_COUNT} checks did not run\n${rep.passed} of ${rep.checks.length} checks passed`), c.out());
      }
    }
  } finally {
    await st.stop();
    emu.proc.kill();
  }
});
