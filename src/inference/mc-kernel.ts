/**
 * The Monte Carlo forward kernel for dense ReLU chains: the native addon (native/mc_kernel.c,
 * built by `npm ci` when a C compiler is present) or the same algorithm in JavaScript.
 * Contract (both): evaluate 8 trials' weight sets on n images given as CSR (non-zero pixels only)
 * and write out[t * n + i] = predicted class.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { repoRoot } from '../../lib/repo-root.js';

export const TRIALS_PER_BLOCK = 8;

export interface KernelLayer {
  /** [8][rows][cp] effective weights, bias in the last row, columns padded with zeros to cp. */
  w: Float32Array;
  rows: number;
  cols: number;
  cp: number;
}

export interface Kernel {
  name: string;
  forward(idx: Uint16Array, ptr: Uint32Array, val: Float32Array, layers: KernelLayer[], out: Uint8Array): void;
}

export type KernelChoice = 'auto' | 'native' | 'js';

/** Row stride the native kernel wants: layer 1 in chunks of 32 columns, later layers of 16. */
export const padCols = (cols: number, first: boolean): number => Math.ceil(cols / (first ? 32 : 16)) * (first ? 32 : 16);

let native: Kernel | null | undefined;

function loadNative(): Kernel | null {
  if (native !== undefined) return native;
  try {
    const req = createRequire(import.meta.url);
    const m = req(join(repoRoot(), 'native', 'build', 'Release', 'mc_kernel.node')) as { forward: Kernel['forward']; isa(): string };
    native = { name: `native-${m.isa()}`, forward: m.forward };
  } catch {
    native = null;
  }
  return native;
}

/** True when the native kernel is built and loads here. */
export const nativeAvailable = (): boolean => loadNative() !== null;

/** RRAM_KERNEL=js|native overrides `auto`. */
export function loadKernel(choice: KernelChoice = 'auto'): Kernel {
  const want = choice === 'auto' ? ((process.env.RRAM_KERNEL as KernelChoice | undefined) ?? 'auto') : choice;
  if (want !== 'js') {
    const k = loadNative();
    if (k) return k;
    if (want === 'native') throw new Error('native Monte Carlo kernel is not built (npm run build:native needs a C compiler and node-gyp)');
  }
  return jsKernel;
}

export const jsKernel: Kernel = {
  name: 'js',
  forward(idx, ptr, val, layers, out) {
    const n = ptr.length - 1;
    const l1 = layers[0];
    const s1 = l1.rows * l1.cp;
    const bias1 = (l1.rows - 1) * l1.cp;
    const maxCp = Math.max(...layers.map((l) => l.cp));
    let a = new Float32Array(maxCp);
    let b = new Float32Array(maxCp);
    const w1 = l1.w;
    for (let t = 0; t < TRIALS_PER_BLOCK; t++) {
      const base = t * s1;
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < l1.cols; c++) a[c] = w1[base + bias1 + c];
        for (let k = ptr[i]; k < ptr[i + 1]; k++) {
          const x = val[k];
          const row = base + idx[k] * l1.cp;
          for (let c = 0; c < l1.cols; c++) a[c] += x * w1[row + c];
        }
        let inCols = l1.cols;
        for (let li = 1; li < layers.length; li++) {
          const l = layers[li];
          const wb = t * l.rows * l.cp;
          const w = l.w;
          for (let c = 0; c < l.cols; c++) b[c] = w[wb + (l.rows - 1) * l.cp + c];
          for (let r = 0; r < inCols; r++) {
            const x = a[r];
            if (x <= 0) continue;
            const row = wb + r * l.cp;
            for (let c = 0; c < l.cols; c++) b[c] += x * w[row + c];
          }
          const tmp = a;
          a = b;
          b = tmp;
          inCols = l.cols;
        }
        let best = 0;
        for (let c = 1; c < inCols; c++) if (a[c] > a[best]) best = c;
        out[t * n + i] = best;
      }
    }
  },
};

/** Non-zero pixels of every image (inputs are the same in every trial). */
export interface Csr {
  idx: Uint16Array;
  ptr: Uint32Array;
  val: Float32Array;
}

export function toCsr(images: Float32Array, n: number, width: number, shared = false): Csr {
  let nz = 0;
  for (let i = 0; i < n * width; i++) if (images[i] !== 0) nz++;
  const mk = <T>(C: new (b: ArrayBufferLike) => T, bytes: number): T => new C(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  const idx = mk(Uint16Array, nz * 2);
  const val = mk(Float32Array, nz * 4);
  const ptr = mk(Uint32Array, (n + 1) * 4);
  let k = 0;
  for (let i = 0; i < n; i++) {
    ptr[i] = k;
    for (let p = 0; p < width; p++) {
      const x = images[i * width + p];
      if (x !== 0) {
        idx[k] = p;
        val[k++] = x;
      }
    }
  }
  ptr[n] = k;
  return { idx, ptr, val };
}
