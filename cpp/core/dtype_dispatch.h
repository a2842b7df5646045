// Runs a templated body once per supported dtype: `using T = <the C++ type>; body`.
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
