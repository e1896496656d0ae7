/**
 * `--cells FILE` as JSON: `[[row, col, level?], ...]` or `[{row, col, level?}, ...]` (docs/formats.md).
 * The shape is checked here; the bounds (the board's rows, columns, levels) by the reader.
 */
import { z } from 'zod';

const index = z.number({ invalid_type_error: 'must be an integer' }).int('must be an integer').nonnegative('must be >= 0');
export const CellListJson = z
  .array(z.union([z.tuple([index, index]), z.tuple([index, index, index]), z.object({ row: index, col: index, level: index.optional() }).strict()], { errorMap: () => ({ message: 'must be [row, col], [row, col, level] or {row, col, level}' }) }))
  .min(1, 'lists no cells');
export type CellListJson = z.infer<typeof CellListJson>;
