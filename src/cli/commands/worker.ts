/** `rram worker --queue URL`: run study and sweep points from the BullMQ queue (docs/queue.md). */
import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { checkRedis } from '../../queue/redis-check.js';
import type { QueueUrl } from '../../queue/redis-url.js';
import { QUEUE_NAME } from '../../queue/job.js';
import { num } from '../parse.js';
import { queueOption } from './run-where.js';

const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run the points of `rram study ... --queue` and `rram infer --sweep ... --queue` from a BullMQ queue on Redis')
    .requiredOption('--queue <url>', 'redis://HOST:PORT[/DB] (rediss:// for TLS, redis://:PASSWORD@HOST:PORT/DB)', queueOption)
    .option('--concurrency <n>', 'jobs at once, each in its own thread (default: cores)', num('--concurrency', { int: true, min: 1, max: 256 }))
    .option('--threads <n>', 'Monte Carlo trial threads per job', num('--threads', { int: true, min: 1, max: 64 }), 1)
    .action(async (f: { queue: QueueUrl; concurrency?: number; threads: number }) => {
      const { version } = await checkRedis(f.queue);
      const { startWorker, workerName } = await import('../../queue/worker.js'); // BullMQ loads only here
      const concurrency = f.concurrency ?? availableParallelism();
      const w = startWorker({ url: f.queue, processor: fileURLToPath(new URL('../../studies/job-processor.js', import.meta.url)), concurrency, env: { RRAM_JOB_THREADS: String(f.threads) }, log });
      await w.waitUntilReady();
      log(`worker ${workerName()} serving ${QUEUE_NAME} at ${f.queue.shown} (Redis ${version}): ${concurrency} job(s) at once, ${f.threads} trial thread(s) each`);
      let stopping = false;
      const stop = () => {
        if (stopping) process.exit(130); // a second Ctrl-C: at once; the running jobs go back to the queue when their locks expire
        stopping = true;
        log('stopping: finishing the running jobs (Ctrl-C again to stop at once)');
        void w.close().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      await new Promise(() => undefined); // until a signal
    });
}
