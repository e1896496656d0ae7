/** `rram emulate --pty`: the emulated board behind a pseudo-terminal, until stopped. */
import { listItems } from '../../io/number-table.js';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { EmulatedBoard } from '../../../drivers/emulated/emulated-board.js';
import { FIRMWARE_BUGS, type FirmwareBug } from '../../../drivers/emulated/firmware.js';
import { loadCalibration } from '../../../calibration/calibration.js';
import { Feature } from '../../../drivers/protocol/messages.js';
import { limitsArg, num, type LimitSpec } from '../parse.js';

export function registerEmulate(program: Command): void {
  program
    .command('emulate')
    .description('serve the emulated board over a pseudo-terminal (needs socat); prints the device path')
    .option('--pty', 'serve on a pseudo-terminal (the only transport so far)')
    .option('--baud <n>', 'throttle replies like a UART at this baud rate (link model); default: pty speed', num('--baud', { min: 1200, int: true }))
    .option('--seed <n>', 'seed', num('--seed', { min: 0, max: 4294967295, int: true }), 1)
    .option('--arrays <n>', 'number of 64x64 arrays', num('--arrays', { min: 1, max: 16, int: true }), 2)
    .option('--calibration <file>', 'device-model calibration JSON')
    .option('--limits <k=v,...>', 'board limits reported in HELLO and enforced: vte_max, vsl_max, vg_max, vread_max (V), width_min, width_max (s), dac_step (V)', limitsArg('--limits'))
    .option('--virtual-time', 'WAIT advances the emulated clock at once instead of really waiting (fast tests; not protocol-conformant)')
    .option('--noise <rate>', 'line noise: probability per byte (both directions) of a bit flip, a drop, a doubled byte or a garbage burst, e.g. 1e-4', num('--noise', { min: 0, max: 0.1 }))
    .option('--noise-seed <n>', 'seed of the line noise', num('--noise-seed', { min: 0, int: true }), 1)
    .option('--window <n>', 'the window W the firmware advertises', num('--window', { min: 1, max: 32767, int: true }))
    .option('--bug <list>', `deliberately broken firmware for conformance practice, comma-separated: ${Object.keys(FIRMWARE_BUGS).join(', ')}`)
    .option('--no-mvm', 'do not offer the analog MVM (HELLO feature bit 2 clear: MVM answered UNSUPPORTED)')
    .option('--wire-resistance <ohm>', "MVM: resistance of one wire segment per cell along rows and columns (default: the calibration's wire_resistance_ohm, 0 = ideal)", num('--wire-resistance', { min: 0, max: 1000 }))
    .option('--adc-bits <n>', "MVM: the column ADC's bits (0 = none; default: the calibration's mvm_adc_bits)", num('--adc-bits', { min: 0, max: 24, int: true }))
    .option('--adc-full-scale <A>', "MVM: the column ADC's full scale in amperes (default: the calibration's mvm_adc_full_scale_A)", num('--adc-full-scale', { min: 1e-9, max: 1 }))
    .option('--json', 'print {"path": ...} as JSON')
    .action(async (o: { pty?: boolean; baud?: number; seed: number; arrays: number; calibration?: string; limits?: LimitSpec; virtualTime?: boolean; json?: boolean; noise?: number; noiseSeed: number; window?: number; bug?: string; mvm: boolean; wireResistance?: number; adcBits?: number; adcFullScale?: number }) => {
      if (!o.pty) throw new InvalidArgumentError('--pty', undefined, 'say --pty (serve on a pseudo-terminal)');
      const bugs = o.bug ? listItems('--bug', o.bug) : [];
      for (const b of bugs) if (!(b in FIRMWARE_BUGS)) throw new InvalidArgumentError('--bug', b, `unknown deviation; known: ${Object.keys(FIRMWARE_BUGS).join(', ')}`);
      const { dacStep_V, ...limits } = o.limits ?? {};
      const mvm = { ...(o.wireResistance === undefined ? {} : { wire_ohm: o.wireResistance }), ...(o.adcBits === undefined ? {} : { adcBits: o.adcBits }), ...(o.adcFullScale === undefined ? {} : { adcFullScale_A: o.adcFullScale }) };
      const board = new EmulatedBoard({ seed: o.seed, arrays: o.arrays, calibration: loadCalibration(o.calibration), limits, dacStep_V, mvm });
      const features = Feature.WRITE_VERIFY | Feature.COUNTERS | (o.mvm ? Feature.MVM : 0);
      const { PtyServer } = await import('../../../drivers/emulated/pty-server.js'); // serialport loads only here
      const srv = new PtyServer(board, { baud: o.baud, noise: o.noise ? { rate: o.noise, seed: o.noiseSeed } : undefined, firmware: { time: o.virtualTime ? 'virtual' : 'real', window: o.window, bugs: bugs as FirmwareBug[], features } });
      await srv.start();
      if (o.json) process.stdout.write(JSON.stringify({ path: srv.hostPath, baud: o.baud ?? null, board: board.info() }) + '\n');
      else process.stdout.write(`${srv.hostPath}\n`);
      const stop = async () => {
        // A port close that never calls back (a write pending on a pty whose other end is gone) must
        // not keep a stopped emulator alive: whatever is left is the OS's to free after 3 s.
        setTimeout(() => process.exit(0), 3000).unref();
        await srv.stop().catch((e: Error) => process.stderr.write(`rram emulate: stopping: ${e.message}\n`));
        process.exit(0);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      // A diagnosis of a board that seems stuck: what the executor and the line are doing.
      process.on('SIGUSR2', () => process.stderr.write(`rram emulate state: ${JSON.stringify(srv.debugState())}\n`));
      await new Promise(() => undefined);
    });
}
