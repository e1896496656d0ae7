/**
 * Seeded fault-injection soak (issue 12, tests/helpers/serial-soak.ts): the real run engine and
 * serial driver program two whole arrays through the real emulator firmware while the link drops,
 * corrupts, duplicates, delays and stalls frames, injects garbage, and the firmware reboots (half of
 * the reboots losing every cell). Over 5 seeds in CI (one batch of five at once; the full 20 seeds:
 * `node dist/bench/run.js serial-soak`): no request executed twice, every cell done or reported
 * unknown, no hang, no crash, and the board's own pulse count per cell within what the host was told.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { soakSeeds } from './helpers/serial-soak.js';

const SEEDS = 5;

test(`soak: ${SEEDS} seeds x 8192 cells under seeded link faults and firmware reboots`, async () => {
  const summary = await soakSeeds(1, SEEDS);
  // Faults really happened across the seeds.
  assert.ok(summary.some((l) => !/reboots 0 /.test(l)));
  process.stdout.write(summary.map((l) => `# ${l}\n`).join(''));
});
