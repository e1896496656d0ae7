/**
 * The stations file (`rram serve --stations FILE`, docs/formats.md "Stations file"): the shared
 * InfluxDB and the stations the hub's Stations page shows. It holds the stations' tokens, so it is
 * a file of its own (not rram.config.json, which a lab shares): the hub reads it once at start.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DataError } from '../../drivers/errors.js';
import { parseFile, parseJsonText } from '../io/validate.js';
import { STATION_NAME } from '../station/station-name.js';
import { InfluxUrl } from '../io/schemas/config.js';

const StationRef = z
  .object({
    name: z.string().regex(STATION_NAME, 'must be 1-64 letters, digits, "-", "_" or "." (the station\'s --name)'),
    url: z
      .string()
      .regex(/^https?:\/\/[^/\s]+\/?$/, 'must be the station\'s base URL, e.g. http://10.0.0.5:8080')
      .transform((u) => u.replace(/\/$/, '')),
    /** The station's token (its --token, or the one it printed): sent to it server-side only. */
    token: z.string().min(1).optional(),
  })
  .strict();

export const StationsFile = z
  .object({
    /** The InfluxDB 1.x every station writes to: http://HOST:PORT/DB. */
    influx: InfluxUrl,
    stations: z.array(StationRef).min(1, 'must name at least one station'),
    /** How far back the page looks for runs in InfluxDB (hours, default 24): every query is bounded at both ends. */
    window_h: z.number().positive().max(24 * 366).optional(),
  })
  .strict();
export type StationsFile = z.infer<typeof StationsFile>;
export type StationRef = StationsFile['stations'][number];

export function readStationsFile(file: string): StationsFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DataError(file, `cannot read the stations file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const cfg = parseFile(StationsFile, parseJsonText(text, file), file);
  const seen = new Set<string>();
  cfg.stations.forEach((s, k) => {
    if (seen.has(s.name)) throw new DataError(file, `stations[${k}].name = ${JSON.stringify(s.name)}: named twice (each station's name tags its points)`);
    seen.add(s.name);
  });
  return cfg;
}
