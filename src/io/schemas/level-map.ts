/** A level map as JSON: rows of level indices, bare or as `{ "levels": [[...], ...] }` (docs/formats.md). */
import { z } from 'zod';

const rowsOf = z.array(z.array(z.number({ invalid_type_error: 'must be a level index (integer)' }).int('must be a level index (integer)').nonnegative('must be >= 0')));
export const LevelMapJson = z.union([rowsOf, z.object({ levels: rowsOf }).passthrough()], { errorMap: () => ({ message: 'must be an array of rows of level indices, or {"levels": [[...], ...]}' }) });
export type LevelMapJson = z.infer<typeof LevelMapJson>;
