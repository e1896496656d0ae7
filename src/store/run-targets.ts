/**
 * What a programming run left each of its cells to hold (`rram reverify`, the map's "Re-verify
 * selection"): the run's write-verify configuration, its levels' decision bands, the gates each
 * level's climb starts at, and every cell's last verdict (its last `cell-done`, re-verify passes
 * included). Read from the run's record: run.json's params (zod-checked: a torn or hand-edited
 * file is refused naming the field) and its events. A re-verify of a re-verify goes back to the
 * run that set the targets.
 */
import { z } from 'zod';
import type { BoardInfo } from '../../drivers/board.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { levelSpecsFromTargets, type LevelSpec } from '../analysis/levels.js';
import type { CellResult } from '../engine/cell-ledger.js';
import { cellKey } from '../engine/events.js';
import { ALGOS, reviveConfig, type Algo, type ProgramConfig } from '../plans/program-cell.js';
import { boardKey, runCells } from './board-history.js';
import type { EmbeddedStore, RunRecord } from './embedded-store.js';

/** Run kinds whose cells are programmed to targets by write-verify. */
export const TARGET_RUN_KINDS = ['program', 'characterize', 'program-net', 'retention'] as const;

export interface RunTargets {
  runId: string;
  kind: string;
  /** The store's name of the board the run programmed (board-history.ts boardKey). */
  board: string;
  config: ProgramConfig;
  /** By level number. */
  specs: LevelSpec[];
  /** Start, retry and ISPVA gates by level number (level-job.ts). */
  gates: { ispvaGates_V?: number[]; startGates_V?: number[]; retryGates_V?: number[] };
  /** Each cell's last verdict in the run, by cellKey. */
  cells: Map<string, CellResult>;
}

const volts = z.array(z.number().finite()).optional();
const num = z.number({ invalid_type_error: 'must be a number' }).finite();
const pos = num.positive();
const count = z.number().int().positive();
// An infinite tolerance (the published one-sided band) is stored as null (reviveConfig).
const tolerance = num.nullable();
// The sub-settings each algorithm's plan reads (program-cell.ts) beyond form, reset, igvva and ispva.
const NEEDS: Partial<Record<Algo, 'radar' | 'identical' | 'bidir'>> = { radar: 'radar', 'identical-pulse': 'identical', bidir: 'bidir' };
const Config = z
  .object({
    algo: z.enum(ALGOS as unknown as [Algo, ...Algo[]]),
    form: z.record(num),
    reset: z.record(num),
    igvva: z.object({ tolerance_A: tolerance, vte_V: pos, vgStart_V: num.min(0), vgStep_V: pos, vgStop_V: pos, maxPulses: count, width_s: pos, vread_V: pos, maxRetries: z.number().int().min(0), reset: z.record(num) }).passthrough(),
    ispva: z.object({ tolerance_A: tolerance, vteStart_V: num.min(0), vteStep_V: pos, vteStop_V: pos, maxPulses: count, width_s: pos, vread_V: pos }).passthrough(),
  })
  .passthrough()
  .superRefine((c, ctx) => {
    const need = NEEDS[c.algo];
    if (need && typeof (c as Record<string, unknown>)[need] !== 'object') ctx.addIssue({ code: z.ZodIssueCode.custom, path: [need], message: `${c.algo} needs its ${need} settings` });
  });
const Spec = z.object({ level: z.number().int().min(0).max(7), kind: z.enum(['hrs', 'lrs']), target_A: z.number().finite().positive(), band_A: z.tuple([z.number().finite().min(0), z.number().finite().positive()]) }).strict();
const Params = z.object({
  config: Config,
  levels: z.number().int().optional(),
  levelTargets_A: z.array(z.number().finite().positive()).min(2).max(8),
  levelSpecs: z.array(Spec).min(2).max(8).optional(),
  ispvaGates_V: volts,
  startGates_V: volts,
  retryGates_V: volts,
  source: z.string().optional(),
}).passthrough();
const BoardRec = z.object({ id: z.string(), kind: z.string(), state: z.string().optional() }).passthrough();

function parsed<T>(schema: z.ZodType<T>, v: unknown, runId: string, what: string): T {
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  const i = r.error.issues[0];
  throw new InvalidArgumentError('run', runId, `its run.json ${what} ${i.path.length ? `field ${i.path.join('.')}` : ''}: ${i.message} (not a record rram-hil wrote, or torn)`);
}

/** The run the targets come from: a re-verify run points at its source. */
export function targetRun(store: EmbeddedStore, runId: string): RunRecord {
  let rec = store.getRun(runId);
  for (let hops = 0; rec.kind === 'reverify'; hops++) {
    const src = (rec.params as { source?: unknown }).source;
    if (typeof src !== 'string' || hops > 100) throw new InvalidArgumentError('run', rec.id, 'a re-verify run without its source run in run.json');
    rec = store.getRun(src);
  }
  if (!(TARGET_RUN_KINDS as readonly string[]).includes(rec.kind)) throw new InvalidArgumentError('run', runId, `is a ${rec.kind} run: only ${TARGET_RUN_KINDS.join(', ')} runs program cells to targets`);
  return rec;
}

export async function runTargets(store: EmbeddedStore, runId: string): Promise<RunTargets> {
  const rec = targetRun(store, runId);
  const p = parsed(Params, rec.params, rec.id, 'params');
  const b = parsed(BoardRec, rec.board, rec.id, 'board');
  // Target i of the record is the level its cells carry; a net may program a subset of levels.
  const cells = new Map<string, CellResult>();
  const levelOf = new Map<number, number>();
  for await (const e of store.events(rec.id, { type: 'cell-done' })) {
    if (e.type !== 'cell-done') continue;
    const i = p.levelTargets_A.findIndex((t) => Math.abs(t - e.target_A) <= 1e-12 * t);
    if (i < 0) throw new InvalidArgumentError('run', rec.id, `cell ${cellKey(e.cell)}'s target ${e.target_A} A is none of the run's level targets`);
    const had = levelOf.get(i);
    if (had !== undefined && had !== e.level) throw new InvalidArgumentError('run', rec.id, `target ${i} carries levels ${had} and ${e.level}`);
    levelOf.set(i, e.level);
    cells.set(cellKey(e.cell), { cell: e.cell, level: e.level, target_A: e.target_A, outcome: e.outcome, ...(e.step ? { step: e.step } : {}) });
  }
  if (!cells.size) throw new InvalidArgumentError('run', rec.id, 'its record holds no programmed cell');
  const numbers = p.levelTargets_A.map((_, i) => levelOf.get(i) ?? i);
  const specs = levelSpecsOf(rec, p, numbers);
  const byLevel = (xs?: number[]) => xs && xs.reduce<number[]>((a, g, i) => ((a[numbers[i]] = g), a), []);
  const gates = { ispvaGates_V: byLevel(p.ispvaGates_V), startGates_V: byLevel(p.startGates_V), retryGates_V: byLevel(p.retryGates_V) };
  // The gates the algorithm's climbs start at, for every level the run programmed (level-job.ts).
  const want = p.config.algo === 'ispva' ? 'ispvaGates_V' : ['igvva-predict', 'radar', 'identical-pulse'].includes(p.config.algo) ? 'startGates_V' : undefined;
  if (want) for (const l of new Set(levelOf.values())) if (!Number.isFinite(gates[want]?.[l])) throw new InvalidArgumentError('run', rec.id, `its run.json params.${want} gives no gate for level ${l}, which ${p.config.algo} starts each climb at`);
  return {
    runId: rec.id,
    kind: rec.kind,
    board: boardKey(b as Pick<BoardInfo, 'id' | 'kind' | 'state'>),
    config: reviveConfig(p.config as unknown as ProgramConfig),
    specs,
    gates,
    cells,
  };
}

/**
 * The bands the run judged its levels by: recorded with it (params.levelSpecs), or for a run
 * recorded before they were, rebuilt from its targets - exact for a whole level set (program,
 * characterize, retention: defaultLevels' rule), not for a net that programmed some of a CDF's
 * levels with that CDF's bands (refused).
 */
function levelSpecsOf(rec: RunRecord, p: z.infer<typeof Params>, numbers: number[]): LevelSpec[] {
  if (p.levelSpecs) {
    const same = p.levelSpecs.length === p.levelTargets_A.length && p.levelSpecs.every((s, i) => s.target_A === p.levelTargets_A[i] && s.level === numbers[i] && s.band_A[0] < s.band_A[1]);
    if (!same) throw new InvalidArgumentError('run', rec.id, 'its run.json params.levelSpecs do not match its levelTargets_A and the levels its cells carry');
    return p.levelSpecs;
  }
  if (rec.kind === 'program-net' && p.levels !== undefined && p.levels !== p.levelTargets_A.length)
    throw new InvalidArgumentError('run', rec.id, `a program-net recorded before level bands were kept, on ${p.levelTargets_A.length} of its device's ${p.levels} levels: the bands it programmed by cannot be rebuilt from its targets`);
  return levelSpecsFromTargets(p.levelTargets_A, numbers);
}

/**
 * Cells of `keys` that a run of this board started after `after` pulsed (re-verify runs of the
 * same targets apart): their state is no longer what the targets' run left, so re-verifying them
 * against it would overwrite newer work. Map: cell -> the run that pulsed it.
 */
export async function pulsedSince(store: EmbeddedStore, t: RunTargets, keys: readonly string[]): Promise<Map<string, string>> {
  const want = new Set(keys);
  const since = store.getRun(t.runId).started;
  const sinceMs = Date.parse(since);
  const out = new Map<string, string>();
  for (const r of store.listRuns()) {
    if (r.id === t.runId || (r.ended !== undefined && !(r.ended > since))) continue;
    if (r.kind === 'reverify' && safeTarget(store, r.id) === t.runId) continue;
    const c = await runCells(store, r.id);
    if (!c || c.board !== t.board || !c.pulsed.some((k) => want.has(k))) continue;
    if (r.started > since) {
      for (const k of c.pulsed) if (want.has(k) && !out.has(k)) out.set(k, r.id);
      continue;
    }
    // Started before the targets' run but went on after it (resumed): its pulses after it count.
    for await (const e of store.events(r.id, { type: 'pulse' })) if (e.type === 'pulse' && e.t > sinceMs && want.has(cellKey(e.cell)) && !out.has(cellKey(e.cell))) out.set(cellKey(e.cell), r.id);
  }
  return out;
}

function safeTarget(store: EmbeddedStore, id: string): string | undefined {
  try {
    return targetRun(store, id).id;
  } catch {
    return undefined;
  }
}
