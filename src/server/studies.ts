/**
 * The studies a dashboard shows: folders holding a study.json (`rram study ... --out DIR`) in the
 * studies folder (`rram serve --studies DIR`, default the working folder) or directly inside it.
 * Studies are named by folder name only: no path is taken from a request or shown in an answer.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { DataError, InvalidArgumentError } from '../../drivers/errors.js';
import { NotFoundError } from '../store/embedded-store.js';

export interface StudyListing {
  name: string;
  study: string;
  points: number;
  elapsed_s: number;
  modified: string;
}

const NAME = /^[A-Za-z0-9._-]{1,128}$/;

function studyFolders(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const abs = resolve(root);
  if (existsSync(join(abs, 'study.json'))) out.set(basename(abs), abs);
  let entries: string[] = [];
  try {
    entries = readdirSync(abs);
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!NAME.test(e)) continue;
    const d = join(abs, e);
    try {
      if (statSync(d).isDirectory() && existsSync(join(d, 'study.json'))) out.set(e, d);
    } catch {
      /* vanished while listing */
    }
  }
  return out;
}

function readStudy(dir: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(join(dir, 'study.json'), 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new DataError(`${basename(dir)}/study.json`, `unreadable (${(e as Error).message})`);
  }
}

export function listStudies(root: string): StudyListing[] {
  const out: StudyListing[] = [];
  for (const [name, dir] of studyFolders(root)) {
    try {
      const s = readStudy(dir);
      out.push({ name, study: String(s.study), points: Number(s.points), elapsed_s: Number(s.elapsed_s), modified: statSync(join(dir, 'study.json')).mtime.toISOString() });
    } catch {
      /* a study being written: listed once it is whole */
    }
  }
  return out.sort((a, b) => (a.modified < b.modified ? 1 : -1));
}

/**
 * A study's tables, figures, checks and statistics; the per-point rows stay in the file (they can
 * be large). Every absolute path in it (the model, a level-CDF file) is cut to its last part.
 */
export function getStudy(root: string, name: string): Record<string, unknown> {
  if (!NAME.test(name)) throw new InvalidArgumentError('study', name, 'must be a study folder name');
  const dir = studyFolders(root).get(name);
  if (!dir) throw new NotFoundError('study', name);
  const { rows: _rows, ...rest } = readStudy(dir);
  return JSON.parse(JSON.stringify({ name, ...rest }, (_k, v: unknown) => (typeof v === 'string' && v.includes('/') ? v.replace(ABSOLUTE, (m) => `.../${basename(m)}`) : v))) as Record<string, unknown>;
}

/** An absolute path inside a string (up to a space, quote, comma or bracket). */
const ABSOLUTE = /(?<![\w.])\/[^\s"'(),;]+/g;
