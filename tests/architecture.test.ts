/** Layering rules of docs/architecture.md that code review alone would let slip. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';

const root = repoRoot();
function tsFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((n) => {
    const p = join(dir, n);
    return statSync(join(root, p)).isDirectory() ? tsFiles(p) : n.endsWith('.ts') ? [p] : [];
  });
}
const imports = (f: string) => [...readFileSync(join(root, f), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]);

test('drivers/, calibration/ and lib/ never import src/ (shared pieces live in lib/)', () => {
  const bad: string[] = [];
  for (const dir of ['drivers', 'calibration', 'lib'])
    for (const f of tsFiles(dir)) for (const i of imports(f)) if (i.startsWith('.') && relative(root, join(root, f, '..', i)).startsWith('src')) bad.push(`${f} imports ${i}`);
  assert.deepEqual(bad, []);
});

test('the device model knows nothing of the protocol, the serial link or the store', () => {
  const i = imports('drivers/emulated/cell-model.ts');
  assert.ok(i.every((x) => !/protocol|serial|store|firmware/.test(x)), i.join(', '));
});

test('one codec: nothing outside drivers/protocol writes protocol payloads by hand (no Writer use elsewhere)', () => {
  const bad = [...tsFiles('drivers'), ...tsFiles('src')].filter((f) => !f.startsWith('drivers/protocol/') && imports(f).some((i) => /protocol\/wire\.js$/.test(i)));
  assert.deepEqual(bad, []);
});

test('src/inference never imports src/procedures or src/cli (procedures may import inference)', () => {
  const bad: string[] = [];
  for (const f of tsFiles('src/inference'))
    for (const i of imports(f)) {
      const target = relative(root, join(root, f, '..', i));
      if (i.startsWith('.') && /^src\/(procedures|cli)\//.test(target)) bad.push(`${f} imports ${i}`);
    }
  assert.deepEqual(bad, []);
});
