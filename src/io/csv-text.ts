/** CSV text from rows (quoted where a cell holds a comma, quote or newline): shared by the CLI and the studies. */
export function csv(rows: (string | number)[][]): string {
  return rows.map((r) => r.map((c) => (typeof c === 'string' && /[",\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : String(c))).join(',')).join('\n') + '\n';
}
