/**
 * IGVVA, Incremental Gate Voltage with Verify (Milo et al., IEEE TED 2021; seed 000, Fig. 2a):
 * the top electrode gets a fixed SET pulse (1.2 V) while the gate voltage rises by one step per
 * pulse; after each pulse the cell is read at 0.2 V and the loop stops at the first read at or
 * above the target current. The last step's overshoot therefore sets the spread: 10 mV steps
 * ("IGVVA-10") are tight but slow, 100 mV ("IGVVA-100") fast but broad.
 * Option: a two-sided band [target, target + tolerance]; an overshoot then resets the cell and
 * retries, up to maxRetries times.
 */
import { type Answer, type CellPlan, type Command, Tally, readCurrent } from './commands.js';
import { resetVerifySteps, type ResetVerifyConfig } from './reset-verify.js';

export interface IgvvaConfig {
  target_A: number;
  /** Upper tolerance (A) above target; Infinity = published one-sided algorithm (default). */
  tolerance_A: number;
  vte_V: number;
  vgStart_V: number;
  vgStep_V: number;
  vgStop_V: number;
  maxPulses: number;
  width_s: number;
  vread_V: number;
  /** Retries after an overshoot (two-sided band only). */
  maxRetries: number;
  /** How to reset on overshoot. */
  reset: ResetVerifyConfig;
  /**
   * A climb that reaches the gate limit below its target goes on once at VTE + this (a weak cell's
   * filament grows with the top electrode's overdrive), from `boostBack_V` below the gate limit.
   * 0 or absent: the published algorithm (the cell ends stuck or failed there).
   */
  vteBoost_V?: number;
  boostBack_V?: number;
  /** Run each climb as one on-board WRITE_VERIFY job (a board offering it; program-setup decides). */
  onboard?: boolean;
}

export const IGVVA_DEFAULTS: Omit<IgvvaConfig, 'target_A' | 'reset'> = {
  tolerance_A: Infinity,
  vte_V: 1.2,
  vgStart_V: 0.5,
  vgStep_V: 0.01,
  vgStop_V: 3.3,
  maxPulses: 400,
  width_s: 1e-6,
  vread_V: 0.2,
  maxRetries: 2,
};

export function* igvva(cfg: IgvvaConfig, t: Tally = new Tally()): CellPlan {
  return yield* climbGate(cfg, t, { start_V: cfg.vgStart_V, step: () => cfg.vgStep_V, constantStep: true });
}

/** How a gate climb starts and steps (IGVVA and its variants differ only here). */
export interface ClimbPolicy {
  /** First gate of the climb (a retry after an overshoot starts at cfg.vgStart_V). */
  start_V: number;
  /** Next gate step after a read below the target: `before` and `i` the reads around the last pulse. */
  step: (i: number, before: number) => number;
  /** A first pulse that already reaches the target means the start lay above this cell's crossing: reset and climb from retry_V (once, checked again), else from cfg.vgStart_V. */
  checkFirstPulse?: boolean;
  retry_V?: number;
  /** Called when the climb starts over (after an overshoot reset or a misprediction). */
  restart?: () => void;
  /** The step never changes (IGVVA, igvva-predict): the climb may run on the board (cfg.onboard). */
  constantStep?: boolean;
}

/**
 * The gate climb shared by IGVVA and its variants: SET pulses at the fixed VTE with the gate
 * rising, a verify read after each; stops at the first read in the band; an overshoot above a
 * two-sided band resets and retries; the pulse budget and the gate range end it. With
 * `cfg.onboard` (a board offering WRITE_VERIFY, a constant step, a one-sided band) each climb is
 * one on-board job from the current gate to the gate limit: the same pulses, one request.
 */
export function* climbGate(cfg: IgvvaConfig, t: Tally, policy: ClimbPolicy): CellPlan {
  let i = yield* readCurrent(t, cfg.vread_V);
  let vg = Math.min(cfg.vgStop_V, Math.max(cfg.vgStart_V, policy.start_V));
  let retries = 0;
  let first = policy.checkFirstPulse === true && vg > cfg.vgStart_V + 1e-9;
  let retryAt = policy.retry_V;
  let boosted = false;
  let vte = cfg.vte_V;
  let note: string | undefined;
  // The gate of the last SET really applied (never the next step: a voltage reported is a voltage applied).
  let applied = NaN;
  const outcome = (status: 'ok' | 'failed' | 'stuck', why?: string) => ({ status, pulses: t.pulses, reads: t.reads, final_A: i, finalStepped_V: applied, note: why ?? note });
  const upper = cfg.target_A + cfg.tolerance_A;
  const onboard = cfg.onboard === true && policy.constantStep === true && cfg.tolerance_A === Infinity;
  if (i >= cfg.target_A && i <= upper) return outcome('ok', 'already in band');
  for (;;) {
    if (i > upper) {
      if (retries >= cfg.maxRetries) return outcome('failed', 'overshoot, retries exhausted');
      retries++;
      const r = yield* resetVerifySteps(cfg.reset, t);
      i = r.final_A;
      vg = cfg.vgStart_V;
      first = false;
      policy.restart?.();
      continue;
    }
    if (t.pulses >= cfg.maxPulses) return outcome('failed', 'max pulses');
    if (vg > cfg.vgStop_V + 1e-9) {
      if (!boosted && cfg.vteBoost_V && i >= 0.25 * cfg.target_A) {
        boosted = true;
        vte = round6(cfg.vte_V + cfg.vteBoost_V);
        vg = round6(Math.max(cfg.vgStart_V, cfg.vgStop_V - (cfg.boostBack_V ?? 0.2)));
        note = `gate limit reached below the target: climbed again at VTE ${vte} V`;
        continue;
      }
      return outcome(i < 0.25 * cfg.target_A ? 'stuck' : 'failed', `gate voltage range exhausted at VG ${cfg.vgStop_V} V${boosted ? ` (also at VTE ${vte} V)` : ''} (read ${(i * 1e6).toFixed(2)} uA)`);
    }
    const s = onboard ? yield* boardClimb(cfg, t, vg, vte) : yield* hostStep(cfg, t, vg, vte);
    const before = i;
    i = s.i;
    if (s.applied === s.applied) applied = s.applied;
    if (s.unknown) {
      // The job's outcome is unknown: go on from the cell as read, its climb again from its start (a SET never lowers G).
      first = false;
      if (i >= cfg.target_A) return outcome('ok');
      vg = Math.min(cfg.vgStop_V, Math.max(cfg.vgStart_V, policy.start_V));
      continue;
    }
    if (first && s.firstReached) {
      // The first pulse reached the target: the crossing may lie well below the start.
      const retry = retryAt !== undefined && retryAt > cfg.vgStart_V + 1e-9 && retryAt < vg - 1e-9 ? retryAt : undefined;
      note = retry !== undefined ? 'mispredicted start: climbed again from the retry start' : 'mispredicted start: full search';
      retryAt = undefined;
      first = retry !== undefined;
      const r = yield* resetVerifySteps(cfg.reset, t);
      if (!r.ok) return { status: 'failed', pulses: t.pulses, reads: t.reads, final_A: r.final_A, finalStepped_V: applied, note: 'mispredicted start, and the cell did not reset for the full search' };
      i = r.final_A;
      vg = retry ?? cfg.vgStart_V;
      policy.restart?.();
      continue;
    }
    first = false;
    if (i >= cfg.target_A && i <= upper) return outcome('ok');
    if (i < cfg.target_A) vg = onboard ? round6(cfg.vgStop_V + cfg.vgStep_V) : round6(vg + policy.step(i, before));
  }
}

/** What one step of a climb did: the read after it, the last gate it applied, whether its first pulse reached the target. */
interface StepResult {
  i: number;
  applied: number;
  firstReached: boolean;
  unknown?: boolean;
}

/** One SET at gate vg and its verify read. */
function* hostStep(cfg: IgvvaConfig, t: Tally, vg: number, vte: number): Generator<Command, StepResult, Answer> {
  yield t.pulse<Command>({ op: 'set', vte_V: vte, vg_V: vg, width_s: cfg.width_s });
  const i = yield* readCurrent(t, cfg.vread_V);
  return { i, applied: vg, firstReached: i >= cfg.target_A };
}

/** The rest of the climb as one on-board job, from gate vg to the gate limit; an unknown outcome re-reads the cell. */
function* boardClimb(cfg: IgvvaConfig, t: Tally, vg: number, vte: number): Generator<Command, StepResult, Answer> {
  const a = yield { op: 'write-verify', vte_V: vte, vgStart_V: vg, vgStep_V: cfg.vgStep_V, vgStop_V: cfg.vgStop_V, target_A: cfg.target_A, maxPulses: Math.min(65535, cfg.maxPulses - t.pulses), width_s: cfg.width_s, vread_V: cfg.vread_V };
  if (a === undefined || typeof a === 'number') return { i: yield* readCurrent(t, cfg.vread_V), applied: NaN, firstReached: false, unknown: true };
  t.pulses += a.pulses;
  t.reads += a.pulses + 1;
  return { i: a.final_A, applied: a.pulses ? a.finalStepped_V : NaN, firstReached: a.success && a.pulses === 1 };
}

/** Keeps stepped voltages exact decimals (0.5 + 121 * 0.01 must be 1.71, not 1.7100000000000002). */
export function round6(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}
