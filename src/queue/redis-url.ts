/**
 * `--queue redis://HOST:PORT[/DB]` (or `rediss://` for TLS, `redis://:PASSWORD@HOST:PORT/DB` for a
 * Redis that asks for one): parsed strictly, so a typo is refused naming the flag before anything
 * connects. `shown` is the URL with its password masked, for every message and log line.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';

export interface QueueUrl {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  /** The URL as it may be printed (password replaced by ***). */
  shown: string;
}

const FORM = 'expected redis://HOST:PORT[/DB] (rediss:// for TLS, redis://:PASSWORD@HOST:PORT/DB with a password)';

export function parseQueueUrl(raw: string, flag = '--queue'): QueueUrl {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new InvalidArgumentError(flag, raw, FORM);
  }
  const masked = () => (u.password ? raw.replace(`:${u.password}@`, ':***@') : raw);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new InvalidArgumentError(flag, masked(), `scheme ${u.protocol} is not redis: or rediss: (${FORM})`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new InvalidArgumentError(flag, masked(), `no host (${FORM})`);
  const port = u.port === '' ? 6379 : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError(flag, masked(), `port ${u.port} is not in 1..65535`);
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,5}$/.test(path)) throw new InvalidArgumentError(flag, masked(), `database "${path}" is not a number (${FORM})`);
  if (u.search || u.hash) throw new InvalidArgumentError(flag, masked(), `takes no query or fragment (${FORM})`);
  return {
    host,
    port,
    db: path === '' ? 0 : Number(path),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    tls: u.protocol === 'rediss:',
    shown: masked(),
  };
}
