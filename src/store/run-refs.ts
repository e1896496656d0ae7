/**
 * `run:<id>` and `run:latest[:FILTERS]`: a characterize run's level CDFs named by the store instead
 * of a file path (the dashboard API takes no paths; the CLI takes both). `run:latest` is the newest
 * completed characterize run with a level-CDF result that is a run of its own (not one part of a
 * `wv-bench`), narrowed by filters `levels=N`, `cells=N` (at least N cells per level), `algo=NAME`
 * and `board=ID`, comma-separated: `run:latest:levels=8,cells=128`. docs/formats.md.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { checkRunId, NotFoundError, type EmbeddedStore, type RunRecord } from './embedded-store.js';

export interface RunFilters {
  levels?: number;
  cells?: number;
  algo?: string;
  board?: string;
}

const FILTER = /^(levels|cells|algo|board)=([A-Za-z0-9_.-]{1,64})$/;

/** The filters of `run:latest:...` (refused by name when malformed). */
export function parseRunRef(ref: string, field = 'device'): { id?: string; filters?: RunFilters } {
  if (!ref.startsWith('run:')) throw new InvalidArgumentError(field, ref, 'expected run:<id> or run:latest[:levels=N,cells=N,algo=NAME,board=ID]');
  const rest = ref.slice(4);
  if (rest !== 'latest' && !rest.startsWith('latest:')) return { id: checkRunId(rest) };
  const filters: RunFilters = {};
  const text = rest.slice('latest'.length + 1);
  for (const part of text ? text.split(',') : []) {
    const m = FILTER.exec(part.trim());
    if (!m) throw new InvalidArgumentError(field, ref, `filter ${JSON.stringify(part)}: expected levels=N, cells=N, algo=NAME or board=ID`);
    const [, k, v] = m;
    if (k === 'levels' || k === 'cells') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(field, ref, `${k} must be a positive integer`);
      filters[k] = n;
    } else filters[k as 'algo' | 'board'] = v;
  }
  return { filters };
}

function matches(r: RunRecord, f: RunFilters): boolean {
  const p = r.params as { levels?: number; cellsPerLevel?: number; algo?: string; partOf?: string };
  if (r.kind !== 'characterize' || r.status !== 'completed' || !r.results.includes('level-cdf') || p.partOf) return false;
  if (f.levels !== undefined && p.levels !== f.levels) return false;
  if (f.cells !== undefined && !((p.cellsPerLevel ?? 0) >= f.cells)) return false;
  if (f.algo !== undefined && p.algo !== f.algo) return false;
  if (f.board !== undefined && (r.board as { id?: string } | undefined)?.id !== f.board) return false;
  return true;
}

/** The run a reference names, and its level-CDF file. */
export function resolveRunRef(store: EmbeddedStore, ref: string, field = 'device'): { runId: string; file: string } {
  const { id, filters } = parseRunRef(ref, field);
  let runId = id;
  if (!runId) {
    const found = store.listRuns().find((r) => matches(r, filters ?? {}));
    if (!found) throw new NotFoundError(`completed characterize run with a level-CDF result${filters && Object.keys(filters).length ? ` (${Object.entries(filters).map(([k, v]) => `${k}=${v}`).join(', ')})` : ''}`, 'latest');
    runId = found.id;
  }
  const file = join(store.runDir(runId), 'level-cdf.json');
  if (!existsSync(file)) throw new NotFoundError('level-CDF result of run', runId);
  return { runId, file };
}
