/** `rram influx-flush`: send points spilled while InfluxDB was unreachable, now, without a job. */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { EXIT } from '../errors.js';
import { defaultStoreDir, influxUrl, openInfluxSink, reportInfluxBacklog } from '../job-options.js';
import { num } from '../parse.js';

export function registerInfluxFlush(program: Command): void {
  program
    .command('influx-flush')
    .description('send the points spilled to disk while InfluxDB was unreachable, in order; delivery is at least once (a batch whose answer was lost is sent again) and each point is stored once, since a point sent again has the same series and timestamp and overwrites itself')
    .option('--influx <url>', 'InfluxDB 1.x at http://HOST:PORT/DB (default: env RRAM_INFLUX or the config file)')
    .option('--store <dir>', 'embedded store folder (env RRAM_STORE; default ./rram-data)', defaultStoreDir())
    .option('--timeout <s>', 'give up after this many seconds', num('--timeout', { min: 1 }), 60)
    .action(async (f: { influx?: string; store: string; timeout: number }) => {
      const url = influxUrl(f.influx);
      if (!url) throw new InvalidArgumentError('--influx', '(none)', 'no InfluxDB configured: give --influx http://HOST:PORT/DB, env RRAM_INFLUX or rram.config.json');
      const sink = await openInfluxSink(url, f.store);
      const before = sink.pendingOnDisk();
      await sink.drain(f.timeout * 1000);
      await sink.close();
      process.stdout.write(`rram: sent ${sink.stats.written} of ${before} spilled points to ${url}\n`);
      reportInfluxBacklog(sink);
      if (sink.pendingOnDisk()) process.exit(EXIT.failure);
    });
}
