/** `rram calibrate --from` sources: stored runs (characterize, sweep) by id, or the public HfOx data. */
import { listItems } from '../io/number-table.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { LevelCdfDataset } from '../procedures/characterize.js';
import type { SweepDataset } from '../procedures/sweep.js';
import type { EmbeddedStore } from '../store/embedded-store.js';

export interface Sources {
  sweeps: { runId: string; data: SweepDataset }[];
  cdfs: { runId: string; data: LevelCdfDataset }[];
  /** Folders of HfOx data to fit relaxation and read noise from (`hfox` or `hfox:DIR`). */
  hfox: string[];
  /** Device-experiment runs (rram iv, endurance, retention): their aging goes in through src/calibrate/aging.ts. */
  aging: { runId: string; kind: 'iv' | 'endurance' | 'retention'; data: unknown }[];
}

export function parseFrom(raw: string, store: EmbeddedStore, defaultHfox: string): Sources {
  const out: Sources = { sweeps: [], cdfs: [], hfox: [], aging: [] };
  const items = listItems('--from', raw);
  if (!items.length) throw new InvalidArgumentError('--from', raw, 'give run ids and/or hfox');
  for (const it of items) {
    if (it === 'hfox' || it.startsWith('hfox:')) {
      out.hfox.push(it === 'hfox' ? defaultHfox : it.slice(5));
      continue;
    }
    const rec = store.getRun(it); // NotFound names the run
    if (rec.kind === 'characterize') {
      if (!rec.results.includes('level-cdf')) throw new InvalidArgumentError('--from', it, `characterize run ${rec.status} without a level-CDF result (it did not complete)`);
      out.cdfs.push({ runId: it, data: store.loadResult<LevelCdfDataset>(it, 'level-cdf') });
    } else if (rec.kind === 'sweep') {
      if (!rec.results.includes('sweep')) throw new InvalidArgumentError('--from', it, `sweep run ${rec.status} without its dataset (it did not complete)`);
      out.sweeps.push({ runId: it, data: store.loadResult<SweepDataset>(it, 'sweep') });
    } else if (rec.kind === 'iv' || rec.kind === 'endurance' || rec.kind === 'retention') {
      if (!rec.results.includes(rec.kind)) throw new InvalidArgumentError('--from', it, `${rec.kind} run ${rec.status} without its dataset (it did not complete)`);
      out.aging.push({ runId: it, kind: rec.kind, data: store.loadResult(it, rec.kind) });
    } else throw new InvalidArgumentError('--from', it, `is a ${rec.kind} run; calibrate fits characterize runs (relaxation re-reads), sweep runs (rram sweep) and the aging of iv, endurance and retention runs`);
  }
  if (out.sweeps.length > 1) throw new InvalidArgumentError('--from', raw, 'give one sweep run (the fit simulates its exact design)');
  return out;
}
