/**
 * A study's finished points, one JSON line each in DIR/points.ndjson, appended as each point
 * ends: an interrupted study (Ctrl-C, kill -9) resumes with the points it has, and a line cut
 * short by a kill is dropped (and reported) instead of stopping the resume. DIR/params.json holds
 * the options the study was started with, so `--resume DIR` continues the same grid.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { parseFile, parseJsonText } from '../io/validate.js';
import { StudyParamsFile } from '../io/schemas/study-params.js';

export interface StudyParams {
  study: string;
  [k: string]: unknown;
}

export class PointStore<R extends { key: string }> {
  readonly done = new Map<string, R>();
  /** Lines dropped on load (a write cut short). */
  readonly dropped: number;

  private constructor(
    readonly dir: string,
    readonly params: StudyParams,
  ) {
    const file = join(dir, 'points.ndjson');
    let dropped = 0;
    if (existsSync(file)) {
      const kept: string[] = [];
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const r = JSON.parse(line) as R;
          if (typeof r.key !== 'string') throw new Error('no key');
          this.done.set(r.key, r);
          kept.push(line);
        } catch {
          dropped++;
        }
      }
      // Rewritten without the cut line, so the next append starts on a line of its own.
      if (dropped) writeFileSync(file, kept.map((l) => l + '\n').join(''));
    }
    this.dropped = dropped;
  }

  /** A new study in `dir` (continued when `dir` holds the same study with the same options), or `--resume dir` (its own options). */
  static open<R extends { key: string }>(dir: string, params: StudyParams | undefined, study = params?.study): PointStore<R> {
    const pfile = join(dir, 'params.json');
    const saved = existsSync(pfile) ? (readJson(pfile) as StudyParams) : undefined;
    if (!params) {
      if (!saved) throw new InvalidArgumentError('--resume', dir, 'holds no study (no params.json): start one with --out');
      if (study && saved.study !== study) throw new InvalidArgumentError('--resume', dir, `holds a ${String(saved.study)} study, not ${study}`);
      return new PointStore<R>(dir, saved);
    }
    if (saved) {
      if (saved.study !== params.study) throw new InvalidArgumentError('--out', dir, `holds a ${saved.study} study, not ${params.study}`);
      if (JSON.stringify(saved) !== JSON.stringify(params)) throw new InvalidArgumentError('--out', dir, 'holds this study with other options: use --resume DIR to continue it, or another --out');
    } else {
      mkdirSync(dir, { recursive: true });
      writeFileSync(pfile, JSON.stringify(params, null, 2) + '\n');
    }
    return new PointStore<R>(dir, params);
  }

  add(r: R): void {
    // One write per line: a kill leaves at most one partial last line, dropped on the next load.
    appendFileSync(join(this.dir, 'points.ndjson'), JSON.stringify(r) + '\n');
    this.done.set(r.key, r);
  }
}

function readJson(file: string): unknown {
  return parseFile(StudyParamsFile, parseJsonText(readFileSync(file, 'utf8'), file), file);
}
