/**
 * A run's events on disk. While a run is written they are plain NDJSON (`events.ndjson`: appended
 * in fsync'd batches, a torn tail cut on resume); once it ends they are gzipped into
 * `events.ndjson.gz` (~16 bytes per event instead of ~190: the lines repeat their keys and run id,
 * which a dictionary coder removes; gzip is in Node and every lab tool reads it). A resumed run is
 * expanded back first. Both steps go through a temporary file and a rename, so a crash leaves one
 * complete copy; when both exist, the packed one is complete and wins.
 */
import { closeSync, createReadStream, createWriteStream, existsSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip, createGzip, gunzipSync } from 'node:zlib';

export const PLAIN = 'events.ndjson';
export const PACKED = 'events.ndjson.gz';

const fsyncPath = (f: string) => {
  const fd = openSync(f, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
};

/** Which copy of a run's events to read ('none': the run has no events yet). */
export function eventsLayout(dir: string): 'plain' | 'packed' | 'none' {
  if (existsSync(join(dir, PACKED))) return 'packed';
  return existsSync(join(dir, PLAIN)) ? 'plain' : 'none';
}

/** Bytes the run's events take on disk. */
export function eventsBytes(dir: string): number {
  const l = eventsLayout(dir);
  return l === 'none' ? 0 : statSync(join(dir, l === 'packed' ? PACKED : PLAIN)).size;
}

/** Gzip an ended run's events; returns the sizes, or undefined when there is nothing to pack. */
export async function packEvents(dir: string): Promise<{ plain: number; packed: number } | undefined> {
  const plain = join(dir, PLAIN);
  const packed = join(dir, PACKED);
  if (!existsSync(plain)) return undefined;
  if (existsSync(packed)) {
    unlinkSync(plain); // a crash between rename and unlink: the packed copy is complete
    return undefined;
  }
  const tmp = packed + '.tmp';
  await pipeline(createReadStream(plain, { highWaterMark: 1 << 20 }), createGzip({ level: 6 }), createWriteStream(tmp));
  fsyncPath(tmp);
  renameSync(tmp, packed);
  fsyncPath(dir);
  const sizes = { plain: statSync(plain).size, packed: statSync(packed).size };
  unlinkSync(plain);
  return sizes;
}

/** Turn a packed run back into plain NDJSON so that a resume can append to it. */
export function unpackEventsSync(dir: string): void {
  const packed = join(dir, PACKED);
  if (!existsSync(packed)) return;
  const plain = join(dir, PLAIN);
  const tmp = plain + '.tmp';
  writeFileSync(tmp, gunzipSync(readFileSync(packed)));
  fsyncPath(tmp);
  renameSync(tmp, plain);
  fsyncPath(dir);
  unlinkSync(packed);
}

/** The whole events text (recount, last seq): plain or packed. */
export function eventsTextSync(dir: string, encoding: BufferEncoding = 'utf8'): string {
  const l = eventsLayout(dir);
  if (l === 'none') return '';
  if (l === 'packed') return gunzipSync(readFileSync(join(dir, PACKED))).toString(encoding);
  return readFileSync(join(dir, PLAIN), encoding);
}

/** Every non-empty line, a 1 MB chunk's lines at a time (constant memory; one await per chunk, not per line). */
export async function* eventLines(dir: string): AsyncGenerator<string[]> {
  const l = eventsLayout(dir);
  if (l === 'none') return;
  const file = createReadStream(join(dir, l === 'packed' ? PACKED : PLAIN), { highWaterMark: 1 << 20 });
  const source = l === 'packed' ? file.pipe(createGunzip({ chunkSize: 1 << 20 })) : file;
  const dec = new StringDecoder('utf8');
  let rest = '';
  try {
    for await (const chunk of source) {
      const text = rest + dec.write(chunk as Buffer);
      const lines: string[] = [];
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        if (nl > start) lines.push(text.slice(start, nl));
        start = nl + 1;
      }
      rest = text.slice(start);
      if (lines.length) yield lines;
    }
    rest += dec.end();
    if (rest) yield [rest];
  } finally {
    file.destroy();
  }
}
