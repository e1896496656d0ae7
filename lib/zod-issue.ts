/** The first problem a zod parse found, as a field path, the value there and the message (every layer's error shape). */
import type { z } from 'zod';

export function describeIssue(value: unknown, e: z.ZodError): { path: string; value: unknown; message: string } {
  const i = e.issues[0];
  const path = i.path.length ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[') : '(root)';
  let v: unknown = value;
  for (const p of i.path) v = v === null || v === undefined ? undefined : (v as Record<string | number, unknown>)[p];
  return { path, value: v, message: i.message };
}
