/**
 * The write-verify flags of every command that programs cells (characterize, program,
 * program-net), turned into ProgramOptions. Unset ranges are derived from the board's limits and
 * calibration (src/procedures/program-setup.ts); `--help` says so for each.
 */
import { ALGOS, type Algo } from '../plans/program-cell.js';
import { parseReverify, type ReverifySpec } from '../procedures/reverify.js';
import { Command as CommandClass, type Command } from 'commander';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { ProgramOptions } from '../procedures/program-config.js';
import { current, duration, num } from './parse.js';
import { listItems, numberList } from '../io/number-table.js';

export interface ProgramFlags {
  algo: string;
  reverify?: ReverifySpec;
  step?: number;
  levels: number;
  tolerance?: number;
  maxPulses?: number;
  width?: number;
  vread?: number;
  vte?: number;
  vgStart?: number;
  vgMax?: number;
  formVg?: number;
  formVteStart?: number;
  formVteMax?: number;
  formJump?: number;
  formJumpMin?: number;
  formedAbove?: number;
  resetVg?: number;
  resetVslMax?: number;
  ispvaVteMax?: number;
  ispvaVg?: string;
  lrsRange?: [number, number];
  hrsMax?: number;
  minSuccess: number;
  onUnknownOutcome: string;
  prep: string;
  predictSigmas?: number;
  onboardVerify: string;
}

function currentRange(flag: string) {
  return (raw: string): [number, number] => {
    const parts = listItems(flag, raw);
    if (parts.length !== 2) throw new InvalidArgumentError(flag, raw, 'expected two currents LOW,HIGH like 10uA,30uA');
    const [a, b] = parts.map((p) => current(flag)(p));
    if (!(b >= a)) throw new InvalidArgumentError(flag, raw, 'HIGH must not be below LOW');
    return [a, b];
  };
}

export function addProgramFlags(c: Command): Command {
  const V = (f: string) => num(f, { min: 0, max: 20 });
  return c
    .option('--algo <name>', `${ALGOS.join(' | ')} (igvva-predict starts near the calibration's predicted gate; igvva-adaptive climbs in coarse steps far below the target; bidir: SET and partial RESET into [target, target + tolerance]; radar: one SET above the band, then partial RESETs down into it; identical-pulse: the same SET or RESET pulse until in the band)`, 'igvva')
    .option('--prep <how>', 'forming and reset-verify before write-verify: safe (from below nearly every cell\'s forming voltage; RESET from 0.8 V in 0.1 V steps) | fast (from the calibration: forming from 1 sigma below the median, RESET from where most cells reset, 0.15 V steps)', 'safe')
    .option('--onboard-verify <when>', 'IGVVA / igvva-predict climbs as on-board WRITE_VERIFY jobs: auto (when the board offers it behind a serial link) | on | off', 'auto')
    .option('--predict-sigmas <k>', 'igvva-predict: start where a cell k device-to-device sigmas stronger than nominal reaches the target (default 3; a misprediction climbs again from 2k, then fully)', num('--predict-sigmas', { min: 0, max: 10 }))
    .option('--step <V>', 'step of the stepped voltage (IGVVA: VG, default 0.01 = IGVVA-10; ISPVA: VTE, default 0.1); a multiple of the board\'s DAC step', num('--step', { min: 0.0001, max: 1 }))
    .option('--levels <N>', 'levels in total: HRS + N-1 LRS levels over the LRS range', num('--levels', { min: 2, max: 8, int: true }), 8)
    .option('--lrs-range <lo,hi>', 'LRS targets span this read-current range (default 10uA,45uA, the top lowered to what the calibration says vg-max reaches)', currentRange('--lrs-range'))
    .option('--hrs-max <I>', 'HRS ceiling (default 2uA, raised when the calibration\'s HRS reads higher)', current('--hrs-max'))
    .option('--tolerance <I>', 'two-sided band: reset and retry above target + tolerance (e.g. 2uA); default off', current('--tolerance'))
    .option('--max-pulses <n>', 'most SET pulses per write-verify loop (default IGVVA 400, ISPVA 60)', num('--max-pulses', { min: 1, int: true }))
    .option('--width <s>', 'SET/RESET pulse width (default 1e-6, within the board\'s widths)', num('--width', { min: 0 }))
    .option('--vread <V>', 'read voltage (default 0.2, at most the board\'s vread_max)', V('--vread'))
    .option('--vte <V>', 'IGVVA: fixed top-electrode amplitude (default 1.2)', V('--vte'))
    .option('--vg-start <V>', 'IGVVA: first gate voltage (default from the calibration\'s transfer threshold, else 0.5)', V('--vg-start'))
    .option('--vg-max <V>', 'IGVVA: last gate voltage (default the board\'s vg_max)', V('--vg-max'))
    .option('--form-vg <V>', 'forming gate voltage (default 1.6, at most the board\'s vg_max)', V('--form-vg'))
    .option('--form-vte-start <V>', 'first forming amplitude (default from the calibration\'s forming voltages, else 2.4)', V('--form-vte-start'))
    .option('--form-vte-max <V>', 'last forming amplitude (default 4.0, at most the board\'s vte_max)', V('--form-vte-max'))
    .option('--form-jump <ratio>', 'formed when the read exceeds the cell\'s pristine read by this factor (default 3) ...', num('--form-jump', { min: 1.01 }))
    .option('--form-jump-min <I>', '... and by at least this current (default 0.3 x the lowest LRS target)', current('--form-jump-min'))
    .option('--formed-above <I>', 'a first read above this means the cell was formed before (default 0.5 x the lowest LRS target)', current('--formed-above'))
    .option('--reset-vg <V>', 'RESET gate voltage (default 2.7, at most the board\'s vg_max)', V('--reset-vg'))
    .option('--reset-vsl-max <V>', 'last RESET source-line amplitude (default 2.8, at most the board\'s vsl_max)', V('--reset-vsl-max'))
    .option('--ispva-vte-max <V>', 'ISPVA: last top-electrode amplitude (default 2.5, at most the board\'s vte_max)', V('--ispva-vte-max'))
    .option('--ispva-vg <list>', 'ISPVA: gate voltage per level, comma-separated (default: from the board\'s calibration; required without one)')
    .option('--reverify <T[xN]>', 'relaxation-aware re-verify: T after programming re-read every programmed cell and program again those outside the inner half of their level\'s band; N passes (default 1), e.g. 60s or 60sx3', (raw: string) => parseReverify('--reverify', raw, duration('--reverify')))
    .option('--min-success <f>', 'below this share of programmed cells the command says why and exits 3 (after storing everything); the preflight refuses runs predicted below it', num('--min-success', { min: 0, max: 1 }), 0.95)
    .option('--on-unknown-outcome <policy>', 're-verify (a pulse whose outcome is unknown after a link loss or reboot: the plan re-reads the cell and goes on) | stop (the cell ends as unknown)', 're-verify');
}

/** The attribute names of the write-verify flags (what a station's characterize request carries of them: all). */
export const PROGRAM_FLAGS: readonly string[] = addProgramFlags(new CommandClass()).options.map((o) => o.attributeName());

export function programOptions(f: ProgramFlags): ProgramOptions & { minSuccess: number } {
  if (!(ALGOS as readonly string[]).includes(f.algo)) throw new InvalidArgumentError('--algo', f.algo, `must be one of ${ALGOS.join(', ')}`);
  if (f.onUnknownOutcome !== 're-verify' && f.onUnknownOutcome !== 'stop') throw new InvalidArgumentError('--on-unknown-outcome', f.onUnknownOutcome, 'must be re-verify or stop');
  if (f.prep !== 'safe' && f.prep !== 'fast') throw new InvalidArgumentError('--prep', f.prep, 'must be safe or fast');
  if (!['auto', 'on', 'off'].includes(f.onboardVerify)) throw new InvalidArgumentError('--onboard-verify', f.onboardVerify, 'must be auto, on or off');
  let ispvaGates_V: number[] | undefined;
  if (f.ispvaVg) {
    ispvaGates_V = numberList('--ispva-vg', f.ispvaVg);
    if (ispvaGates_V.length !== f.levels || ispvaGates_V.some((x) => x < 0)) throw new InvalidArgumentError('--ispva-vg', f.ispvaVg, `needs ${f.levels} non-negative numbers (one per level, the HRS's first)`);
  }
  return {
    algo: f.algo as Algo,
    reverify: f.reverify,
    step_V: f.step,
    tolerance_A: f.tolerance,
    maxPulses: f.maxPulses,
    width_s: f.width,
    vread_V: f.vread,
    vte_V: f.vte,
    vgStart_V: f.vgStart,
    vgMax_V: f.vgMax,
    formVg_V: f.formVg,
    formVteStart_V: f.formVteStart,
    formVteMax_V: f.formVteMax,
    formJumpRatio: f.formJump,
    formJumpMin_A: f.formJumpMin,
    formedAbove_A: f.formedAbove,
    resetVg_V: f.resetVg,
    resetVslMax_V: f.resetVslMax,
    ispvaVteMax_V: f.ispvaVteMax,
    ispvaGates_V,
    lrsRange_A: f.lrsRange,
    hrsMax_A: f.hrsMax,
    minSuccess: f.minSuccess,
    // Recorded only when not the default, so runs recorded before these flags resume unchanged.
    ...(f.prep === 'fast' ? { prep: 'fast' as const } : {}),
    ...(f.predictSigmas !== undefined ? { predictSigmas: f.predictSigmas } : {}),
    ...(f.onboardVerify !== 'auto' ? { onboardVerify: f.onboardVerify as 'on' | 'off' } : {}),
  };
}
