/**
 * The twin's time per board operation, from how long the board's cells waited between their last
 * verify and the read-back (CellRecord.readbackDelay_s). The fit replays the run on the emulator,
 * whose cells relax by its virtual clock: each operation advances it by op_overhead_s. A board
 * behind a serial link takes ~1 ms per operation where the emulator's default takes 5 us, so
 * without this the replay read its cells back 150x sooner after their verify than the board did,
 * and a fast relaxation (most of it within ~0.2 s) looked half done in the twin and complete on
 * the board: the fit could only bend the fast relaxation's time constant and spreads to make up
 * for it (foreign-v2, characterize alone: worst KS 0.28-0.35 without, 0.17-0.25 with the board's
 * timing; docs/benchmarks.md).
 *
 * The per-operation time is moved until the replay's median delay is the board's: scaled once,
 * then by secant steps (the delays are a straight line in it, offset by the pulse widths).
 */
import type { LevelCdfDataset } from '../procedures/characterize.js';
import type { Calibration } from '../../calibration/calibration.js';
import type { ReplayCell } from './simulate.js';
import type { SimPool } from './sim-pool.js';
import type { CharacterizeDesign } from './sim-tasks.js';
import type { ModelState } from './characterize-params.js';
import type { ParamRecord } from './param-record.js';
import { median, seedOf } from './numeric.js';

/** Fewer timed cells than this, or than this share of the programmed ones: the run's timing is not used (the base value is kept). */
export const MIN_TIMED_CELLS = 20;
const TIMED_SHARE = 0.95;
const MAX_ROUNDS = 5;
/** Where the scaling stops: the replay's median within 1 % of the board's. */
const CLOSE = 0.01;
const LO_S = 1e-8;
const HI_S = 1;

export interface TimingInput {
  data: LevelCdfDataset;
  keep: (i: number) => boolean;
  runId: string;
  state: ModelState;
  pool: Pick<SimPool, 'run'>;
  calibrate: (s: ModelState) => Calibration;
  design: CharacterizeDesign;
  seed: number;
}

/** The board's read-back delays of the kept, programmed cells (s). */
export function boardDelays(d: LevelCdfDataset, keep: (i: number) => boolean): number[] {
  return d.levels.flatMap((l) => l.cells.filter((c, i) => keep(i) && c.status === 'ok' && Number.isFinite(c.readbackDelay_s) && c.readbackDelay_s! >= 0).map((c) => c.readbackDelay_s!));
}

const replayDelays = (parts: ReplayCell[][]) => parts.flatMap((l) => l.filter((c) => c.status === 'ok' && Number.isFinite(c.readbackDelay_s)).map((c) => c.readbackDelay_s!));

/**
 * Sets `state.p.op_overhead_s` so that the replay waits as long as the board did between verify
 * and read-back; its record, with the replays it took. Undefined, with the value as it was, when
 * the run did not time (nearly) all its programmed cells: an emulator behind a link, a file from
 * before the delays, a resumed run (only its last cells timed), a run with re-verify passes, holds
 * or link outages (time the replay does not simulate: characterize.ts records none then).
 *
 * The delays follow the run's schedule, not independent draws: their noise is the replay's own
 * from one seed to another (two replays per round, side by side), the board being one more such
 * draw. A first round within two of those errors confirms the starting value, which stays.
 */
export async function fitTiming(o: TimingInput): Promise<{ record: ParamRecord; runs: number } | undefined> {
  const board = boardDelays(o.data, o.keep);
  const programmed = o.data.levels.reduce((n, l) => n + l.cells.filter((c, i) => o.keep(i) && c.status === 'ok').length, 0);
  if (board.length < MIN_TIMED_CELLS || board.length < TIMED_SHARE * programmed) return undefined;
  const target = median(board);
  if (!(target > 0)) return undefined;
  const p = o.state.p;
  const start = p.op_overhead_s;
  const seeds = [o.seed, seedOf([o.seed, 'timing'], 17)];
  let runs = 0;
  let sim = NaN;
  let se = NaN;
  let outcome: 'confirmed' | 'scaled' | 'at-bound' | 'not converged' = 'not converged';
  let last: { x: number; sim: number } | undefined;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const parts = await Promise.all(seeds.map((seed) => o.pool.run({ kind: 'replay', cal: o.calibrate(o.state), design: o.design, factor: 1, seed, programmingOnly: false, beforeClimb: false })));
    runs += seeds.length;
    const m = parts.map((x) => replayDelays(x as ReplayCell[][]));
    if (m.some((d) => d.length < MIN_TIMED_CELLS)) {
      p.op_overhead_s = start;
      return undefined;
    }
    const [m1, m2] = m.map(median);
    sim = (m1 + m2) / 2;
    // One draw's spread from the two seeds (at least 0.5 %); the board's draw against the two replays' mean.
    const sd = Math.max(Math.abs(m1 - m2) / Math.SQRT2, 0.005 * target);
    se = sd * Math.sqrt(1.5);
    // (Also when it is already within the scaling's own stopping distance: nothing was scaled.)
    if (round === 0 && Math.abs(sim - target) <= Math.max(2 * se, CLOSE * target)) {
      outcome = 'confirmed';
      break;
    }
    if (Math.abs(sim - target) <= Math.max(se, CLOSE * target)) {
      outcome = 'scaled';
      break;
    }
    if (round === MAX_ROUNDS - 1) break; // the last value replayed: its evidence is its own
    // The delay is the operations' time plus what does not scale (pulse widths, read times): a
    // straight line in the time per operation. The first step scales (no slope known yet), the
    // next ones go along the line through the last two rounds (a secant step), when it rises.
    const slope = last ? (sim - last.sim) / (p.op_overhead_s - last.x) : NaN;
    const guess = slope > 0 && Number.isFinite(slope) ? p.op_overhead_s + (target - sim) / slope : p.op_overhead_s * (target / Math.max(sim, 1e-12));
    last = { x: p.op_overhead_s, sim };
    const next = Math.min(HI_S, Math.max(LO_S, guess > 0 ? guess : p.op_overhead_s * (target / Math.max(sim, 1e-12))));
    if (next === p.op_overhead_s) {
      outcome = 'at-bound';
      break;
    }
    p.op_overhead_s = next;
  }
  const what = `between a cell's last verify and its read-back (median of ${board.length} cells: board ${target.toPrecision(3)} s, replay ${sim.toPrecision(3)} s +- ${se.toPrecision(2)} s over two seeds)`;
  const method =
    outcome === 'confirmed'
      ? `the run ${o.runId} replayed on the emulator at this time per board operation waits as long as the board did ${what}, within two errors: kept at it`
      : outcome === 'not converged'
        ? `time per board operation moved for ${MAX_ROUNDS} rounds towards the run ${o.runId}'s wait ${what}: not converged, the error says how far`
        : `time per board operation moved (scaled once, then secant steps) until the run ${o.runId} replayed on the emulator waits as long as the board did ${what}`;
  // Its relative error is the median delay's, or how far the last round still was.
  const rel = Math.max(se, Math.abs(sim - target)) / target;
  const record: ParamRecord =
    outcome === 'at-bound'
      ? { value: p.op_overhead_s, unit: 's', status: 'at-bound', method: `${method}; at its bound ${p.op_overhead_s} s`, runs: [o.runId] }
      : {
          value: p.op_overhead_s,
          unit: 's',
          status: 'fitted',
          method,
          runs: [o.runId],
          uncertainty: p.op_overhead_s * Math.max(rel, 1e-3),
          evidence: [{ statistic: 'median delay from last verify to read-back', measured: target, model: sim, se, unit: 's' }],
        };
  return { record, runs };
}
