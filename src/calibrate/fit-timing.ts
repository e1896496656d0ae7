/**
 * The twin's time per board operation, from how long the board's cells waited between their last
 * verify and the read-back (CellRecord.readbackDelay_s). The fit replays the run on the emulator,
 * whose cells relax by its virtual clock: each operation advances it by op_overhead_s. A board
 * behind a serial link takes ~1 ms per operation where the emulator's default takes 5 us, so
 * without this the replay read its cells back 150x sooner after their verify than the board did,
 * and a fast relaxation (most of it within ~0.2 s) looked half done in the twin and complete on
 * the board: the fit could only bend the fast relaxation's time constant and spreads to make up
 * for it (foreign-v2: worst KS 0.24 from sweep + characterize; 0.17 with the board's timing).
 *
 * The per-operation time is scaled until the replay's median delay is the board's (the delays
 * scale with it but for the pulse widths, so a few rounds converge); a run whose delays already
 * match the starting value within two errors confirms it and leaves it unchanged.
 */
import type { LevelCdfDataset } from '../procedures/characterize.js';
import type { Calibration } from '../../calibration/calibration.js';
import type { ReplayCell } from './simulate.js';
import type { SimPool } from './sim-pool.js';
import type { CharacterizeDesign } from './sim-tasks.js';
import type { ModelState } from './characterize-params.js';
import type { ParamRecord } from './param-record.js';

/** Fewer timed cells than this: the run's timing is not used (the base value is kept). */
export const MIN_TIMED_CELLS = 20;
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
  pool: SimPool;
  calibrate: (s: ModelState) => Calibration;
  design: CharacterizeDesign;
  seed: number;
}

/** The board's read-back delays of the kept, programmed cells (s). */
export function boardDelays(d: LevelCdfDataset, keep: (i: number) => boolean): number[] {
  return d.levels.flatMap((l) => l.cells.filter((c, i) => keep(i) && c.status === 'ok' && Number.isFinite(c.readbackDelay_s) && c.readbackDelay_s! >= 0).map((c) => c.readbackDelay_s!));
}

export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Standard error of a sample median from its interquartile range (normal-equivalent spread). */
function medianSe(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const q = (f: number) => s[Math.min(s.length - 1, Math.floor(f * s.length))];
  return (1.2533 * (q(0.75) - q(0.25))) / 1.349 / Math.sqrt(s.length);
}

const replayDelays = (parts: ReplayCell[][]) => parts.flatMap((l) => l.filter((c) => c.status === 'ok' && Number.isFinite(c.readbackDelay_s)).map((c) => c.readbackDelay_s!));

/**
 * Sets `state.p.op_overhead_s` so that the replay waits as long as the board did between verify
 * and read-back; its record, with the replays it took. Undefined (nothing changed) when the run
 * timed too few cells: a run of an emulator behind a link, or one recorded before the delays were.
 */
export async function fitTiming(o: TimingInput): Promise<{ record: ParamRecord; runs: number } | undefined> {
  const board = boardDelays(o.data, o.keep);
  if (board.length < MIN_TIMED_CELLS) return undefined;
  const target = median(board);
  const p = o.state.p;
  let runs = 0;
  let sim = NaN;
  let atBound = false;
  let confirmed = false;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const parts = await o.pool.run({ kind: 'replay', cal: o.calibrate(o.state), design: o.design, factor: 1, seed: o.seed, programmingOnly: false, beforeClimb: false });
    runs++;
    const d = replayDelays(parts as ReplayCell[][]);
    if (d.length < MIN_TIMED_CELLS) return undefined;
    sim = median(d);
    const ratio = target / Math.max(sim, 1e-12);
    // Within two errors of the board at the value it started from: the run confirms that value,
    // and it is left as it is (moving it by its noise would only shift every later replay).
    if (round === 0 && Math.abs(sim - target) <= 2 * Math.hypot(medianSe(board), medianSe(d))) {
      confirmed = true;
      break;
    }
    if (Math.abs(ratio - 1) < CLOSE) break;
    const next = Math.min(HI_S, Math.max(LO_S, p.op_overhead_s * ratio));
    atBound = next === LO_S || next === HI_S;
    if (next === p.op_overhead_s) break;
    p.op_overhead_s = next;
  }
  const se = medianSe(board);
  const method = confirmed
    ? `the run ${o.runId} replayed on the emulator at this time per board operation waits as long between a cell's last verify and its read-back as the board did, within two errors (median of ${board.length} cells: board ${target.toPrecision(3)} s, replay ${sim.toPrecision(3)} s): kept at it`
    : `time per board operation scaled until the run ${o.runId} replayed on the emulator waits as long between a cell's last verify and its read-back as the board did (median of ${board.length} cells: board ${target.toPrecision(3)} s, replay ${sim.toPrecision(3)} s)`;
  const record: ParamRecord = atBound
    ? { value: p.op_overhead_s, unit: 's', status: 'at-bound', method: `${method}; at its bound ${p.op_overhead_s} s`, runs: [o.runId] }
    : {
        value: p.op_overhead_s,
        unit: 's',
        status: 'fitted',
        method,
        runs: [o.runId],
        // The delays scale with the time per operation: its relative error is the median's.
        uncertainty: p.op_overhead_s * Math.max(se / target, 1e-3),
        evidence: [{ statistic: 'median delay from last verify to read-back', measured: target, model: sim, se, unit: 's' }],
      };
  return { record, runs };
}
