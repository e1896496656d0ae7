/**
 * Input a fit or a twin must not take (issue 26): cells that were not fresh when the run measured
 * them. A sweep contaminated by used cells once produced a twin that programmed no cell and
 * printed "worst KS 0.000". Evidence, each enough:
 *  - the store's history: cells an earlier run of the same board pulsed (board-history.ts);
 *  - the run's own record: a characterize cell formed before the run (`preformed`: the history
 *    said so, or it read formed and answered RESET), a sweep cell that read formed before its
 *    forming staircase.
 * Refused naming the cells (the first few and how many), the runs that used them, and what to do.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { BoardInfo } from '../../drivers/board.js';
import type { LevelCdfDataset } from '../procedures/characterize.js';
import type { SweepDataset } from '../procedures/sweep.js';
import { boardHistory, runCells } from '../store/board-history.js';
import type { EmbeddedStore } from '../store/embedded-store.js';

const key = (c: { array: number; row: number; col: number }) => `${c.array}:${c.row}:${c.col}`;
const few = (xs: string[]) => `${xs.slice(0, 8).join(', ')}${xs.length > 8 ? ` and ${xs.length - 8} more` : ''}`;

/** Cells of a dataset its own record shows were not fresh. */
export function notFreshInData(d: LevelCdfDataset | SweepDataset): string[] {
  if (d.format === 'rram-hil/level-cdf') return d.levels.flatMap((l) => l.cells.filter((c) => c.preformed).map(key));
  return d.cells.filter((c) => c.status === 'ok' && c.formVte_V === null).map(key);
}

/** Refuses a run whose cells earlier runs of this board pulsed, or whose record shows cells formed before it. */
export async function checkFresh(store: EmbeddedStore, runId: string, d: LevelCdfDataset | SweepDataset, flag: string): Promise<void> {
  const own = notFreshInData(d);
  if (own.length) throw new InvalidArgumentError(flag, runId, `${own.length} of its cells were not fresh (formed before the run: ${few(own)}); measure fresh cells (rram sweep picks them; rram characterize --fresh-cells)`);
  const rec = store.getRun(runId);
  const mine = await runCells(store, runId);
  if (!mine) return;
  const h = await boardHistory(store, d.board as Pick<BoardInfo, 'id' | 'kind' | 'state'>, { except: runId, before: rec.started });
  const used = mine.pulsed.filter((c) => h.pulsed.has(c));
  if (!used.length) return;
  const set = new Set(used);
  const by: string[] = [];
  for (const r of h.runs) if ((await runCells(store, r))?.pulsed.some((c) => set.has(c))) by.push(r);
  throw new InvalidArgumentError(flag, runId, `${used.length} of its cells were pulsed by earlier runs of this board (${by.join(', ')}; the store's history): ${few(used)}; the run does not show fresh devices: measure fresh cells (rram characterize --fresh-cells, rram sweep)`);
}
