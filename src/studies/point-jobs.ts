/**
 * Every kind of job a worker runs, by name: a study's Monte Carlo point, a synapse-budget net
 * (trained and evaluated), a binary net of the bnn study, a point of `rram infer --sweep`.
 */
import type { QueuedJob } from '../queue/job.js';
import { BNN_NET_JOB, runBnnNetJob, type BnnNetContent } from '../inference/bnn/net-job.js';
import { INFER_POINT_JOB, runInferPoint, type InferPointContent, type InferPointWhere } from '../inference/infer-point.js';
import { runSynapseNetJob, SYNAPSE_NET_JOB, type SynapseNetContent, type SynapseNetWhere } from './synapse-budget-run.js';
import { MC_POINT_JOB, runMcPointJob, type JobRunEnv, type McPointContent, type McPointWhere } from './mc-point-job.js';

export type JobEnv = JobRunEnv & {
  /** On a worker: return trained nets' files with the result (the submitter's folder is not here). */
  remote?: boolean;
};

/** Runs a job whose content was checked (job-schemas.ts: by the worker's processor, or the in-process executor). */
export async function runQueuedJob(job: QueuedJob, env: JobEnv): Promise<unknown> {
  switch (job.kind) {
    case MC_POINT_JOB:
      return runMcPointJob(job.content as McPointContent, job.where as McPointWhere, env);
    case SYNAPSE_NET_JOB:
      return runSynapseNetJob(job.content as SynapseNetContent, job.where as SynapseNetWhere, env);
    case INFER_POINT_JOB:
      return runInferPoint(job.content as InferPointContent, job.where as InferPointWhere, env);
    case BNN_NET_JOB:
      return runBnnNetJob(job.content as BnnNetContent, (job.where ?? {}) as { data?: string }, env);
    default:
      throw new Error(`unknown job kind ${job.kind} (a worker older or newer than the submitter?)`);
  }
}
