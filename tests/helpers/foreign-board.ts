/**
 * The independent board firmware in ../shared/boards/foreign-v2/ (Python: other physics, line
 * noise, reboots, broken-firmware variants), started on its own pty through its board.sh.
 * `.ci/run` needs that folder and Debian's python3-numpy (scripts/test.sh installs it).
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { repoRoot } from '../../lib/repo-root.js';
import { needPresent } from './env.js';

export const FOREIGN_DIR = resolve(repoRoot(), '..', 'shared', 'boards', 'foreign-v2');
const BOARD_SH = join(FOREIGN_DIR, 'board.sh');

/** Whether the board can run here (its folder, and a python3 with numpy); skips locally, fails under CI. */
export function needForeign(t: TestContext): boolean {
  const present = existsSync(BOARD_SH) && spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
  return needPresent(t, present, 'the foreign-v2 board (../shared/boards/foreign-v2 and python3-numpy)', 'scripts/test.sh installs python3-numpy; .ci/run needs ../shared/boards/foreign-v2');
}

export interface ForeignBoard {
  dir: string;
  dev: string;
  /** kill -9 of the firmware child: a board reset (the bridge respawns it). */
  killFirmware(): void;
  stop(): void;
  /** stop() without blocking the event loop (the bridge takes ~2 s to exit): boards run side by side stop side by side. */
  stopAsync(): Promise<void>;
  /** Power cycle: stop, then start again in the same folder (the cells keep their state, the counters restart). */
  restart(): void;
  audit(): string[][];
}

/** Starts a board in a fresh folder with these firmware flags (README: `board.sh start DIR [flags]`). */
export function startForeign(flags: string[] = []): ForeignBoard {
  const dir = join(mkdtempSync(join(tmpdir(), 'fb-')), 'board');
  const start = () => {
    const out = execFileSync('bash', [BOARD_SH, 'start', dir, ...flags], { encoding: 'utf8', timeout: 30000, env: { ...process.env, PYTHON: '/usr/bin/python3' } });
    const dev = out.split('\n')[0].trim();
    if (!dev) throw new Error(`foreign-v2 board did not start: ${out}`);
    return dev;
  };
  const dev = start();
  return {
    dir,
    dev,
    restart: () => {
      spawnSync('bash', [BOARD_SH, 'stop', dir], { encoding: 'utf8', timeout: 30000 });
      if (start() !== dev) throw new Error('foreign-v2 board came back on another device path');
    },
    killFirmware: () => void execFileSync('bash', [BOARD_SH, 'kill-fw', dir], { encoding: 'utf8', timeout: 30000 }),
    stop: () => void spawnSync('bash', [BOARD_SH, 'stop', dir], { encoding: 'utf8', timeout: 30000 }),
    stopAsync: () => new Promise<void>((res) => void execFile('bash', [BOARD_SH, 'stop', dir], { encoding: 'utf8', timeout: 30000 }, () => res())),
    audit: () =>
      existsSync(join(dir, 'audit.csv'))
        ? readFileSync(join(dir, 'audit.csv'), 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => l.split(','))
        : [],
  };
}
