/** `rram study ...`: the seed papers' studies as commands (issue 16: `rram study bnn`). */
import { numberList } from '../../io/number-table.js';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { loadDataset, parseDatasetName } from '../../inference/datasets.js';
import { initTf, tf } from '../../inference/tf-backend.js';
import { bnnStudy, studyMarkdown } from '../../inference/bnn/study.js';
import { num } from '../parse.js';
import { printJson } from '../output.js';
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
    .option('--json', 'print the rows as JSON')
    .action(async (f: { dataset: string; data?: string; epochs: number; seed: number; tables: string; out: string; json?: boolean }) => {
      const tables = numberList('--tables', f.tables);
      if (!tables.length || tables.some((t) => !Number.isInteger(t) || t < 1 || t > 5)) throw new InvalidArgumentError('--tables', f.tables, 'expected a list of 1..5, e.g. 1,4');
      const ds = loadDataset(parseDatasetName(f.dataset), f.data);
      const backend = await initTf();
      const rows = await bnnStudy(tf, backend, ds, {
        out: f.out,
        epochs: f.epochs,
        seed: f.seed,
        tables,
        onNet: (key, acc, s, trained) => process.stderr.write(`${key}: ${acc.toFixed(2)} % (${trained ? `trained in ${s.toFixed(0)} s` : 'kept from an earlier run'})\n`),
      });
      if (f.json) printJson(rows);
      else process.stdout.write(studyMarkdown(rows) + `\nwrote ${f.out}/study.json and ${f.out}/study.md\n`);
    });
}
