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
#include "napi_util.h"
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
  /* conv, vector path: the used output positions (padded to a whole block by repeating the last),
     each one's input offset and its pooled cell's offset; the same for every image. */
  int npos;
  int *so, *dof;
  /* 5: blocks of 5 positions, each inside one row (used row length a multiple of 5, not of 8) */
  int rowB;
} stage_t;

/*
 * Conv outputs whose channel count is 8 * NV, BP positions at a time (any positions of the used
 * output region, row-major, given as input offsets `so` and pooled-cell offsets `dof`): each weight
 * row (8 * NV channels) is loaded once for all BP, the BP x NV accumulators are independent FMA
 * chains in registers, and the results go straight into the pooled map as a max (ReLU is the max
 * with the map's initial 0). Positions sharing a pool cell are merged in registers first. For a
 * valid conv the taps (kx, ci) of one kernel row are contiguous in the input and in the weights:
 * one loop of kw * c. No zero test: on post-ReLU maps mispredicts cost more than the FMAs skipped.
 */
static inline v8 vmax(v8 a, v8 b) {
  typedef int v8i __attribute__((vector_size(32)));
  const v8i m = a > b;
  return (v8)((m & (v8i)a) | (~m & (v8i)b));
}

/* Into the pooled map: positions sharing a pool cell are merged in registers first, then one max per cell. */
#define STORE_POOLED(NV, BP)                                                                                  \
  for (int v = 0; v < NV; v++) {                                                                              \
    int at = dof[0];                                                                                          \
    v8 m = a[0][v];                                                                                           \
    for (int q = 1; q < BP; q++) {                                                                            \
      if (dof[q] != at) {                                                                                     \
        ST(dst + at + 8 * v, vmax(LD(dst + at + 8 * v), m));                                                  \
        at = dof[q];                                                                                          \
        m = a[q][v];                                                                                          \
      } else m = vmax(m, a[q][v]);                                                                            \
    }                                                                                                         \
    ST(dst + at + 8 * v, vmax(LD(dst + at + 8 * v), m));                                                      \
  }

#define CONV_BLOCK(NAME, NV, BP)                                                                              \
  static inline __attribute__((always_inline)) void NAME(const float *cur, const int *so, int rowStride, int kh, int run, \
                                                        const float *W, const float *bias, float *dst, const int *dof) { \
    v8 a[BP][NV];                                                                                             \
    for (int q = 0; q < BP; q++)                                                                              \
      for (int v = 0; v < NV; v++) a[q][v] = LD(bias + 8 * v);                                                \
    for (int ky = 0; ky < kh; ky++) {                                                                         \
      const float *wk = W + (size_t)ky * run * (8 * NV);                                                      \
      const float *s[BP];                                                                                     \
      for (int q = 0; q < BP; q++) s[q] = cur + so[q] + (size_t)ky * rowStride;                               \
      for (int j = 0; j < run; j++) {                                                                         \
        const float *wr = wk + (size_t)j * (8 * NV);                                                          \
        for (int v = 0; v < NV; v++) {                                                                        \
          const v8 wv = LD(wr + 8 * v);                                                                       \
          for (int q = 0; q < BP; q++) a[q][v] += BC(s[q][j]) * wv;                                           \
        }                                                                                                     \
      }                                                                                                       \
    }                                                                                                         \
    STORE_POOLED(NV, BP);                                                                                     \
  }
CONV_BLOCK(conv_c8, 1, 8)
CONV_BLOCK(conv_c16, 2, 4)
CONV_BLOCK(conv_c32, 4, 4)

/*
 * The common case of a block: its positions are adjacent in one output row, so with the input
 * channel count C known at compile time every input value is one base pointer plus a constant
 * (no pointer per position: those spilled to the stack in the general block above).
 */
#define CONV_ROW(NAME, NV, BP, C)                                                                             \
  static inline __attribute__((always_inline)) void NAME(const float *src, int rowStride, int kh, int run,   \
                                                        const float *W, const float *bias, float *dst, const int *dof) { \
    v8 a[BP][NV];                                                                                             \
    for (int q = 0; q < BP; q++)                                                                              \
      for (int v = 0; v < NV; v++) a[q][v] = LD(bias + 8 * v);                                                \
    for (int ky = 0; ky < kh; ky++) {                                                                         \
      const float *s = src + (size_t)ky * rowStride;                                                          \
      const float *wk = W + (size_t)ky * run * (8 * NV);                                                      \
      for (int j = 0; j < run; j++) {                                                                         \
        const float *wr = wk + (size_t)j * (8 * NV);                                                          \
        for (int v = 0; v < NV; v++) {                                                                        \
          const v8 wv = LD(wr + 8 * v);                                                                       \
          for (int q = 0; q < BP; q++) a[q][v] += BC(s[q * (C) + j]) * wv;                                    \
        }                                                                                                     \
      }                                                                                                       \
    }                                                                                                         \
    STORE_POOLED(NV, BP);                                                                                     \
  }
CONV_ROW(row_c8_in1, 1, 8, 1)
CONV_ROW(row_c8_in3, 1, 8, 3)
CONV_ROW(row_c8_in8, 1, 8, 8)
CONV_ROW(row_c8_in16, 1, 8, 16)
CONV_ROW(row_c16_in1, 2, 4, 1)
CONV_ROW(row_c16_in8, 2, 4, 8)
CONV_ROW(row_c16_in16, 2, 4, 16)
/* Rows of 5, 10, 15 ... used columns (a 10x10 conv before a 2x2 pool): blocks of 5 that never straddle rows. */
CONV_ROW(row5_c8_in8, 1, 5, 8)
CONV_ROW(row5_c8_in16, 1, 5, 16)
CONV_ROW(row5_c8_in1, 1, 5, 1)

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
        if (st->rowB == 5) {
          const int rs = w * c, run = st->kw * c;
          for (int k = 0; k < st->npos; k += 5) {
            const float *src = cur + st->so[k];
            if (c == 8) row5_c8_in8(src, rs, st->kh, run, st->w, bias, dst, st->dof + k);
            else if (c == 16) row5_c8_in16(src, rs, st->kh, run, st->w, bias, dst, st->dof + k);
            else row5_c8_in1(src, rs, st->kh, run, st->w, bias, dst, st->dof + k);
          }
        } else if (st->so) {
          const int B = co == 8 ? 8 : 4, rs = w * c, run = st->kw * c;
          for (int k = 0; k < st->npos; k += B) {
            const int *so = st->so + k;
            if (so[B - 1] - so[0] == (B - 1) * c) {
              /* adjacent positions of one row */
              const float *src = cur + so[0];
              const int *df = st->dof + k;
              if (co == 8 && c == 1) { row_c8_in1(src, rs, st->kh, run, st->w, bias, dst, df); continue; }
              if (co == 8 && c == 3) { row_c8_in3(src, rs, st->kh, run, st->w, bias, dst, df); continue; }
              if (co == 8 && c == 8) { row_c8_in8(src, rs, st->kh, run, st->w, bias, dst, df); continue; }
              if (co == 8 && c == 16) { row_c8_in16(src, rs, st->kh, run, st->w, bias, dst, df); continue; }
              if (co == 16 && c == 1) { row_c16_in1(src, rs, st->kh, run, st->w, bias, dst, df); continue; }
              if (co == 16 && c == 8) { row_c16_in8(src, rs, st->kh, run, st->w, bias, dst, df); continue; }
              if (co == 16 && c == 16) { row_c16_in16(src, rs, st->kh, run, st->w, bias, dst, df); continue; }
            }
            if (co == 8) conv_c8(cur, st->so + k, rs, st->kh, run, st->w, bias, dst, st->dof + k);
            else if (co == 16) conv_c16(cur, st->so + k, rs, st->kh, run, st->w, bias, dst, st->dof + k);
            else conv_c32(cur, st->so + k, rs, st->kh, run, st->w, bias, dst, st->dof + k);
          }
        } else
          for (int oy = 0; oy < ph * p; oy++)
            for (int ox = 0; ox < pw * p; ox++) {
              conv_generic(cur + ((size_t)oy * w + ox) * c, w, c, st->kh, st->kw, co, st->w, bias, acc);
              float *d = dst + ((size_t)(oy / p) * pw + ox / p) * co;
              for (int k = 0; k < co; k++) d[k] = acc[k] > d[k] ? acc[k] : d[k];
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

static void free_offsets(stage_t *S, uint32_t ns) {
  for (uint32_t i = 0; i < ns; i++) {
    free(S[i].so);
    free(S[i].dof);
    S[i].so = S[i].dof = NULL;
  }
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
  if (!typed_array_of(env, argv[0], napi_float32_array, &img, &nImg)) return fail(env, "images must be a Float32Array");
  if (napi_get_value_int32(env, argv[1], &n) != napi_ok || napi_get_value_int32(env, argv[2], &H) != napi_ok || napi_get_value_int32(env, argv[3], &W) != napi_ok || napi_get_value_int32(env, argv[4], &C) != napi_ok)
    return fail(env, "n, H, W, C must be integers");
  if (n < 1 || H < 1 || W < 1 || C < 1 || (size_t)n * H * W * C > nImg) return fail(env, "images must hold n x H x W x C values");
  if (!typed_array_of(env, argv[6], napi_uint8_array, &out, &nOut) || nOut < (size_t)n) return fail(env, "out must be a Uint8Array of n predictions");
  uint32_t ns;
  bool isArr;
  napi_is_array(env, argv[5], &isArr);
  if (!isArr || napi_get_array_length(env, argv[5], &ns) != napi_ok || ns < 1 || ns > MAX_STAGES) return fail(env, "stages must be an array of 1..16 stages");
  stage_t S[MAX_STAGES];
  memset(S, 0, sizeof S);
#define FAIL_S(msg) do { free_offsets(S, MAX_STAGES); return fail(env, msg); } while (0)
  int h = H, w = W, c = C;
  size_t maxAct = 1;
  for (uint32_t si = 0; si < ns; si++) {
    napi_value o, wv;
    napi_get_element(env, argv[5], si, &o);
    stage_t *st = &S[si];
    st->so = st->dof = NULL;
    st->npos = 0;
    if (!int_prop(env, o, "kind", &st->kind) || !int_prop(env, o, "cout", &st->cout) || !int_prop(env, o, "relu", &st->relu)) FAIL_S("each stage needs integer kind, cout, relu");
    if (st->cout < 1 || st->cout > MAX_COUT) FAIL_S("stage cout must be in 1..256");
    void *wd;
    size_t wl;
    if (napi_get_named_property(env, o, "w", &wv) != napi_ok || !typed_array_of(env, wv, napi_float32_array, &wd, &wl)) FAIL_S("stage.w must be a Float32Array");
    st->w = (const float *)wd;
    if (st->kind == 0) {
      if (!int_prop(env, o, "kh", &st->kh) || !int_prop(env, o, "kw", &st->kw) || !int_prop(env, o, "pool", &st->pool)) FAIL_S("conv stages need kh, kw, pool");
      if (c != 0 && (st->kh < 1 || st->kw < 1 || st->kh > h || st->kw > w)) FAIL_S("conv kernel larger than its input");
      if (!st->relu) FAIL_S("conv stages must use ReLU");
      if (w > MAX_SIDE) FAIL_S("conv input wider than 4096");
      if (wl != ((size_t)st->kh * st->kw * c + 1) * st->cout) FAIL_S("conv stage.w must hold (kh kw cin + 1) x cout floats");
      const int p = st->pool > 1 ? st->pool : 1;
      const int oh = (h - st->kh + 1) / p, ow = (w - st->kw + 1) / p;
      if (oh < 1 || ow < 1) FAIL_S("feature map vanishes");
      st->so = st->dof = NULL;
      st->npos = 0;
      if (st->cout == 8 || st->cout == 16 || st->cout == 32) {
        /* The positions the pool reads, row-major, padded to a whole block by repeating the last (max is idempotent). */
        const int row = ow * p;
        st->rowB = st->cout == 8 && row % 8 != 0 && row % 5 == 0 && (c == 1 || c == 8 || c == 16) ? 5 : 0;
        const int B = st->rowB ? 5 : st->cout == 8 ? 8 : 4, used = oh * p * ow * p;
        st->npos = (used + B - 1) / B * B;
        st->so = malloc(sizeof(int) * st->npos);
        st->dof = malloc(sizeof(int) * st->npos);
        if (!st->so || !st->dof) FAIL_S("out of memory");
        int k = 0;
        for (int oy = 0; oy < oh * p; oy++)
          for (int ox = 0; ox < ow * p; ox++, k++) {
            st->so[k] = (oy * w + ox) * c;
            st->dof[k] = ((oy / p) * ow + ox / p) * st->cout;
          }
        for (; k < st->npos; k++) {
          st->so[k] = st->so[used - 1];
          st->dof[k] = st->dof[used - 1];
        }
      }
      h = oh;
      w = ow;
      c = st->cout;
    } else {
      if (wl != ((size_t)h * w * c + 1) * st->cout) FAIL_S("dense stage.w must hold (fanIn + 1) x cout floats");
      h = 1;
      w = 1;
      c = st->cout;
    }
    if ((size_t)h * w * c > maxAct) maxAct = (size_t)h * w * c;
  }
  if (c > 256) FAIL_S("too many outputs");
  float *bufA = malloc(sizeof(float) * maxAct), *bufB = malloc(sizeof(float) * maxAct);
  if (!bufA || !bufB) {
    free(bufA);
    free(bufB);
    FAIL_S("out of memory");
  }
  run_cnn((const float *)img, n, H, W, C, S, (int)ns, bufA, bufB, (uint8_t *)out);
  free(bufA);
  free(bufB);
  free_offsets(S, ns);
  return NULL;
}
