/**
 * `rram.config.json` (RRAM_CONFIG): settings a lab writes once (docs/formats.md). Strict: a key
 * this version does not know (a typo like `influxdb`) is refused by name, not silently ignored.
 */
import { z } from 'zod';

/** An InfluxDB 1.x database: http://HOST:PORT/DB. */
export const InfluxUrl = z.string().regex(/^http:\/\/[^/:]+:\d+\/[A-Za-z0-9_-]+\/?$/, 'must be a URL like http://127.0.0.1:8086/rram');

export const RramConfigFile = z
  .object({
    /** InfluxDB 1.x for every run: http://HOST:PORT/DB. */
    influx: InfluxUrl.optional(),
  })
  .strict();
export type RramConfigFile = z.infer<typeof RramConfigFile>;
