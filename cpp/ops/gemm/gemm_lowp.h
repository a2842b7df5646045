// Low-precision GEMM: 16-bit inputs (bfloat16 or float16), float32 accumulation and output.
//   C (f32, M x N, row stride ldc) = alpha * op(A) @ op(B) + beta * C
// op(A) is M x K (A stored K x M when trans_a), op(B) is K x N (B stored N x K when trans_b);
// A and B hold raw 16-bit patterns of `dtype` (DType::bf16 or DType::f16), lda/ldb in elements.
//
// Paths (cpp/ops/gemm/gemm_lowp.cpp runs one; gemm_lowp_tune.cpp chooses which: the fixed order
// AMX tiles (gemm_amx_simd.cpp) > vdpbf16ps > widen, or the fastest measured per shape class):
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
#include <string>
#include <utility>
#include <vector>

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

// Which path gemm_lowp takes for `dtype` with the active kernel set by the fixed rules (tuning
// off): "amx_bf16", "avx512_bf16" or "convert_f32".
const char* gemm_lowp_path(DType dtype);

// C (M x N bfloat16, row stride ldc) = bf16(A B + bias[j]), bias a float32 row of N values or
// null: the same bits as gemm_lowp into float32 (bias first, beta = 1) followed by a cast, for
// K <= kBf16OutMaxK, without the float32 C in memory. Returns false, writing nothing, where no
// kernel does it in one pass (no AMX, small shapes, larger K) or where two passes are faster:
// the caller takes that two-pass path.
constexpr int64_t kBf16OutMaxK = 4096;
// The AMX kernel's k block (gemm_amx_simd.cpp: a packed B panel of kAmxKC x 32 bf16 is 64 KiB,
// the A block kMC x kAmxKC 512 KiB of L2). Up to it the one pass is the blocked loop itself.
// Past it the one pass holds all of K in one block: its packed B (K x N x 2 B) outgrows the L2
// and is streamed again for every (smaller) A block, while the two passes write and re-read a
// float32 C of M x N x 4 B per k block. So one pass is kept past kAmxKC only where that C
// outweighs the packed B, K < 2 M. Measured (Xeon, AMX, 1 thread, min of 9-11 CPU-time runs,
// one pass / two passes): K = 1024 0.77-0.90 on M, N in {256, 512, 1024}; M = 4096, N = 256-1536,
// K = 1536-2048 0.58-0.84; the GPT block's weight gradients (M, N in {256, 1024}, K = 4096)
// 1.22-1.53, 256 x 256 x 4096 1.39 vs 0.93 ms.
constexpr int64_t kAmxKC = 1024;
bool gemm_bf16_out(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
                   const uint16_t* B, int64_t ldb, const float* bias, uint16_t* C, int64_t ldc);

// ---- Path choice by measurement (gemm_lowp_tune.cpp; the policy is python/minidl/tuning.py) ----
// The candidates of one product, fastest-first by the fixed rules. Every candidate computes
// op(A) @ op(B) in float32 from exact 16-bit inputs; they differ only in summation order.
enum class GemmLowpPath : uint8_t { amx_bf16, avx512_bf16, convert_f32 };
const char* gemm_lowp_path_name(GemmLowpPath path);
bool gemm_lowp_path_from_name(const std::string& name, GemmLowpPath* path);
// the paths the running CPU and kernel set can take for this product (first = the fixed rule)
std::vector<GemmLowpPath> gemm_lowp_candidates(DType dtype, int64_t M, int64_t N, int64_t K);
// gemm_lowp on a given path; KernelError when the path is not a candidate for this product
void gemm_lowp_on_path(GemmLowpPath path, DType dtype, bool trans_a, bool trans_b, int64_t M, int64_t N,
                       int64_t K, float alpha, const uint16_t* A, int64_t lda, const uint16_t* B,
                       int64_t ldb, float beta, float* C, int64_t ldc);

// A shape class: dtype, transposes, M, N and K each rounded up to a power of two, thread count.
struct GemmShapeClass {
  DType dtype;
  bool trans_a, trans_b;
  int log2_m, log2_n, log2_k, threads;
  uint64_t key() const;
  std::string name() const;  // "bfloat16 NT M64 N128 K256 T2" (the persisted form)
  static bool parse(const std::string& name, GemmShapeClass* out);
};
GemmShapeClass gemm_lowp_shape_class(DType dtype, bool trans_a, bool trans_b, int64_t M, int64_t N,
                                     int64_t K, int threads);

// Tuning switch (off by default in C++: the fixed rules; Python turns it on, md.backends.cpu).
void gemm_lowp_set_tuning(bool on);
bool gemm_lowp_tuning();
// The remembered choices: shape class name -> path name. Set from the cache file, read to save it.
std::vector<std::pair<std::string, std::string>> gemm_lowp_choices();
void gemm_lowp_set_choice(const GemmShapeClass& shape, GemmLowpPath path);
void gemm_lowp_clear_choices();
// Incremented each time a shape class is measured (Python saves the cache when it moved).
uint64_t gemm_lowp_measurements();
// The path gemm_lowp takes for this product now: remembered, measured now (when tuning is on,
// outside a parallel region and the product has more than one candidate), or the fixed rule.
GemmLowpPath gemm_lowp_choose(DType dtype, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                              const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb);

bool cpu_has_avx512_bf16();  // cpp/core/dispatch.cpp

// Per-ISA vdpbf16ps GEMM on the calling thread (nullptr where the ISA file has no such kernel).
struct GemmBf16Simd {
  void (*gemm)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C,
               int64_t ldc);
  int mr, nr;
  // C (bfloat16) = round(A B + bias) in one pass, the float32 product kept in registers and
  // tiles; bias: N float32 values or null. Null where the kernel has no such epilogue.
  void (*gemm_bf16_out)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A,
                        int64_t lda, const uint16_t* B, int64_t ldb, const float* bias, uint16_t* C,
                        int64_t ldc);
};

}  // namespace minidl
