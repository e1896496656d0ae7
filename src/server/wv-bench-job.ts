/**
 * `rram wv-bench` through a station (issue 29): one characterize queue item per algorithm, added
 * together at consecutive places of the board's queue (POST /api/boards/:board/queue/batch), so no
 * other run comes between them. Each item picks its fresh cells when its turn comes, as the direct
 * command picks them before its first run: the seeded shuffle's fresh cells (store history, COUNTERS,
 * a pristine read) for the entries still to run, its own the first `levels x cellsPerLevel` - the
 * cells of the entries before it are pulsed by then, so entry k gets the slice k the direct run
 * gives it. An item runs only when the entry before it completed (as the direct command stops at
 * the first entry that does not). A benchmark is not resumed (directly neither): run it again.
 */
import { z } from 'zod';
import type { Board, CellAddress } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { describeExcluded, selectFreshCells } from '../procedures/fresh-cells.js';
import { boardHistory } from '../store/board-history.js';
import type { EmbeddedStore } from '../store/embedded-store.js';

/** The wv-bench entry a characterize request is: its label (e.g. igvva-predict+reverify), its place, the item before it (filled by the station). */
export const wvBenchEntry = z
  .object({
    label: z.string().min(1).max(100),
    entry: z.number().int().gte(0).lte(99),
    of: z.number().int().gte(1).lte(100),
    previous: z.string().regex(/^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$/, 'must be a run id').optional(),
    first: z.string().regex(/^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$/, 'must be a run id').optional(),
  })
  .strict()
  .refine((w) => w.entry < w.of, { message: 'entry must be below of', path: ['entry'] });
export type WvBenchEntry = z.infer<typeof wvBenchEntry>;

/** The stored selection of a benchmark's first entry: every entry's cells, in entry order. */
export const WV_BENCH_CELLS = 'wv-bench-cells';

/**
 * This entry's fresh cells, and (entry 0) the selection for all to store with its run; refused
 * before any pulse when the entry before did not complete or the board is short of fresh cells.
 * Entry 0 picks them all (the board read once, as directly); entry k takes slice k of that selection.
 */
export async function wvBenchCells(store: EmbeddedStore, board: Board, r: { wvBench: WvBenchEntry; array: number; levels: number; cellsPerLevel: number; seed: number }): Promise<{ mine: CellAddress[]; all?: CellAddress[] }> {
  const w = r.wvBench;
  const per = r.levels * r.cellsPerLevel;
  if (w.entry > 0) {
    let status: string;
    try {
      status = w.previous ? store.getRun(w.previous).status : 'unknown (no entry before it named)';
    } catch {
      status = 'before it started (refused)'; // no run stored: it never began
    }
    if (status !== 'completed') throw new InvalidArgumentError('wvBench.previous', w.previous, `the benchmark's entry before this one ended ${status}: ${w.label} is not run (the direct command stops there too)`);
    const all = store.loadResult<{ cells: CellAddress[] }>(w.first!, WV_BENCH_CELLS).cells;
    return { mine: all.slice(w.entry * per, (w.entry + 1) * per) };
  }
  const cells = await pickBenchCells(store, board, { ...r, of: w.of });
  return { mine: cells.slice(0, per), all: cells };
}

/** Every entry's fresh cells, before the first pulse (directly and on a station): entry k's are slice k; a benchmark short of them is refused. */
export async function pickBenchCells(store: EmbeddedStore, board: Board, r: { array: number; levels: number; cellsPerLevel: number; seed: number; of: number }): Promise<CellAddress[]> {
  const info = board.info();
  const per = r.levels * r.cellsPerLevel;
  const arrays = Array.from({ length: info.arrays - r.array }, (_, k) => r.array + k);
  const history = await boardHistory(store, info);
  const { cells, excluded } = await selectFreshCells(board, arrays, per * r.of, r.seed, 1e-6, 0.2, history.pulsed);
  if (cells.length < per * r.of) throw new InvalidArgumentError('--cells-per-level', r.cellsPerLevel, `${r.of} algorithms x ${r.levels} levels x ${r.cellsPerLevel} cells need ${per * r.of} fresh cells; arrays ${arrays.join(',')} have ${cells.length} (${describeExcluded(excluded)})`);
  return cells;
}
