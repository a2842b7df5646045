// General matrix multiply C = alpha op(A) @ op(B) + beta C: which path runs, and how C is
// split between threads. The reference, gemm_reference, is the textbook triple loop at the top
// of gemm.h: a template in the header rather than a function here, because attention.cpp's
// scalar tiles call it with constant arguments and need it inlined (out of line, their tile
// products ran ~8% more instructions, measured with callgrind).
//
// Forward and backward: GEMM is its own backward. For C = A @ B the gradients are two more
// products, dA = dC @ B^T and dB = A^T @ dC (python/minidl/ops/gemm.py, MatmulBackward), so
// the kernels here only ever compute the forward formula, with the transpose flags.
//
// Which path runs: sgemm picks the active ISA's kernel (cpp/ops/gemm/gemm_simd.cpp: packing +
// register-blocked micro-kernel) or, for the "scalar" set and for dgemm, the blocked C++
// template below, which has the same Goto/BLIS structure with a small micro-tile the compiler
// vectorizes with the baseline ISA. Both are tested against gemm_reference
// (tests/cpp/test_kernels.cpp, tests/test_gemm.py).
//
// Threads: C is cut into one independent piece per thread, along N (whole NR-column panels)
// when N >= M, else along M (whole MR-row panels). Each thread runs the single-threaded
// blocked GEMM on its piece, i.e. the BLIS jc (or ic) loop is the parallel one and every
// thread packs its own panels. The price is that the operand that is not split (A when
// splitting N) is packed once per thread: O(min(M, N) * K) extra copies against
// O(M * N * K / threads) FMAs per thread. In exchange there is no barrier anywhere, which
// matters on small machines shared with other jobs, where a descheduled thread stalls every
// barrier of the team.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "core/dispatch.h"
#include "gemm_blocking.h"
#include "core/parallel.h"

MINIDL_SIMD_TABLE(minidl::GemmSimd, gemm_simd)

namespace minidl {
namespace {

// ---- portable blocked GEMM ---------------------------------------------------------
// Block sizes as in gemm_simd.cpp: kc x NR B micro-panel in L1, mc x kc A block in L2,
// kc x nc B panel in L2/L3. The micro-tile is 6 x 32 bytes (6 x 8 floats, 6 x 4 doubles):
// 12 SSE accumulators + 2 for B + 1 for A fit the 16 xmm registers of baseline x86-64, and the
// compiler vectorizes the j loop (~32 GFLOP/s float on one Zen 5 core with SSE2 only).
template <class T>
struct Blocking {
  static constexpr int MR = 6, NR = 32 / int(sizeof(T));
  static constexpr int64_t KC = 256, MC = 120, NC = 2048;
};

template <class T>
void pack_a_portable(bool ta, const T* A, int64_t lda, int64_t i0, int64_t p0, int64_t mc,
                     int64_t kc, T alpha, T* dst) {
  constexpr int MR = Blocking<T>::MR;
  for (int64_t ip = 0; ip < mc; ip += MR) {
    T* d = dst + ip * kc;
    for (int64_t k = 0; k < kc; ++k)
      for (int r = 0; r < MR; ++r) {
        const int64_t i = i0 + ip + r, kk = p0 + k;
        d[k * MR + r] = ip + r < mc ? alpha * (ta ? A[kk * lda + i] : A[i * lda + kk]) : T(0);
      }
  }
}

template <class T>
void pack_b_portable(bool tb, const T* B, int64_t ldb, int64_t p0, int64_t j0, int64_t kc,
                     int64_t nc, T* dst) {
  constexpr int NR = Blocking<T>::NR;
  for (int64_t jp = 0; jp < nc; jp += NR) {
    T* d = dst + jp * kc;
    for (int64_t k = 0; k < kc; ++k)
      for (int j = 0; j < NR; ++j) {
        const int64_t jj = j0 + jp + j, kk = p0 + k;
        d[k * NR + j] = jp + j < nc ? (tb ? B[jj * ldb + kk] : B[kk * ldb + jj]) : T(0);
      }
  }
}

// C tile (mr x nr) = a_panel @ b_panel + beta * C (+ bias[j], when not null)
template <class T>
void microkernel_portable(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int mr, int nr,
                          T beta, const T* bias) {
  constexpr int MR = Blocking<T>::MR, NR = Blocking<T>::NR;
  T acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR)
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NR; ++j) acc[r][j] += a[r] * b[j];
  for (int r = 0; r < mr; ++r)
    for (int j = 0; j < nr; ++j) {
      T& cij = c[r * ldc + j];
      cij = (beta == T(0) ? acc[r][j] : acc[r][j] + beta * cij) + (bias ? bias[j] : T(0));
    }
}

template <class T>
void gemm_blocked(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, const T* B, int64_t ldb, T beta, const T* bias, T* C, int64_t ldc) {
  using Bk = Blocking<T>;
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j)
        C[i * ldc + j] = (beta == T(0) ? T(0) : beta * C[i * ldc + j]) + (bias ? bias[j] : T(0));
    return;
  }
  thread_local std::vector<T> pack_a, pack_b;
  const int64_t kc_max = std::min(K, Bk::KC);
  pack_a.resize(std::min((M + Bk::MR - 1) / Bk::MR * Bk::MR, Bk::MC) * kc_max);
  pack_b.resize(std::min((N + Bk::NR - 1) / Bk::NR * Bk::NR, Bk::NC) * kc_max);
  for (int64_t jc = 0; jc < N; jc += Bk::NC) {
    const int64_t nc = std::min(Bk::NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += Bk::KC) {
      const int64_t kc = std::min(Bk::KC, K - pc);
      pack_b_portable(tb, B, ldb, pc, jc, kc, nc, pack_b.data());
      for (int64_t ic = 0; ic < M; ic += Bk::MC) {
        const int64_t mc = std::min(Bk::MC, M - ic);
        pack_a_portable(ta, A, lda, ic, pc, mc, kc, alpha, pack_a.data());
        for (int64_t jr = 0; jr < nc; jr += Bk::NR)
          for (int64_t ir = 0; ir < mc; ir += Bk::MR)
            microkernel_portable<T>(kc, pack_a.data() + ir * kc, pack_b.data() + jr * kc,
                                    C + (ic + ir) * ldc + jc + jr, ldc,
                                    int(std::min<int64_t>(Bk::MR, mc - ir)),
                                    int(std::min<int64_t>(Bk::NR, nc - jr)), pc == 0 ? beta : T(1),
                                    bias && pc == 0 ? bias + jc + jr : nullptr);
      }
    }
  }
}

// ---- threading ---------------------------------------------------------------------
// kParallelMinFma (core/parallel.h): below it, one thread.

// (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc); bias: N values or null
template <class T>
using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*,
                        int64_t, T, const T*, T*, int64_t);

// Runs fn on one piece of C per thread (see the top of the file); mr/nr: piece granularity.
template <class T>
void gemm_threaded(GemmFn<T> fn, int mr, int nr, bool ta, bool tb, int64_t M, int64_t N,
                   int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta,
                   const T* bias, T* C, int64_t ldc) {
  int64_t nt = num_threads();
#ifdef _OPENMP
  if (omp_in_parallel()) nt = 1;
#endif
  if (M * N * std::max<int64_t>(K, 1) < kParallelMinFma) nt = 1;
  const int64_t n_units = (N + nr - 1) / nr, m_units = (M + mr - 1) / mr;
  // split the larger dimension (the other operand is the one every thread packs)
  const bool split_n = N >= M ? n_units >= 2 : m_units < 2;
  const int64_t units = split_n ? n_units : m_units;
  nt = std::min(nt, units);
  if (nt <= 1) {
    fn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(static_cast<int>(nt))
  {
    const int64_t t = omp_get_thread_num(), T_ = omp_get_num_threads();
    const int64_t u0 = units * t / T_, u1 = units * (t + 1) / T_;
    if (split_n) {
      const int64_t j0 = u0 * nr, j1 = std::min(N, u1 * nr);
      if (j0 < j1)
        fn(ta, tb, M, j1 - j0, K, alpha, A, lda, tb ? B + j0 * ldb : B + j0, ldb, beta, bias ? bias + j0 : nullptr,
           C + j0, ldc);
    } else {
      const int64_t i0 = u0 * mr, i1 = std::min(M, u1 * mr);
      if (i0 < i1)
        fn(ta, tb, i1 - i0, N, K, alpha, ta ? A + i0 : A + i0 * lda, lda, B, ldb, beta, bias, C + i0 * ldc, ldc);
    }
  }
#endif
}

// --8<-- [start:gemm_batched]
template <class T>
void gemm_batched_impl(GemmFn<T> fn, int mr, int nr, bool ta, bool tb, int64_t batch, int64_t M,
                       int64_t N, int64_t K, T alpha, const T* A, int64_t lda, int64_t sa,
                       const T* B, int64_t ldb, int64_t sb, T beta, T* C, int64_t ldc, int64_t sc) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  const int64_t fma = M * N * std::max<int64_t>(K, 1);
  int nt = num_threads();
#ifdef _OPENMP
  if (omp_in_parallel()) nt = 1;
#endif
  // Many small GEMMs (attention heads): one whole GEMM per thread at a time. Large ones: the
  // threads share each GEMM. "Small" = a quarter of what splitting one GEMM would want.
  if (nt > 1 && batch >= nt && fma < 4 * kParallelMinFma * nt && fma * batch >= kParallelMinFma) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
#endif
    for (int64_t b = 0; b < batch; ++b)
      fn(ta, tb, M, N, K, alpha, A + b * sa, lda, B + b * sb, ldb, beta, nullptr, C + b * sc, ldc);
    return;
  }
  for (int64_t b = 0; b < batch; ++b)
    gemm_threaded<T>(fn, mr, nr, ta, tb, M, N, K, alpha, A + b * sa, lda, B + b * sb, ldb, beta,
                     nullptr, C + b * sc, ldc);
}
// --8<-- [end:gemm_batched]

// --8<-- [start:sgemm_kernel]
GemmFn<float> sgemm_kernel(int* mr, int* nr) {
  if (const GemmSimd* simd = gemm_simd_active()) {
    *mr = simd->mr;
    *nr = simd->nr;
    return simd->sgemm_bias;
  }
  *mr = Blocking<float>::MR;
  *nr = Blocking<float>::NR;
  return &gemm_blocked<float>;
}
// --8<-- [end:sgemm_kernel]

}  // namespace

GemmBlockSizes sgemm_block_sizes(int64_t M, int64_t N, int64_t K) {
  int mr, nr;
  sgemm_kernel(&mr, &nr);
  const GemmSimd* simd = gemm_simd_active();
  if (!simd) return {Blocking<float>::KC, Blocking<float>::MC, Blocking<float>::NC, mr, nr, 1};
  GemmBlocking b;
  if (!gemm_blocking_forced(&b)) {  // what gemm_simd.cpp computes (once) for its sgemm_block
    const GemmBlockingModel model = gemm_blocking_model(cpu_caches(), mr, nr, simd->vw);
    b = model.for_product(M, N, K);
  }
  return {b.kc, (b.mc + mr - 1) / mr * mr, (b.nc + nr - 1) / nr * nr, mr, nr, simd->vw};
}

// --8<-- [start:sgemm_entry]
void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  sgemm_bias(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, nullptr, C, ldc);
}

void sgemm_bias(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, float beta, const float* bias, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  int mr, nr;
  GemmFn<float> fn = sgemm_kernel(&mr, &nr);
  gemm_threaded<float>(fn, mr, nr, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc);
}
// --8<-- [end:sgemm_entry]

void dgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
           const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  dgemm_bias(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, nullptr, C, ldc);
}

void dgemm_bias(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                const double* B, int64_t ldb, double beta, const double* bias, double* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  gemm_threaded<double>(&gemm_blocked<double>, Blocking<double>::MR, Blocking<double>::NR, ta, tb,
                        M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc);
}

void sgemm_batched(bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, int64_t sa, const float* B, int64_t ldb, int64_t sb,
                   float beta, float* C, int64_t ldc, int64_t sc) {
  int mr, nr;
  GemmFn<float> fn = sgemm_kernel(&mr, &nr);
  gemm_batched_impl<float>(fn, mr, nr, ta, tb, batch, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta,
                           C, ldc, sc);
}

void dgemm_batched(bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K, double alpha,
                   const double* A, int64_t lda, int64_t sa, const double* B, int64_t ldb, int64_t sb,
                   double beta, double* C, int64_t ldc, int64_t sc) {
  gemm_batched_impl<double>(&gemm_blocked<double>, Blocking<double>::MR, Blocking<double>::NR, ta,
                            tb, batch, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc);
}

}  // namespace minidl
