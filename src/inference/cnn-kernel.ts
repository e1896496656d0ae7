/**
 * The Monte Carlo forward kernel for conv nets: valid stride-1 convolutions with ReLU (each
 * optionally followed by a PxP max-pool of stride P), then dense layers - the `cnn:` specs of
 * seed 000 and any tfjs model of that shape. The native addon (native/cnn_kernel.c) or the same
 * algorithm in JavaScript. Contract (both): one trial's effective weights, n images (HWC), write
 * out[i] = predicted class. Zero activations are skipped, pools fold into the conv's write.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { repoRoot } from '../../lib/repo-root.js';
import type { CrossbarNet, WeightOp } from './crossbar-net.js';
import type { KernelChoice } from './mc-kernel.js';

export interface CnnStage {
  /** 0 conv, 1 dense */
  kind: 0 | 1;
  kh: number;
  kw: number;
  cout: number;
  /** Max-pool side after a conv (1: none). */
  pool: number;
  /** 1: ReLU after this stage (always for conv; every dense but the last). */
  relu: 0 | 1;
  /** Effective weights as WeightOp.W: (fanIn + 1) x cout, bias last. */
  w: Float32Array;
}

export interface CnnKernel {
  name: string;
  forwardCnn(images: Float32Array, n: number, H: number, W: number, C: number, stages: CnnStage[], out: Uint8Array): void;
}

/**
 * The net as kernel stages (weights filled per trial), or undefined when it is not a chain the
 * kernel runs: conv(ReLU, valid, stride 1) [maxpool PxP stride P valid] ... flatten, dense(ReLU) ...,
 * dense(softmax | linear). `layer` maps each stage to its weight layer index. A layer's digital
 * scale and shift (`post`) are folded into its weights per trial (mc-trials.ts, foldPost).
 */
export function convChain(net: CrossbarNet): { stages: Omit<CnnStage, 'w'>[]; input: [number, number, number] } | undefined {
  if (net.input || net.inputShape.length !== 3) return undefined;
  const stages: Omit<CnnStage, 'w'>[] = [];
  const ops = net.ops;
  let flat = false;
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i];
    if (o.op === 'conv') {
      if (flat || o.act !== 'relu' || o.padding !== 'valid' || o.strides![0] !== 1 || o.strides![1] !== 1 || o.units > 256) return undefined;
      stages.push({ kind: 0, kh: o.kernel![0], kw: o.kernel![1], cout: o.units, pool: 1, relu: 1 });
    } else if (o.op === 'maxpool') {
      const last = stages[stages.length - 1];
      if (!last || last.kind !== 0 || last.pool !== 1 || o.padding !== 'valid' || o.pool[0] !== o.pool[1] || o.strides[0] !== o.pool[0] || o.strides[1] !== o.pool[1]) return undefined;
      last.pool = o.pool[0];
    } else if (o.op === 'flatten') flat = true;
    else if (o.op === 'dense') {
      if (!flat || o.units > 256) return undefined;
      stages.push({ kind: 1, kh: 1, kw: 1, cout: o.units, pool: 1, relu: o.act === 'relu' ? 1 : 0 });
    } else return undefined; // a separate activation op
  }
  const dense = ops.filter((o): o is WeightOp => o.op === 'dense');
  if (!dense.length || !stages.some((s) => s.kind === 0)) return undefined;
  // Every dense but the last must be ReLU; the last monotone (argmax unchanged).
  if (dense.slice(0, -1).some((d) => d.act !== 'relu')) return undefined;
  if (!['softmax', 'linear'].includes(dense[dense.length - 1].act)) return undefined;
  const [h, w, c] = net.inputShape;
  return { stages, input: [h, w, c] };
}

let native: CnnKernel | null | undefined;
function loadNative(): CnnKernel | null {
  if (native !== undefined) return native;
  try {
    const m = createRequire(import.meta.url)(join(repoRoot(), 'native', 'build', 'Release', 'mc_kernel.node')) as { forwardCnn?: CnnKernel['forwardCnn']; isa(): string };
    native = m.forwardCnn ? { name: `native-cnn-${m.isa()}`, forwardCnn: m.forwardCnn } : null;
  } catch {
    native = null;
  }
  return native;
}

export const nativeCnnAvailable = (): boolean => loadNative() !== null;

export function loadCnnKernel(choice: KernelChoice = 'auto'): CnnKernel {
  const want = choice === 'auto' ? ((process.env.RRAM_KERNEL as KernelChoice | undefined) ?? 'auto') : choice;
  if (want !== 'js') {
    const k = loadNative();
    if (k) return k;
    if (want === 'native') throw new Error('native conv kernel is not built (npm run build:native needs a C compiler and node-gyp)');
  }
  return jsCnnKernel;
}

export const jsCnnKernel: CnnKernel = {
  name: 'js-cnn',
  forwardCnn(images, n, H, W, C, stages, out) {
    let maxAct = 1;
    {
      let [h, w, c] = [H, W, C];
      for (const s of stages) {
        if (s.kind === 0) [h, w, c] = [Math.floor((h - s.kh + 1) / s.pool), Math.floor((w - s.kw + 1) / s.pool), s.cout];
        else [h, w, c] = [1, 1, s.cout];
        maxAct = Math.max(maxAct, h * w * c);
      }
    }
    const bufs = [new Float32Array(maxAct), new Float32Array(maxAct)];
    const acc = new Float32Array(256);
    for (let i = 0; i < n; i++) {
      let cur: Float32Array = images.subarray(i * H * W * C, (i + 1) * H * W * C);
      let [h, w, c] = [H, W, C];
      let bi = 0;
      for (const s of stages) {
        const dst = bufs[bi];
        const co = s.cout;
        if (s.kind === 0) {
          const p = s.pool;
          const ph = Math.floor((h - s.kh + 1) / p);
          const pw = Math.floor((w - s.kw + 1) / p);
          const biasAt = s.kh * s.kw * c * co;
          dst.fill(0, 0, ph * pw * co);
          for (let oy = 0; oy < ph * p; oy++)
            for (let ox = 0; ox < pw * p; ox++) {
              for (let k = 0; k < co; k++) acc[k] = s.w[biasAt + k];
              for (let ky = 0; ky < s.kh; ky++)
                for (let kx = 0; kx < s.kw; kx++) {
                  const src = ((oy + ky) * w + ox + kx) * c;
                  const wk = (ky * s.kw + kx) * c * co;
                  for (let ci = 0; ci < c; ci++) {
                    const x = cur[src + ci];
                    if (x === 0) continue;
                    const wr = wk + ci * co;
                    for (let k = 0; k < co; k++) acc[k] += x * s.w[wr + k];
                  }
                }
              const d = (Math.floor(oy / p) * pw + Math.floor(ox / p)) * co;
              for (let k = 0; k < co; k++) if (acc[k] > dst[d + k]) dst[d + k] = acc[k];
            }
          [h, w, c] = [ph, pw, co];
        } else {
          const fan = h * w * c;
          for (let k = 0; k < co; k++) acc[k] = s.w[fan * co + k];
          for (let j = 0; j < fan; j++) {
            const x = cur[j];
            if (x === 0) continue;
            const wr = j * co;
            for (let k = 0; k < co; k++) acc[k] += x * s.w[wr + k];
          }
          for (let k = 0; k < co; k++) dst[k] = s.relu && acc[k] < 0 ? 0 : acc[k];
          [h, w, c] = [1, 1, co];
        }
        cur = dst;
        bi ^= 1;
      }
      let best = 0;
      for (let k = 1; k < c; k++) if (cur[k] > cur[best]) best = k;
      out[i] = best;
    }
  },
};
