// GEMM with a pre-packed B: the packing happens once in PackedMatrixB; every sgemm_packed call
// reads its (small) A in place (gemm_packed_simd.cpp). Threads split C by NR-column panels, as
// gemm.cpp does for wide C.
#include <algorithm>
#include <stdexcept>
#include <vector>

#include "core/dispatch.h"
#include "gemm.h"
#include "core/parallel.h"

MINIDL_SIMD_TABLE(minidl::GemmPackedSimd, gemm_packed_simd)

namespace minidl {

PackedMatrixB::PackedMatrixB(bool trans_b_, int64_t K_, int64_t N_, const float* B_, int64_t ldb_)
    : K(K_), N(N_), trans_b(trans_b_), B(B_), ldb(ldb_), simd(gemm_packed_simd_active()) {
  if (simd && K > 0 && N > 0) {
    packed.resize(static_cast<size_t>(simd->packed_size(K, N)));
    simd->pack_b(trans_b, K, N, B, ldb, packed.data());
  }
}


void sgemm_packed_panels_multi(int64_t M, int64_t q0, int64_t q1, float alpha, const float* A, int64_t lda, int nb,
                               const PackedMatrixB* const* B, float beta, float* const* C, int64_t ldc) {
  if (M <= 0 || nb <= 0) return;
  const int64_t N = B[0]->N, K = B[0]->K;
  const int64_t j0 = std::min(N, q0 * kPackedPanel), j1 = std::min(N, q1 * kPackedPanel);
  if (j0 >= j1) return;
  const GemmPackedSimd* s = B[0]->simd;
  bool packed = s && kPackedPanel % s->nr == 0;
  for (int b = 0; b < nb; ++b) packed = packed && B[b]->simd == s && !B[b]->packed.empty() && B[b]->N == N && B[b]->K == K;
  if (!packed) {
    // no packed kernel: ordinary GEMMs on the column block (single-threaded inside a region)
    for (int b = 0; b < nb; ++b) {
      const PackedMatrixB& m = *B[b];
      sgemm(false, m.trans_b, M, j1 - j0, m.K, alpha, A, lda, m.trans_b ? m.B + j0 * m.ldb : m.B + j0, m.ldb, beta,
            C[b] + j0, ldc);
    }
    return;
  }
  constexpr int kMaxB = 8;
  const float* pk[kMaxB];
  float* cs[kMaxB];
  const int64_t per = kPackedPanel / s->nr;  // kernel panels per kPackedPanel
  const int64_t k0 = q0 * per, k1 = std::min(q1 * per, (N + s->nr - 1) / s->nr);
  for (int b0 = 0; b0 < nb; b0 += kMaxB) {
    const int n = std::min(kMaxB, nb - b0);
    for (int i = 0; i < n; ++i) {
      pk[i] = B[b0 + i]->packed.data();
      cs[i] = C[b0 + i];
    }
    s->gemm(M, k0, k1, K, N, alpha, A, lda, n, pk, beta, cs, ldc);
  }
}

void sgemm_packed_panels(int64_t M, int64_t q0, int64_t q1, float alpha, const float* A, int64_t lda,
                         const PackedMatrixB& B, float beta, float* C, int64_t ldc) {
  const PackedMatrixB* bs[1] = {&B};
  float* cs[1] = {C};
  sgemm_packed_panels_multi(M, q0, q1, alpha, A, lda, 1, bs, beta, cs, ldc);
}

void sgemm_packed(int64_t M, float alpha, const float* A, int64_t lda, const PackedMatrixB& B, float beta, float* C,
                  int64_t ldc) {
  if (M <= 0 || B.N <= 0) return;
  if (!B.simd || B.packed.empty()) {
    sgemm(false, B.trans_b, M, B.N, B.K, alpha, A, lda, B.B, B.ldb, beta, C, ldc);
    return;
  }
  const GemmPackedSimd* s = B.simd;
  const int64_t panels = (B.N + s->nr - 1) / s->nr;
  int64_t nt = num_threads();
#ifdef _OPENMP
  if (omp_in_parallel()) nt = 1;
#endif
  if (M * B.N * std::max<int64_t>(B.K, 1) < kParallelMinFma) nt = 1;
  nt = std::min(nt, panels);
  if (nt <= 1) {
    const float* pk = B.packed.data();
    s->gemm(M, 0, panels, B.K, B.N, alpha, A, lda, 1, &pk, beta, &C, ldc);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(static_cast<int>(nt))
  {
    const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t q0 = panels * t / T, q1 = panels * (t + 1) / T;
    const float* pk = B.packed.data();
    if (q0 < q1) s->gemm(M, q0, q1, B.K, B.N, alpha, A, lda, 1, &pk, beta, &C, ldc);
  }
#endif
}

}  // namespace minidl
