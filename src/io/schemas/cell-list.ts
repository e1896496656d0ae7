/**
 * `--cells FILE` as JSON: `[[row, col, level?], ...]` or `[{row, col, level?}, ...]` (docs/formats.md).
 * The shape is checked here; the bounds (the board's rows, columns, levels) by the reader.
 */
import { z } from 'zod';

const index = (field: string) => z.number({ invalid_type_error: `${field} must be an integer`, required_error: `${field} is missing` }).int(`${field} must be an integer`).nonnegative(`${field} must be >= 0`);
const [row, col, level] = [index('row'), index('col'), index('level')];
const SHAPE = 'must be [row, col], [row, col, level] or {row, col, level}';
const shapeMap: z.ZodErrorMap = (i, ctx) => ({ message: i.code === 'invalid_union' || i.code === 'too_big' || i.code === 'too_small' ? SHAPE : ctx.defaultError });
export const CellListJson = z
  .array(z.union([z.tuple([row, col], { errorMap: shapeMap }), z.tuple([row, col, level], { errorMap: shapeMap }), z.object({ row, col, level: level.optional() }).strict()], { errorMap: shapeMap }))
  .min(1, 'lists no cells');
export type CellListJson = z.infer<typeof CellListJson>;
