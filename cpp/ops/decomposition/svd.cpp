// The singular value decomposition by one-sided Jacobi rotations (Hestenes 1958; Demmel and
// Veselic 1992, "Jacobi's method is more accurate than QR").
//
// The idea: B V = W with V orthogonal and the columns of W mutually orthogonal means
// B = W V^T = U diag(sigma) V^T with sigma_j = ||w_j||, u_j = w_j / sigma_j. Start from W = B,
// V = I and make the columns of W orthogonal two at a time. For a pair (p, q) with
//
//   alpha = w_p.w_p,  beta = w_q.w_q,  gamma = w_p.w_q
//
// the plane rotation [w_p w_q] <- [w_p w_q] [[c, s], [-s, c]] makes them orthogonal when
//
//   zeta = (beta - alpha) / (2 gamma),  t = sign(zeta) / (|zeta| + sqrt(1 + zeta^2)),
//   c = 1 / sqrt(1 + t^2),  s = c t
//
// (t is the smaller root of t^2 + 2 zeta t - 1 = 0, the rotation by at most 45 degrees, the
// stable choice); then alpha' = alpha - t gamma and beta' = beta + t gamma. The same rotation
// applied to the columns of V keeps B V = W. A rotation spoils the orthogonality of other
// pairs, but the sum of the off-diagonal squares of W^T W falls each time, and a sweep over
// all pairs converges quadratically once the columns are nearly orthogonal.
//
// Convergence test: a pair is left alone when |gamma| <= tol sqrt(alpha beta) (its cosine is
// below tol = sqrt(len) eps, LAPACK's xGESVJ tolerance); the method stops after a sweep that
// rotated nothing (at most kMaxSweeps: 6-10 are typical).
//
// Pair order: the round-robin tournament ("circle method"): each round pairs every column
// with another, and the k/2 pairs of a round touch disjoint columns, so they could run side
// by side. Measured, that does not pay here: running each round on 2 threads (a
// parallel_for per round, 255 fork-joins per sweep) made a 256 x 256 float32 svdvals take
// 690-1040 ms against 127-168 ms on one thread (this busy 2-vCPU VM, alternating runs). So
// one matrix runs on one thread; OpenMP splits a batch of matrices.
//
// The matrix A (m, n) is handled through B = A when m >= n (columns of length m) and
// B = A^T when m < n, so that the k = min(m, n) columns rotated are the short side. Output
// conventions: S descending; a column u_j (of B) whose sigma_j is 0 is completed, as are the
// extra columns of full_matrices, by Gram-Schmidt against the others (any orthonormal
// completion is valid; LAPACK's differs). Signs: u_j follows w_j; like PyTorch's, the
// decomposition is unique only up to the sign of each pair (u_j, v_j).
//
// SIMD: for float32 the two loops of a rotation (the dot product, the rotation) run from the
// JacobiSimd table of the active ISA (svd_simd.cpp). 256 x 256 svdvals, 1 thread, medians of
// 4 alternating runs on this busy 2-vCPU Xeon: scalar 106 ms, AVX2 59 ms, AVX-512 39 ms.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "core/dispatch.h"
#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "decomposition.h"

MINIDL_SIMD_TABLE(minidl::JacobiSimd, jacobi_simd)

namespace minidl {
namespace {

constexpr int kMaxSweeps = 60;

// w_p.w_q with a double accumulator; `omp simd` lets the compiler split the sum into vector
// lanes (a reordering of the additions, which a plain loop may not do).
template <class T>
double dot(const T* x, const T* y, int64_t len) {
  double acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < len; ++i) acc += static_cast<double>(x[i]) * static_cast<double>(y[i]);
  return acc;
}

// [x y] <- [x y] [[c, s], [-s, c]]
template <class T>
void rotate(T* x, T* y, int64_t len, T c, T s) {
  for (int64_t i = 0; i < len; ++i) {
    const T xi = x[i], yi = y[i];
    x[i] = c * xi - s * yi;
    y[i] = s * xi + c * yi;
  }
}

// One pair (p, q): rotate when not yet orthogonal. w: k rows of length len (the columns of
// B), v: k rows of length k (the columns of V) or null, norm2: the alpha / beta of each
// column, updated; simd: the float32 loops of the active ISA, or null for the reference
// loops. Returns whether it rotated.
// --8<-- [start:orthogonalize_pair]
template <class T>
bool orthogonalize_pair(T* w, T* v, double* norm2, int64_t len, int64_t k, int64_t p, int64_t q, double tol,
                        const JacobiSimd* simd) {
  const double alpha = norm2[p], beta = norm2[q];
  if (alpha == 0 || beta == 0) return false;  // a zero column is orthogonal to everything
  T* wp = w + p * len;
  T* wq = w + q * len;
  const bool vector_loops = std::is_same_v<T, float> && simd;
  double gamma = 0;
  if constexpr (std::is_same_v<T, float>) gamma = vector_loops ? simd->dot(wp, wq, len) : dot(wp, wq, len);
  else gamma = dot(wp, wq, len);
  if (!(std::fabs(gamma) > tol * std::sqrt(alpha * beta))) return false;
  const double zeta = (beta - alpha) / (2 * gamma);
  // for a huge zeta, sqrt(1 + zeta^2) would overflow: t ~ 1 / (2 zeta) there
  const double t = std::fabs(zeta) > 1e150 ? 0.5 / zeta
                                           : std::copysign(1.0, zeta) / (std::fabs(zeta) + std::sqrt(1 + zeta * zeta));
  const double c = 1 / std::sqrt(1 + t * t), s = c * t;
  const auto rotate_rows = [&](T* x, T* y, int64_t n) {
    if constexpr (std::is_same_v<T, float>)
      if (vector_loops) return simd->rotate(x, y, n, static_cast<float>(c), static_cast<float>(s));
    rotate(x, y, n, static_cast<T>(c), static_cast<T>(s));
  };
  rotate_rows(wp, wq, len);
  if (v) rotate_rows(v + p * k, v + q * k, k);
  norm2[p] = alpha - t * gamma;
  norm2[q] = beta + t * gamma;
  return true;
}
// --8<-- [end:orthogonalize_pair]

// Sweeps of round-robin rounds until one sweep rotates nothing. A round has K/2 pairs (K = k
// rounded up to even; a pair with the dummy column K - 1 >= k is skipped).
// --8<-- [start:jacobi_sweeps]
template <class T>
void jacobi_sweeps(T* w, T* v, int64_t len, int64_t k) {
  const double tol = std::sqrt(static_cast<double>(len)) * std::numeric_limits<T>::epsilon();
  const JacobiSimd* simd = nullptr;
  if constexpr (std::is_same_v<T, float>) simd = jacobi_simd_active();
  std::vector<double> norm2(k);
  const int64_t K = k + (k & 1);
  std::vector<int64_t> player(K);
  for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
    for (int64_t j = 0; j < k; ++j) norm2[j] = dot(w + j * len, w + j * len, len);  // fresh each sweep
    std::iota(player.begin(), player.end(), int64_t{0});
    int64_t rotations = 0;
    for (int64_t round = 0; round + 1 < K; ++round) {
      for (int64_t i = 0; i < K / 2; ++i) {
        const int64_t p = std::min(player[i], player[K - 1 - i]), q = std::max(player[i], player[K - 1 - i]);
        if (q < k) rotations += orthogonalize_pair(w, v, norm2.data(), len, k, p, q, tol, simd);
      }
      std::rotate(player.begin() + 1, player.end() - 1, player.end());  // player 0 stays, the rest move one seat
    }
    if (rotations == 0) break;
  }
}
// --8<-- [end:jacobi_sweeps]

// Fill the rows of `basis` (count x len, orthonormal where `valid`) that are not valid with
// unit vectors orthogonal to all the others: the standard basis vector e_c with the largest
// share outside the span so far (the first whose squared residual is at least half the mean
// (len - r) / len), orthogonalized twice ("twice is enough", Giraud et al. 2005) and normalized.
template <class T>
void complete_orthonormal(T* basis, std::vector<char>& valid, int64_t count, int64_t len) {
  std::vector<double> cand(len);
  int64_t next = 0;
  for (int64_t slot = 0; slot < count; ++slot) {
    if (valid[slot]) continue;
    int64_t have = std::count(valid.begin(), valid.begin() + count, char(1));
    const double enough = 0.5 * static_cast<double>(len - have) / static_cast<double>(len);
    std::vector<double> best;
    double best_norm2 = -1;
    for (int64_t tried = 0; tried < len; ++tried, next = (next + 1) % len) {
      std::fill(cand.begin(), cand.end(), 0.0);
      cand[next] = 1;
      for (int pass = 0; pass < 2; ++pass)
        for (int64_t j = 0; j < count; ++j) {
          if (!valid[j]) continue;
          const T* b = basis + j * len;
          double proj = 0;
          for (int64_t i = 0; i < len; ++i) proj += cand[i] * b[i];
          for (int64_t i = 0; i < len; ++i) cand[i] -= proj * b[i];
        }
      const double n2 = std::inner_product(cand.begin(), cand.end(), cand.begin(), 0.0);
      if (n2 > best_norm2) { best_norm2 = n2; best = cand; }
      if (n2 >= enough) { next = (next + 1) % len; break; }
    }
    const double inv = 1 / std::sqrt(best_norm2);
    for (int64_t i = 0; i < len; ++i) basis[slot * len + i] = static_cast<T>(best[i] * inv);
    valid[slot] = 1;
  }
}

template <class T>
bool all_finite(const T* a, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    if (!std::isfinite(a[i])) return false;
  return true;
}

// One matrix a (m, n). u (m, ucols), vh (vrows, n) may be null; s (k).
template <class T>
void svd_one(const T* a, T* u, T* s, T* vh, int64_t m, int64_t n, bool full) {
  const bool transposed = m < n;  // work on B = A^T: its columns are A's rows
  const int64_t len = transposed ? n : m, k = std::min(m, n);
  const bool vectors = u != nullptr;
  std::vector<T> w(k * len), v(vectors ? k * k : 0);
  for (int64_t j = 0; j < k; ++j)
    for (int64_t i = 0; i < len; ++i) w[j * len + i] = transposed ? a[j * n + i] : a[i * n + j];
  for (int64_t j = 0; j < k && vectors; ++j) v[j * k + j] = T(1);
  jacobi_sweeps(w.data(), vectors ? v.data() : nullptr, len, k);

  std::vector<double> sigma(k);
  for (int64_t j = 0; j < k; ++j) sigma[j] = std::sqrt(dot(&w[j * len], &w[j * len], len));
  std::vector<int64_t> order(k);
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return sigma[x] > sigma[y]; });
  for (int64_t j = 0; j < k; ++j) s[j] = static_cast<T>(sigma[order[j]]);
  if (!vectors) return;

  // the left singular vectors of B, as rows: u_j = w_order[j] / sigma, completed to `count`
  const int64_t count = full ? len : k;
  std::vector<T> left(count * len, T(0));
  std::vector<char> valid(count, 0);
  for (int64_t j = 0; j < k; ++j) {
    const double sj = sigma[order[j]];
    if (!(sj > 0)) continue;
    for (int64_t i = 0; i < len; ++i) left[j * len + i] = static_cast<T>(w[order[j] * len + i] / sj);
    valid[j] = 1;
  }
  complete_orthonormal(left.data(), valid, count, len);
  // B = Ub S Vb^T, with Vb's column j = row order[j] of v. A = B (m >= n): U = Ub, Vh = Vb^T.
  // A = B^T (m < n): U = Vb, Vh = Ub^T.
  T* ub_out = transposed ? vh : u;  // where Ub goes: columns of U, or rows of Vh
  T* vb_out = transposed ? u : vh;
  for (int64_t j = 0; j < count; ++j)
    for (int64_t i = 0; i < len; ++i) {
      if (transposed) ub_out[j * len + i] = left[j * len + i];  // row j of Vh (n wide)
      else ub_out[i * count + j] = left[j * len + i];           // column j of U (count wide)
    }
  for (int64_t j = 0; j < k; ++j)
    for (int64_t i = 0; i < k; ++i) {
      if (transposed) vb_out[i * k + j] = v[order[j] * k + i];  // column j of U (m = k wide)
      else vb_out[j * k + i] = v[order[j] * k + i];             // row j of Vh (n = k wide)
    }
}

}  // namespace

int64_t svd_jacobi(const void* a, void* u, void* s, void* vh, DType dtype, int64_t batch, int64_t m, int64_t n,
                   bool full_matrices) {
  const int64_t k = std::min(m, n), len = std::max(m, n);
  const int64_t ucols = full_matrices ? m : k, vrows = full_matrices ? n : k;
  std::atomic<int64_t> non_finite{0};
  // a matrix costs ~8 sweeps x k^2 / 2 pairs x ~10 len flops: chunks of at least ~1e5 flops
  const int64_t grain = std::max<int64_t>(1, 100000 / std::max<int64_t>(40 * k * k * len, 1));
  MINIDL_DISPATCH_FLOAT(dtype, "linalg.svd", {
    const T* pa = static_cast<const T*>(a);
    T* pu = static_cast<T*>(u);
    T* ps = static_cast<T*>(s);
    T* pv = static_cast<T*>(vh);
    parallel_for(batch, grain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const T* ai = pa + i * m * n;
        if (!all_finite(ai, m * n)) {
          ++non_finite;
          continue;
        }
        svd_one(ai, pu ? pu + i * m * ucols : nullptr, ps + i * k, pv ? pv + i * vrows * n : nullptr, m, n,
                full_matrices);
      }
    });
  });
  return non_finite;
}

}  // namespace minidl
