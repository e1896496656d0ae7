/**
 * The level-CDF dataset as a file others load (`rram infer --device FILE`, `rram calibrate --from`,
 * `rram study ... --device`): docs/formats.md. Only what the loaders use is checked strictly; every
 * other field passes through untouched.
 */
import { z } from 'zod';
import { MAX_LEVELS } from '../../inference/mapping.js';
import { measuredCurrent } from './currents.js';

const spec = z
  .object({
    level: z.number().int().nonnegative(),
    kind: z.enum(['hrs', 'lrs']),
    target_A: measuredCurrent.refine((x) => x > 0, 'must be above 0 A'),
    band_A: z.tuple([z.number().finite(), z.number().finite()]),
  })
  .passthrough();

const level = z
  .object({
    spec: spec.optional(),
    samples_A: z.array(measuredCurrent).min(1, 'a level needs at least one sample'),
    relax: z.array(z.object({ t_s: z.number().finite().positive(), samples_A: z.array(measuredCurrent) }).passthrough()).optional(),
    cells: z.array(z.object({ status: z.string(), current_A: measuredCurrent.nullable() }).passthrough()).optional(),
  })
  .passthrough();

export const LevelCdfFile = z
  .object({
    format: z.literal('rram-hil/level-cdf', { errorMap: () => ({ message: 'is not rram-hil/level-cdf (docs/formats.md)' }) }),
    vread_V: z.number().finite().positive().max(10).optional(),
    levels: z.array(level).min(2, 'needs at least 2 levels').max(MAX_LEVELS, `has more than ${MAX_LEVELS} levels`),
  })
  .passthrough()
  .superRefine((d, ctx) => {
    // Runs even when a check above failed (zod goes on after a too-short list): nothing may be assumed here.
    const n = d.levels[0]?.relax?.length ?? 0;
    d.levels.forEach((l, k) => {
      if ((l.relax?.length ?? 0) !== n) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['levels', k, 'relax'], message: `has ${l.relax?.length ?? 0} relaxation times, level 0 has ${n}` });
    });
  });
export type LevelCdfFile = z.infer<typeof LevelCdfFile>;
