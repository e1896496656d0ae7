/**
 * The job requests of the device experiments a station runs for the CLI (`rram iv`, `rram
 * endurance`, `rram retention`, `rram sweep`, `rram reverify`; docs/server.md "CLI commands through a station").
 * A request is the procedure's options as the CLI's flags make them (src/cli/experiment-request.ts
 * builds them, for the direct run and the station alike), cells resolved to addresses on the CLI's
 * side (a file never goes over the API). Strict objects: an unknown key is refused by name.
 */
import { z } from 'zod';
import type { BoardInfo } from '../../drivers/board.js';
import { ALGOS, type Algo } from '../plans/program-cell.js';
import { RunMetadata } from '../io/schemas/run-metadata.js';

const num = (what: string) => z.number({ invalid_type_error: `must be ${what}` }).finite(`must be ${what}`);
const pos = (what: string) => num(what).gt(0, `must be ${what} above 0`);
const volts = num('a voltage (V)').gte(0, 'must be at least 0 V').lte(20, 'at most 20 V');
const amps = pos('a current (A)').lte(1, 'at most 1 A');
const int = (min: number, max: number) => z.number({ invalid_type_error: `must be an integer in ${min}..${max}` }).int(`must be an integer in ${min}..${max}`).gte(min, `must be an integer in ${min}..${max}`).lte(max, `must be an integer in ${min}..${max}`);
const text = z.string().max(500, 'at most 500 characters');

/** Engine knobs every experiment takes from the CLI (--concurrency, --on-unknown-outcome). */
const engineKnobs = { concurrency: int(1, 4096).default(64), onUnknownOutcome: z.enum(['re-verify', 'stop']).optional() };

/** Write-verify settings (src/procedures/program-config.ts, as src/cli/program-flags.ts makes them). */
export const programSettings = {
  algo: z.enum(ALGOS as unknown as [Algo, ...Algo[]]).default('igvva'),
  step_V: pos('a step (V)').lte(1).optional(),
  tolerance_A: amps.optional(),
  maxPulses: int(1, 1e6).optional(),
  width_s: pos('a width (s)').lte(1).optional(),
  vread_V: volts.optional(),
  vte_V: volts.optional(),
  vgStart_V: volts.optional(),
  vgMax_V: volts.optional(),
  formVg_V: volts.optional(),
  formVteStart_V: volts.optional(),
  formVteMax_V: volts.optional(),
  formJumpRatio: num('a ratio').gte(1).optional(),
  formJumpMin_A: amps.optional(),
  formedAbove_A: amps.optional(),
  resetVg_V: volts.optional(),
  resetVslMax_V: volts.optional(),
  ispvaVteMax_V: volts.optional(),
  ispvaGates_V: z.array(volts).max(8).optional(),
  lrsRange_A: z.tuple([amps, amps]).optional(),
  hrsMax_A: amps.optional(),
  reverify: z.object({ after_s: pos('a time (s)'), passes: int(1, 10) }).strict().optional(),
  predictSigmas: num('a number of sigmas').gte(0).lte(10).optional(),
  prep: z.enum(['safe', 'fast']).optional(),
  onboardVerify: z.enum(['on', 'off']).optional(),
  minSuccess: num('a share in 0..1').gte(0).lte(1).default(0.95),
};

export function experimentRequestSchemas(board: BoardInfo) {
  const cell = z.object({ array: int(0, board.arrays - 1), row: int(0, board.rows - 1), col: int(0, board.cols - 1) }).strict();
  // The experiments' shared options (src/procedures/experiment-setup.ts ExperimentCommon).
  const common = {
    cells: z.array(cell).min(1).max(board.arrays * board.rows * board.cols).optional(),
    cellsName: text.optional(),
    count: int(0, board.arrays * board.rows * board.cols).optional(),
    array: int(0, board.arrays - 1).default(0),
    seed: int(0, 4294967295).default(1),
    vread_V: volts.optional(),
    width_s: pos('a width (s)').lte(1).optional(),
    formVteMax_V: volts.optional(),
    resetVg_V: volts.optional(),
    resetVslMax_V: volts.optional(),
    metadata: RunMetadata.optional(),
    ...engineKnobs,
  };
  return {
    iv: z.object({ kind: z.literal('iv'), ...common, cycles: int(1, 1000).default(3), step_V: pos('a step (V)').lte(1).default(0.02), vg_V: volts.optional(), complianceTarget_A: amps.default(30e-6), vteMax_V: volts.optional(), vslMax_V: volts.optional() }).strict(),
    endurance: z
      .object({ kind: z.literal('endurance'), ...common, cycles: int(1, 1e9), every: int(1, 1e9).default(100), collapse: num('a share').gte(0.001).lte(0.999).default(0.2), confirm: int(1, 1e6).default(2), vte_V: volts.optional(), vg_V: volts.optional(), complianceTarget_A: amps.default(30e-6), vsl_V: volts.optional() })
      .strict(),
    retention: z
      .object({ kind: z.literal('retention'), ...common, ...programSettings, levels: int(2, 8).default(8), cellsPerLevel: int(1, board.arrays * board.rows * board.cols).default(32), cellLevels: z.array(int(0, 7)).optional(), times_s: z.array(num('a time (s)').gte(0)).min(1).max(1000) })
      .strict(),
    sweep: z
      .object({ kind: z.literal('sweep'), cells: int(1, board.arrays * board.rows * board.cols), cycles: int(1, 10).default(2), ispvaCycles: int(0, 10).default(2), noiseReads: int(0, 100).default(8), gateStep_V: pos('a step (V)').lte(0.5).default(0.02), ispvaVg_V: volts.optional(), array: int(0, board.arrays - 1).default(0), seed: int(0, 4294967295).default(1), metadata: RunMetadata.optional(), ...engineKnobs })
      .strict(),
    // The targets' run by id; the cells resolved on the CLI's side (the map's selection).
    reverify: z
      .object({ kind: z.literal('reverify'), run: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a run id (letters, digits, _ and -)'), cells: z.array(cell).min(1).max(board.arrays * board.rows * board.cols).optional(), array: int(0, board.arrays - 1).optional(), band: z.enum(['decision', 'inner']).default('decision'), passes: int(1, 10).default(1), after_s: num('a time (s)').gte(0).lte(86400 * 30).default(0), minSuccess: programSettings.minSuccess, includePulsedLater: z.boolean().default(false), metadata: RunMetadata.optional(), ...engineKnobs })
      .strict(),
  };
}

type Schemas = ReturnType<typeof experimentRequestSchemas>;
export type IvRequest = z.infer<Schemas['iv']>;
export type EnduranceRequest = z.infer<Schemas['endurance']>;
export type RetentionRequest = z.infer<Schemas['retention']>;
export type SweepRequest = z.infer<Schemas['sweep']>;
export type ReverifyRequest = z.infer<Schemas['reverify']>;
export type ExperimentRequest = IvRequest | EnduranceRequest | RetentionRequest | SweepRequest | ReverifyRequest;
export const EXPERIMENT_KINDS = ['iv', 'endurance', 'retention', 'sweep', 'reverify'] as const;
export const isExperiment = (r: { kind: string }): r is ExperimentRequest => (EXPERIMENT_KINDS as readonly string[]).includes(r.kind);
