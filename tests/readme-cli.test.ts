/**
 * The README's synopsis is the contract users read: every `rram ...` line in its code blocks names a
 * command that exists, and every --flag on the line is one that command's --help lists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';

const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const help = new Map<string, string>();
function helpOf(cmd: string[]): string {
  const k = cmd.join(' ');
  if (!help.has(k)) {
    const r = spawnSync(process.execPath, [main, ...cmd, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `rram ${k} --help: ${r.stderr}`);
    help.set(k, r.stdout);
  }
  return help.get(k)!;
}

test('README: every rram command and flag in the synopsis exists in the CLI', () => {
  const readme = readFileSync(join(repoRoot(), 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  // A synopsis line and its continuation lines (indented, no command of their own).
  const entries: { cmd: string[]; text: string }[] = [];
  for (const b of blocks)
    for (const line of b.split('\n')) {
      const code = line.split('#')[0];
      const m = /^(?:npx )?rram ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?/.exec(code.trim());
      if (m && /^(npx )?rram /.test(code)) {
        const top = m[1];
        const sub = m[2] && helpOf([top]).match(new RegExp(`^\\s+${m[2]}\\b`, 'm')) ? m[2] : undefined;
        entries.push({ cmd: sub ? [top, sub] : [top], text: code });
      } else if (/^\s+(\[|--)/.test(code) && entries.length) entries[entries.length - 1].text += ' ' + code;
    }
  assert.ok(entries.length >= 20, `found ${entries.length} synopsis lines`);
  const missing: string[] = [];
  for (const e of entries) {
    // `rram runs | rram export ...` style lines: each part is checked on its own.
    for (const part of e.text.split('|').filter((p) => /--/.test(p) || /rram /.test(p))) {
      const m = /rram ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?/.exec(part);
      const cmd = m ? (m[2] && helpOf([m[1]]).match(new RegExp(`^\\s+${m[2]}\\b`, 'm')) ? [m[1], m[2]] : [m[1]]) : e.cmd;
      const h = helpOf(cmd);
      for (const flag of part.match(/--[a-z][a-z0-9-]*/g) ?? []) if (!h.includes(flag) && flag !== '--help') missing.push(`rram ${cmd.join(' ')} ${flag}`);
    }
  }
  assert.deepEqual(missing, [], 'README flags the CLI does not have');
});
