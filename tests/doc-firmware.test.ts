/**
 * A board unlike ours: the independent firmware of tests/helpers/doc-firmware.ts (written from
 * docs/protocol.md alone, other limits, DAC, window, timing, no optional messages). The
 * conformance suite and the serial driver must work against it unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { loopback } from '../drivers/emulated/loopback.js';
import { SerialBoard } from '../drivers/serial/serial-board.js';
import { runConformance } from '../src/conformance/checks.js';
import { Probe } from '../src/conformance/probe.js';
import { RunContext } from '../src/engine/run-context.js';
import { RunEngine, type CellJob } from '../src/engine/run-engine.js';
import { formSetReset } from './helpers/link-plans.js';
import { DocFirmware } from './helpers/doc-firmware.js';

test('conformance suite: every check passes against an independent firmware written from the document', async () => {
  const fw = new DocFirmware(new EmulatedBoard({ seed: 1 }));
  const lb = loopback(fw);
  const p = await Probe.open(lb.factory, 921600);
  const res = await runConformance(p, { margin_ms: 100 });
  await p.close();
  const failed = res.filter((r) => !r.pass);
  assert.deepEqual(failed, [], JSON.stringify(failed, null, 1));
  assert.ok(res.length >= 10);
  assert.match(res.find((r) => r.name.startsWith('unknown types'))!.evidence.join('\n'), /WRITE_VERIFY \(not offered\) -> ERROR UNSUPPORTED/);
});

test('the driver against the independent firmware under link faults: its window, its DAC grid, no pulse twice', async () => {
  const fw = new DocFirmware(new EmulatedBoard({ seed: 2 }));
  const lb = loopback(fw, { seed: 7, drop: 2e-3, corrupt: 2e-3, duplicate: 2e-3, garbage: 2e-3, delay: 2e-3, delayMax_ms: 20 });
  const drv = await SerialBoard.open({ transport: lb.factory, keepAlive_ms: 0, margin_ms: 40 });
  assert.equal(drv.link.window, 8);
  assert.equal(drv.info().dacStep_V, 0.005);
  const ctx = new RunContext('doc');
  let confirmed = 0;
  let unknown = 0;
  const sent: number[] = [];
  ctx.events$.subscribe((e) => {
    if (e.type === 'pulse') {
      if (e.outcome === 'unknown') unknown++;
      else confirmed++;
      sent.push(e.vg_V);
    }
  });
  const jobs: CellJob[] = Array.from({ length: 1024 }, (_, k) => ({ cell: { array: 0, row: k >> 6, col: k & 63 }, level: 1, target_A: 0, plan: () => formSetReset({ formVte_V: 3.5, reset: false }) }));
  const done = await new RunEngine(drv, ctx).runCells(jobs, { concurrency: 64 });
  await drv.close();
  assert.equal(done.length, 1024);
  assert.ok(fw.maxOutstanding <= 8, `the host kept ${fw.maxOutstanding} requests outstanding on a window-8 board`);
  assert.ok(fw.applied >= confirmed && fw.applied <= confirmed + unknown, `applied ${fw.applied}, confirmed ${confirmed}, unknown ${unknown}`);
  assert.ok(sent.every((v) => Math.abs(v * 200 - Math.round(v * 200)) < 1e-9), 'every recorded amplitude is on the 5 mV grid');
  assert.ok(drv.stats.retransmits > 0, 'faults happened');
});

test('the independent firmware refuses what exceeds its limits even when ours would accept it; the host refuses first', async () => {
  const fw = new DocFirmware(new EmulatedBoard({ seed: 3 }));
  const lb = loopback(fw);
  const drv = await SerialBoard.open({ transport: lb.factory, keepAlive_ms: 0 });
  const before = lb.hostBytes;
  await assert.rejects(drv.set({ array: 0, row: 0, col: 0 }, { vte_V: 1.2, vg_V: 2.5, width_s: 1e-6 }), /vg_V=2.5 is above the maximum 2/);
  await assert.rejects(drv.form({ array: 0, row: 0, col: 0 }, { vte_V: 4.0, vg_V: 1.6, width_s: 1e-5 }), /vte_V=4 is above the maximum 3.6/);
  assert.equal(lb.hostBytes, before, 'nothing was sent');
  await drv.wait(12); // above its 10 s WAIT maximum: split
  await drv.close();
});
