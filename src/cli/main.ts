#!/usr/bin/env node
/** The `rram` command: one entry point, one file per command family under commands/. */
import { Command } from 'commander';
import { registerBoardCommands } from './commands/board-commands.js';
import { registerEmulate } from './commands/emulate.js';
import { registerProgramming } from './commands/programming.js';
import { registerCalibrate } from './commands/calibrate.js';
import { registerInference } from './commands/inference.js';
import { registerServe } from './commands/serve.js';
import { registerInfluxFlush } from './commands/influx-flush.js';
import { registerProgramNet } from './commands/program-net.js';
import { registerConformance } from './commands/conformance.js';
import { registerWvBench } from './commands/wv-bench.js';
import { registerStudy } from './commands/study.js';
import { registerDeviceExperiments } from './commands/device-experiments.js';
import { registerReverify } from './commands/reverify.js';
import { registerWorker } from './commands/worker.js';
import { reportAndExit } from './errors.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { dropOutputWhenClosed } from './closed-output.js';

dropOutputWhenClosed(process.stdout);
dropOutputWhenClosed(process.stderr);

const program = new Command();
program
  .name('rram')
  .description('rram-hil: hardware-in-the-loop controller for 1T1R HfO2 ReRAM arrays')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2));

// An empty value names nothing (a store, a file, a list): refused before any work, as a typo in
// a script (`--out "$DIR"` with DIR unset) would otherwise write somewhere else or be ignored.
// Run metadata may be empty text (repeatable flags such as --note and --tag are lists, not checked here).
const MAY_BE_EMPTY = new Set(['--sample', '--wafer', '--die', '--device-id', '--operator']);
program.hook('preAction', (_root, cmd) => {
  // The command's own options and its parents' (`rram runs prune` reads `runs --store`).
  for (let c: Command | null = cmd; c; c = c.parent) {
    for (const o of c.options) {
      const v = c.getOptionValue(o.attributeName()) as unknown;
      if (o.long && !MAY_BE_EMPTY.has(o.long) && typeof v === 'string' && v.trim() === '') throw new InvalidArgumentError(o.long, v, c.getOptionValueSource(o.attributeName()) === 'default' ? 'must not be empty (its default comes from the environment: RRAM_STORE, RRAM_TOKEN, ...)' : 'must not be empty');
    }
  }
});

registerBoardCommands(program);
registerEmulate(program);
registerProgramming(program);
registerCalibrate(program);
registerInference(program);
registerServe(program);
registerInfluxFlush(program);
registerProgramNet(program);
registerConformance(program);
registerWvBench(program);
registerStudy(program);
registerDeviceExperiments(program);
registerReverify(program);
registerWorker(program);

program.parseAsync(process.argv).catch(reportAndExit);
