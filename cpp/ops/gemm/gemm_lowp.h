// Low-precision GEMM: 16-bit inputs (bfloat16 or float16), float32 accumulation and output.
//   C (f32, M x N, row stride ldc) = alpha * op(A) @ op(B) + beta * C
// op(A) is M x K (A stored K x M when trans_a), op(B) is K x N (B stored N x K when trans_b);
// A and B hold raw 16-bit patterns of `dtype` (DType::bf16 or DType::f16), lda/ldb in elements.
//
// Paths (cpp/ops/gemm/gemm_lowp.cpp picks one):
//   bf16 on a CPU with AVX512-BF16 (active set avx512): packs A and B into k-pair-interleaved
//     panels and runs a 12 x 32 micro-kernel built on vdpbf16ps (cpp/ops/gemm/gemm_lowp_simd.cpp);
//     each instruction does two multiply-adds per lane, so the FLOP rate doubles over FP32 FMA.
//   everything else (f16; bf16 on other CPUs or the avx2/scalar sets): widen A and B to float32
//     with the conversion kernels (exact: every 16-bit value is a float32) and run sgemm. The
//     result is then bit-identical to sgemm on the widened inputs.
// tests/test_gemm_lowp.py checks both paths against a float64 reference and the vdpbf16ps
// kernel bit for bit against an emulation of its summation order.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

void gemm_lowp(DType dtype, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C,
               int64_t ldc);

// batch of independent GEMMs; stride_* is the element distance between matrices (0 broadcasts)
void gemm_lowp_batched(DType dtype, bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N,
                       int64_t K, float alpha, const uint16_t* A, int64_t lda, int64_t stride_a,
                       const uint16_t* B, int64_t ldb, int64_t stride_b, float beta, float* C,
                       int64_t ldc, int64_t stride_c);

// Which path gemm_lowp takes for `dtype` with the active kernel set: "avx512_bf16" or "convert_f32".
const char* gemm_lowp_path(DType dtype);

bool cpu_has_avx512_bf16();  // cpp/core/dispatch.cpp

// Per-ISA vdpbf16ps GEMM on the calling thread (nullptr where the ISA file has no such kernel).
struct GemmBf16Simd {
  void (*gemm)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C,
               int64_t ldc);
  int mr, nr;
};

}  // namespace minidl
