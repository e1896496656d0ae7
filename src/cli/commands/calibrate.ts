/** `rram calibrate`: refit relaxation and read noise from the HfOx measurements. */
import type { Command } from 'commander';
import { join } from 'node:path';
import { calibrateFile } from '../../../calibration/apply-fit.js';
import { DEFAULT_CALIBRATION_FILE } from '../../../calibration/calibration.js';
import { repoRoot } from '../../../lib/repo-root.js';
import { printJson } from '../output.js';

export function registerCalibrate(program: Command): void {
  program
    .command('calibrate')
    .description('fit the relaxation table and read noise to measured HfOx data (fit on even cells, check on odd)')
    .option('--data <dir>', 'hfox-relaxation data folder', join(repoRoot(), '..', 'shared', 'data', 'hfox-relaxation', 'data'))
    .option('--base <file>', 'calibration file to start from', join(repoRoot(), DEFAULT_CALIBRATION_FILE))
    .requiredOption('--out <file>', 'where to write the calibrated file')
    .option('--json', 'JSON report')
    .action((o: { data: string; base: string; out: string; json?: boolean }) => {
      const r = calibrateFile(o.base, o.data, o.out);
      if (o.json) printJson(r);
      else
        process.stdout.write(
          `fitted on ${r.cells} cells: hold-out sigma error median ${(r.holdoutMedianRelErr * 100).toFixed(1)} %, max ${(r.holdoutMaxRelErr * 100).toFixed(1)} %; read noise ${(r.readNoise.a_S * 1e6).toFixed(3)} uS\nwrote ${o.out}\n`,
        );
    });
}
