/**
 * Strict fields (issue 24): an empty or non-numeric field in any list, CSV file or flag is refused
 * naming the file (or flag), the line and the field; it is never read as 0. Property tests over
 * random tables with one field blanked or garbled, and the CLI cases that once programmed the
 * wrong cell or gave a level a 0 V gate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { listItems, numberField, numberList, parseNumberTable } from '../src/io/number-table.js';
import { cellsFile } from '../src/cli/commands/programming.js';
import { readMapFile } from '../src/procedures/level-map.js';
import { durations, limitsArg, num, numList } from '../src/cli/parse.js';
import { repoRoot } from '../lib/repo-root.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'strict-'));
const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

test('property: a table with one field blanked or garbled is refused, naming its line and field; intact tables parse to their numbers', () => {
  const bad = fc.constantFrom('', ' ', 'abc', '1e', '0x10', 'Infinity', 'NaN', '--1', '1 2');
  fc.assert(
    fc.property(fc.array(fc.array(fc.integer({ min: 0, max: 63 }), { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 20 }), fc.nat(), fc.nat(), bad, (rows, r0, c0, junk) => {
      const text = rows.map((r) => r.join(',')).join('\n') + '\n';
      assert.deepEqual(parseNumberTable(text, 'f.csv').map((x) => x.values), rows);
      const r = r0 % rows.length;
      const c = c0 % 3;
      const broken = rows.map((row, i) => row.map((v, j) => (i === r && j === c ? junk : String(v))).join(',')).join('\n');
      assert.throws(
        () => parseNumberTable(broken, 'f.csv', { fields: 3 }),
        (e: unknown) => e instanceof Error && e.message.startsWith('f.csv: ') && e.message.includes(`line ${r + 1}`) && (e.message.includes(`field ${c + 1}`) || e.message.includes('fields, expected')),
      );
    }),
    { numRuns: 300 },
  );
});

test('the cases that once went wrong: "5,,2" in --cells, an empty level-map field, --ispva-vg "0,,1.0,1.2", "1,,2" in a list flag', () => {
  const d = tmp();
  const cells = join(d, 'cells.csv');
  writeFileSync(cells, 'row,col,level\n1,1,1\n5,,2\n');
  assert.throws(() => cellsFile(cells, 64, 64, 4), /cells\.csv: line 3, field 2 \(col\) is empty/);
  writeFileSync(cells, '[[1,1,1],[5,null,2]]');
  assert.throws(() => cellsFile(cells, 64, 64, 4), /cells\.csv: \[1\]\[1\] = null: col must be an integer/);
  writeFileSync(cells, '# a comment\r\nrow,col\r\n3,4\r\n');
  assert.deepEqual(cellsFile(cells, 64, 64, 4), { cells: [3 * 64 + 4], levels: undefined }, 'CRLF, a comment and a header are fine');
  const map = join(d, 'map.csv');
  writeFileSync(map, Array.from({ length: 64 }, (_, r) => Array.from({ length: 64 }, (_, c) => (r === 7 && c === 9 ? '' : String((r + c) % 4))).join(',')).join('\n'));
  assert.throws(() => readMapFile(map, 4, 64, 64), /map\.csv: line 8, field 10 is empty/);
  assert.throws(() => numberList('--ispva-vg', '0,,1.0,1.2'), /--ispva-vg="0,,1.0,1.2": item 2 of 4 is empty/);
  assert.throws(() => numList('--levels')('4,,8'), /item 2 of 3 is empty/);
  assert.throws(() => numList('--levels')('4,8,'), /item 3 of 3 is empty/);
  assert.throws(() => durations('--relax')('1s,,60s'), /item 2 of 3 is empty/);
  assert.throws(() => limitsArg('--limits')('vg_max=2,,vsl_max=2'), /item 2 of 3 is empty/);
  assert.throws(() => num('--vg')('0x10'), /--vg="0x10": must be a number/);
  assert.throws(() => num('--vg')(''), /must be a number \(it is empty\)/);
  assert.deepEqual(listItems('--x', ' a , b '), ['a', 'b']);
  assert.equal(numberField('-1.5e-3'), -1.5e-3);
});

test('CLI: rram program --cells with an empty field exits 2 naming line and field, before any run or pulse', () => {
  const store = tmp();
  const cells = join(store, 'cells.csv');
  writeFileSync(cells, '5,,2\n');
  const r = spawnSync(process.execPath, [main, 'program', '--cells', cells, '--levels', '4', '--store', store], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /cells\.csv: line 1, field 2 \(col\) is empty/);
  assert.ok(!existsSync(join(store, 'runs')) || spawnSync('ls', [join(store, 'runs')], { encoding: 'utf8' }).stdout.trim() === '', 'no run was created');
  const g = spawnSync(process.execPath, [main, 'characterize', '--levels', '4', '--cells-per-level', '2', '--algo', 'ispva', '--ispva-vg', '0,,1.0,1.2', '--store', store], { encoding: 'utf8' });
  assert.equal(g.status, 2);
  assert.match(g.stderr, /--ispva-vg="0,,1\.0,1\.2": item 2 of 4 is empty/);
});
