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
 * The 2-D filter gradient is the 3-D one with a depth of 1, which wasm does have.
 */
function registerWasmConvFilterGrad(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs }) => {
      const x = inputs.x as TfModule.Tensor4D;
      const dy = inputs.dy as TfModule.Tensor4D;
      const a = attrs as unknown as { strides: number | [number, number]; pad: 'valid' | 'same'; filterShape: [number, number, number, number] };
      const s = Array.isArray(a.strides) ? a.strides : [a.strides, a.strides];
      const [n, h, w, c] = x.shape;
      const [, oh, ow, co] = dy.shape;
      return tf.tidy(() => {
        const r = tf.engine().runKernel(
          'Conv3DBackpropFilterV2',
          { x: tf.reshape(x, [n, 1, h, w, c]), dy: tf.reshape(dy, [n, 1, oh, ow, co]) },
          { strides: [1, s[0], s[1]], pad: a.pad, filterShape: [1, ...a.filterShape] } as unknown as TfModule.NamedAttrMap,
        ) as TfModule.Tensor;
        return tf.reshape(r, a.filterShape);
      });
    },
  });
}

export { tf };
