/** `--queue URL` for the commands that run points (studies, `rram infer`): in process by default, on the queue when given. */
import { InvalidArgumentError } from '../../../drivers/errors.js';
import type { JobResources } from '../../inference/job-resources.js';
import { parseJobOrder } from '../../queue/job.js';
import { checkRedis } from '../../queue/redis-check.js';
import { parseQueueUrl, type QueueUrl } from '../../queue/redis-url.js';
import { inProcess, onQueue, type Executor } from '../../studies/executors.js';

export const queueOption = (raw: string): QueueUrl => parseQueueUrl(raw);

export type ExecutorFactory = (resources: JobResources, concurrency?: number) => Executor;

/**
 * In process (the default), or the queue of --queue, whose Redis is checked now: before any
 * work. Thread flags belong to this process; with --queue each worker's own flags decide.
 * RRAM_QUEUE_ORDER=reverse|shuffle:SEED adds the jobs in another order (a test knob).
 */
export async function executorFor(f: { queue?: QueueUrl; workers?: number; trainers?: number }): Promise<ExecutorFactory> {
  if (!f.queue) return (resources, concurrency) => inProcess({ resources, threads: f.workers }, concurrency);
  for (const flag of ['workers', 'trainers'] as const) if (f[flag] !== undefined) throw new InvalidArgumentError(`--${flag}`, f[flag], 'sets threads in this process; with --queue each worker\'s --concurrency and --threads do');
  await checkRedis(f.queue);
  const order = parseJobOrder(process.env.RRAM_QUEUE_ORDER);
  const q = f.queue;
  return () => onQueue(q, order);
}
