/**
 * Nonsense is refused by name (issue 25): a level-CDF file with a null, a string, a negative current
 * beyond read noise or a 1 kA sample, one -1 mA sample among good ones, a spread without a unit.
 * Every refusal names the file, the field path and the value; the CLI exits non-zero before any work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadMeasuredLevels, parseDeviceSpec } from '../src/inference/device-models.js';
import { DataError, InvalidArgumentError } from '../drivers/errors.js';
import { repoRoot } from '../lib/repo-root.js';
import { influxUrl } from '../src/cli/job-options.js';
import { cellsFile } from '../src/cli/commands/programming.js';
import { readMapFile } from '../src/procedures/level-map.js';
import { loadModel } from '../src/inference/model-io.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { PointStore } from '../src/studies/point-store.js';

const dir = mkdtempSync(join(tmpdir(), 'rram-inputs-'));
const CLI = join(repoRoot(), 'dist/src/cli/main.js');

function cdf(levels: number[][]) {
  return { format: 'rram-hil/level-cdf', vread_V: 0.2, levels: levels.map((s) => ({ samples_A: s })) };
}
/** A sane 4-level file: HRS near 1 uA, LRS levels 10..40 uA, 20 samples each. */
const good = () => [1e-6, 1e-5, 2.5e-5, 4e-5].map((m, k) => Array.from({ length: 20 }, (_, i) => m * (1 + 0.05 * Math.sin(i + k))));

test('a sane level-CDF file loads; every nonsense sample in any position is refused naming file, field and value', () => {
  const ok = join(dir, 'ok.json');
  writeFileSync(ok, JSON.stringify(cdf(good())));
  assert.equal(loadMeasuredLevels(ok).pools.length, 4);
  const nonsense = fc.oneof(
    fc.constant(null),
    fc.constant('12uA'),
    fc.constant(true),
    fc.double({ min: -1e3, max: -2e-6, noNaN: true }), // negative beyond read noise (-1 uA)
    fc.double({ min: 0.0101, max: 1e6, noNaN: true }), // above 10 mA (1 kA among them)
    fc.constant(1e3),
    fc.constant(-1e-3),
  );
  fc.assert(
    fc.property(fc.nat(3), fc.nat(19), nonsense, (level, i, bad) => {
      const levels: unknown[][] = good();
      levels[level][i] = bad;
      const f = join(dir, 'bad.json');
      writeFileSync(f, JSON.stringify(cdf(levels as number[][])));
      assert.throws(
        () => loadMeasuredLevels(f),
        (e: unknown) => e instanceof DataError && e.message.includes(f) && e.message.includes(`levels[${level}].samples_A[${i}]`) && e.message.includes(JSON.stringify(bad)),
      );
    }),
    { numRuns: 200, seed: 25 },
  );
});

test('CSV level files: an empty, non-numeric or impossible field is refused with its line and field', () => {
  const rows = (v: string) => `level,current_A\n0,1e-6\n0,1.1e-6\n1,2e-5\n1,${v}\n`;
  const f = join(dir, 'l.csv');
  writeFileSync(f, rows('2.1e-5'));
  assert.equal(loadMeasuredLevels(f).pools.length, 2);
  for (const [v, why] of [
    ['', /line 5/],
    ['abc', /line 5/],
    ['-1e-3', /line 5, field 2 \(current_A\) = -0\.001/],
    ['1000', /line 5, field 2 \(current_A\) = 1000/],
  ] as const) {
    writeFileSync(f, rows(v));
    assert.throws(() => loadMeasuredLevels(f), (e: unknown) => e instanceof DataError && why.test(e.message) && e.message.includes(f), `value ${JSON.stringify(v)}`);
  }
});

test('device specs: a spread without a unit, of 0 or above 100 % is refused; units are honoured', () => {
  assert.throws(() => parseDeviceSpec('gaussian:0.05'), (e: unknown) => e instanceof InvalidArgumentError && /no unit/.test(e.message) && /gaussian:0\.05%/.test(e.message));
  assert.throws(() => parseDeviceSpec('gaussian:0%'), InvalidArgumentError);
  assert.throws(() => parseDeviceSpec('lognormal:150%'), InvalidArgumentError);
  assert.throws(() => parseDeviceSpec('lognormal:2uA'), InvalidArgumentError);
  assert.equal(parseDeviceSpec('gaussian:5%').sigmaRel, 0.05);
  assert.equal(parseDeviceSpec('gaussian:0.05%').sigmaRel, 0.0005);
  assert.ok(Math.abs(parseDeviceSpec('gaussian:0.5uA').sigmaAbs_A! - 5e-7) < 1e-18);
  fc.assert(
    fc.property(fc.double({ min: 1e-3, max: 100, noNaN: true }), (v) => {
      const s = parseDeviceSpec(`truncnorm:${v}%`);
      assert.ok(Math.abs(s.sigmaRel! - v / 100) < 1e-12);
    }),
    { seed: 7 },
  );
});

test('the CLI refuses a nonsense device file or spec before any work, naming it, with a non-zero exit', () => {
  const levels: unknown[][] = good();
  levels[2][7] = -1e-3;
  const f = join(dir, 'neg.json');
  writeFileSync(f, JSON.stringify(cdf(levels as number[][])));
  for (const device of [f, 'gaussian:0.05']) {
    const r = spawnSync(process.execPath, [CLI, 'infer', '--model', join(dir, 'no-model'), '--dataset', 'mnist', '--device', device], { encoding: 'utf8', timeout: 60000 });
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, device === f ? /levels\[2\]\.samples_A\[7\] = -0\.001/ : /device="gaussian:0\.05": the spread has no unit/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('every other file format has its schema: config, cell lists, level maps, model manifests, study params (file, field, value named)', async () => {
  const w = (name: string, text: string) => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };
  // rram.config.json: strict (a typo is not silently ignored), influx must be a URL.
  const old = process.env.RRAM_CONFIG;
  try {
    process.env.RRAM_CONFIG = w('cfg-ok.json', '{"influx": "http://127.0.0.1:8086/rram"}');
    assert.equal(influxUrl(), 'http://127.0.0.1:8086/rram');
    process.env.RRAM_CONFIG = w('cfg-typo.json', '{"influxdb": "http://127.0.0.1:8086/rram"}');
    assert.throws(() => influxUrl(), (e: unknown) => e instanceof DataError && /cfg-typo\.json/.test(e.message) && /influxdb/.test(e.message));
    process.env.RRAM_CONFIG = w('cfg-bad.json', '{"influx": 8086}');
    assert.throws(() => influxUrl(), (e: unknown) => e instanceof DataError && /influx = 8086/.test(e.message));
    process.env.RRAM_CONFIG = w('cfg-text.json', 'influx=http://x');
    assert.throws(() => influxUrl(), (e: unknown) => e instanceof DataError && /not valid JSON/.test(e.message));
  } finally {
    if (old === undefined) delete process.env.RRAM_CONFIG;
    else process.env.RRAM_CONFIG = old;
  }
  // --cells as JSON.
  assert.deepEqual(cellsFile(w('c-ok.json', '[[0,1,2],{"row":3,"col":4,"level":1}]'), 64, 64, 4).cells, [1, 3 * 64 + 4]);
  for (const [text, re] of [
    ['[[0,"a"]]', /\[0\]\[1\] = "a": col must be an integer/],
    ['[[0,1,2,3]]', /\[0\] = \[0,1,2,3\]: must be \[row, col\]/],
    ['[{"row":1,"col":2,"lvl":1}]', /\[0\]/],
    ['[]', /lists no cells/],
    ['{"row":1}', /a JSON object: --cells takes a JSON list/],
    ['[[0,-1]]', /\[0\]/],
  ] as const) assert.throws(() => cellsFile(w('c-bad.json', text), 64, 64, 4), (e: unknown) => e instanceof DataError && e.message.includes('c-bad.json') && re.test(e.message), text);
  // Level maps as JSON.
  const row = JSON.stringify(Array(4).fill(1));
  assert.equal(readMapFile(w('m-ok.json', `[${Array(4).fill(row).join(',')}]`), 2, 4, 4).length, 16);
  assert.throws(() => readMapFile(w('m-bad.json', '[[0,1,"x",1]]'), 2, 4, 4), (e: unknown) => e instanceof DataError && /m-bad\.json/.test(e.message) && /\[0\]\[2\] = "x": must be a level index/.test(e.message));
  // A model manifest without weights.
  mkdirSync(join(dir, 'model'), { recursive: true });
  w('model/model.json', '{"modelTopology": {"class_name": "Sequential"}}');
  await initTf();
  await assert.rejects(loadModel(tf, join(dir, 'model')), (e: unknown) => e instanceof DataError && /weightsManifest = missing: is missing \(not a tfjs layers model\)/.test(e.message));
  w('model/model.json', '{"modelTopology": {}, "weightsManifest": [{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [2, -1], "dtype": "float32"}]}]}');
  await assert.rejects(loadModel(tf, join(dir, 'model')), (e: unknown) => e instanceof DataError && /weightsManifest\[0\]\.weights\[0\]\.shape\[1\] = -1/.test(e.message));
  // A study folder whose params.json names no study.
  mkdirSync(join(dir, 'study'), { recursive: true });
  w('study/params.json', '{"levels": [2, 4]}');
  assert.throws(() => PointStore.open(join(dir, 'study'), undefined), (e: unknown) => e instanceof DataError && /params\.json: study = missing/.test(e.message));
});
