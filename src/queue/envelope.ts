/**
 * What a worker reads from Redis and a submitter reads back, checked before use (issue 30): Redis
 * is shared and outlives versions, so a job written by another version, a hand-edited key or a
 * result cut short must be refused naming the job, the field and the value, never cast and run.
 * The kinds' own content and result schemas live with the kinds (src/studies/job-schemas.ts).
 */
import { z } from 'zod';
import { parseFile } from '../io/validate.js';
import type { JobProgress, JobReturn, QueuedJob } from './job.js';

export const queuedJobSchema = z
  .object({
    kind: z.string().min(1),
    key: z.string().min(1),
    content: z.unknown().refine((v) => v !== undefined && v !== null, 'a job needs content'),
    where: z.unknown().optional(),
  })
  .strict();

export const ranSchema = z.object({ worker: z.string().min(1), seconds: z.number().finite().nonnegative() }).strict();

export const jobReturnSchema = z
  .object({ result: z.unknown().refine((v) => v !== undefined, 'a finished job needs a result'), ran: ranSchema })
  .strict();

export const jobProgressSchema = z
  .object({ done: z.number().finite().nonnegative(), total: z.number().finite().positive() })
  .refine((p) => p.done <= p.total, 'done exceeds total');

/** Parses with `schema` or throws DataError("WHAT: path = value: message"), the one error shape of every input. */
export const checked = parseFile;

export const checkQueuedJob = (data: unknown, id: string | undefined): QueuedJob => checked(queuedJobSchema, data, `queue job ${id ?? '?'}`) as QueuedJob;
export const checkJobReturn = (value: unknown, key: string, id: string): JobReturn => checked(jobReturnSchema, value, `the result of point ${key} on the queue (job ${id})`) as JobReturn;
/** Progress is best effort: a malformed one is ignored, not fatal. */
export const progressOf = (value: unknown): JobProgress | undefined => {
  const r = jobProgressSchema.safeParse(value);
  return r.success ? r.data : undefined;
};
