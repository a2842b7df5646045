// General matrix multiply, row-major: C = alpha * op(A) @ op(B) + beta * C,
// op(A) is M x K (A is K x M when trans_a), op(B) is K x N (B is N x K when trans_b).
// lda/ldb/ldc are row strides in elements. beta == 0 ignores C's old contents (NaN included).
//
// First the reference, gemm_reference, the textbook triple loop every fast path is tested
// against (tests/cpp/test_kernels.cpp, tests/test_gemm.py); it stays in this header so that
// attention's scalar tiles can inline it. sgemm follows the Goto/BLIS structure
// (gemm_simd.cpp): panels of B packed for L3/L1, blocks of A for L2, a register-blocked
// micro-kernel per ISA; gemm.cpp splits C between OpenMP threads and holds the portable
// blocked path (the "scalar" set, also used by dgemm).
#pragma once
#include <cstdint>
#include <type_traits>
#include <vector>

namespace minidl {

// ---- reference -------------------------------------------------------------------------
// --8<-- [start:gemm_reference]
// C[i, j] = alpha * sum_k op(A)[i, k] op(B)[k, j] + beta * C[i, j]   (beta == 0: C not read)
template <class T>
void gemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                    const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      T acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        T a = trans_a ? A[k * lda + i] : A[i * lda + k];
        T b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      C[i * ldc + j] = alpha * acc + (beta == T(0) ? T(0) : beta * C[i * ldc + j]);
    }
}
// --8<-- [end:gemm_reference]

// ---- which path runs: gemm.cpp -----------------------------------------------------------
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);
void dgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
           const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
           int64_t ldc);

// C = alpha * op(A) @ op(B) + beta * C + bias, where bias (N values, contiguous) is added to
// every row of C: the Linear layer's forward (addmm). Writing the bias into C first and running
// the GEMM with beta = 1 costs one more pass over C (a write and a read of M x N floats); here
// the micro-kernel adds it in its stores instead. bias == nullptr is sgemm / dgemm.
void sgemm_bias(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float* A, int64_t lda, const float* B, int64_t ldb, float beta, const float* bias,
                float* C, int64_t ldc);
void dgemm_bias(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                const double* A, int64_t lda, const double* B, int64_t ldb, double beta, const double* bias,
                double* C, int64_t ldc);

// batch of independent GEMMs; stride_* is the element distance between consecutive matrices
// (0 broadcasts one matrix to every batch entry).
void sgemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                   float alpha, const float* A, int64_t lda, int64_t stride_a, const float* B,
                   int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc,
                   int64_t stride_c);
void dgemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                   double alpha, const double* A, int64_t lda, int64_t stride_a, const double* B,
                   int64_t ldb, int64_t stride_b, double beta, double* C, int64_t ldc,
                   int64_t stride_c);

// One name for both precisions, so that a kernel templated on T (convolution, RNN) calls
// gemm<T>(...) and gets sgemm or dgemm.
template <class T>
inline void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                 int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value, "gemm<T>: float or double");
  if constexpr (std::is_same<T, float>::value)
    sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    dgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Per-ISA single-precision GEMM (packing + micro-kernel + blocking), cpp/ops/gemm/gemm_simd.cpp.
// `sgemm` runs on the calling thread (M, N, K >= 0); the caller splits C between threads in
// multiples of the micro-tile (mr rows, nr columns) so no thread gets a ragged tile it need not.
struct GemmSimd {
  void (*sgemm)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                int64_t ldc);
  // the same with a bias row (sgemm_bias above; null: none)
  void (*sgemm_bias)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float* A, int64_t lda, const float* B, int64_t ldb, float beta, const float* bias,
                     float* C, int64_t ldc);
  int mr, nr;  // the micro-tile
  int vw;      // floats per vector (the blocking model's FMA rate)
};


// The float32 GEMM's block sizes for the active kernel set and an M x N x K product on one thread (the forced
// ones if any, else the cache model's of gemm_blocking.h; the portable set's fixed ones for
// "scalar"), with its micro-tile mr x nr.
struct GemmBlockSizes {
  int64_t kc, mc, nc;
  int mr, nr, vw;
};
GemmBlockSizes sgemm_block_sizes(int64_t M, int64_t N, int64_t K);

// ---- GEMM with a pre-packed B (cpp/ops/gemm/gemm_packed.cpp, gemm_packed_simd.cpp) --
// For one B reused by many products, e.g. an RNN's W_hh at every time step: packing op(B)
// into the micro-kernel's panels once removes the per-call packing, which for the small-M
// recurrent products (M = batch) costs up to a quarter of each GEMM.
struct GemmPackedSimd {
  int64_t (*packed_size)(int64_t K, int64_t N);  // floats
  void (*pack_b)(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, float* dst);
  // columns [q0 nr, q1 nr) of C_b = alpha A @ op(B_b) + beta C_b, b < nb, on the calling
  // thread; A (row-major) is read in place, not packed
  void (*gemm)(int64_t M, int64_t q0, int64_t q1, int64_t K, int64_t N, float alpha, const float* A,
               int64_t lda, int nb, const float* const* packed, float beta, float* const* C, int64_t ldc);
  int nr;
};

// op(B) (K x N; B is N x K when trans_b) packed for the active kernel set. With the scalar
// set (no packed kernel) it only remembers B and sgemm_packed calls sgemm. B must stay alive
// and unchanged while the PackedMatrixB is used.
class PackedMatrixB {
 public:
  PackedMatrixB(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb);
  int64_t K, N;
  bool trans_b;
  const float* B;
  int64_t ldb;
  const GemmPackedSimd* simd;  // null: fall back to sgemm
  std::vector<float> packed;
};

// Column panels: sgemm_packed_panels computes only columns [q0 w, min(q1 w, N)) of C, on the
// calling thread, w = kPackedPanel; a caller that keeps its own threads busy over many GEMMs (an
// RNN's time loop inside one parallel region) splits the panels between them. A multiple of
// every kernel set's tile width (AVX-512 64, AVX2 16): with one that is not, the packed path
// falls back to sgemm (gemm_packed.cpp).
constexpr int64_t kPackedPanel = 64;
void sgemm_packed_panels(int64_t M, int64_t q0, int64_t q1, float alpha, const float* A, int64_t lda,
                         const PackedMatrixB& B, float beta, float* C, int64_t ldc);
// the same for nb matrices B_b of equal K and N sharing A: C_b = alpha A @ op(B_b) + beta C_b
void sgemm_packed_panels_multi(int64_t M, int64_t q0, int64_t q1, float alpha, const float* A, int64_t lda, int nb,
                               const PackedMatrixB* const* B, float beta, float* const* C, int64_t ldc);

// C (M x N, row stride ldc) = alpha * A (M x K, row stride lda) @ op(B) + beta * C
void sgemm_packed(int64_t M, float alpha, const float* A, int64_t lda, const PackedMatrixB& B, float beta,
                  float* C, int64_t ldc);

}  // namespace minidl
