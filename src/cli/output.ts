/** Output helpers: JSON, CSV and aligned text tables. */
import { writeFileSync } from 'node:fs';

/** `--out FILE` of a run command: the run's result dataset, and a line saying so. */
export function writeResultFile(file: string | undefined, result: unknown): void {
  if (!file || result === undefined) return;
  writeFileSync(file, JSON.stringify(result));
  process.stderr.write(`wrote ${file}: the run's result dataset (docs/formats.md)\n`);
}

export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(v, (_k, x) => (x instanceof Float64Array ? Array.from(x) : x === Infinity ? 'Infinity' : x), 2) + '\n');
}

export { csv } from '../io/csv-text.js';

export function table(header: string[], rows: (string | number)[][]): string {
  const all = [header, ...rows.map((r) => r.map(String))];
  const w = header.map((_, i) => all.reduce((m, r) => Math.max(m, String(r[i]).length), 0));
  return all.map((r) => r.map((c, i) => String(c).padStart(w[i])).join('  ')).join('\n') + '\n';
}

export const uA = (a: number) => (a * 1e6).toFixed(2);
