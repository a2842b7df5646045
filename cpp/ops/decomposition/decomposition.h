// Matrix decompositions (md.linalg.svd / svdvals / qr) and the triangular solve that the QR
// backward needs. Every function takes a batch of contiguous row-major matrices, one after
// another, and runs OpenMP over the batch.
//
//   SVD   A = U diag(S) Vh          A (m, n), k = min(m, n)
//         U (m, k) or (m, m) with full_matrices, S (k) descending, Vh (k, n) or (n, n).
//         One-sided Jacobi (Hestenes 1958): rotate pairs of columns until they are all
//         orthogonal; the column norms are then the singular values (svd.cpp).
//   QR    A = Q R                   Q (m, k) reduced or (m, m) complete, R (k, n) or (m, n),
//         by Householder reflections, with LAPACK's sign convention (qr.cpp).
//   solve X = B R^-T for upper-triangular R (n, n) and B (rows, n): back substitution on
//         each row of B (qr.cpp).
//
// dtype float32 or float64 (both computed in their own type; the reference SVD's dot products
// accumulate in double). The float32 Jacobi step has a SIMD version (svd_simd.cpp, JacobiSimd).
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

// The two loops of a float32 Jacobi rotation, per ISA (svd_simd.cpp); the reference is the
// plain loops at the top of svd.cpp.
struct JacobiSimd {
  // x.y, summed in float32 lanes (64 partial sums with AVX-512, 32 with AVX2)
  float (*dot)(const float* x, const float* y, int64_t n);
  // [x y] <- [x y] [[c, s], [-s, c]]
  void (*rotate)(float* x, float* y, int64_t n, float c, float s);
};

// u, vh may be null (singular values only: svdvals). Returns how many matrices held a NaN or
// an infinity (their outputs are left unspecified): the caller raises, as LAPACK's callers do.
int64_t svd_jacobi(const void* a, void* u, void* s, void* vh, DType dtype, int64_t batch, int64_t m, int64_t n,
                   bool full_matrices);

// q may be null (mode 'r'). complete: q (m, m), r (m, n); otherwise q (m, k), r (k, n).
void qr_householder(const void* a, void* q, void* r, DType dtype, int64_t batch, int64_t m, int64_t n,
                    bool complete);

// x = b r^-T, i.e. each row x of x solves r x^T = b^T (r upper triangular, n x n per matrix,
// b and x rows x n per matrix). A zero on r's diagonal gives inf / NaN, as LAPACK's trsm.
void solve_upper_transposed_right(const void* r, const void* b, void* x, DType dtype, int64_t batch, int64_t rows,
                                  int64_t n);

}  // namespace minidl
