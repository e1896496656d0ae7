/* The conv-net Monte Carlo kernel's N-API entry (registered by mc_kernel.c's module init). */
#ifndef CNN_KERNEL_H
#define CNN_KERNEL_H
#include <node_api.h>
napi_value forward_cnn(napi_env env, napi_callback_info info);
#endif
