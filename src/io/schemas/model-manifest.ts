/**
 * A tfjs layers model's `model.json` (from `rram train` or the tfjs converter): the topology is
 * tfjs's to check; the weight manifest is ours to read, so its shape is checked here.
 */
import { z } from 'zod';

const weight = z
  .object({
    name: z.string(),
    shape: z.array(z.number().int().nonnegative()),
    dtype: z.enum(['float32', 'int32', 'bool', 'string', 'complex64']),
  })
  .passthrough();

export const ModelManifestFile = z
  .object({
    modelTopology: z.record(z.unknown(), { invalid_type_error: 'must be an object (a tfjs layers model)', required_error: 'is missing (not a tfjs layers model)' }),
    weightsManifest: z.array(z.object({ paths: z.array(z.string().min(1)), weights: z.array(weight) }).passthrough(), { required_error: 'is missing (not a tfjs layers model)' }),
  })
  .passthrough();
export type ModelManifestFile = z.infer<typeof ModelManifestFile>;
