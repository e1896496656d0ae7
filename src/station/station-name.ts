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

/** The default: this machine's host name (a host name that breaks the rule must be replaced with --name). */
export function defaultStationName(): string {
  const h = hostname();
  if (!STATION_NAME.test(h)) throw new InvalidArgumentError('--name', h, `the host name is no station name (${RULE}): give --name NAME`);
  return h;
}
