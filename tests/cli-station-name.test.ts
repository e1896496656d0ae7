/**
 * The `station` tag of a CLI command's own InfluxDB points (issue 29): RRAM_STATION_NAME when set
 * (checked like --name), else the name of a live station on this host and store, else this host's
 * name made a station name and `-cli` (a default-named station is the host alone) - never untagged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliStationName } from '../src/station/cli-station-name.js';
import { defaultStationName } from '../src/station/station-name.js';

const entry = (pid: number, name?: string, host = hostname()) => ({ url: 'http://127.0.0.1:8080', pid, host, started: new Date().toISOString(), token: 't', boards: [{ id: 'board0', key: 'emulated:1' }], ...(name ? { name } : {}) });

test('a CLI run\'s station tag: the env name, else a live station on this host and store, else the host name', () => {
  const store = mkdtempSync(join(tmpdir(), 'cli-station-'));
  mkdirSync(join(store, 'stations'));
  assert.equal(cliStationName(store, {}), `${defaultStationName().slice(0, 60)}-cli`, 'no station: the host name, as a direct run (not the default-named station)');
  // A station of this host whose process is gone, and a live one on another host: neither is this machine's station now.
  writeFileSync(join(store, 'stations', 'dead.json'), JSON.stringify(entry(2 ** 22 + 12345, 'gone-1')));
  writeFileSync(join(store, 'stations', 'other.json'), JSON.stringify(entry(process.pid, 'far-2', `${hostname()}-elsewhere`)));
  assert.equal(cliStationName(store, {}), `${defaultStationName().slice(0, 60)}-cli`);
  writeFileSync(join(store, 'stations', 'live.json'), JSON.stringify(entry(process.pid, 'probe-1')));
  assert.equal(cliStationName(store, {}), 'probe-1', 'the live station of this host');
  assert.equal(cliStationName(store, { RRAM_STATION_NAME: 'bench-7' }), 'bench-7', 'the env wins');
  assert.throws(() => cliStationName(store, { RRAM_STATION_NAME: 'bench 7' }), /RRAM_STATION_NAME="bench 7": a station name is/);
});
