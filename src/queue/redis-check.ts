/**
 * Before any work: is there a Redis at the URL, does it let us in, is it new enough for BullMQ?
 * Every failure becomes one sentence naming the URL (never a stack or an endless reconnect loop).
 * `connectionOptions` is what BullMQ's own connections use afterwards: they reconnect forever, so a
 * Redis restarted mid-study is waited for instead of failing the study.
 */
import type { RedisOptions } from 'bullmq';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { QueueUrl } from './redis-url.js';

/** BullMQ 6 refuses Redis below 5.0 and recommends 6.2. */
const MIN_VERSION = [5, 0, 0];

export function connectionOptions(q: QueueUrl): RedisOptions {
  return {
    host: q.host,
    port: q.port,
    db: q.db,
    username: q.username,
    password: q.password,
    ...(q.tls ? { tls: {} } : {}),
    // BullMQ's blocking commands need these; a lost connection is retried every <= 2 s for as long as it takes.
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
  };
}

function olderThan(v: number[], min: number[]): boolean {
  for (let i = 0; i < min.length; i++) if ((v[i] ?? 0) !== min[i]) return (v[i] ?? 0) < min[i];
  return false;
}

function reason(e: unknown): string {
  const m = (e as Error)?.message ?? String(e);
  if (/NOAUTH/.test(m)) return 'it asks for a password (redis://:PASSWORD@HOST:PORT/DB)';
  if (/WRONGPASS|invalid password|invalid username/i.test(m)) return 'the user name or password was refused';
  if (/DB index is out of range/.test(m)) return 'that database number does not exist on this server';
  return m;
}

/** Connects once with a deadline, PINGs, reads the version; throws an InvalidArgumentError naming `flag` and the URL. */
export async function checkRedis(q: QueueUrl, flag = '--queue', timeoutMs = 3000): Promise<{ version: string }> {
  // The database is selected explicitly below: ioredis reports a failed SELECT on connect only as an event.
  const { Redis } = await import('ioredis'); // loaded when used: every other rram command starts without it
  const r = new Redis({ ...connectionOptions(q), db: 0, lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  // Reported below, once: the socket's own reason (ECONNREFUSED ...) says more than ioredis's "Connection is closed".
  let socketError: Error | undefined;
  r.on('error', (e: Error) => void (socketError ??= e));
  const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer to PING within ${timeoutMs / 1000} s (is it a Redis server?)`)), timeoutMs).unref());
  try {
    const version = await Promise.race([
      (async () => {
        await r.connect();
        await r.ping();
        if (q.db) await r.select(q.db);
        const info = await r.info('server');
        return /redis_version:([\d.]+)/.exec(info)?.[1] ?? 'unknown';
      })(),
      deadline,
    ]);
    if (olderThan(version.split('.').map(Number), MIN_VERSION)) throw new Error(`Redis ${version} is older than the ${MIN_VERSION.join('.')} BullMQ needs`);
    return { version };
  } catch (e) {
    throw new InvalidArgumentError(flag, q.shown, `no usable Redis there: ${reason(socketError && /Connection is closed/.test((e as Error).message) ? socketError : e)}`);
  } finally {
    r.disconnect();
  }
}
