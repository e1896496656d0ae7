/**
 * One place that picks the TensorFlow.js backend. `@tensorflow/tfjs-node` is an optional
 * accelerator: when it is installed and its native library loads, it is used; otherwise (the
 * default install, offline machines) the wasm backend with SIMD. The name is reported in every
 * result so figures are never compared across backends by accident.
 */
import type * as TfModule from '@tensorflow/tfjs';

export type Tf = typeof TfModule;
/**
 * The tfjs module, bound by initTf(): loading tfjs takes ~0.25 s, which `rram --help`, an argument
 * error or a board command should not pay (an ESM live binding: importers see it once set).
 */
let tf: Tf = undefined as unknown as Tf;
let ready: Promise<string> | undefined;

/** RRAM_TF_BACKEND=wasm|cpu|tensorflow forces a backend (tests, comparisons). */
export function initTf(): Promise<string> {
  ready ??= pick();
  return ready;
}

async function pick(): Promise<string> {
  tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-wasm');
  const forced = process.env.RRAM_TF_BACKEND;
  if (!forced || forced === 'tensorflow') {
    try {
      // A variable name keeps TypeScript from requiring the optional package at build time.
      const name = '@tensorflow/tfjs-node';
      await import(name);
      if (await tf.setBackend('tensorflow')) return 'tensorflow';
    } catch {
      // Not installed, or installed without its native library (it throws a plain Error then).
    }
  }
  const want = forced === 'cpu' ? 'cpu' : 'wasm';
  if (!(await tf.setBackend(want))) throw new Error(`tfjs backend ${want} failed to initialise`);
  await tf.ready();
  if (want === 'wasm') registerWasmConvFilterGrad();
  return want;
}

/**
 * tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel, so conv nets cannot train on it.
 * At stride 1 the 2-D filter gradient is wasm's 3-D one with a depth of 1 (its fastest form
 * here); at larger strides that one is wrong (tests/wasm-conv-grad.test.ts), so a plain loop
 * computes dW[i,j,c,o] = sum over batch and output positions of x[p*s+i, q*s+j, c] * dy[p,q,o].
 */
function registerWasmConvFilterGrad(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const x = inputs.x as TfModule.Tensor4D;
      const dy = inputs.dy as TfModule.Tensor4D;
      const a = attrs as unknown as { strides: number | [number, number]; pad: ConvPad; dataFormat?: string; filterShape: [number, number, number, number] };
      if (a.dataFormat !== undefined && a.dataFormat !== 'NHWC') throw new Error(`Conv2DBackpropFilter on wasm: data format ${a.dataFormat} is not supported (NHWC only)`);
      const s = Array.isArray(a.strides) ? a.strides : [a.strides, a.strides];
      const [n, h, w, c] = x.shape;
      const [, oh, ow, co] = dy.shape;
      const top = padsOf(a.pad, h, oh, s[0], a.filterShape[0])[0];
      const left = padsOf(a.pad, w, ow, s[1], a.filterShape[1])[0];
      if (s[0] !== 1 || s[1] !== 1) {
        const be = backend as TfModule.KernelBackend;
        const dW = filterGradLoop(be.readSync(x.dataId) as Float32Array, x.shape, be.readSync(dy.dataId) as Float32Array, dy.shape, a.filterShape, s, top, left);
        return tf.tensor4d(dW, a.filterShape);
      }
      return tf.tidy(() => {
        const r = tf.engine().runKernel(
          'Conv3DBackpropFilterV2',
          { x: tf.reshape(x, [n, 1, h, w, c]), dy: tf.reshape(dy, [n, 1, oh, ow, co]) },
          { strides: [1, 1, 1], pad: a.pad, filterShape: [1, ...a.filterShape] } as unknown as TfModule.NamedAttrMap,
        ) as TfModule.Tensor;
        return tf.reshape(r, a.filterShape);
      });
    },
  });
}

/** The filter gradient of an NHWC conv with strides `s` and the padding before the first row and column, as a loop. */
function filterGradLoop(xs: Float32Array, [n, h, w, ci]: number[], ds: Float32Array, [, oh, ow, co]: number[], [fh, fw]: number[], [sh, sw]: number[], top: number, left: number): Float32Array {
  const acc = new Float64Array(fh * fw * ci * co);
  for (let b = 0; b < n; b++)
    for (let p = 0; p < oh; p++)
      for (let q = 0; q < ow; q++) {
        const d0 = ((b * oh + p) * ow + q) * co;
        for (let i = 0; i < fh; i++) {
          const r = p * sh + i - top;
          if (r < 0 || r >= h) continue;
          for (let j = 0; j < fw; j++) {
            const col = q * sw + j - left;
            if (col < 0 || col >= w) continue;
            const x0 = ((b * h + r) * w + col) * ci;
            const w0 = (i * fw + j) * ci * co;
            for (let k = 0; k < ci; k++) {
              const v = xs[x0 + k];
              const o0 = w0 + k * co;
              for (let o = 0; o < co; o++) acc[o0 + o] += v * ds[d0 + o];
            }
          }
        }
      }
  return Float32Array.from(acc);
}

type ConvPad = 'valid' | 'same' | number | number[][];

/**
 * Padding before and after along one axis, as tfjs's conv2d computes it for the paddings nets use
 * here (crossbar-net.ts: valid, same). Numeric and explicit paddings are refused: tfjs-wasm's own
 * forward conv reads out of bounds on them when the strides differ.
 */
function padsOf(pad: ConvPad, size: number, out: number, stride: number, filter: number): [number, number] {
  if (pad !== 'valid' && pad !== 'same') throw new Error(`Conv2DBackpropFilter on wasm: padding ${JSON.stringify(pad)} is not supported (valid or same)`);
  if (pad === 'valid') return [0, 0];
  const along = Math.max(0, (out - 1) * stride + filter - size);
  return [Math.floor(along / 2), along - Math.floor(along / 2)];
}

export { tf };
