// Data movement and dtype conversion: strided copy (contiguous(), expand, slice assignment,
// cat/stack), fill, and float32 <-> float16 / bfloat16 / float64 / int64 / bool casts.
// The reference conversions open copy.cpp; CastSimd (below) is the table of copy_simd.cpp,
// compiled once per ISA.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

// dst[i] = src[i] over dst's shape; same dtype; src may broadcast (stride 0).
void copy_strided(const TensorView& src, const TensorView& dst);

// dst = cast(src) elementwise, both contiguous, n elements. Float -> 16-bit rounds to nearest
// even (NaN stays NaN); float -> int64 truncates toward zero; x -> bool is x != 0.
void cast_contiguous(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n);

// every element of dst = value (converted to dst's dtype)
void fill(const TensorView& dst, double value);

// Scalar IEEE conversions (the reference the SIMD paths are tested against).
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);
uint16_t float_to_bfloat16(float f);
float bfloat16_to_float(uint16_t b);

// Per-ISA conversion loops over n contiguous values (F16C / AVX-512), see
// cpp/ops/copy/copy_simd.cpp: bit-identical to f32_to_f16_reference, f16_to_f32_reference,
// f32_to_bf16_reference and bf16_to_f32_reference in copy.cpp (the functions above, per value).
struct CastSimd {
  void (*f32_to_f16)(const float* src, uint16_t* dst, int64_t n);
  void (*f16_to_f32)(const uint16_t* src, float* dst, int64_t n);
  void (*f32_to_bf16)(const float* src, uint16_t* dst, int64_t n);
  void (*bf16_to_f32)(const uint16_t* src, float* dst, int64_t n);
};

}  // namespace minidl
