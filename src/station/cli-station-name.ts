/**
 * The `station` tag of a CLI command's own InfluxDB points (a run made directly on a board, not
 * through a station): env RRAM_STATION_NAME, else the name of a station running on this host on
 * the same store (the machine is that station's, so the hub groups the run with it), else this
 * host's name made a station name with `-cli` after it (a station started without --name is
 * named by the host alone: a direct run must not pass for one of its runs) - never untagged, so a
 * hub can tell whose run it is.
 */
import { hostname } from 'node:os';
import { checkStationName, defaultStationName } from './station-name.js';
import { pidAlive, readStationFiles } from './station-file.js';

export function cliStationName(store: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.RRAM_STATION_NAME !== undefined) return checkStationName(env.RRAM_STATION_NAME, 'RRAM_STATION_NAME');
  const here = readStationFiles(store).find((s) => s.entry.host === hostname() && s.entry.name && pidAlive(s.entry.pid));
  return here?.entry.name ?? `${defaultStationName().slice(0, 60)}-cli`;
}
