/**
 * A station's name (`rram serve --name`): the `station` tag on every InfluxDB point it writes and
 * the name the hub's Stations page shows. Letters, digits and `-_.` only, so it is a line-protocol
 * tag value and an InfluxQL string literal without any escaping.
 */
import { hostname } from 'node:os';
import { InvalidArgumentError } from '../../drivers/errors.js';

export const STATION_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const RULE = '1-64 letters, digits, "-", "_" or "."';

export function checkStationName(raw: string, field = '--name'): string {
  if (!STATION_NAME.test(raw)) throw new InvalidArgumentError(field, raw, `a station name is ${RULE}`);
  return raw;
}

/**
 * The default: this machine's host name, made a station name (other characters become "-", at most
 * 64), so that `rram serve` without --name starts on any machine.
 */
export function defaultStationName(host = hostname()): string {
  return host.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64) || 'station';
}
