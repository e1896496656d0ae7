/**
 * The wired MVM over `rram emulate --pty` (another process that solves the whole array per vector),
 * repeated: a soak (`node dist/bench/run.js mvm-wired-pty [RUNS]`, ~7 s a run) that reports each
 * run's outcome and, on a failure, the emulator's state (SIGUSR2) and the host ports' byte counts.
 * It found the lost reply of docs/array-effects.md (a request dropped while the board computed an
 * MVM: 1 run in 10-25 before the fix, 0 of 80 after).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { Firmware } from '../drivers/emulated/firmware.js';
import { loopback } from '../drivers/emulated/loopback.js';
import { SerialBoard } from '../drivers/serial/serial-board.js';
import { portDebugStates } from '../drivers/serial/transport.js';
import { loadCalibration } from '../calibration/calibration.js';
import { emulatePty } from '../tests/helpers/station.js';
import { quietCalibration } from '../tests/helpers/quiet-calibration.js';
import { callArb, checkCalls } from '../tests/helpers/mvm-calls.js';

async function wiredOnce(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rram-mvm-pty-'));
  const calFile = join(dir, 'quiet.json');
  writeFileSync(calFile, JSON.stringify(quietCalibration()));
  const args = ['--calibration', calFile, '--wire-resistance', '1', '--virtual-time', '--arrays', '2', '--seed', '12'];
  const emu = await emulatePty(args);
  const o = { keepAlive_ms: 0, margin_ms: 250 };
  const board = () => new EmulatedBoard({ seed: 12, arrays: 2, calibration: loadCalibration(calFile), mvm: { wire_ohm: 1 } });
  const pty = await SerialBoard.open({ path: emu.path, ...o });
  const local = await SerialBoard.open({ transport: loopback(new Firmware(board(), () => undefined, { time: 'virtual' })).factory, ...o });
  const p = { pty, local, diag: () => `host link ${JSON.stringify(pty.stats)}, host decoder ${JSON.stringify((pty.link as unknown as { decoder: { stats: object } }).decoder.stats)}, emulator stderr: ${JSON.stringify(emu.err())}` };
  try {
    // The cases that stalled or timed out before: many vectors of a 1 x 1 tile, whole-array replies.
    await checkCalls(p, [{ tile: { array: 0, row0: 5, col0: 9, rows: 1, cols: 1 }, vectors: 400, seed: 3 }], 'wires, 1 x 1 x 400');
    await checkCalls(p, [{ tile: { array: 1, row0: 0, col0: 0, rows: 64, cols: 64 }, vectors: 40, seed: 4 }, { tile: { array: 0, row0: 0, col0: 2, rows: 49, cols: 62 }, vectors: 60, seed: 5 }], 'wires, full tiles');
    // A request computing for a second while a large one (16 kB) arrives, and the reverse.
    await checkCalls(p, [{ tile: { array: 0, row0: 3, col0: 3, rows: 1, cols: 1 }, vectors: 900, seed: 8 }, { tile: { array: 1, row0: 0, col0: 0, rows: 64, cols: 64 }, vectors: 63, seed: 9 }], 'wires, a large request behind a long computation');
    await checkCalls(p, [{ tile: { array: 1, row0: 0, col0: 0, rows: 64, cols: 64 }, vectors: 63, seed: 6 }, { tile: { array: 0, row0: 7, col0: 7, rows: 1, cols: 1 }, vectors: 900, seed: 7 }], 'wires, a long computation behind a large reply');
    let n = 0;
    await fc.assert(fc.asyncProperty(fc.array(callArb(80), { minLength: 1, maxLength: 2 }), async (calls) => checkCalls(p, calls, `wires, case ${++n}`)), { numRuns: 6, seed: 2802, endOnFailure: true });
  } catch (e) {
    // What the emulator was doing when the reply did not come.
    emu.proc.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, 500));
    throw new Error(`${(e as Error).message.slice(0, 1500)}; ${emu.err().split('\n').filter((l) => l.startsWith('rram emulate state')).join(' ')}; host ports ${JSON.stringify(portDebugStates())}`);
  } finally {
    await pty.close().catch(() => undefined);
    await local.close().catch(() => undefined);
    emu.proc.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function mvmWiredPtyBench(runs = 20): Promise<{ runs: number; failed: number; failures: string[]; seconds_per_run: number }> {
  const failures: string[] = [];
  const t0 = performance.now();
  for (let k = 0; k < runs; k++) {
    try {
      await wiredOnce();
    } catch (e) {
      failures.push(`run ${k + 1}: ${(e as Error).message.slice(0, 2000)}`);
    }
  }
  return { runs, failed: failures.length, failures, seconds_per_run: +((performance.now() - t0) / 1000 / runs).toFixed(1) };
}
