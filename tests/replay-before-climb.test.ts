/**
 * The calibration fit's cheaper replay for its RESET/HRS/forming stage (issue 26) runs each cell
 * only up to its climb. It may skip work only: for every cell, seed and level the commands it
 * sends are the full programming's up to the climb, and the pulses it reports are the statistic
 * the fit takes from the board (pulses before the climb), so the stage fits the same numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { loadCalibration } from '../calibration/calibration.js';
import { RunContext } from '../src/engine/run-context.js';
import { characterize } from '../src/procedures/characterize.js';
import { programCell, programCellBeforeClimb, type ProgramConfig } from '../src/plans/program-cell.js';
import type { CellPlan, Command } from '../src/plans/commands.js';
import { replayCharacterize, reviveConfig, runInEngineOrder } from '../src/calibrate/simulate.js';
import { characterizeStatDefs, trimmedMean } from '../src/calibrate/replay-stats.js';

function* recorded(plan: CellPlan, log: Command[]): CellPlan {
  let n = plan.next();
  while (!n.done) {
    log.push(n.value);
    n = plan.next(yield n.value);
  }
  return n.value;
}

test('a replay up to the climb sends the full programming up to the climb, and its pulses are the pulses before the climb', async () => {
  const cal = loadCalibration();
  const d = await characterize(new EmulatedBoard({ seed: 3, calibration: cal }), new RunContext('c'), { algo: 'igvva', levels: 4, cellsPerLevel: 8, reads: 1, relax_s: [], seed: 3, calibration: cal });
  const cfg = reviveConfig((d.params as { config: ProgramConfig }).config);
  const specs = d.levels.map((l) => l.spec);
  const climbPulses = (vg: number) => Math.round((vg - cfg.igvva.vgStart_V) / cfg.igvva.vgStep_V) + 1;
  let climbs = 0;
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 0, max: specs.length - 1 }), fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 63 }), (seed, k, row, col) => {
      const s = specs[k];
      const cell = { array: 0, row, col };
      const run = (p: typeof programCell) => {
        const log: Command[] = [];
        const b = new EmulatedBoard({ seed, calibration: cal });
        const out = runInEngineOrder(b, [{ cell, plan: () => recorded(p(cfg, { level: s.level, target_A: s.target_A }), log) }], 1).get(cell)!;
        return { log, out };
      };
      const full = run(programCell);
      const short = run(programCellBeforeClimb);
      assert.deepEqual(short.log, full.log.slice(0, short.log.length), 'the short plan is a prefix of the full one');
      if (s.kind === 'hrs' || full.out.status !== 'ok') {
        // Nothing to skip (the HRS level, or a cell that failed before its climb would have begun).
        if (s.kind === 'hrs' || short.log.length === full.log.length) assert.deepEqual(short.out, full.out);
        return;
      }
      climbs++;
      assert.ok(short.log.length < full.log.length, 'an LRS cell skips its climb');
      assert.equal(short.out.pulses, full.out.pulses - climbPulses(full.out.finalStepped_V), 'pulses before the climb');
    }),
    { numRuns: 60, seed: 26 },
  );
  assert.ok(climbs >= 20, `LRS cells checked: ${climbs}`);
  // The statistic the fit takes: the same on a full replay's cells and on the short replay's.
  const defs = characterizeStatDefs(d.levels.map((l) => ({ spec: l.spec, cells: l.cells })), cfg, 1, [], 4).filter((x) => x.name.endsWith('pulses before the climb mean'));
  assert.ok(defs.length >= 2);
  const short = replayCharacterize(cal, d, 1, 3, { beforeClimb: true });
  for (const def of defs) {
    const cells = short[def.level];
    assert.ok(cells.every((c) => c.status !== 'ok' || typeof c.preClimbPulses === 'number'));
    assert.equal(def.of(cells), trimmedMean(cells.filter((c) => c.status === 'ok').map((c) => c.preClimbPulses!)), def.name);
  }
});
