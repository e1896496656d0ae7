/**
 * What a user can set about write-verify programming (CLI flags, API bodies). Every range left
 * unset is derived from the board's limits and its calibration by program-setup.ts, which also
 * refuses a run that cannot work before its first pulse.
 */
import type { Algo } from '../plans/program-cell.js';
import type { ReverifySpec } from './reverify.js';

export interface ProgramOptions {
  algo: Algo;
  /** Step of the stepped amplitude (VG for IGVVA, VTE for ISPVA); default 10 mV / 100 mV. */
  step_V?: number;
  /** Two-sided band: upper tolerance above the target (A). Default none (published algorithm). */
  tolerance_A?: number;
  maxPulses?: number;
  /** SET / RESET pulse width; default 1 us. */
  width_s?: number;
  vread_V?: number;
  /** IGVVA: fixed top-electrode amplitude (default 1.2 V), first and last gate voltage. */
  vte_V?: number;
  vgStart_V?: number;
  vgMax_V?: number;
  maxRetries?: number;
  /** Forming: gate, first and last top-electrode amplitude, and how a formed cell is recognised. */
  formVg_V?: number;
  formVteStart_V?: number;
  formVteMax_V?: number;
  formJumpRatio?: number;
  formJumpMin_A?: number;
  formedAbove_A?: number;
  /** RESET: gate voltage and last source-line amplitude. */
  resetVg_V?: number;
  resetVslMax_V?: number;
  /** ISPVA: last top-electrode amplitude; gate per level (else from the calibration). */
  ispvaVteMax_V?: number;
  ispvaGates_V?: number[];
  /** LRS targets span this range (A); default 10-45 uA, capped at what the calibration says the gate limit reaches. */
  lrsRange_A?: [number, number];
  /** Relaxation-aware re-verify: wait, re-read, re-program cells that left their band (reverify.ts). */
  reverify?: ReverifySpec;
  /** igvva-predict: start where a cell this many sigmas stronger than nominal reaches the target (default 3). */
  predictSigmas?: number;
  /**
   * Forming and reset-verify before write-verify: 'safe' (default: forming from below nearly every
   * cell's forming voltage, RESET from 0.8 V in 0.1 V steps) or 'fast' (from the calibration:
   * forming from 1 sigma below the median forming voltage, RESET from where most cells already
   * reset, in 0.15 V steps).
   */
  prep?: 'safe' | 'fast';
  /**
   * IGVVA and igvva-predict climbs as on-board WRITE_VERIFY jobs: 'auto' (default: when the board
   * offers it and is behind a link, where each climb's round trips cost), 'on' (refused on a board
   * without it), 'off' (always pulse by pulse from the host).
   */
  onboardVerify?: 'auto' | 'on' | 'off';
  /** HRS ceiling (A); default 2 uA, raised when the calibration's HRS reads higher. */
  hrsMax_A?: number;
  /**
   * Cells the store's history shows programmed on this board (board-history.ts): they are not
   * asked whether they hold a filament, and never formed again. Not a setting: the CLI and the
   * station fill it in.
   */
  knownFormed?: ReadonlySet<string>;
}
