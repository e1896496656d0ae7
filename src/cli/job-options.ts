/** Options shared by commands that run jobs: store, InfluxDB, resume, engine knobs. */
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFile, parseJsonText } from '../io/validate.js';
import { RramConfigFile } from '../io/schemas/config.js';
import { DataError } from '../../drivers/errors.js';
import { EmbeddedStore } from '../store/embedded-store.js';
import type { Sink } from '../jobs/run-job.js';
import type { InfluxSink } from '../store/influx-sink.js';
import { num } from './parse.js';
import { cliStationName } from '../station/cli-station-name.js';
import { addStoreOption } from './board-options.js';
import { addMetadataOptions, metadataFromFlags, type MetadataFlags } from './metadata-flags.js';
import type { RunMetadata } from '../io/schemas/run-metadata.js';

export interface JobFlags extends MetadataFlags {
  store: string;
  influx?: string;
  concurrency: number;
  resume?: string;
}

export { defaultStoreDir } from './board-options.js';

export function addJobOptions(c: Command): Command {
  return addMetadataOptions(addStoreOption(c))
    .option('--influx <url>', 'also write to InfluxDB 1.x at http://HOST:PORT/DB')
    .option('--concurrency <n>', 'cells programmed at once', num('--concurrency', { min: 1, max: 4096, int: true }), 64)
    .option('--resume <runId>', 'continue an interrupted run: cells in its journal are not pulsed again');
}

/**
 * The InfluxDB URL: --influx, else env RRAM_INFLUX, else the `influx` key of the config file
 * (RRAM_CONFIG, default ./rram.config.json) - so a lab sets its server once.
 */
export function influxUrl(flag?: string): string | undefined {
  if (flag) return flag;
  if (process.env.RRAM_INFLUX) return process.env.RRAM_INFLUX;
  const file = process.env.RRAM_CONFIG ?? join(process.cwd(), 'rram.config.json');
  if (!existsSync(file)) return undefined;
  return parseFile(RramConfigFile, parseJsonText(readFileSync(file, 'utf8'), file), file).influx;
}

/** Opens the InfluxDB sink for `url`, spilling into this process's own folder under the store; `station` tags every point. */
export async function openInfluxSink(url: string, storeDir: string, station?: string): Promise<InfluxSink> {
  const { InfluxSink, parseInfluxUrl } = await import('../store/influx-sink.js');
  const { claimSpillDir } = await import('../store/spill-dir.js');
  const target = parseInfluxUrl(url);
  return InfluxSink.create({ ...target, station, spillDir: claimSpillDir(join(storeDir, 'influx-spill')) });
}

/** Tells the user where points the server did not take are waiting, and how they get sent. */
export function reportInfluxBacklog(sink: InfluxSink): void {
  const pending = sink.pendingOnDisk();
  if (pending) process.stderr.write(`rram: InfluxDB did not take ${pending} points (${sink.lastError}); they are kept in ${sink.spillDir} and sent by the next job with InfluxDB or by \`rram influx-flush\`\n`);
  if (sink.stats.rejected) process.stderr.write(`rram: InfluxDB refused ${sink.stats.rejected} points as malformed (${sink.lastError}); kept in ${sink.spillDir}/rejected-*.lp\n`);
}

/** The InfluxDB sink when one is configured (flag, env or config file), for one CLI job. */
export async function influxSinks(flag: string | undefined, storeDir: string): Promise<Sink[]> {
  const url = influxUrl(flag);
  if (!url) return [];
  const sink = await openInfluxSink(url, storeDir, cliStationName(storeDir));
  return [
    {
      attach: (e$) => sink.attach(e$),
      close: async () => {
        await sink.close();
        reportInfluxBacklog(sink);
      },
    },
  ];
}

/** The store, the sinks and the run metadata a CLI job writes with (metadata checked before anything opens). */
export async function openSinks(f: JobFlags): Promise<{ store: EmbeddedStore; sinks: Sink[]; metadata: RunMetadata }> {
  const metadata = metadataFromFlags(f);
  return { store: new EmbeddedStore(f.store), sinks: await influxSinks(f.influx, f.store), metadata };
}

/** Ctrl-C aborts cleanly (the engine grounds the board and keeps what it measured); twice forces exit. */
export function abortOnSigint(): AbortController {
  const ac = new AbortController();
  let n = 0;
  process.on('SIGINT', () => {
    if (++n > 1) process.exit(130);
    process.stderr.write('\nrram: aborting after the current round (Ctrl-C again to force)\n');
    ac.abort();
  });
  return ac;
}
