/** Options shared by commands that run jobs: store, InfluxDB, resume, engine knobs. */
import type { Command } from 'commander';
import { join } from 'node:path';
import { EmbeddedStore } from '../store/embedded-store.js';
import type { Sink } from '../jobs/run-job.js';
import { num } from './parse.js';

export interface JobFlags {
  store: string;
  influx?: string;
  concurrency: number;
  resume?: string;
}

export function defaultStoreDir(): string {
  return process.env.RRAM_STORE ?? join(process.cwd(), 'rram-data');
}

export function addJobOptions(c: Command): Command {
  return c
    .option('--store <dir>', 'embedded store folder (env RRAM_STORE; default ./rram-data)', defaultStoreDir())
    .option('--influx <url>', 'also write to InfluxDB 1.x at http://HOST:PORT/DB')
    .option('--concurrency <n>', 'cells programmed at once', num('--concurrency', { min: 1, max: 4096, int: true }), 64)
    .option('--resume <runId>', 'continue an interrupted run: cells in its journal are not pulsed again');
}

export async function openSinks(f: JobFlags): Promise<{ store: EmbeddedStore; sinks: Sink[] }> {
  const store = new EmbeddedStore(f.store);
  const sinks: Sink[] = [];
  if (f.influx) {
    const { InfluxSink, parseInfluxUrl } = await import('../store/influx-sink.js');
    sinks.push(await InfluxSink.create({ ...parseInfluxUrl(f.influx), spillDir: join(f.store, 'influx-spill') }));
  }
  return { store, sinks };
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
