/** `rram study ...`: the seed papers' studies as commands (issue 16: `rram study bnn`). */
import { numberList } from '../../io/number-table.js';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { loadDataset, parseDatasetName } from '../../inference/datasets.js';
import { initTf, tf } from '../../inference/tf-backend.js';
import { bnnStudy, studyMarkdown } from '../../inference/bnn/study.js';
import { num } from '../parse.js';
import { printJson } from '../output.js';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFolderFiles } from '../../io/folder-files.js';
import { JobResources, splitDigest } from '../../inference/job-resources.js';
import { BNN_NET_JOB } from '../../inference/bnn/net-job.js';
import { studyNets } from '../../inference/bnn/study.js';
import type { QueueTask, Ran } from '../../queue/job.js';
import type { QueueUrl } from '../../queue/redis-url.js';
import { LOCAL } from '../../studies/executors.js';
import { MAX_REPLICATES } from '../../studies/replicates.js';
import { runTasks } from '../../studies/run-jobs.js';
import { executorFor, queueOption, type ExecutorFactory } from './run-where.js';
import { registerMcStudies, registerSynapseBudget } from './study-mc.js';

export function registerStudy(program: Command): void {
  const study = program.command('study').description('the seed papers\' studies, our numbers beside theirs');
  registerSynapseBudget(study);
  registerMcStudies(study);
  study
    .command('bnn')
    .description('seed 003 (binary nets, batch-norm merging): Tables 1-5 regenerated; every trained net kept in OUT/nets (a rerun resumes)')
    .option('--dataset <name>', 'mnist | fashion', 'mnist')
    .option('--data <dir>', 'folder with the IDX files')
    .option('--epochs <n>', 'training epochs per net', num('--epochs', { int: true, min: 1, max: 1000 }), 20)
    .option('--seed <n>', 'seed of every net', num('--seed', { min: 0, max: 4294967295, int: true }), 1)
    .option('--tables <list>', 'which of Tables 1-5', '1,2,3,4,5')
    .option('--out <dir>', 'study folder (study.json, study.md, nets/)', 'study-bnn')
    .option('--replicates <k>', 'seeds per net: each row is the mean ± sd over them (replicate 0 uses --seed)', num('--replicates', { int: true, min: 1, max: MAX_REPLICATES }), 1)
    .option('--queue <url>', 'train the nets on rram workers through Redis: redis://HOST:PORT[/DB] (docs/queue.md)', queueOption)
    .option('--json', 'print the rows as JSON')
    .action(async (f: BnnFlags) => {
      const tables = numberList('--tables', f.tables);
      if (!tables.length || tables.some((t) => !Number.isInteger(t) || t < 1 || t > 5)) throw new InvalidArgumentError('--tables', f.tables, 'expected a list of 1..5, e.g. 1,4');
      const exec = await executorFor(f);
      const name = parseDatasetName(f.dataset);
      const trained = await trainMissingNets(f, tables, exec);
      const ds = loadDataset(name, f.data);
      const backend = await initTf();
      const rows = await bnnStudy(tf, backend, ds, {
        out: f.out,
        epochs: f.epochs,
        seed: f.seed,
        tables,
        replicates: f.replicates,
        onNet: (key, acc, s, now) => {
          const ran = trained.get(key);
          process.stderr.write(`${key}: ${acc.toFixed(2)} % (${ran ? `trained in ${ran.seconds.toFixed(0)} s${ran.worker === LOCAL ? '' : ` on ${ran.worker}`}` : now ? `trained in ${s.toFixed(0)} s` : 'kept from an earlier run'})\n`);
        },
      });
      if (f.json) printJson(rows);
      else process.stdout.write(studyMarkdown(rows) + `\nwrote ${f.out}/study.json and ${f.out}/study.md\n`);
    });
}

interface BnnFlags {
  dataset: string;
  data?: string;
  epochs: number;
  seed: number;
  tables: string;
  out: string;
  replicates: number;
  queue?: QueueUrl;
  json?: boolean;
}

/** The nets the tables need and OUT/nets lacks, trained as jobs (in process, or on the queue's workers); their files land in OUT/nets/NAME/. */
async function trainMissingNets(f: BnnFlags, tables: number[], exec: ExecutorFactory): Promise<Map<string, Ran>> {
  const resources = new JobResources();
  const digest = splitDigest(resources.testSplit({ name: f.dataset }, f.data));
  const missing = studyNets(tables, f.seed, f.replicates).filter((n) => !existsSync(join(f.out, 'nets', n.name, 'bnn.json')));
  const trained = new Map<string, Ran>();
  if (!missing.length) return trained;
  const tasks: QueueTask[] = missing.map((n) => ({ key: n.name, job: { kind: BNN_NET_JOB, key: n.name, content: { net: n, epochs: f.epochs, dataset: { name: f.dataset, digest } }, where: { data: f.data && resolve(f.data) } }, weight: f.epochs }));
  await runTasks(exec(resources), tasks, {
    label: 'study bnn',
    unit: 'epochs',
    onResult: (key, result, ran) => {
      writeFolderFiles(join(f.out, 'nets', key), (result as { files: Record<string, string> }).files);
      trained.set(key, ran);
    },
  });
  return trained;
}
