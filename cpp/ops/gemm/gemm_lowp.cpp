// Low-precision GEMM entry points (gemm_lowp.h): path choice, thread splitting, batching and
// the portable path (widen to float32, then sgemm).
//
// Threads: as in gemm.cpp, C is cut into one independent piece per thread along N (whole
// 32-column panels) when N >= M, else along M (whole 12-row panels, 32 for AMX); no barriers.
//
// bfloat16 paths, in the fixed rules' order: AMX tiles (gemm_amx_simd.cpp) when the CPU has
// AMX-BF16 and Linux lets this process use the tile registers; vdpbf16ps (gemm_lowp_simd.cpp) on
// an AVX512-BF16 CPU; else widen to float32 and call sgemm. Which one runs is gemm_lowp_choose's
// (gemm_lowp_tune.cpp): the fixed order, or the fastest measured on this CPU for the shape class.
#include "gemm_lowp.h"

#include <algorithm>
#include <memory>

#if defined(__linux__) && defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "ops/copy/copy.h"
#include "core/dispatch.h"
#include "gemm.h"
#include "core/parallel.h"

MINIDL_SIMD_TABLE(minidl::GemmBf16Simd, gemm_bf16_simd)
MINIDL_SIMD_TABLE(minidl::GemmBf16Simd, gemm_amx_simd)

namespace minidl {
namespace {

// The vdpbf16ps kernel when the active set is AVX-512 and the CPU has AVX512-BF16.
const GemmBf16Simd* bf16_kernel() {
  const GemmBf16Simd* t = gemm_bf16_simd_active();
  if (!t || !t->gemm) return nullptr;
  static const bool has = cpu_has_avx512_bf16();
  return has ? t : nullptr;
}

// AMX-TILE and AMX-BF16 in CPUID, and the tile data state granted by Linux: since kernel 5.16 a
// process must ask for it (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) before its first
// tile instruction, which would otherwise fault. Asked once, for the whole process.
bool amx_ready() {
#if defined(__linux__) && defined(__x86_64__)
  static const bool ready = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool amx_bf16 = (d >> 22) & 1u, amx_tile = (d >> 24) & 1u;
    if (!amx_bf16 || !amx_tile) return false;
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return ready;
#else
  return false;
#endif
}

// The AMX kernel when the active set is AVX-512 and the CPU and OS allow it. Products with fewer
// than 16 rows or columns or 32 k values would fill a fraction of a tile: vdpbf16ps does those.
const GemmBf16Simd* amx_kernel(int64_t M, int64_t N, int64_t K) {
  if (M < 16 || N < 16 || K < 32) return nullptr;
  const GemmBf16Simd* t = gemm_amx_simd_active();
  if (!t || !t->gemm || !bf16_kernel()) return nullptr;
  return amx_ready() ? t : nullptr;
}



// Cuts C into one independent piece per thread, along N (whole nr-column panels) when N >= M,
// else along M (whole mr-row panels), and calls piece(i0, i1, j0, j1) for each; no barriers.
template <class Piece>
void split_among_threads(const GemmBf16Simd* k, int64_t M, int64_t N, int64_t K, Piece piece) {
  int64_t nt = num_threads();
#ifdef _OPENMP
  if (omp_in_parallel()) nt = 1;
#endif
  if (M * N * std::max<int64_t>(K, 1) < kParallelMinFma) nt = 1;
  const int64_t n_units = (N + k->nr - 1) / k->nr, m_units = (M + k->mr - 1) / k->mr;
  const bool split_n = N >= M ? n_units >= 2 : m_units < 2;
  const int64_t units = split_n ? n_units : m_units;
  nt = std::min(nt, units);
  if (nt <= 1) {
    piece(int64_t(0), M, int64_t(0), N);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(static_cast<int>(nt))
  {
    const int64_t t = omp_get_thread_num(), T_ = omp_get_num_threads();
    const int64_t u0 = units * t / T_, u1 = units * (t + 1) / T_;
    if (split_n) {
      const int64_t j0 = u0 * k->nr, j1 = std::min(N, u1 * k->nr);
      if (j0 < j1) piece(int64_t(0), M, j0, j1);
    } else {
      const int64_t i0 = u0 * k->mr, i1 = std::min(M, u1 * k->mr);
      if (i0 < i1) piece(i0, i1, int64_t(0), N);
    }
  }
#endif
}

void bf16_threaded(const GemmBf16Simd* k, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                   float alpha, const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb,
                   float beta, float* C, int64_t ldc) {
  split_among_threads(k, M, N, K, [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    k->gemm(ta, tb, i1 - i0, j1 - j0, K, alpha, ta ? A + i0 : A + i0 * lda, lda, tb ? B + j0 * ldb : B + j0, ldb,
            beta, C + i0 * ldc + j0, ldc);
  });
}

// rows x cols 16-bit matrix (row stride ld) -> contiguous float32 (exact)
void widen(DType dt, const uint16_t* src, int64_t rows, int64_t cols, int64_t ld, float* dst) {
  if (ld == cols || rows == 1) {
    cast_contiguous(src, dt, dst, DType::f32, rows * cols);
    return;
  }
  parallel_for(rows, std::max<int64_t>(1, 65536 / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) cast_contiguous(src + r * ld, dt, dst + r * cols, DType::f32, cols);
  });
}

void check_dtype(DType dt) {
  if (dt != DType::bf16 && dt != DType::f16)
    throw KernelError(std::string("gemm_lowp: expected bfloat16 or float16 operands, got ") + dtype_name(dt));
}

}  // namespace

const char* gemm_lowp_path(DType dt) {
  if (dt != DType::bf16 || !bf16_kernel()) return "convert_f32";
  return amx_kernel(16, 16, 32) ? "amx_bf16" : "avx512_bf16";
}

// --8<-- [start:candidates]
std::vector<GemmLowpPath> gemm_lowp_candidates(DType dt, int64_t M, int64_t N, int64_t K) {
  std::vector<GemmLowpPath> paths;
  if (dt == DType::bf16) {
    if (amx_kernel(M, N, K)) paths.push_back(GemmLowpPath::amx_bf16);
    if (bf16_kernel()) paths.push_back(GemmLowpPath::avx512_bf16);
  }
  paths.push_back(GemmLowpPath::convert_f32);
  return paths;
}
// --8<-- [end:candidates]

// --8<-- [start:on_path]
void gemm_lowp_on_path(GemmLowpPath path, DType dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                       float alpha, const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb,
                       float beta, float* C, int64_t ldc) {
  check_dtype(dt);
  const GemmBf16Simd* native = path == GemmLowpPath::amx_bf16      ? amx_kernel(M, N, K)
                               : path == GemmLowpPath::avx512_bf16 ? bf16_kernel()
                                                                   : nullptr;
  if (path != GemmLowpPath::convert_f32 && (dt != DType::bf16 || !native))
    throw KernelError(std::string("gemm_lowp: path ") + gemm_lowp_path_name(path) + " is not available for " +
                      dtype_name(dt) + " with this CPU, kernel set and shape");
  if (M <= 0 || N <= 0) return;
  if (native) {
    bf16_threaded(native, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Portable path: every bf16 / f16 value is exactly a float32, so widening loses nothing and
  // the result equals sgemm on the widened operands bit for bit. O(MK + KN) conversions
  // against O(MNK) multiply-adds.
  const int64_t Kc = std::max<int64_t>(K, 0);
  const int64_t a_rows = ta ? Kc : M, a_cols = ta ? M : Kc;
  const int64_t b_rows = tb ? N : Kc, b_cols = tb ? Kc : N;
  // uninitialized buffers (every element is written by widen): no memset of O(MK + KN)
  std::unique_ptr<float[]> wa(new float[static_cast<size_t>(std::max<int64_t>(a_rows * a_cols, 1))]);
  std::unique_ptr<float[]> wb(new float[static_cast<size_t>(std::max<int64_t>(b_rows * b_cols, 1))]);
  if (Kc > 0) {
    widen(dt, A, a_rows, a_cols, lda, wa.get());
    widen(dt, B, b_rows, b_cols, ldb, wb.get());
  }
  sgemm(ta, tb, M, N, K, alpha, wa.get(), std::max<int64_t>(a_cols, 1), wb.get(),
        std::max<int64_t>(b_cols, 1), beta, C, ldc);
}
// --8<-- [end:on_path]

// --8<-- [start:gemm_lowp]
void gemm_lowp(DType dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
               const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C,
               int64_t ldc) {
  check_dtype(dt);
  if (M <= 0 || N <= 0) return;
  const GemmLowpPath path = gemm_lowp_choose(dt, ta, tb, M, N, K, A, lda, B, ldb);
  gemm_lowp_on_path(path, dt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
// --8<-- [end:gemm_lowp]

bool gemm_bf16_out(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
                   const uint16_t* B, int64_t ldb, const float* bias, uint16_t* C, int64_t ldc) {
  if (M <= 0 || N <= 0 || K <= 0 || K > kBf16OutMaxK) return false;
  if (K > kAmxKC && K >= 2 * M) return false;  // two passes are faster there (gemm_lowp.h, kAmxKC)
  // only where the 16-bit GEMM of this shape class runs on AMX (the fixed rule, or the tuner's pick)
  if (gemm_lowp_choose(DType::bf16, ta, tb, M, N, K, A, lda, B, ldb) != GemmLowpPath::amx_bf16) return false;
  const GemmBf16Simd* k = amx_kernel(M, N, K);
  if (!k || !k->gemm_bf16_out) return false;
  split_among_threads(k, M, N, K, [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    k->gemm_bf16_out(ta, tb, i1 - i0, j1 - j0, K, ta ? A + i0 : A + i0 * lda, lda, tb ? B + j0 * ldb : B + j0, ldb,
                     bias ? bias + j0 : nullptr, C + i0 * ldc + j0, ldc);
  });
  return true;
}

void gemm_lowp_batched(DType dt, bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K,
                       float alpha, const uint16_t* A, int64_t lda, int64_t sa, const uint16_t* B,
                       int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, int64_t sc) {
  check_dtype(dt);
  if (batch <= 0 || M <= 0 || N <= 0) return;
  // one choice for the whole batch, measured (when it is) on the first product with the team's
  // thread count, though the many-small-GEMMs mode below runs each product on one thread
  const GemmLowpPath path = gemm_lowp_choose(dt, ta, tb, M, N, K, A, lda, B, ldb);
  const GemmBf16Simd* k = path == GemmLowpPath::amx_bf16      ? amx_kernel(M, N, K)
                          : path == GemmLowpPath::avx512_bf16 ? bf16_kernel()
                                                              : nullptr;
  const int64_t fma = M * N * std::max<int64_t>(K, 1);
  int nt = num_threads();
#ifdef _OPENMP
  if (omp_in_parallel()) nt = 1;
#endif
  // Many small GEMMs (attention heads): one whole GEMM per thread at a time, as sgemm_batched.
  if (k && nt > 1 && batch >= nt && fma < 4 * kParallelMinFma * nt && fma * batch >= kParallelMinFma) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
#endif
    for (int64_t b = 0; b < batch; ++b)
      k->gemm(ta, tb, M, N, K, alpha, A + b * sa, lda, B + b * sb, ldb, beta, C + b * sc, ldc);
    return;
  }
  for (int64_t b = 0; b < batch; ++b)
    gemm_lowp_on_path(path, dt, ta, tb, M, N, K, alpha, A + b * sa, lda, B + b * sb, ldb, beta, C + b * sc, ldc);
}

}  // namespace minidl
