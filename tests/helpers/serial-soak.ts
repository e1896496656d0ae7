/**
 * The seeded fault-injection soak (issue 12), shared by tests/serial-soak.test.ts (a few seeds in
 * CI) and `node dist/bench/run.js serial-soak [SEEDS]` (the full 20 seeds): the real run engine and
 * serial driver program two whole arrays (8192 cells) through the real emulator firmware while the
 * link drops, corrupts, duplicates, delays and stalls frames, injects garbage, and the firmware
 * reboots (half of the reboots losing every cell). Each seed asserts: no request executed twice,
 * every cell done or reported unknown, and the board's own pulse count per cell within what the
 * host was told; a failing seed throws.
 */
import assert from 'node:assert/strict';
import { EmulatedBoard } from '../../drivers/emulated/emulated-board.js';
import { Firmware, type AppliedOp } from '../../drivers/emulated/firmware.js';
import { loopback } from '../../drivers/emulated/loopback.js';
import { SerialBoard } from '../../drivers/serial/serial-board.js';
import { RunContext } from '../../src/engine/run-context.js';
import { RunEngine, type CellJob } from '../../src/engine/run-engine.js';
import { formSetReset } from './link-plans.js';
import { cellKey } from '../../src/engine/events.js';

/** One seed: the whole run and its checks; returns a summary line. */
export async function soak(seed: number): Promise<string> {
  {
    const board = new EmulatedBoard({ seed });
    const fw = new Firmware(board, () => undefined, { time: 'virtual', tOp_s: 0.0005 });
    const applied: AppliedOp[] = [];
    fw.onApplied = (op) => applied.push(op);
    const lb = loopback(fw, {
      seed,
      drop: 1.5e-4,
      corrupt: 1.5e-4,
      duplicate: 1.5e-4,
      delay: 1.5e-4,
      delayMax_ms: 30,
      stall: 1e-4,
      garbage: 1.5e-4,
      reboot: 6e-5,
      rebootLosesCells: 0.5,
      freshBoard: () => new EmulatedBoard({ seed: seed + 1000, id: board.info().id }), // same board, cells lost
    });
    // A tight margin provokes timeouts on purpose; a loaded machine provokes more of them, so a
    // request may go through more recoveries than the default 2 before it is answered: the soak
    // checks the record, not when the link gives up.
    const drv = await SerialBoard.open({ transport: lb.factory, margin_ms: 20, retries: 3, reconnect_ms: 5000, keepAlive_ms: 0, maxRecoveries: 10 });
    const ctx = new RunContext(`soak-${seed}`);
    const confirmed = new Map<string, number>();
    const unknown = new Map<string, number>();
    let linkWarnings = 0;
    ctx.events$.subscribe((e) => {
      if (e.type === 'pulse') {
        const m = e.outcome === 'unknown' ? unknown : confirmed;
        m.set(cellKey(e.cell), (m.get(cellKey(e.cell)) ?? 0) + 1);
      }
      if (e.type === 'warning' && e.code === 'outcome-unknown') linkWarnings++;
    });
    const jobs: CellJob[] = [];
    for (let array = 0; array < 2; array++) for (let row = 0; row < 64; row++) for (let col = 0; col < 64; col++) jobs.push({ cell: { array, row, col }, level: 1, target_A: 0, plan: () => formSetReset() });
    const done = await new RunEngine(drv, ctx).runCells(jobs, { concurrency: 64 });
    await drv.close();

    // Every cell finished exactly once, done or reported unknown.
    assert.equal(done.length, 8192);
    assert.equal(new Set(done.map((e) => cellKey(e.cell))).size, 8192);
    assert.ok(done.every((e) => e.outcome.status === 'ok' || e.outcome.status === 'unknown'));
    // No request executed twice.
    const ids = applied.map((a) => `${a.session}:${a.seq}`);
    assert.equal(new Set(ids).size, ids.length, `seed ${seed}: a request ran twice`);
    // Per cell: the board applied at least every confirmed pulse and at most confirmed + unknown.
    const onBoard = new Map<string, number>();
    for (const a of applied) onBoard.set(cellKey(a.cell!), (onBoard.get(cellKey(a.cell!)) ?? 0) + 1);
    for (const j of jobs) {
      const k = cellKey(j.cell);
      const c = confirmed.get(k) ?? 0;
      const u = unknown.get(k) ?? 0;
      const b = onBoard.get(k) ?? 0;
      assert.ok(b >= c && b <= c + u, `seed ${seed} cell ${k}: board applied ${b}, host confirmed ${c}, unknown ${u}`);
    }
    const unknownTotal = [...unknown.values()].reduce((a, b) => a + b, 0);
    assert.equal(unknownTotal, linkWarnings, 'every unknown pulse was reported');
    const s = lb.stats;
    return `seed ${seed}: frames ${s.frames}, dropped ${s.dropped}, corrupted ${s.corrupted}, dup ${s.duplicated}, delayed ${s.delayed}, stalled ${s.stalled}, garbage ${s.garbage}, reboots ${s.reboots} (${s.rebootsLosingCells} lost cells); host retransmits ${drv.stats.retransmits}, recoveries ${drv.stats.recoveries}, unknown pulses ${unknownTotal}`;
  }
}

/** Seeds first..first+count-1, five at once (most of a seed's time is spent waiting out timeouts); one summary line each. */
export async function soakSeeds(first: number, count: number): Promise<string[]> {
  const summary: string[] = [];
  for (let s0 = first; s0 < first + count; s0 += 5) summary.push(...(await Promise.all([0, 1, 2, 3, 4].filter((k) => s0 + k < first + count).map((k) => soak(s0 + k)))));
  return summary;
}
