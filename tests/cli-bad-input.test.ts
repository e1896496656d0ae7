/**
 * Bad input found by probing the CLI cold (empty values, unwritable outputs, values past what a
 * board can be, lists that expand without end, files of the wrong kind): each is refused before
 * any work with exit 2 and a message naming the flag or file field and its value, never a stack
 * trace, and a refused pulse leaves no run behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';
import { InvalidArgumentError, shownValue } from '../drivers/errors.js';
import { LevelCdfFile } from '../src/io/schemas/level-cdf.js';
import { validateCalibration } from '../calibration/calibration.js';

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'cli-bad-'));
const rram = (...args: string[]) => spawnSync(process.execPath, ['--max-old-space-size=256', main, ...args], { encoding: 'utf8', cwd: dir, timeout: 60000 });

test('each refused before any work: exit 2, the flag and its value named, no stack trace', () => {
  const S = join(dir, 'store');
  assert.equal(rram('read', '--cell', '1,1', '--store', S).status, 0);
  const [run] = readdirSync(join(S, 'runs'));
  mkdirSync(join(dir, 'afolder'));
  writeFileSync(join(dir, 'obj.json'), '{}');
  const nines = '9'.repeat(400);
  const cases: [string[], RegExp][] = [
    [['runs', '--store', ''], /--store="": must not be empty/],
    [['runs', '--store', '', 'prune', '--older-than', '1000w', '--dry-run'], /--store="": must not be empty/],
    [['program-net', '--model', 'm', '--dataset', 'mnist', '--device', 'ideal', '--out', ' '], /--out=" ": must not be empty/],
    [['export', '--store', S, '--run', run, '--out', join(dir, 'nodir', 'x.csv')], /--out=".*nodir.*": its folder .* does not exist/],
    [['export', '--store', S, '--run', run, '--format', 'hdf5', '--out', join(dir, 'afolder')], /--out=".*afolder": is a folder/],
    [['retention', '--store', S, '--levels', '2', '--cells-per-level', '1', '--times', '1s,1.000000001s,...,1w'], /--times=.*expands to more than 1000 times/],
    [['characterize', '--store', S, '--levels', '2', '--cells-per-level', '2', '--reverify', `${nines}s`], /--reverify="9+\.\.\. \(\d+ characters\): is not a finite duration/],
    [['wv-bench', '--store', S, '--levels', '2', '--cells-per-level', '1', '--algos', 'igvva', '--relax', '0s'], /--relax="0s": times must be positive/],
    [['characterize', '--store', S, '--levels', '2', '--cells-per-level', '1', '--relax', '0s'], /--relax="0s": times must be positive/],
    [['read', '--store', S, '--cell', '1,1', '--influx', 'http://h:99999/db'], /--influx=".*": port 99999 is not a TCP port/],
    [['info', '--store', S, '--limits', 'vte_max=1e6'], /--limits vte_max="1e6": must be within/],
    [['info', '--store', S, '--limits', 'vte_max=2,vte_max=3'], /gives vte_max twice/],
    [['program-net', '--model', 'm', '--dataset', 'mnist', '--device', 'ideal', '--use-arrays', '0,0'], /--use-arrays="0,0": names an array twice/],
    [['infer', '--model', 'm', '--dataset', 'mnist', '--device', 'gaussian:5%', '--sweep', 'levels=', '--no-record'], /sweep="levels=": levels has an empty value/],
    [['infer', '--model', 'm', '--dataset', 'mnist', '--device', join(dir, 'afolder'), '--no-record'], /afolder: is a folder, not a file/],
    [['calibrate', '--store', S, '--out', join(dir, 'c.json'), '--id', 'x'.repeat(101)], /--id=".*": must be 1\.\.100 printable ASCII/],
    [['pulse', 'reset', '--store', S, '--cell', '1,1', '--vte', '1', '--vg', '1'], /--vsl \(not given\): reset needs --vsl V/],
    [['pulse', 'reset', '--store', S, '--cell', '1,1', '--vsl', '1', '--vte', '1', '--vg', '2'], /--vte=1: a reset drives the source line/],
    [['pulse', 'set', '--store', S, '--cell', '1,1', '--vte', '1.2', '--vsl', '1', '--vg', '1'], /--vsl=1: a set drives the top electrode/],
    [['program', '--store', S, '--levels', '2', '--cells', join(dir, 'obj.json')], /obj\.json: a JSON object: --cells takes a JSON list/],
    [['iv', '--store', S, '--vg', '1', '--compliance', '10uA'], /--compliance="10uA": with --vg 1: the gate is given/],
    [['endurance', '--store', S, '--cycles', '10', '--vg', '1', '--compliance', '10uA'], /--compliance="10uA": with --vg 1/],
    [['program-net', '--model', 'm', '--dataset', 'mnist', '--device', 'ideal', '--fine-tune-epochs', '0'], /--fine-tune-epochs=0: applies with --fine-tune progressive only/],
    [['read', '--store', S, '--cell', '1,1', '--json', '--csv'], /--csv=true: with --json: give one output format/],
    [['read', '--store', S, '--cell', '1,1', '--row', '2'], /--cell\/--row\/--all="--cell --row": give exactly one/],
  ];
  for (const [args, re] of cases) {
    const r = rram(...args);
    assert.equal(r.status, 2, `${args.join(' ').slice(0, 200)} -> ${r.status} ${r.stderr.slice(0, 300)}`);
    assert.match(r.stderr, re, `${args.join(' ').slice(0, 200)} -> ${r.stderr.slice(0, 300)}`);
    assert.doesNotMatch(r.stderr, /\n\s+at |TypeError|undefined|=null/, `${args[0]}: ${r.stderr.slice(0, 300)}`);
    assert.ok(r.stderr.length < 2000, `${args[0]}: a message of ${r.stderr.length} characters`);
  }
  assert.equal(existsSync(join(dir, 'runs')), false, 'an empty --store made no store in the working folder');
});

test('a pulse outside the board\'s limits is refused before any record: no run, no pulse of unknown outcome', () => {
  const S = join(dir, 'pulses');
  for (const extra of [['--vte', '100'], ['--vte', '1.2', '--width', '0'], ['--vte', '1.2', '--vg', '9']]) {
    const r = rram('pulse', 'set', '--store', S, '--cell', '1,1', '--vg', '1', ...extra);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /(vte_V|width_s|vg_V)=\S+ is (above the maximum|below the minimum)/);
    assert.doesNotMatch(r.stderr + r.stdout, /unknown outcome|resume/);
  }
  assert.ok(!existsSync(join(S, 'runs')) || readdirSync(join(S, 'runs')).length === 0, 'no run stored');
});

test('files of the wrong shape: a level CDF with no levels and calibrations with negative spreads or a zero cap are refused naming the field', () => {
  const cdf = LevelCdfFile.safeParse({ format: 'rram-hil/level-cdf', levels: [] });
  assert.equal(cdf.success, false);
  assert.match(JSON.stringify(!cdf.success && cdf.error.issues), /needs at least 2 levels/);
  const good = JSON.parse(readFileSync(join(repoRoot(), 'calibration', 'ihp-hfo2-4kbit.json'), 'utf8'));
  validateCalibration(good);
  for (const [k, v, re] of [['form_v_sigma_V', -1, /form_v_sigma_V.*must not be negative/], ['vg_jitter_V', -0.01, /vg_jitter_V.*must not be negative/], ['g_cap_S', 0, /g_cap_S.*must be above 0/]] as const) {
    const c = structuredClone(good);
    c.params[k].value = v;
    assert.throws(() => validateCalibration(c), re);
  }
  // A voltage that may be negative (a threshold) still may.
  const t = structuredClone(good);
  t.params.transfer_v0_V.value = -0.1;
  validateCalibration(t);
});

test('values in messages: NaN and infinities by name, undefined as not given, long values cut', () => {
  assert.equal(shownValue(NaN), 'NaN');
  assert.equal(shownValue(-Infinity), '-Infinity');
  assert.equal(shownValue([1, NaN]), '[1,"NaN"]');
  assert.match(shownValue(Array.from({ length: 1e5 }, (_, k) => k)), /^\[0,1,2,.*\.\.\. \(\d+ characters\)$/);
  assert.ok(shownValue('x'.repeat(1e6)).length < 260);
  assert.match(new InvalidArgumentError('--vsl', undefined, 'needed').message, /^--vsl \(not given\): needed$/);
});
