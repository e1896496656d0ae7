/*
 * Monte Carlo forward kernel for dense ReLU chains (rram-hil inference, issue 6).
 *
 * One call evaluates a block of 8 trials (8 weight sets) on n images and writes the predicted
 * class of every (trial, image). It is fast because it exploits what the Monte Carlo gives:
 *  - inputs are the same for every trial and mostly zeros: layer 1 walks each image's non-zero
 *    pixels only (CSR), and two trials' accumulators stay in vector registers;
 *  - those two weight sets stay in L2 while all images stream past.
 * Portable C with GCC/Clang vector extensions; on x86-64 GCC builds AVX-512, AVX2 and baseline
 * clones and picks one at load time, so the same binary runs on any x86-64.
 */
#include <node_api.h>
#include "napi_util.h"
#include <stdint.h>
#include <string.h>
#include "cnn_kernel.h"

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));
#define LD(p) (*(const v8u *)(p))
#define ST(p, v) (*(v8u *)(p) = (v))
#define BC(x) ((v8){0} + (x))

#define TB 8          /* trials per call */
#define CW 32         /* layer-1 columns per register chunk: 4 vectors of 8 */
#define MAX_LAYERS 8
#define MAX_COLS 1024

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

typedef struct {
  const float *w; /* [TB][rows][cp] */
  int rows;       /* fan-in + 1 (bias row last) */
  int cols;       /* real outputs */
  int cp;         /* padded to a multiple of CW */
} layer_t;

/*
 * Trials are taken two at a time: their 32-column layer-1 accumulators (2 x 4 vectors) stay in
 * registers while an image's non-zero pixels stream past, and their weights (2 x ~100 kB for
 * 784x32) stay in L2 while all images go by.
 */
CLONES static void run_block(const uint16_t *idx, const uint32_t *ptr, const float *val, int n,
                             const layer_t *L, int nl, uint8_t *out /* [TB][n] */) {
  float h1[2][MAX_COLS] __attribute__((aligned(32)));
  float hb[2][MAX_COLS] __attribute__((aligned(32)));
  const layer_t *l1 = &L[0];
  const size_t s1 = (size_t)l1->rows * l1->cp;
  const int cp1 = l1->cp;
  const float *bias1 = l1->w + (size_t)(l1->rows - 1) * cp1;
  for (int t0 = 0; t0 < TB; t0 += 2) {
    const float *wa = l1->w + (size_t)t0 * s1;
    const float *wb = wa + s1;
    for (int i = 0; i < n; i++) {
      const uint32_t a = ptr[i], b = ptr[i + 1];
      for (int c0 = 0; c0 < cp1; c0 += CW) {
        v8 a0 = LD(bias1 + t0 * s1 + c0), a1 = LD(bias1 + t0 * s1 + c0 + 8), a2 = LD(bias1 + t0 * s1 + c0 + 16), a3 = LD(bias1 + t0 * s1 + c0 + 24);
        v8 b0 = LD(bias1 + (t0 + 1) * s1 + c0), b1 = LD(bias1 + (t0 + 1) * s1 + c0 + 8), b2 = LD(bias1 + (t0 + 1) * s1 + c0 + 16), b3 = LD(bias1 + (t0 + 1) * s1 + c0 + 24);
        for (uint32_t k = a; k < b; k++) {
          const v8 x = BC(val[k]);
          const size_t o = (size_t)idx[k] * cp1 + c0;
          const float *p = wa + o, *q = wb + o;
          a0 += x * LD(p); a1 += x * LD(p + 8); a2 += x * LD(p + 16); a3 += x * LD(p + 24);
          b0 += x * LD(q); b1 += x * LD(q + 8); b2 += x * LD(q + 16); b3 += x * LD(q + 24);
        }
        ST(&h1[0][c0], a0); ST(&h1[0][c0 + 8], a1); ST(&h1[0][c0 + 16], a2); ST(&h1[0][c0 + 24], a3);
        ST(&h1[1][c0], b0); ST(&h1[1][c0 + 8], b1); ST(&h1[1][c0 + 16], b2); ST(&h1[1][c0 + 24], b3);
      }
      /* Remaining layers, dense, both trials together (8 independent FMA chains). */
      const float *in0 = h1[0], *in1 = h1[1];
      int inCols = l1->cols;
      for (int li = 1; li < nl; li++) {
        const layer_t *l = &L[li];
        const size_t sl = (size_t)l->rows * l->cp;
        const float *w0 = l->w + (size_t)t0 * sl, *w1 = w0 + sl;
        const float *bias0 = w0 + (size_t)(l->rows - 1) * l->cp, *bias1l = w1 + (size_t)(l->rows - 1) * l->cp;
        float *o0 = (in0 == hb[0]) ? h1[0] : hb[0];
        float *o1 = (in1 == hb[1]) ? h1[1] : hb[1];
        for (int c0 = 0; c0 < l->cp; c0 += 16) {
          v8 c_0 = LD(bias0 + c0), c_1 = LD(bias0 + c0 + 8);
          v8 d_0 = LD(bias1l + c0), d_1 = LD(bias1l + c0 + 8);
          v8 e_0 = {0}, e_1 = {0}, f_0 = {0}, f_1 = {0};
          int r = 0;
          for (; r + 1 < inCols; r += 2) {
            const v8 x0 = BC(in0[r] > 0.0f ? in0[r] : 0.0f), x1 = BC(in1[r] > 0.0f ? in1[r] : 0.0f);
            const v8 y0 = BC(in0[r + 1] > 0.0f ? in0[r + 1] : 0.0f), y1 = BC(in1[r + 1] > 0.0f ? in1[r + 1] : 0.0f);
            const float *p = w0 + (size_t)r * l->cp + c0, *q = w1 + (size_t)r * l->cp + c0;
            c_0 += x0 * LD(p); c_1 += x0 * LD(p + 8);
            d_0 += x1 * LD(q); d_1 += x1 * LD(q + 8);
            e_0 += y0 * LD(p + l->cp); e_1 += y0 * LD(p + l->cp + 8);
            f_0 += y1 * LD(q + l->cp); f_1 += y1 * LD(q + l->cp + 8);
          }
          for (; r < inCols; r++) {
            const v8 x0 = BC(in0[r] > 0.0f ? in0[r] : 0.0f), x1 = BC(in1[r] > 0.0f ? in1[r] : 0.0f);
            const float *p = w0 + (size_t)r * l->cp + c0, *q = w1 + (size_t)r * l->cp + c0;
            c_0 += x0 * LD(p); c_1 += x0 * LD(p + 8);
            d_0 += x1 * LD(q); d_1 += x1 * LD(q + 8);
          }
          ST(o0 + c0, c_0 + e_0); ST(o0 + c0 + 8, c_1 + e_1);
          ST(o1 + c0, d_0 + f_0); ST(o1 + c0 + 8, d_1 + f_1);
        }
        in0 = o0;
        in1 = o1;
        inCols = l->cols;
      }
      /* argmax over the last layer's real outputs (the final activation is monotone). */
      int best0 = 0, best1 = 0;
      for (int c = 1; c < inCols; c++) {
        if (in0[c] > in0[best0]) best0 = c;
        if (in1[c] > in1[best1]) best1 = c;
      }
      out[(size_t)t0 * n + i] = (uint8_t)best0;
      out[(size_t)(t0 + 1) * n + i] = (uint8_t)best1;
    }
  }
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

/* forward(idx: Uint16Array, ptr: Uint32Array, val: Float32Array, layers: {w, rows, cols, cp}[], out: Uint8Array) */
static napi_value forward(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 5) return throw_type(env, "forward(idx, ptr, val, layers, out) takes 5 arguments");
  void *idx, *ptr, *val, *out;
  size_t nIdx, nPtr, nVal, nOut;
  if (!typed_array_of(env, argv[0], napi_uint16_array, &idx, &nIdx)) return throw_type(env, "idx must be a Uint16Array");
  if (!typed_array_of(env, argv[1], napi_uint32_array, &ptr, &nPtr) || nPtr < 1) return throw_type(env, "ptr must be a non-empty Uint32Array");
  if (!typed_array_of(env, argv[2], napi_float32_array, &val, &nVal) || nVal != nIdx) return throw_type(env, "val must be a Float32Array as long as idx");
  if (!typed_array_of(env, argv[4], napi_uint8_array, &out, &nOut)) return throw_type(env, "out must be a Uint8Array");
  const int n = (int)nPtr - 1;
  if (nOut < (size_t)TB * n) return throw_type(env, "out must hold 8 x images predictions");
  if (((const uint32_t *)ptr)[n] != nIdx) return throw_type(env, "ptr[n] must equal idx.length");
  uint32_t nl;
  bool isArr;
  napi_is_array(env, argv[3], &isArr);
  if (!isArr || napi_get_array_length(env, argv[3], &nl) != napi_ok || nl < 1 || nl > MAX_LAYERS) return throw_type(env, "layers must be an array of 1..8 layers");
  layer_t L[MAX_LAYERS];
  for (uint32_t li = 0; li < nl; li++) {
    napi_value o, w;
    napi_get_element(env, argv[3], li, &o);
    void *wd;
    size_t wl;
    if (!int_prop(env, o, "rows", &L[li].rows) || !int_prop(env, o, "cols", &L[li].cols) || !int_prop(env, o, "cp", &L[li].cp)) return throw_type(env, "each layer needs integer rows, cols, cp");
    if (napi_get_named_property(env, o, "w", &w) != napi_ok || !typed_array_of(env, w, napi_float32_array, &wd, &wl)) return throw_type(env, "layer.w must be a Float32Array");
    if (L[li].cp % (li == 0 ? CW : 16) || L[li].cp < L[li].cols || L[li].cp > MAX_COLS || L[li].rows < 2) return throw_type(env, "layer cp must be >= cols, <= 1024, a multiple of 32 (layer 1) or 16");
    if (wl != (size_t)TB * L[li].rows * L[li].cp) return throw_type(env, "layer.w must hold 8 x rows x cp floats");
    if (li > 0 && L[li].rows != L[li - 1].cols + 1) return throw_type(env, "layer rows must be the previous layer's cols + 1");
    L[li].w = (const float *)wd;
  }
  for (size_t k = 0; k < nIdx; k++)
    if (((const uint16_t *)idx)[k] >= L[0].rows - 1) return throw_type(env, "pixel index beyond layer 1's fan-in");
  run_block((const uint16_t *)idx, (const uint32_t *)ptr, (const float *)val, n, L, (int)nl, (uint8_t *)out);
  return NULL;
}

static napi_value isa(napi_env env, napi_callback_info info) {
  (void)info;
  const char *name = "generic";
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) name = "avx512";
  else if (__builtin_cpu_supports("avx2")) name = "avx2";
  else name = "sse2";
#endif
  napi_value s;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &s);
  return s;
}

NAPI_MODULE_INIT() {
  napi_value f, g;
  napi_create_function(env, "forward", NAPI_AUTO_LENGTH, forward, NULL, &f);
  napi_set_named_property(env, exports, "forward", f);
  napi_value h;
  napi_create_function(env, "forwardCnn", NAPI_AUTO_LENGTH, forward_cnn, NULL, &h);
  napi_set_named_property(env, exports, "forwardCnn", h);
  napi_create_function(env, "isa", NAPI_AUTO_LENGTH, isa, NULL, &g);
  napi_set_named_property(env, exports, "isa", g);
  napi_value tb;
  napi_create_int32(env, TB, &tb);
  napi_set_named_property(env, exports, "trialsPerBlock", tb);
  return exports;
}
