/**
 * One way to validate what comes in (issue 25): a zod schema per file format and request body,
 * and one error shape for all of them: `WHERE: FIELD.PATH = VALUE: what is wrong`, naming the file
 * (or the API route), the field's path and the value found.
 */
import type { z } from 'zod';
import { DataError, InvalidArgumentError } from '../../drivers/errors.js';
import { describeIssue } from '../../lib/zod-issue.js';

export { describeIssue };

const shown = (v: unknown) => {
  const s = v === undefined ? 'missing' : JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/** Parses a file's content with its schema; DataError(file, "path = value: message") otherwise. */
export function parseFile<T extends z.ZodTypeAny>(schema: T, value: unknown, file: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const d = describeIssue(value, r.error);
  throw new DataError(file, `${d.path} = ${shown(d.value)}: ${d.message}`);
}

/** Parses a request body (or flag object) with its schema; InvalidArgumentError(field path, value, message) otherwise. */
export function parseBody<T extends z.ZodTypeAny>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const d = describeIssue(value, r.error);
  throw new InvalidArgumentError(d.path, d.value, d.message);
}

/** JSON.parse that names the file when the text is not JSON. */
export function parseJsonText(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DataError(file, `not valid JSON (${(e as Error).message})`);
  }
}
