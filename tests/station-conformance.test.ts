/**
 * `rram conformance` through a station (issue 29) on a real pty link (`rram emulate --pty`).
 * Invariants: with `rram serve --port PTY` holding the port, the command queues a conformance item;
 * the station runs the suite on its own port with its link out of service, reopens its board (a
 * board command goes through it afterwards) and the command prints and exits as the direct run does
 * on the same port (the same checks pass and fail; exit 1 when one fails: a broken firmware).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, emulatePty, serveStation } from './helpers/station.js';
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
