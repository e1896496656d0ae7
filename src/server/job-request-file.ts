/**
 * A station job's request, kept in its run folder (`request.json`, docs/formats.md): what a
 * resume from the dashboard queues again. Written when the run starts; a run started elsewhere
 * (the CLI directly) has none, and its request is rebuilt from its recorded parameters where
 * they say everything (src/server/resume-run.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { parseFile, parseJsonText } from '../io/validate.js';
import { writeAtomic, type EmbeddedStore } from '../store/embedded-store.js';
import type { JobRequest } from './job-requests.js';

export const REQUEST_FILE = 'request.json';

const RequestFile = z.object({ format: z.literal('rram-hil/job-request'), version: z.literal(1), request: z.record(z.unknown(), { invalid_type_error: 'must be a job request object' }) }).strict();

export function saveJobRequest(store: EmbeddedStore, runId: string, req: JobRequest): void {
  const { resume: _r, ...plain } = req as JobRequest & { resume?: unknown };
  try {
    writeAtomic(join(store.runDir(runId), REQUEST_FILE), JSON.stringify({ format: 'rram-hil/job-request', version: 1, request: plain }, null, 1));
  } catch (e) {
    // The run goes on; only a resume from the dashboard needs the file (the CLI's --resume does not).
    process.stderr.write(`rram serve: could not keep run ${runId}'s request: ${(e as Error).message}\n`);
  }
}

/** The stored request (unchecked: the caller validates it with the job schemas), or undefined. */
export function storedJobRequest(store: EmbeddedStore, runId: string): unknown {
  const f = join(store.runDir(runId), REQUEST_FILE);
  if (!existsSync(f)) return undefined;
  return parseFile(RequestFile, parseJsonText(readFileSync(f, 'utf8'), f), f).request;
}
