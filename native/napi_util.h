/* N-API argument helpers shared by the Monte Carlo kernels (mc_kernel.c, cnn_kernel.c). */
#ifndef NAPI_UTIL_H
#define NAPI_UTIL_H
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>

/* 1 when v is a typed array of type `want`; its data and element count go to *data, *len. */
static inline int typed_array_of(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) != napi_ok) return 0;
  return type == want;
}

/* 1 when obj.name is an int32; its value goes to *out. */
static inline int int_prop(napi_env env, napi_value obj, const char *name, int *out) {
  napi_value v;
  int32_t x;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || napi_get_value_int32(env, v, &x) != napi_ok) return 0;
  *out = x;
  return 1;
}
#endif
