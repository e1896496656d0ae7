/** The first problem a zod parse found, as a field path, the value there and the message (every layer's error shape). */
import type { z } from 'zod';

export function describeIssue(value: unknown, e: z.ZodError): { path: string; value: unknown; message: string } {
  let i = e.issues[0];
  // A union names no field by itself: take the branch that got furthest into the value (the one
  // whose shape matched), so "[1][1] = null: col must be an integer" rather than "no branch matched".
  while (i.code === 'invalid_union') {
    const deepest = i.unionErrors.map((u) => u.issues[0]).filter((x) => x && x.path.length > i.path.length).sort((a, b) => b.path.length - a.path.length)[0];
    if (!deepest) break;
    i = deepest;
  }
  const path = i.path.length ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[') : '(root)';
  let v: unknown = value;
  for (const p of i.path) v = v === null || v === undefined ? undefined : (v as Record<string | number, unknown>)[p];
  return { path, value: v, message: i.message };
}
