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

// The same conversions to and from float32 in the calling thread, with no split into threads
// or blocks: for the many short runs of one channel inside a kernel that already runs its
// channels in parallel (batchnorm_lowp.cpp: 4096 runs of 64 values a call at ResNet-20's
// third stage, where cast_contiguous's own set-up cost more than the conversion).
void cast_to_f32(const void* src, DType src_dtype, float* dst, int64_t n);
void cast_from_f32(const float* src, void* dst, DType dst_dtype, int64_t n);

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
