/**
 * Where a station is: `<store>/stations/<host>-<pid>.json` (mode 0600: it holds the token), written
 * when `rram serve` listens and removed when it stops. A CLI command aimed at a board finds the
 * station serving it here; an entry whose process is gone (same host: the pid is dead; any host:
 * the URL does not answer as that station) is stale and never blocks a command.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

export const StationEntry = z
  .object({
    url: z.string().url(),
    pid: z.number().int().positive(),
    host: z.string(),
    started: z.string(),
    /** The token mutating requests need (the user's, or the per-server one). */
    token: z.string(),
    /** The boards served: `key` is what a CLI command's board flags name (board-key.ts). */
    boards: z.array(z.object({ id: z.string(), key: z.string() })),
    /** The station's name (`--name`): the `station` tag of its InfluxDB points. Entries written before names existed have none. */
    name: z.string().optional(),
  })
  .strict();
export type StationEntry = z.infer<typeof StationEntry>;

const dirOf = (store: string) => join(store, 'stations');

export function writeStationFile(store: string, e: Omit<StationEntry, 'pid' | 'host' | 'started'>): string {
  const dir = dirOf(store);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${hostname()}-${process.pid}.json`);
  const full: StationEntry = { ...e, pid: process.pid, host: hostname(), started: new Date().toISOString() };
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(full, null, 2), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  // Entries of stations on this host that died without removing theirs.
  for (const s of readStationFiles(store)) if (s.entry.host === hostname() && s.entry.pid !== process.pid && !pidAlive(s.entry.pid)) rmSync(s.file, { force: true });
  return file;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Every readable entry (a torn or foreign file is skipped: it names no station). */
export function readStationFiles(store: string): { file: string; entry: StationEntry }[] {
  const dir = dirOf(store);
  if (!existsSync(dir)) return [];
  const out: { file: string; entry: StationEntry }[] = [];
  for (const n of readdirSync(dir)) {
    if (!n.endsWith('.json')) continue;
    try {
      const r = StationEntry.safeParse(JSON.parse(readFileSync(join(dir, n), 'utf8')));
      if (r.success) out.push({ file: join(dir, n), entry: r.data });
    } catch {
      // being written or not ours
    }
  }
  return out;
}

/** Whether the entry's station answers at its URL as itself (its board ids), within `timeout_ms`. */
export async function stationAnswers(e: StationEntry, timeout_ms = 1500): Promise<boolean> {
  if (e.host === hostname() && !pidAlive(e.pid)) return false;
  try {
    const r = await fetch(`${e.url}/api/boards`, { signal: AbortSignal.timeout(timeout_ms) });
    if (!r.ok) return false;
    const boards = (await r.json()) as { id: string }[];
    return e.boards.every((b) => boards.some((x) => x.id === b.id));
  } catch {
    return false;
  }
}

/** The live station serving the board `key` in this store, if any. */
export async function findStation(store: string, key: string): Promise<{ entry: StationEntry; boardId: string } | undefined> {
  for (const { entry } of readStationFiles(store)) {
    const b = entry.boards.find((x) => x.key === key);
    if (b && (await stationAnswers(entry))) return { entry, boardId: b.id };
  }
  return undefined;
}

export function removeStationFile(file: string): void {
  rmSync(file, { force: true });
}
