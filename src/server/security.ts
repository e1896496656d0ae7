/**
 * What keeps a web page the user happens to visit from driving the lab's board through the
 * dashboard (the server may sit on a board reached by --port):
 *  - Host allowlist: a DNS-rebinding page reaches the server under its own host name; only the
 *    loopback names and the address the server listens on are answered (421 otherwise);
 *  - cross-site requests (Sec-Fetch-Site: cross-site) are refused on the API;
 *  - every mutating request carries a token in a header, even on loopback: the user's (--token)
 *    or, without one, a per-server token only the served page can read (a cross-site form cannot
 *    set a header, and cannot read /api/config);
 *  - error messages never carry server file paths.
 */
import type { NextFunction, Request, Response } from 'express';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { basename } from 'node:path';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** The host part of a Host header ("[::1]:8080" -> "[::1]", "a.b:80" -> "a.b"). */
export function hostOf(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.replace(/:\d+$/, '');
}

export function hostAllowlist(extra: string[] = []) {
  const allowed = new Set([...LOOPBACK, ...extra.map((h) => hostOf(h.includes(':') && !h.startsWith('[') && h.split(':').length > 2 ? `[${h}]` : h))]);
  return (req: Request, res: Response, next: NextFunction) => {
    const h = req.get('host');
    if (h && allowed.has(hostOf(h))) return next();
    res.status(421).json({ error: `host ${JSON.stringify(h ?? '')} is not this server's (allowed: ${[...allowed].join(', ')})`, code: 'MISDIRECTED' });
  };
}

export function refuseCrossSite(req: Request, res: Response, next: NextFunction): void {
  if (req.get('sec-fetch-site') === 'cross-site') {
    res.status(403).json({ error: 'cross-site requests are refused', code: 'FORBIDDEN' });
    return;
  }
  next();
}

/** The token mutating requests need: the user's, else one made for this server's lifetime. */
export function requestToken(userToken?: string): { token: string; generated: boolean } {
  return userToken ? { token: userToken, generated: false } : { token: randomBytes(18).toString('base64url'), generated: true };
}

export function requireToken(token: string) {
  const b = Buffer.from(token);
  return (req: Request, res: Response, next: NextFunction) => {
    const given = String(req.get('x-rram-token') ?? req.get('authorization')?.replace(/^Bearer\s+/i, '') ?? '');
    const a = Buffer.from(given);
    if (a.length === b.length && timingSafeEqual(a, b)) return next();
    res.status(401).json({ error: 'missing or wrong token (send X-Rram-Token or Authorization: Bearer)', code: 'UNAUTHORIZED' });
  };
}

/**
 * An error message with every path under the server's own folders (store, project, home, temp)
 * cut to its last part: no server layout leaks. A path the client sent is echoed as sent.
 */
export function scrubPaths(msg: string, roots: string[]): string {
  let out = msg;
  for (const root of [...new Set(roots.filter((r) => r && r !== '/'))].sort((a, b) => b.length - a.length)) {
    const re = new RegExp(`${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:/[^\\s"'(),;]*)?`, 'g');
    out = out.replace(re, (m) => `.../${basename(m)}`);
  }
  return out;
}
