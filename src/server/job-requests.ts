/**
 * Validation of job requests from the web API. Everything a request names is checked against a
 * closed set: level-map patterns (never a file path), model names inside the store's models
 * folder, level-CDF sources by run id. Errors name the field and the reason (HTTP 400).
 */
import { ALGOS, type Algo } from '../plans/program-cell.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { BoardInfo } from '../../drivers/board.js';
import { parseDeviceSpec } from '../inference/device-models.js';
import { parseRunRef } from '../store/run-refs.js';
import { z } from 'zod';
import { describeIssue } from '../io/validate.js';
import { RunMetadata } from '../io/schemas/run-metadata.js';
import { experimentRequestSchemas, programSettings, type ExperimentRequest } from './experiment-requests.js';
import { CellListJson } from '../io/schemas/cell-list.js';
import { netProgrammingRequest, netRequestProblems } from './program-net-request.js';
import { wvBenchEntry } from './wv-bench-job.js';
import { conformanceRequest, type ConformanceRequest } from './conformance-job.js';
import { inferOnBoardRequest, type InferOnBoardRequest } from '../jobs/infer-on-board-job.js';

/** The requests, as their schemas (below) define them: one source for validation and types. */
type Schemas = ReturnType<typeof jobRequestSchemas>;
export type CharacterizeRequest = z.infer<Schemas['characterize']>;
export type ProgramRequest = z.infer<Schemas['program']>;
export type InferRequest = z.infer<Schemas['infer']>;
/** A trained net programmed onto the board, evaluated from read-back beside the prediction; with `fineTune` progressively with the chip in the loop (issue 27). */
export type ProgramNetRequest = z.infer<Schemas['program-net']>;
/** `rram read` / `rram pulse` through a station (docs/server.md). */
export type ReadRequest = z.infer<Schemas['read']>;
export type PulseRequest = z.infer<Schemas['pulse']>;
/** iv, endurance, retention and sweep: the CLI's device experiments through a station (experiment-requests.ts). */
export type JobRequest = CharacterizeRequest | ProgramRequest | InferRequest | ProgramNetRequest | ReadRequest | PulseRequest | ExperimentRequest | ConformanceRequest | InferOnBoardRequest;

const int = (min: number, max: number) => z.number({ invalid_type_error: `must be an integer in ${min}..${max}` }).int(`must be an integer in ${min}..${max}`).gte(min, `must be an integer in ${min}..${max}`).lte(max, `must be an integer in ${min}..${max}`);
const oneOf = <T extends string>(allowed: readonly [T, ...T[]]) => z.enum(allowed, { errorMap: () => ({ message: `must be one of ${allowed.join(', ')}` }) });
const algo = oneOf(ALGOS as unknown as [Algo, ...Algo[]]).default('igvva');
const stepV = z.number({ invalid_type_error: 'must be a number in 0.001..1' }).gte(0.001, 'must be a number in 0.001..1').lte(1, 'must be a number in 0.001..1');
const clip = z.number({ invalid_type_error: 'must be a quantile in (0.5, 1], e.g. 0.999' }).gt(0.5, 'must be a quantile in (0.5, 1], e.g. 0.999').lte(1, 'must be a quantile in (0.5, 1], e.g. 0.999');
const seed = int(0, 2 ** 31 - 1).default(1);
const volts = z.number({ invalid_type_error: 'must be a voltage (V)' }).finite('must be a voltage (V)').gte(0, 'must be at least 0 V').lte(10, 'at most 10 V');
/** The run's metadata (sample, wafer, ...: docs/formats.md "Run metadata"), kept in its run.json. */
const metadata = RunMetadata.optional();
const minSuccess = z.number({ invalid_type_error: 'must be a share in 0..1' }).gte(0, 'must be a share in 0..1').lte(1, 'must be a share in 0..1').default(0.95);

/** What `rram program-net --reads --relax --use-arrays --stuck-hrs --stuck-lrs --read-noise` adds to a station's program-net. */
const netOnBoard = (board: BoardInfo) => ({
  reads: int(1, 100).optional(),
  relax_s: z.number({ invalid_type_error: 'must be a time (s)' }).finite().gte(0, 'must be a time (s) >= 0').optional(),
  arrays: z.array(int(0, board.arrays - 1)).min(1, 'list at least one array').optional(),
  stuckHrs: z.number({ invalid_type_error: 'must be a share in 0..1' }).gte(0, 'must be a share in 0..1').lte(1, 'must be a share in 0..1').optional(),
  stuckLrs: z.number({ invalid_type_error: 'must be a share in 0..1' }).gte(0, 'must be a share in 0..1').lte(1, 'must be a share in 0..1').optional(),
  readNoise_A: z.number({ invalid_type_error: 'must be a current (A)' }).gte(0, 'must be a current (A) >= 0').lte(1e-3, 'at most 1 mA').optional(),
});

/** The rest of `rram characterize`'s flags (write-verify settings, --relax, --fresh-cells, engine knobs) for a station's characterize. */
const characterizeFlags = {
  ...programSettings,
  relax_s: z.array(z.number({ invalid_type_error: 'must be a time (s)' }).finite().gt(0, 'times must be positive')).max(100).optional(),
  freshCells: z.boolean().optional(),
  concurrency: int(1, 4096).optional(),
  onUnknownOutcome: oneOf(['re-verify', 'stop'] as const).optional(),
};

/**
 * A list of cells of one array, in the `--cells` JSON format (`[[row, col], ...]` or `[{row, col}, ...]`,
 * src/io/schemas/cell-list.ts), inside the board, each once: a selection on the dashboard's map.
 */
const cellList = (board: BoardInfo) =>
  CellListJson.superRefine((cells, ctx) => {
    const seen = new Set<string>();
    cells.forEach((c, k) => {
      const [row, col] = Array.isArray(c) ? c : [c.row, c.col];
      if (row >= board.rows || col >= board.cols) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [k], message: `cell ${row},${col} is outside the board's ${board.rows}x${board.cols} array` });
      if (seen.has(`${row},${col}`)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [k], message: `cell ${row},${col} is listed twice` });
      seen.add(`${row},${col}`);
    });
  });

/** The cells of a request's `cells` list, as {row, col}. */
export const listedCells = (cells: CellListJson): { row: number; col: number }[] => cells.map((c) => (Array.isArray(c) ? { row: c[0], col: c[1] } : { row: c.row, col: c.col }));

/** Cell indices (row-major within the array), as the CLI sends its --region / --cells resolved; else [row, col] pairs. */
export const isIndexList = (cells: readonly unknown[]): cells is number[] => cells.every((c) => typeof c === 'number');

export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Monte Carlo trials one dashboard job may ask for (rram serve --max-trials). */
export const DEFAULT_MAX_TRIALS = 10000;

/**
 * The request body schemas (one per job kind, docs/formats.md "Dashboard API"): strict objects
 * (an unknown key is refused by name), every bound from the board.
 */
export function jobRequestSchemas(board: BoardInfo, maxTrials = DEFAULT_MAX_TRIALS) {
  const model = z.string({ invalid_type_error: 'must be the name of a model folder in the store (letters, digits, _ . -)' }).regex(MODEL_NAME, 'must be the name of a model folder in the store (letters, digits, _ . -)').refine((m) => !m.includes('..'), 'must be the name of a model folder in the store (letters, digits, _ . -)');
  const device = z
    .string({ invalid_type_error: 'must be a string' })
    .default('run:latest')
    .superRefine((d, ctx) => {
      try {
        if (d.startsWith('run:')) parseRunRef(d);
        else if (parseDeviceSpec(d).kind === 'empirical') ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'file paths are not accepted over the API: use run:<characterize run id>, run:latest, or a parametric spec like gaussian:5%' });
      } catch (e) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as InvalidArgumentError).reason ?? (e as Error).message });
      }
    });
  const net = (maxLevels: number) => ({
    model,
    dataset: oneOf(['mnist', 'fashion'] as const).default('mnist'),
    levels: int(2, maxLevels).default(8),
    mapping: oneOf(['diff', 'offset', 'signed'] as const).default('diff'),
    device,
    trials: int(1, maxTrials).default(100),
    seed,
    images: int(1, 10000).optional(),
    clip: clip.optional(),
    metadata,
  });
  return {
    ...experimentRequestSchemas(board),
    // `rram conformance` through a station: the suite on the station's port (conformance-job.ts).
    conformance: conformanceRequest(board),
    // `rram infer --on-board` through a station: a kept program-net run's net through the board's MVM (src/jobs/infer-on-board-job.ts).
    'infer-on-board': inferOnBoardRequest,
    characterize: z
      .object({ kind: z.literal('characterize'), ...characterizeFlags, wvBench: wvBenchEntry.optional(), algo, levels: int(2, 8).default(8), cellsPerLevel: int(1, Math.floor((board.arrays * board.rows * board.cols) / 2)).default(32), reads: int(1, 100).default(1), array: int(0, board.arrays - 1).default(0), cells: cellList(board).optional(), seed, step_V: stepV.optional(), minSuccess, metadata })
      .strict()
      .superRefine((r, ctx) => {
        // `cells`: exactly these cells of `array` (a selection on the map), levels x cellsPerLevel of them.
        if (r.cells && r.cells.length !== r.levels * r.cellsPerLevel) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['cells'], message: `lists ${r.cells.length} cells: must be levels x cellsPerLevel = ${r.levels * r.cellsPerLevel}` });
        const avail = (board.arrays - r.array) * board.rows * board.cols;
        if (r.levels * r.cellsPerLevel > avail) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['cellsPerLevel'], message: `levels x cellsPerLevel exceeds the ${avail} cells from array ${r.array} on` });
      }),
    // `rram program`'s map and cells come resolved (mapLevels: one level per cell of the array, row-major; cells: indices), never as a file.
    program: z
      .object({
        kind: z.literal('program'),
        ...programSettings,
        algo,
        levels: int(2, 8).default(8),
        map: oneOf(['random', 'checkerboard', 'stripes'] as const).default('random'),
        mapLevels: z.array(int(0, 7)).length(board.rows * board.cols, `must give a level for each of the ${board.rows * board.cols} cells`).optional(),
        mapName: z.string().max(500).optional(),
        // Indices (the CLI's --region / --cells, resolved), or [row, col] pairs (a selection on the dashboard's map).
        cells: z.union([z.array(int(0, board.rows * board.cols - 1)).min(1).max(board.rows * board.cols), cellList(board)]).optional(),
        cellsName: z.string().max(500).optional(),
        concurrency: int(1, 4096).optional(),
        onUnknownOutcome: oneOf(['re-verify', 'stop'] as const).optional(),
        array: int(0, board.arrays - 1).default(0),
        seed,
        minSuccess,
        metadata,
      })
      .strict(),
    // A read and a single pulse, as `rram read` and `rram pulse` run them (the board checks every amplitude against its limits).
    read: z
      .object({ kind: z.literal('read'), array: int(0, board.arrays - 1).default(0), cell: z.object({ row: int(0, board.rows - 1), col: int(0, board.cols - 1) }).strict().optional(), row: int(0, board.rows - 1).optional(), cells: cellList(board).optional(), all: z.boolean().optional(), vread_V: volts.default(0.2), metadata })
      .strict()
      .superRefine((r, ctx) => {
        if ([r.cell !== undefined, r.row !== undefined, r.cells !== undefined, !!r.all].filter(Boolean).length !== 1) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['cell'], message: 'give exactly one of cell, row, cells or all' });
      }),
    pulse: z
      .object({ kind: z.literal('pulse'), pulse: oneOf(['form', 'set', 'reset'] as const), array: int(0, board.arrays - 1).default(0), cell: z.object({ row: int(0, board.rows - 1), col: int(0, board.cols - 1) }).strict(), vte_V: volts.default(0), vsl_V: volts.default(0), vg_V: volts, width_s: z.number({ invalid_type_error: 'must be a width in seconds' }).gt(0, 'must be above 0 s').lte(1, 'at most 1 s'), verify_V: volts.optional(), metadata })
      .strict(),
    // Programming targets exist for 2..8 levels; the Monte Carlo alone takes up to 64.
    infer: z.object({ kind: z.literal('infer'), ...net(64), engine: oneOf(['auto', 'native', 'js', 'tfjs'] as const).default('auto') }).strict(),
    // Every algorithm, ISPVA included: its gates per level come from the board's calibration, as for characterize.
    'program-net': z
      .object({
        kind: z.literal('program-net'),
        ...net(8),
        // Every flag `rram program-net` takes for the programming (program-net-request.ts).
        ...netProgrammingRequest,
        algo,
        step_V: stepV.optional(),
        ...netOnBoard(board),
      })
      .strict()
      .superRefine((r, ctx) => {
        const p = netRequestProblems(r);
        if (p) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [p.path], message: p.message });
      }),
  };
}

export function parseJobRequest(raw: unknown, board: BoardInfo, o: { maxTrials?: number } = {}): JobRequest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidArgumentError('body', raw, 'must be a JSON object');
  const kind = (raw as { kind?: unknown }).kind;
  const schemas = jobRequestSchemas(board, o.maxTrials);
  if (typeof kind !== 'string' || !(kind in schemas)) throw new InvalidArgumentError('kind', kind, `must be one of ${Object.keys(schemas).join(', ')}`);
  const schema = schemas[kind as keyof typeof schemas];
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
      const k = issue.keys[0];
      const known = Object.keys((schema instanceof z.ZodEffects ? schema.innerType() : schema).shape);
      throw new InvalidArgumentError(k, (raw as Record<string, unknown>)[k], `is not a ${kind} parameter (known: ${known.join(', ')})`);
    }
    const d = describeIssue(raw, r.error);
    throw new InvalidArgumentError(d.path, d.value, d.message);
  }
  return r.data as JobRequest;
}
