// Single-precision GEMM for one ISA. (stub: plain loops until the Goto/BLIS kernel lands)
#include "minidl/gemm.h"
#include "minidl/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {
void sgemm_isa(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
    for (int64_t k = 0; k < K; ++k) {
      const float a = alpha * (ta ? A[k * lda + i] : A[i * lda + k]);
      if (tb) for (int64_t j = 0; j < N; ++j) c[j] += a * B[j * ldb + k];
      else for (int64_t j = 0; j < N; ++j) c[j] += a * B[k * ldb + j];
    }
  }
}
}  // namespace
extern const GemmSimd gemm_simd = {&sgemm_isa};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
