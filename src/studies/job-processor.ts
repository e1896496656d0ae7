/**
 * The module each `rram worker` job thread loads (BullMQ's sandboxed processor): one set of loaded
 * nets and data sets per thread, reused from job to job. RRAM_JOB_THREADS is the worker's
 * --threads (trial threads per job).
 */
import { JobResources } from '../inference/job-resources.js';
import { sandboxedProcessor } from '../queue/processor.js';
import { checkJobInput } from './job-schemas.js';
import { runQueuedJob } from './point-jobs.js';

const resources = new JobResources();
const threads = Math.max(1, Number(process.env.RRAM_JOB_THREADS) || 1);

export default sandboxedProcessor(
  (job, cb) => runQueuedJob(job, { resources, threads, onProgress: cb.onProgress, remote: true }),
  (job) => checkJobInput(job.kind, job.key, job.content, job.where),
);
