/**
 * CIFAR-10 from the standard binary batches (https://www.cs.toronto.edu/~kriz/cifar.html, "binary
 * version"): `data_batch_1.bin` .. `data_batch_5.bin` (training) and `test_batch.bin`, each a run of
 * 3073-byte records: 1 label byte (0..9), then 1024 red, 1024 green and 1024 blue bytes of a 32x32
 * image, rows first. Returned channels-last (HWC) in [0, 1], as the nets take them. A file whose
 * size is not a whole number of records, or a label above 9, is refused with its path.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../../drivers/errors.js';
import type { Split } from './datasets.js';

const SIDE = 32;
const PLANE = SIDE * SIDE;
export const CIFAR_RECORD = 1 + 3 * PLANE;

export function parseCifarBatch(bytes: Buffer, path: string): { images: Float32Array; labels: Uint8Array; n: number } {
  if (bytes.length === 0 || bytes.length % CIFAR_RECORD !== 0) throw new DataError(path, `${bytes.length} bytes is not a whole number of ${CIFAR_RECORD}-byte CIFAR-10 records`);
  const n = bytes.length / CIFAR_RECORD;
  const images = new Float32Array(n * 3 * PLANE);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * CIFAR_RECORD;
    const label = bytes[at];
    if (label > 9) throw new DataError(path, `record ${i} has label ${label}, outside 0..9`);
    labels[i] = label;
    const out = i * 3 * PLANE;
    for (let p = 0; p < PLANE; p++) for (let c = 0; c < 3; c++) images[out + p * 3 + c] = bytes[at + 1 + c * PLANE + p] / 255;
  }
  return { images, labels, n };
}

export function loadCifar10(dir: string, split: 'train' | 'test'): Split {
  const names = split === 'test' ? ['test_batch.bin'] : [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.bin`);
  const parts = names.map((name) => {
    const path = join(dir, name);
    if (!existsSync(path)) throw new DataError(path, `not found: CIFAR-10 --data DIR must hold ${names.join(', ')} (the binary version, cifar-10-batches-bin)`);
    return parseCifarBatch(readFileSync(path), path);
  });
  const n = parts.reduce((s, p) => s + p.n, 0);
  const images = new Float32Array(n * 3 * PLANE);
  const labels = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * 3 * PLANE);
    labels.set(p.labels, at);
    at += p.n;
  }
  return { images, labels, n, rows: SIDE, cols: SIDE, channels: 3 };
}
