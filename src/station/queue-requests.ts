/** The station's queue requests (docs/server.md "Station and queues"), validated by zod through parseBody. */
import { z } from 'zod';

const line = (max: number) => z.string({ invalid_type_error: 'must be a string' }).min(1, 'must not be empty').max(max, `at most ${max} characters`).regex(/^[^\p{Cc}]*$/u, 'one line of text: no control characters');
const position = z.number({ invalid_type_error: 'must be an integer >= 0' }).int('must be an integer >= 0').gte(0, 'must be an integer >= 0');

/** POST /api/boards/:board/queue: a job request (the body of POST /api/jobs) and where it goes. */
export const AddBody = z.object({ request: z.record(z.unknown(), { invalid_type_error: 'must be a job request object (as POST /api/jobs takes)' }), position: position.optional(), submitter: line(200).optional() }).strict();
export const MoveBody = z.object({ position }).strict();
export const AbortBody = z.object({ id: z.string().regex(/^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$/, 'must be a run id').optional() }).strict();
/** A lock's key: long enough not to be guessed by a colleague's typo. */
export const LockBody = z.object({ key: z.string({ invalid_type_error: 'must be a string' }).min(8, 'at least 8 characters').max(200, 'at most 200 characters'), note: line(200).optional() }).strict();
/** POST /api/boards/:board/reconnect: nothing to say (an empty object, or no body). */
export const ReconnectBody = z.object({}).strict();
export const UnlockBody = z.object({ key: z.string({ invalid_type_error: 'must be a string' }).min(1, 'must not be empty').max(200, 'at most 200 characters') }).strict();
