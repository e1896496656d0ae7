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
