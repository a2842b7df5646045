// Runs a templated body once per supported dtype: `using T = <the C++ type>; body`.
//
// The one dtype-dispatch idiom of the kernels: the public entry point takes `const void*` and a
// DType, switches with one of these macros, and calls a `template <class T>` function with
// typed pointers:
//   void conv2d_forward(..., DType t, const void* x, ...) {
//     MINIDL_DISPATCH_FLOAT(t, "conv2d", { forward_path<T>(s, static_cast<const T*>(x), ...); });
//   }
// A path that exists for one type only (the float32 SIMD kernels) is chosen inside that
// template with `if constexpr (std::is_same<T, float>::value)`. (Inside the macro body itself
// `if constexpr` discards nothing, because the body is not a template: the float-only call
// must sit in a template function.) bfloat16 / float16 tensors, stored as uint16_t bit
// patterns, are routed to their own *_lowp functions before the switch.
#pragma once
#include <string>

#include "tensor_view.h"

#define MINIDL_CASE(DT, CT, ...) \
  case ::minidl::DType::DT: {    \
    using T = CT;                \
    __VA_ARGS__;                 \
    break;                       \
  }

#define MINIDL_UNSUPPORTED(dtype, what) \
  throw ::minidl::KernelError(std::string(what) + ": dtype " + ::minidl::dtype_name(dtype) + " is not supported")

// float32 and float64
#define MINIDL_DISPATCH_FLOAT(dtype, what, ...)   \
  switch (dtype) {                                \
    MINIDL_CASE(f32, float, __VA_ARGS__)          \
    MINIDL_CASE(f64, double, __VA_ARGS__)         \
    default: MINIDL_UNSUPPORTED(dtype, what);     \
  }

// float32, float64, int64
#define MINIDL_DISPATCH_NUMERIC(dtype, what, ...) \
  switch (dtype) {                                \
    MINIDL_CASE(f32, float, __VA_ARGS__)          \
    MINIDL_CASE(f64, double, __VA_ARGS__)         \
    MINIDL_CASE(i64, int64_t, __VA_ARGS__)        \
    default: MINIDL_UNSUPPORTED(dtype, what);     \
  }

// float32, float64, int64, bool (as uint8_t)
#define MINIDL_DISPATCH_ALL(dtype, what, ...)     \
  switch (dtype) {                                \
    MINIDL_CASE(f32, float, __VA_ARGS__)          \
    MINIDL_CASE(f64, double, __VA_ARGS__)         \
    MINIDL_CASE(i64, int64_t, __VA_ARGS__)        \
    MINIDL_CASE(b8, uint8_t, __VA_ARGS__)         \
    default: MINIDL_UNSUPPORTED(dtype, what);     \
  }
