// GEMM entry points. PLACEHOLDER structure: the Goto/BLIS implementation replaces this.
#include "minidl/gemm.h"

#include "minidl/dispatch.h"
#include "minidl/parallel.h"

MINIDL_SIMD_TABLE(minidl::GemmSimd, gemm_simd)

namespace minidl {
namespace {

// i-k-j loop order: the inner loop streams a row of B and a row of C (vectorizable).
template <class T>
void gemm_loops(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  parallel_for(M, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, N * K)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      T* c = C + i * ldc;
      for (int64_t j = 0; j < N; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
      for (int64_t k = 0; k < K; ++k) {
        const T a = alpha * (ta ? A[k * lda + i] : A[i * lda + k]);
        if (tb) for (int64_t j = 0; j < N; ++j) c[j] += a * B[j * ldb + k];
        else {
          const T* b = B + k * ldb;
          for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
        }
      }
    }
  });
}

}  // namespace

void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (const GemmSimd* simd = gemm_simd_active()) {
    simd->sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  gemm_loops<float>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void dgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
           const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  gemm_loops<double>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sgemm_batched(bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, int64_t sa, const float* B, int64_t ldb, int64_t sb,
                   float beta, float* C, int64_t ldc, int64_t sc) {
  for (int64_t b = 0; b < batch; ++b)
    sgemm(ta, tb, M, N, K, alpha, A + b * sa, lda, B + b * sb, ldb, beta, C + b * sc, ldc);
}

void dgemm_batched(bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K, double alpha,
                   const double* A, int64_t lda, int64_t sa, const double* B, int64_t ldb, int64_t sb,
                   double beta, double* C, int64_t ldc, int64_t sc) {
  for (int64_t b = 0; b < batch; ++b)
    dgemm(ta, tb, M, N, K, alpha, A + b * sa, lda, B + b * sb, ldb, beta, C + b * sc, ldc);
}

}  // namespace minidl
