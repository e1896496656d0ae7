/** A study folder's `params.json`: the options it was started with (`--resume DIR` continues them). */
import { z } from 'zod';

export const StudyParamsFile = z.object({ study: z.string().min(1) }).passthrough();
