/**
 * Strict number tables and lists (issue 24: an empty CSV field once programmed the wrong cell).
 * CSV goes through csv-parse (quotes, CRLF, a BOM, comment lines); every field must be a finite
 * number written as one: an empty field, a blank, "abc" or "1e" is refused, naming the file (or
 * flag), the line and the field, never read as 0.
 */
import { parse } from 'csv-parse/sync';
import { DataError, InvalidArgumentError } from '../../drivers/errors.js';

export interface TableOptions {
  /** Column names, for messages (and to recognise a header line). */
  columns?: string[];
  /** Fields per line: exactly this many, or a range. */
  fields?: number | [number, number];
}

/** One field as a number, or why not (plain decimal notation only: no hex, no "Infinity", no blanks). */
export function numberField(raw: string): number | string {
  const t = raw.trim();
  if (t === '') return 'is empty';
  // Number() takes "", " ", "0x10", "1_0"? (no), "Infinity": only plain decimal notation is a number here.
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(t)) return `is not a number: ${JSON.stringify(raw)}`;
  const v = Number(t);
  return Number.isFinite(v) ? v : `is out of range: ${JSON.stringify(raw)}`;
}

/**
 * Rows of numbers from CSV text. Lines starting with '#' are comments; a first line whose fields
 * are the column names (any case) is a header. Line numbers in errors are the file's own.
 */
export function parseNumberTable(text: string, file: string, o: TableOptions = {}): { line: number; values: number[] }[] {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { bom: true, comment: '#', skip_empty_lines: true, relax_column_count: true, trim: false, info: true }) as { record: string[]; info: { lines: number } }[];
  } catch (e) {
    throw new DataError(file, `not valid CSV: ${(e as Error).message}`);
  }
  const out: { line: number; values: number[] }[] = [];
  const names = o.columns?.map((c) => c.toLowerCase());
  records.forEach(({ record, info }, k) => {
    if (k === 0 && names && record.length && record.every((f, i) => f.trim().toLowerCase() === names[i])) return; // header
    const [lo, hi] = typeof o.fields === 'number' ? [o.fields, o.fields] : (o.fields ?? [1, Infinity]);
    if (record.length < lo || record.length > hi) throw new DataError(file, `line ${info.lines}: ${record.length} fields, expected ${lo === hi ? lo : `${lo}..${hi}`}${o.columns ? ` (${o.columns.join(',')})` : ''}`);
    const values = record.map((f, i) => {
      const v = numberField(f);
      if (typeof v === 'string') throw new DataError(file, `line ${info.lines}, field ${i + 1}${o.columns?.[i] ? ` (${o.columns[i]})` : ''} ${v}`);
      return v;
    });
    out.push({ line: info.lines, values });
  });
  return out;
}

/**
 * The items of a comma-separated flag value, each trimmed; an empty item ("1,,2", a trailing
 * comma) is refused naming the flag and the item's position.
 */
export function listItems(flag: string, raw: string): string[] {
  const items = raw.split(',').map((t) => t.trim());
  const empty = items.findIndex((t) => t === '');
  if (empty >= 0) throw new InvalidArgumentError(flag, raw, `item ${empty + 1} of ${items.length} is empty`);
  return items;
}

/** A comma-separated list of numbers (each a plain decimal number), refusing empty and non-numeric items by position. */
export function numberList(flag: string, raw: string): number[] {
  return listItems(flag, raw).map((t, k) => {
    const v = numberField(t);
    if (typeof v === 'string') throw new InvalidArgumentError(flag, raw, `item ${k + 1} ${v}`);
    return v;
  });
}
