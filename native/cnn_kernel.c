/*
 * Monte Carlo forward kernel for conv nets (rram-hil issue 17: studies of CNNs need a fast path).
 *
 * One call evaluates one trial's weights on n images and writes the predicted class of each.
 * The net is a chain of stages: 3x3-style valid convolutions (stride 1, ReLU, optionally followed
 * by a PxP max-pool of stride P) and dense layers (ReLU between, any monotone last activation).
 * What makes it fast is what the Monte Carlo gives:
 *  - activations are mostly zeros (MNIST pixels, post-ReLU maps): each output walks its inputs
 *    and skips the zeros, accumulating over the output channels in vector registers;
 *  - a conv followed by a pool computes only the outputs the pool reads (11x11 -> 10x10 for a 2x2
 *    pool), and the pool is folded into the write (max of ReLU'd values, buffer starts at 0);
 *  - one trial's weights (a few kB) stay in L1 while all images stream past.
 * Same GCC function clones as mc_kernel.c (AVX-512 / AVX2 / baseline picked at load time).
 */
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cnn_kernel.h"

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));
#define LD(p) (*(const v8u *)(p))
#define ST(p, v) (*(v8u *)(p) = (v))
/* A broadcast without the scalar add that `(v8){0} + x` compiles to. */
#define BC(x) ((v8){(x), (x), (x), (x), (x), (x), (x), (x)})

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

#define MAX_STAGES 16
#define MAX_COUT 256
#define MAX_SIDE 4096

typedef struct {
  int kind; /* 0 conv, 1 dense */
  int kh, kw, cin, cout, pool, relu;
  const float *w; /* conv: [kh][kw][cin][cout] then bias[cout]; dense: [fanIn][cout] then bias */
} stage_t;

/*
 * Conv outputs whose channel count is 8 * NV, four adjacent positions (ox .. ox+3 of one row) at a
 * time: each weight row (8 * NV channels) is loaded once for the four, the 4 x NV accumulators are
 * independent FMA chains in registers, and the results go straight into the pooled map as a max
 * (ReLU is the max with the map's initial 0). For a valid conv, the taps (kx, ci) of one kernel
 * row are contiguous both in the input row and in the weights: one loop of kw * c. No zero test:
 * on post-ReLU maps the branch mispredicts cost more than the FMAs they skip.
 */
static inline v8 vmax(v8 a, v8 b) {
  typedef int v8i __attribute__((vector_size(32)));
  const v8i m = a > b;
  return (v8)((m & (v8i)a) | (~m & (v8i)b));
}

#define CONV_NV(NV)                                                                                          \
  static inline __attribute__((always_inline)) void conv4_nv##NV(const float *src, int w, int c, int kh, int kw, \
                                                                  const float *W, const float *bias, float *const *d) { \
    v8 a0[NV], a1[NV], a2[NV], a3[NV];                                                                       \
    for (int v = 0; v < NV; v++) a0[v] = a1[v] = a2[v] = a3[v] = LD(bias + 8 * v);                           \
    const int run = kw * c;                                                                                  \
    for (int ky = 0; ky < kh; ky++) {                                                                        \
      const float *s = src + (size_t)ky * w * c;                                                             \
      const float *wk = W + (size_t)ky * run * (8 * NV);                                                     \
      for (int j = 0; j < run; j++) {                                                                        \
        const v8 x0 = BC(s[j]), x1 = BC(s[c + j]), x2 = BC(s[2 * c + j]), x3 = BC(s[3 * c + j]);             \
        const float *wr = wk + (size_t)j * (8 * NV);                                                         \
        for (int v = 0; v < NV; v++) {                                                                       \
          const v8 wv = LD(wr + 8 * v);                                                                      \
          a0[v] += x0 * wv; a1[v] += x1 * wv; a2[v] += x2 * wv; a3[v] += x3 * wv;                             \
        }                                                                                                    \
      }                                                                                                      \
    }                                                                                                        \
    /* Positions that share a pool cell are merged in registers first (no store-to-load round trip). */   \
    for (int v = 0; v < NV; v++) {                                                                           \
      v8 m = a0[v];                                                                                          \
      float *at = d[0];                                                                                      \
      const v8 nx[3] = {a1[v], a2[v], a3[v]};                                                                \
      for (int q = 1; q < 4; q++) {                                                                          \
        if (d[q] != at) {                                                                                    \
          ST(at + 8 * v, vmax(LD(at + 8 * v), m));                                                           \
          at = d[q];                                                                                         \
          m = nx[q - 1];                                                                                     \
        } else m = vmax(m, nx[q - 1]);                                                                       \
      }                                                                                                      \
      ST(at + 8 * v, vmax(LD(at + 8 * v), m));                                                               \
    }                                                                                                        \
  }
CONV_NV(2)
CONV_NV(4)

/* Eight channels: eight positions at a time, so eight independent FMA chains hide the FMA latency. */
static inline __attribute__((always_inline)) void conv8_c8(const float *src, int w, int c, int kh, int kw, const float *W, const float *bias, float *const d[8]) {
  v8 a[8];
  for (int q = 0; q < 8; q++) a[q] = LD(bias);
  const int run = kw * c;
  for (int ky = 0; ky < kh; ky++) {
    const float *s = src + (size_t)ky * w * c;
    const float *wk = W + (size_t)ky * run * 8;
    for (int j = 0; j < run; j++) {
      const v8 wv = LD(wk + (size_t)j * 8);
      for (int q = 0; q < 8; q++) a[q] += BC(s[q * c + j]) * wv;
    }
  }
  v8 m = a[0];
  float *at = d[0];
  for (int q = 1; q < 8; q++) {
    if (d[q] != at) {
      ST(at, vmax(LD(at), m));
      at = d[q];
      m = a[q];
    } else m = vmax(m, a[q]);
  }
  ST(at, vmax(LD(at), m));
}

static inline void conv_generic(const float *src, int w, int c, int kh, int kw, int cout, const float *W, const float *bias, float *acc) {
  memcpy(acc, bias, sizeof(float) * cout);
  for (int ky = 0; ky < kh; ky++)
    for (int kx = 0; kx < kw; kx++) {
      const float *s = src + ((size_t)ky * w + kx) * c;
      const float *wk = W + (size_t)(ky * kw + kx) * c * cout;
      for (int ci = 0; ci < c; ci++) {
        const float x = s[ci];
        if (x == 0.0f) continue;
        const float *wr = wk + (size_t)ci * cout;
        for (int co = 0; co < cout; co++) acc[co] += x * wr[co];
      }
    }
}

CLONES static void run_cnn(const float *img, int n, int H, int W, int C, const stage_t *S, int ns, float *bufA, float *bufB, uint8_t *out) {
  float acc[4 * MAX_COUT] __attribute__((aligned(32)));
  for (int i = 0; i < n; i++) {
    const float *cur = img + (size_t)i * H * W * C;
    int h = H, w = W, c = C;
    float *dst = bufA;
    for (int si = 0; si < ns; si++) {
      const stage_t *st = &S[si];
      if (st->kind == 0) {
        const int oh = h - st->kh + 1, ow = w - st->kw + 1, p = st->pool > 1 ? st->pool : 1;
        const int ph = oh / p, pw = ow / p, co = st->cout;
        const float *bias = st->w + (size_t)st->kh * st->kw * c * co;
        /* ReLU outputs are >= 0: a pooled cell starts at 0 and takes the max of its window. */
        memset(dst, 0, sizeof(float) * (size_t)ph * pw * co);
        const int used = pw * p; /* columns the pool reads */
        const int B = co == 8 ? 8 : 4; /* positions per block */
        int colAt[MAX_SIDE]; /* offset of each used column's pool cell in a pooled row (no division in the loop) */
        for (int x = 0; x < used; x++) colAt[x] = (x / p) * co;
        const int vec = (co == 8 || co == 16 || co == 32) && used >= B;
        for (int oy = 0; oy < ph * p; oy++) {
          float *drow = dst + (size_t)(oy / p) * pw * co;
          if (vec) {
            /* Blocks of B columns; the last block ends at `used` and may redo a few columns: the max is idempotent. */
            for (int ox = 0;; ox += B) {
              if (ox + B > used) ox = used - B;
              const float *src = cur + ((size_t)oy * w + ox) * c;
              float *d[8];
              for (int q = 0; q < B; q++) d[q] = drow + colAt[ox + q];
              if (co == 8) conv8_c8(src, w, c, st->kh, st->kw, st->w, bias, d);
              else if (co == 16) conv4_nv2(src, w, c, st->kh, st->kw, st->w, bias, d);
              else conv4_nv4(src, w, c, st->kh, st->kw, st->w, bias, d);
              if (ox + B >= used) break;
            }
          } else
            for (int ox = 0; ox < used; ox++) {
              conv_generic(cur + ((size_t)oy * w + ox) * c, w, c, st->kh, st->kw, co, st->w, bias, acc);
              float *d = drow + (size_t)(ox / p) * co;
              for (int k = 0; k < co; k++) d[k] = acc[k] > d[k] ? acc[k] : d[k];
            }
        }
        h = ph;
        w = pw;
        c = co;
      } else {
        const int fan = h * w * c, co = st->cout;
        const float *bias = st->w + (size_t)fan * co;
        memcpy(acc, bias, sizeof(float) * co);
        if (co % 8 == 0 && co <= 32) {
          /* Branch-free: a zero test per input mispredicts on post-ReLU maps; two rows per step, independent chains. */
          const int nv = co / 8;
          v8 a[4] = {0}, b[4] = {0};
          int k = 0;
          for (; k + 1 < fan; k += 2) {
            const v8 x0 = BC(cur[k]), x1 = BC(cur[k + 1]);
            const float *w0 = st->w + (size_t)k * co, *w1 = w0 + co;
            for (int v = 0; v < nv; v++) {
              a[v] += x0 * LD(w0 + 8 * v);
              b[v] += x1 * LD(w1 + 8 * v);
            }
          }
          for (; k < fan; k++) {
            const v8 x0 = BC(cur[k]);
            for (int v = 0; v < nv; v++) a[v] += x0 * LD(st->w + (size_t)k * co + 8 * v);
          }
          for (int v = 0; v < nv; v++) ST(acc + 8 * v, LD(acc + 8 * v) + a[v] + b[v]);
        } else
          for (int k = 0; k < fan; k++) {
            const float x = cur[k];
            if (x == 0.0f) continue;
            const float *wr = st->w + (size_t)k * co;
            for (int o = 0; o < co; o++) acc[o] += x * wr[o];
          }
        if (st->relu)
          for (int o = 0; o < co; o++) dst[o] = acc[o] > 0.0f ? acc[o] : 0.0f;
        else
          memcpy(dst, acc, sizeof(float) * co);
        h = 1;
        w = 1;
        c = co;
      }
      cur = dst;
      dst = (dst == bufA) ? bufB : bufA;
    }
    int best = 0;
    for (int k = 1; k < c; k++)
      if (cur[k] > cur[best]) best = k;
    out[i] = (uint8_t)best;
  }
}

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static int typed_arr(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) != napi_ok) return 0;
  return type == want;
}

static int get_int(napi_env env, napi_value obj, const char *name, int *out) {
  napi_value v;
  int32_t x;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || napi_get_value_int32(env, v, &x) != napi_ok) return 0;
  *out = x;
  return 1;
}

/* forwardCnn(images: Float32Array, n, H, W, C, stages: {kind, kh, kw, cout, pool, relu, w}[], out: Uint8Array) */
napi_value forward_cnn(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 7) return fail(env, "forwardCnn(images, n, H, W, C, stages, out) takes 7 arguments");
  void *img, *out;
  size_t nImg, nOut;
  int32_t n, H, W, C;
  if (!typed_arr(env, argv[0], napi_float32_array, &img, &nImg)) return fail(env, "images must be a Float32Array");
  if (napi_get_value_int32(env, argv[1], &n) != napi_ok || napi_get_value_int32(env, argv[2], &H) != napi_ok || napi_get_value_int32(env, argv[3], &W) != napi_ok || napi_get_value_int32(env, argv[4], &C) != napi_ok)
    return fail(env, "n, H, W, C must be integers");
  if (n < 1 || H < 1 || W < 1 || C < 1 || (size_t)n * H * W * C > nImg) return fail(env, "images must hold n x H x W x C values");
  if (!typed_arr(env, argv[6], napi_uint8_array, &out, &nOut) || nOut < (size_t)n) return fail(env, "out must be a Uint8Array of n predictions");
  uint32_t ns;
  bool isArr;
  napi_is_array(env, argv[5], &isArr);
  if (!isArr || napi_get_array_length(env, argv[5], &ns) != napi_ok || ns < 1 || ns > MAX_STAGES) return fail(env, "stages must be an array of 1..16 stages");
  stage_t S[MAX_STAGES];
  int h = H, w = W, c = C;
  size_t maxAct = 1;
  for (uint32_t si = 0; si < ns; si++) {
    napi_value o, wv;
    napi_get_element(env, argv[5], si, &o);
    stage_t *st = &S[si];
    if (!get_int(env, o, "kind", &st->kind) || !get_int(env, o, "cout", &st->cout) || !get_int(env, o, "relu", &st->relu)) return fail(env, "each stage needs integer kind, cout, relu");
    if (st->cout < 1 || st->cout > MAX_COUT) return fail(env, "stage cout must be in 1..256");
    void *wd;
    size_t wl;
    if (napi_get_named_property(env, o, "w", &wv) != napi_ok || !typed_arr(env, wv, napi_float32_array, &wd, &wl)) return fail(env, "stage.w must be a Float32Array");
    st->w = (const float *)wd;
    if (st->kind == 0) {
      if (!get_int(env, o, "kh", &st->kh) || !get_int(env, o, "kw", &st->kw) || !get_int(env, o, "pool", &st->pool)) return fail(env, "conv stages need kh, kw, pool");
      if (c != 0 && (st->kh < 1 || st->kw < 1 || st->kh > h || st->kw > w)) return fail(env, "conv kernel larger than its input");
      if (!st->relu) return fail(env, "conv stages must use ReLU");
      if (w > MAX_SIDE) return fail(env, "conv input wider than 4096");
      if (wl != ((size_t)st->kh * st->kw * c + 1) * st->cout) return fail(env, "conv stage.w must hold (kh kw cin + 1) x cout floats");
      const int p = st->pool > 1 ? st->pool : 1;
      const int oh = (h - st->kh + 1) / p, ow = (w - st->kw + 1) / p;
      if (oh < 1 || ow < 1) return fail(env, "feature map vanishes");
      h = oh;
      w = ow;
      c = st->cout;
    } else {
      if (wl != ((size_t)h * w * c + 1) * st->cout) return fail(env, "dense stage.w must hold (fanIn + 1) x cout floats");
      h = 1;
      w = 1;
      c = st->cout;
    }
    if ((size_t)h * w * c > maxAct) maxAct = (size_t)h * w * c;
  }
  if (c > 256) return fail(env, "too many outputs");
  float *bufA = malloc(sizeof(float) * maxAct), *bufB = malloc(sizeof(float) * maxAct);
  if (!bufA || !bufB) {
    free(bufA);
    free(bufB);
    return fail(env, "out of memory");
  }
  run_cnn((const float *)img, n, H, W, C, S, (int)ns, bufA, bufB, (uint8_t *)out);
  free(bufA);
  free(bufB);
  return NULL;
}
