// Register-blocked SGEMM micro-kernel (included only by gemm_simd.cpp, compiled per ISA).
//
// The micro-kernel computes one MR x NR tile of C from a packed A micro-panel (MR rows, kc
// columns, stored k-major: a[k*kMR + r]) and a packed B micro-panel (kc rows of NR floats:
// b[k*kNR + j]). Per k it loads two vectors of B, broadcasts MR values of A and does 2*MR
// FMAs into accumulators that never leave registers:
//   AVX-512: 12 x 32 -> 24 zmm accumulators + 2 for B + 1 broadcast (of 32 zmm). 24 FMAs per
//            k, 14 loads (2 vector + 12 broadcast): the 2 FMA pipes stay the bottleneck and
//            24 independent chains cover the 4-cycle FMA latency x 2 pipes = 8 in flight.
//   AVX2:     6 x 16 -> 12 ymm accumulators + 2 for B + 1 broadcast (of 16 ymm).
// Tiles with fewer than kMR rows use the same template with MR < kMR (the panel stride stays
// kMR); tiles narrower than kNR are computed full width (B is zero-padded) and stored masked.
#pragma once
#include "minidl/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int kVW = Vec::width;
constexpr int kNR = 2 * kVW;
#if defined(__AVX512F__)
constexpr int kMR = 12;
#else
constexpr int kMR = 6;
#endif

// C tile (MR x n, n <= kNR, row stride ldc) = acc + beta * C; beta == 0 never reads C.
template <int MR>
inline void microkernel(int64_t kc, const float* __restrict a, const float* __restrict b,
                        float* __restrict c, int64_t ldc, int n, float beta) {
  Vec acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    acc0[r] = Vec::zero();
    acc1[r] = Vec::zero();
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + kNR - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const Vec b0 = Vec::load(b), b1 = Vec::load(b + kVW);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const Vec ar = Vec::set1(a[r]);
      acc0[r] = fmadd(ar, b0, acc0[r]);
      acc1[r] = fmadd(ar, b1, acc1[r]);
    }
    a += kMR;
    b += kNR;
  }
  if (n == kNR) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      float* cr = c + r * ldc;
      Vec v0 = acc0[r], v1 = acc1[r];
      if (beta == 1.0f) {
        v0 = v0 + Vec::load(cr);
        v1 = v1 + Vec::load(cr + kVW);
      } else if (beta != 0.0f) {
        v0 = fmadd(Vec::set1(beta), Vec::load(cr), v0);
        v1 = fmadd(Vec::set1(beta), Vec::load(cr + kVW), v1);
      }
      v0.store(cr);
      v1.store(cr + kVW);
    }
  } else {  // partial tile: n0 columns in the first vector, n1 in the second
    const int n0 = n < kVW ? n : kVW, n1 = n - n0;
    for (int r = 0; r < MR; ++r) {
      float* cr = c + r * ldc;
      Vec v0 = acc0[r], v1 = acc1[r];
      if (beta != 0.0f) {
        v0 = fmadd(Vec::set1(beta), Vec::load_partial(cr, n0), v0);
        if (n1 > 0) v1 = fmadd(Vec::set1(beta), Vec::load_partial(cr + kVW, n1), v1);
      }
      v0.store_partial(cr, n0);
      if (n1 > 0) v1.store_partial(cr + kVW, n1);
    }
  }
}

// microkernel<mr> for a run-time mr in [1, MR]
template <int MR>
inline void microkernel_rows(int mr, int64_t kc, const float* a, const float* b, float* c,
                             int64_t ldc, int n, float beta) {
  if (mr == MR) {
    microkernel<MR>(kc, a, b, c, ldc, n, beta);
  } else if constexpr (MR > 1) {
    microkernel_rows<MR - 1>(mr, kc, a, b, c, ldc, n, beta);
  }
}

}  // namespace
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
