// Single-precision GEMM for one ISA: the Goto/BLIS blocking and packing around the
// register-blocked micro-kernel of gemm_microkernel.h. Compiled once per instruction set
// (MINIDL_ISA_NS = avx2 | avx512); cpp/ops/gemm/gemm.cpp picks the table and splits the
// work between threads, each of which runs sgemm_block below on its own part of C.
//
// --8<-- [start:loop_nest]
// Loop nest (row-major C = alpha * op(A) @ op(B) + beta * C):
//   for jc in N step nc             B panel  kc x nc  packed once, lives in L2
//     for pc in K step kc           (K blocks: beta applies only on the first one)
//       pack B[pc:pc+kc, jc:jc+nc] into NR-column micro-panels (M <= 2 MR: read in place)
//       for ic in M step mc         A block  mc x kc  packed (times alpha), lives in L1
//         pack A[ic:ic+mc, pc:pc+kc] into MR-row micro-panels (N <= 8 NR, or 4 NR for a
//                                                   transposed A: read in place)
//         for jr in nc step NR      B micro-panel kc x NR from L2, re-read (L1) across the ir loop
//           for ir in mc step MR    A micro-panel MR x kc, from the A block in L1
//             micro-kernel: C[ic+ir : +MR, jc+jr : +NR] (+)= Apanel @ Bpanel
// Transposed operands are handled by the packing routines: no transposed copies are made.
// A @ B^T with a narrow side skips all of this for the dot-product kernel, gemm_dot_kernel.h.
// --8<-- [end:loop_nest]

#include "gemm_dot_kernel.h"
#include "gemm_microkernel.h"
#include "core/pack_buffer.h"
#include "gemm.h"
#include "gemm_blocking.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

// --8<-- [start:block_sizes]
// Block sizes: from the model of the CPU's caches in gemm_blocking.cpp (kc: a kc x NR B
// micro-panel and an MR x kc A micro-panel in L1, deeper for a C piece larger than half of L2;
// mc: the A block in L1; nc: the B panel in half of L2), built once per kernel set. K is cut
// into equal blocks of at most kc (K = 300: 150 + 150, not 256 + 44).
const GemmBlockingModel& model_blocking() {
  static const GemmBlockingModel b = gemm_blocking_model(cpu_caches(), kMR, kNR, kVW);
  return b;
}
// --8<-- [end:block_sizes]
constexpr int64_t kDirectTransposedLd = 512;  // floats, see sgemm_block
constexpr int64_t kDirectBLd = 1024;          // floats, see sgemm_block
constexpr int64_t kDirectBPanels = kNV > 2 ? 4 : 2;  // see sgemm_block
// The GEMVs sum K in blocks of this many terms (for precision, not for a cache: see below; the
// AVX2 set used its cache block of 256 here before the block sizes came from the model).
constexpr int64_t kGemvKBlock = 512;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

thread_local PackBuffer<float> t_pack_a, t_pack_b;  // pack_buffer.h

// alpha * op(A)[i0 : i0+mc, p0 : p0+kc] into MR-row micro-panels: panel p (rows p*MR..) at
// dst + p*MR*kc, element (r, k) at [k*MR + r]; rows past mc are zero.
void pack_a(bool ta, const float* A, int64_t lda, int64_t i0, int64_t p0, int64_t mc,
            int64_t kc, float alpha, float* dst) {
  if (!ta) {  // A stored M x K: MR rows at a time, transposed in registers
    for (int64_t ip = 0; ip < mc; ip += kMR)
      pack_a_panel(A + (i0 + ip) * lda + p0, lda, static_cast<int>(min64(kMR, mc - ip)), kc, alpha, dst + ip * kc);
    return;
  }
  // A stored K x M: the mc values of one k are one contiguous piece of a row. Walk the rows
  // in order and deal each row's piece out to the micro-panels (MR values, one masked vector
  // each): the source streams row by row. Walking one micro-panel at a time down kc rows
  // instead touched a new page per row (lda = 1024 floats is 4 KiB) and measured 1.5-2%
  // slower for the whole dW = dY^T X GEMM (2048 x 1024 dY, 1 and 2 threads).
  // The pieces of consecutive rows lie lda floats apart, usually on different 4 KiB pages,
  // where the hardware prefetchers do not follow, so each row's piece came from memory as the
  // loop reached it: the packing took 18-19% of the weight gradient (4096 x 1024)^T @ 4096 x 256
  // (perf samples, 1 thread).
  // The piece kPackAheadRows rows further down is prefetched instead: one row's piece is
  // dealt out in about mc / MR (12 for mc = 72) masked moves, ~20 cycles by their count, so 32
  // rows ahead is ~600 cycles, more than one memory latency (~100 ns). Measured (Intel Xeon
  // family 6 model 167, KVM, 1 thread, CPU time, load average 4-8 from other jobs): the
  // packing's share of that product
  // (perf samples, two runs each) 17.6 / 19.4% -> 12.7 / 12.8%; the GPT block's four weight
  // gradients, the two builds alternating in one process, min of 11, 11 and 15, three runs:
  // (4096 x 256)^T @ 4096 x 256 4.06 -> 3.48, 4.07 -> 3.58, 4.09 -> 3.74 ms (9-14% faster);
  // (4096 x 768)^T @ 4096 x 256 10.95 -> 10.18, 11.81 -> 11.57, 10.99 -> 11.04; (4096 x 1024)^T @
  // 4096 x 256 16.26 -> 15.86, 15.74 -> 15.68, 16.09 -> 16.06; (4096 x 256)^T @ 4096 x 1024
  // (lda 256: one page holds 4 rows) 15.06 -> 14.78, 14.75 -> 14.89, 14.13 -> 14.51. Beside
  // the first, within the noise: the products that do not take this path moved by up to 8%
  // either way in the same runs. 8 and 16 rows ahead measured within the noise of 32. Tried and dropped (no gain beyond the noise):
  // prefetching the next A block's source, and the next K block of B, into L2 a few lines per
  // micro-kernel call while the current block computes (the packing's share fell to ~9-10%,
  // but the prefetches themselves then took ~4%, stalled as the loads had been: one core here
  // copies ~10 GB/s), and packing one micro-panel at a time with unmasked 8-float moves (the
  // same share). What memory costs these products is then mostly reading A and B once:
  // packing B is 16% of (4096 x 256)^T @ 4096 x 1024, whose B (16 MiB) streams from memory.
  constexpr int64_t kPackAheadRows = 32;
  const Vec va = Vec::set1(alpha);
  const int64_t full = mc / kMR * kMR;
  for (int64_t k = 0; k < kc; ++k) {
    const float* s = A + (p0 + k) * lda + i0;
    if (k + kPackAheadRows < kc) {  // every line of the piece, one more when it starts mid-line
      const char* ahead = reinterpret_cast<const char*>(s + kPackAheadRows * lda);
      for (int64_t byte = 0; byte < mc * int64_t(sizeof(float)) + 64; byte += 64)
        _mm_prefetch(ahead + byte, _MM_HINT_T0);
    }
    float* d = dst + k * kMR;
    int64_t ip = 0;
    for (; ip < full; ip += kMR) (va * Vec::load_partial(s + ip, kMR)).store_partial(d + ip * kc, kMR);
    if (ip < mc) (va * Vec::load_partial(s + ip, static_cast<int>(mc - ip))).store_partial(d + ip * kc, kMR);
  }
}

// op(B)[p0 : p0+kc, j0 : j0+nc] into NR-column micro-panels: panel q (columns q*NR..) at
// dst + q*NR*kc, element (k, j) at [k*NR + j]; columns past nc are zero.
void pack_b(bool tb, const float* B, int64_t ldb, int64_t p0, int64_t j0, int64_t kc,
            int64_t nc, float* dst) {
  if (!tb) {
    // B stored K x N: walk the kc source rows in order and deal each row's nc values out to
    // the micro-panels (kNV vectors each, zero-padded for a ragged last panel), as pack_a does for
    // a transposed A. Filling one micro-panel at a time instead read kc rows at a stride of
    // ldb for each 128-byte piece: with ldb = 1024 floats a new 4 KiB page every row, where the
    // hardware prefetchers stop, and every next panel came back to the same rows. Measured
    // (Intel Xeon family 6 model 167, 1 thread, CPU time, medians of 41 runs in one process,
    // the two orders alternating, load average 2): the GPT feed-forward weight gradient
    // (4096x256)^T @ 4096x1024, whose B (16 MiB) comes from memory, 17.05 -> 16.36 ms (another
    // run, of 15: 16.78 -> 16.15); 256^3 .. 1024^3 and M x 1024 x 1024 0-2.5% faster,
    // within the noise; nothing slower beyond it; 2 threads within the noise.
    const int64_t full = nc / kNR * kNR;
    const int nr = static_cast<int>(nc - full);
    for (int64_t k = 0; k < kc; ++k) {
      const float* s = B + (p0 + k) * ldb + j0;
      float* d = dst + k * kNR;
      int64_t jp = 0;
      for (; jp < full; jp += kNR)
#pragma GCC unroll 4
        for (int v = 0; v < kNV; ++v) Vec::load(s + jp + v * kVW).store(d + jp * kc + v * kVW);
      if (nr > 0) store_padded_row(s + jp, nr, d + jp * kc);
    }
    return;
  }
  // B stored N x K: column j of op(B) is row j of B, read along k
  for (int64_t jp = 0; jp < nc; jp += kNR) {
    const int nr = static_cast<int>(min64(kNR, nc - jp));
    float* d = dst + jp * kc;
    const float* s = B + (j0 + jp) * ldb + p0;
    int j = 0;
    for (; j + 4 <= nr; j += 4) {
      const float* s0 = s + j * ldb;
      pack4_transposed(s0, s0 + ldb, s0 + 2 * ldb, s0 + 3 * ldb, kc, d + j, kNR, 1.0f);
    }
    for (; j < nr; ++j)
      for (int64_t k = 0; k < kc; ++k) d[k * kNR + j] = s[j * ldb + k];
    for (; j < kNR; ++j)
      for (int64_t k = 0; k < kc; ++k) d[k * kNR + j] = 0.0f;
  }
}

// ---- M = 1: the row-vector product (GEMV) --------------------------------------------
// c (1 x N) = alpha * a (1 x K) @ op(B) + beta * c: a Linear layer on one token, each step of
// batch-1 generation. The blocked path pads the single row of A to a kMR-row micro-panel and
// packs all of B for one use, computing kMR rows to keep one. Here every element of B is
// loaded once, straight from where it is stored, and used once: the product is bound by
// reading B. Measured for x @ W^T on one core of a Xeon (AVX-512), 1 x 256 @ 256 x 1024: 52 us
// blocked, vs 18 us in PyTorch (MKL); the weights of a small GPT-2 (E = 256, 4 layers) moved
// from 2.5x-6x slower than PyTorch's per-token products to about even.
// The row is never transposed-stored in the callers that matter (x @ W^T), so ta stays on the
// blocked path.

// Both GEMVs sum k in blocks of kGemvKBlock, as the blocked path does (a block's sum in registers, then
// added to the running total): a long K summed in one register lane loses precision on
// same-signed terms (x @ x over 10^6 squares: relative error 4e-4, against ~1e-6 blocked).

// B stored N x K (x @ W^T): c[j] = alpha * dot(a, B[j, :]) (+ beta c[j]); four rows at a time
// share each load of a, four accumulators hide the FMA latency.
void gemv_rows(int64_t N, int64_t K, float alpha, const float* a, const float* B, int64_t ldb,
               float beta, float* c) {
  auto finish = [&](int64_t j, float dot) { c[j] = alpha * dot + (beta == 0.0f ? 0.0f : beta * c[j]); };
  int64_t j = 0;
  for (; j + 4 <= N; j += 4) {
    const float *b0 = B + j * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
    float t0 = 0.0f, t1 = 0.0f, t2 = 0.0f, t3 = 0.0f;
    for (int64_t k0 = 0; k0 < K; k0 += kGemvKBlock) {
      const int64_t k1 = min64(K, k0 + kGemvKBlock), kfull = k0 + (k1 - k0) / kVW * kVW;
      const int tail = static_cast<int>(k1 - kfull);
      Vec s0 = Vec::zero(), s1 = Vec::zero(), s2 = Vec::zero(), s3 = Vec::zero();
      for (int64_t k = k0; k < kfull; k += kVW) {
        const Vec x = Vec::load(a + k);
        s0 = fmadd(x, Vec::load(b0 + k), s0);
        s1 = fmadd(x, Vec::load(b1 + k), s1);
        s2 = fmadd(x, Vec::load(b2 + k), s2);
        s3 = fmadd(x, Vec::load(b3 + k), s3);
      }
      if (tail) {
        const Vec x = Vec::load_partial(a + kfull, tail);
        s0 = fmadd(x, Vec::load_partial(b0 + kfull, tail), s0);
        s1 = fmadd(x, Vec::load_partial(b1 + kfull, tail), s1);
        s2 = fmadd(x, Vec::load_partial(b2 + kfull, tail), s2);
        s3 = fmadd(x, Vec::load_partial(b3 + kfull, tail), s3);
      }
      t0 += reduce_add(s0), t1 += reduce_add(s1), t2 += reduce_add(s2), t3 += reduce_add(s3);
    }
    finish(j, t0), finish(j + 1, t1), finish(j + 2, t2), finish(j + 3, t3);
  }
  for (; j < N; ++j) {
    const float* b0 = B + j * ldb;
    float t0 = 0.0f;
    for (int64_t k0 = 0; k0 < K; k0 += kGemvKBlock) {
      const int64_t k1 = min64(K, k0 + kGemvKBlock), kfull = k0 + (k1 - k0) / kVW * kVW;
      const int tail = static_cast<int>(k1 - kfull);
      Vec s0 = Vec::zero();
      for (int64_t k = k0; k < kfull; k += kVW) s0 = fmadd(Vec::load(a + k), Vec::load(b0 + k), s0);
      if (tail) s0 = fmadd(Vec::load_partial(a + kfull, tail), Vec::load_partial(b0 + kfull, tail), s0);
      t0 += reduce_add(s0);
    }
    finish(j, t0);
  }
}

// B stored K x N (x @ W): c[j0 : j0 + 4 kVW] accumulates a[k] * B[k, j0 : ...] in four vector
// registers over each block of k, added into four running totals, written once. A single
// contiguous column (N = 1, the 1-D dot product x @ y) is gemv_rows' one row instead: a
// vector load of 16 k at a time rather than one lane per k.
void gemv_cols(int64_t N, int64_t K, float alpha, const float* a, const float* B, int64_t ldb,
               float beta, float* c) {
  if (N == 1 && ldb == 1) {
    gemv_rows(1, K, alpha, a, B, K, beta, c);
    return;
  }
  const Vec va = Vec::set1(alpha), vb = Vec::set1(beta);
  auto finish = [&](float* cj, Vec acc, int n) {
    Vec out = va * acc;
    if (beta != 0.0f) out = fmadd(vb, Vec::load_partial(cj, n), out);
    out.store_partial(cj, n);
  };
  int64_t j = 0;
  for (; j + 4 * kVW <= N; j += 4 * kVW) {
    Vec t0 = Vec::zero(), t1 = Vec::zero(), t2 = Vec::zero(), t3 = Vec::zero();
    for (int64_t k0 = 0; k0 < K; k0 += kGemvKBlock) {
      const int64_t k1 = min64(K, k0 + kGemvKBlock);
      Vec s0 = Vec::zero(), s1 = Vec::zero(), s2 = Vec::zero(), s3 = Vec::zero();
      for (int64_t k = k0; k < k1; ++k) {
        const Vec x = Vec::set1(a[k]);
        const float* b = B + k * ldb + j;
        s0 = fmadd(x, Vec::load(b), s0);
        s1 = fmadd(x, Vec::load(b + kVW), s1);
        s2 = fmadd(x, Vec::load(b + 2 * kVW), s2);
        s3 = fmadd(x, Vec::load(b + 3 * kVW), s3);
      }
      t0 = t0 + s0, t1 = t1 + s1, t2 = t2 + s2, t3 = t3 + s3;
    }
    finish(c + j, t0, kVW), finish(c + j + kVW, t1, kVW), finish(c + j + 2 * kVW, t2, kVW);
    finish(c + j + 3 * kVW, t3, kVW);
  }
  for (; j < N; j += kVW) {
    const int n = static_cast<int>(min64(kVW, N - j));
    Vec t0 = Vec::zero();
    for (int64_t k0 = 0; k0 < K; k0 += kGemvKBlock) {
      const int64_t k1 = min64(K, k0 + kGemvKBlock);
      Vec s0 = Vec::zero();
      for (int64_t k = k0; k < k1; ++k) s0 = fmadd(Vec::set1(a[k]), Vec::load_partial(B + k * ldb + j, n), s0);
      t0 = t0 + s0;
    }
    finish(c + j, t0, n);
  }
}

// A @ B^T with a narrow side goes to the dot-product kernel (gemm_dot_kernel.h), which packs
// nothing and pads nothing, but pays a fixed ~3 cycles per element of C for its horizontal
// sums and scalar store (reduce4: ~10 shuffles and adds per 4 dot products). Against that,
// per element of C, the packed path pays
//   N <= kVW (one vector): for the zero padding of the micro-tile, whose narrowest form is
//     two vectors wide (microkernel_rows), at least as many wasted FMAs as useful ones
//     (N = 10: 2.2 x). At N = 24 and 32 the dot form measured 1.6-1.8x slower than the
//     two-vector tile (128x512 @ (32x512)^T 45 vs 29 us, 512x256 @ (32x256)^T 83 vs 49; AVX-512);
//   M small: for transposing op(B) into panels, ~0.375 cycle per element of B (4x4 SSE
//     transposes, by port counts: 8 shuffles on 2 ports + 4 stores per 16 floats, ~6 cycles)
//     spread over the M rows of C, 0.375 K / M cycles. Dot wins while 3 < 0.375 K / M, i.e.
//     M < K / 8; the measured boundary agrees:
// Measured (Xeon family 6 model 167, 1 thread, dot vs packed, x (N x K)^T with N = 1024):
// M = 8, K = 256: 41 vs 64 us; M = 16, K = 256: 79 vs 90; M = 24, K = 512: 263 vs 345;
// M = 16, K = 128: 47 vs 45 (the boundary); M = 24, K = 128: 70 vs 58; M = 32, K = 256: 160 vs
// 137, so those stay packed. N = 10 (the classifier layer 128x512 @ (10x512)^T): 10-15 us vs
// 42-52. K below one vector would leave most lanes of every FMA empty: those stay packed.
constexpr int64_t kDotMinK = kVW;
inline bool use_dot_form(bool ta, bool tb, int64_t M, int64_t N, int64_t K) {
  return !ta && tb && K >= kDotMinK && (N <= kVW || 8 * M < K);
}

// C = beta * C + bias (bias: N values added to every row; null: none), a pass over C for the
// paths that do not fuse the bias into their stores
void scale_add_bias(int64_t M, int64_t N, float beta, const float* bias, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      C[i * ldc + j] = (beta == 0.0f ? 0.0f : beta * C[i * ldc + j]) + (bias ? bias[j] : 0.0f);
}

// C = alpha * op(A) @ op(B) + beta * C (+ bias, N values added to every row, when not null) on
// the calling thread. M, N >= 1; K == 0 or alpha == 0 leave only beta * C (+ bias; A and B are
// not read). The blocked path adds the bias in the micro-kernel's stores of the first K block;
// the GEMV and dot-product paths (small products) write it into C first and accumulate onto it.
void sgemm_block_bias(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                      int64_t lda, const float* B, int64_t ldb, float beta, const float* bias, float* C,
                      int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_add_bias(M, N, beta, bias, C, ldc);
    return;
  }
  const bool gemv = M == 1 && !ta;
  // One column (N = 1: a matrix times a vector, A @ x, torch.mv) with x contiguous and A
  // row-major: c[i] = dot(A[i, :], x) is gemv_rows on the transposed product (c^T = x^T A^T,
  // A's rows the "B rows"), reading A once. The blocked path packed A for a single column, and
  // the dot form's horizontal sums per element of C stalled on the long rows: 512 x 8192 @
  // 8192 took 2.7 ms against PyTorch's 0.67 (Xeon family 6 model 167, 1 thread).
  const bool gemv_column = N == 1 && M > 1 && !ta && (tb || ldb == 1) && ldc == 1;
  if (bias && (gemv || gemv_column || use_dot_form(ta, tb, M, N, K))) {
    scale_add_bias(M, N, beta, bias, C, ldc);
    beta = 1.0f;
    bias = nullptr;
  }
  if (gemv) {  // one row: the GEMV above (before the dot form, which would also take x @ W^T)
    (tb ? gemv_rows : gemv_cols)(N, K, alpha, A, B, ldb, beta, C);
    return;
  }
  if (gemv_column) {
    gemv_rows(M, K, alpha, B, A, lda, beta, C);
    return;
  }
  if (use_dot_form(ta, tb, M, N, K)) {
    sgemm_dot(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  GemmBlocking blocks;
  if (!gemm_blocking_forced(&blocks)) {
    const GemmBlockingModel& model = model_blocking();
    blocks = model.for_product(M, N, K);
  }
  const int64_t mc_step = (blocks.mc + kMR - 1) / kMR * kMR, nc_step = (blocks.nc + kNR - 1) / kNR * kNR;
  const int64_t kc_limit = blocks.kc;
  const int64_t k_blocks = (K + kc_limit - 1) / kc_limit;
  const int64_t kc_max = (K + k_blocks - 1) / k_blocks;
  const int64_t mc_max = min64((M + kMR - 1) / kMR * kMR, mc_step);
  const int64_t nc_max = min64((N + kNR - 1) / kNR * kNR, nc_step);
  // Small M (one A block) with B stored N x K (x @ W.T, the Linear layer): each B element is
  // used by only M rows, so packing the whole kc x nc panel first and reading it back later
  // costs an L3 round trip; pack each B micro-panel right before the ir loop uses it instead
  // (+2-4% at 32 x 1024 x 1024). Not for B stored K x N: a micro-panel then reads kc rows at
  // a stride of ldb, which measured 14% slower than packing the whole panel row by row.
  const bool fuse_b = M <= mc_step && tb;
  // Narrow C (N <= 8 vectors, 128 floats with AVX-512, 64 with AVX2; 16 vectors for a
  // row-major A, see the end of this comment): the micro-kernel reads A
  // where it lies instead of from a packed copy, as gemm_lowp_simd.cpp does. Packing A costs
  // about 0.5 cycle per element (4x4 transposes for a row-major A; masked, line-splitting
  // stores for a transposed one), i.e. kVW / N of the micro-kernels' time (AVX-512: 2 x 16
  // FMA/cycle; >= 1/8 at N = 128, 1/4 at N = 64), for a block only <= 4 passes then re-read.
  // (Counted in vectors, not micro-panels: the cost ratio depends on N and the vector width,
  // not on the tile; the measurements below ran with the 12 x 32 tile, 2 vectors wide.)
  // Measured (Intel Xeon family 6 model 167, 1 thread, paired in one process): einsum's
  // attention products 256x256 @ 256x64 51.6 -> 38.5 us and (256x256)^T @ 256x64 66.9 -> 49.7;
  // 512x512 @ (128x512)^T 397 -> 371, (256x512)^T @ 256x128 216 -> 201. At N = 512..1024
  // direct and packed measured within noise, so those keep packing (the block is re-read
  // 16-32 times there). A transposed A read in place moves lda floats per k: up to 2 KiB
  // (two k rows per 4 KiB page) it measured faster as above; at lda = 2048 (a new page every
  // k, where the hardware prefetchers stop) 2-3x slower: (2048x2048)^T @ 2048x128.
  // A row-major A is read in place up to 16 vectors (N <= 256 with AVX-512, 128 with
  // AVX2), where packing it still costs kVW / N = 1/16 of the micro-kernels' time: the GPT
  // block's dX = dY W and x W^T products with 256 outputs (1 thread, min of 15 runs paired in
  // one process, load average 4; AVX-512) 4096 x 768 @ 768 x 256 9.09 -> 8.13 ms, 4096 x 1024
  // @ 1024 x 256 12.98 -> 11.99, 4096 x 1024 @ (256 x 1024)^T 12.77 -> 11.96; at K = 256 (4096 x
  // 256 @ 256 x 256) and on other shapes with N in (128, 256] (512 x 512 @ 512 x 256, 4096 x 300
  // @ 300 x 200, 1024 x 4096 @ 4096 x 256) 0-6% faster; AVX2, N = 128: 4096 x 1024 @ 1024 x 128
  // 10.9 -> 9.7. A transposed A stays at 4 micro-panels: (4096 x 256)^T @ 4096 x 256 (the
  // out_proj weight gradient, lda = 256) measured 5-8% slower read in place at N = 256.
  const int64_t direct_a_vectors = ta ? 8 : 16;
  const bool direct_a = N <= direct_a_vectors * kVW && (!ta || lda <= kDirectTransposedLd);
  const int64_t a_r = ta ? 1 : lda, a_k = ta ? lda : 1;  // element (r, k) of op(A) at A[r a_r + k a_k]
  // Short C (at most kDirectBPanels A micro-panels: AVX-512 4, i.e. 24 rows, the two panels of
  // the 12-row tile the measurements below ran with; AVX2 2, 12 rows, as before) with
  // row-major op(B): the micro-kernel
  // reads B's rows in place, since packing copies each element of B (a full round trip
  // through the cache) to be read only once or twice. Measured (Intel Xeon family 6 model 167,
  // 1 thread, paired in one process): (128x10)^T @ 128x512, a product of the MLP's double
  // backward, 15.1 -> 8.0 us; 12x512 @ 512x512 67.6 -> 35.3; 24x512 @ 512x512 107 -> 75;
  // (256x24)^T @ 256x1024 119 -> 74. With 3 micro-panels (M = 36, K = N = 1024) it measured
  // 7% slower and at M = 192, ldb = 1024 twice as slow (B's rows at a 4 KiB stride collide in
  // the same L1 sets when re-read): reuse wants the packed copy. Wide B rows too: reading
  // kc rows at a stride of ldb > 1024 floats in place measured 1.4-1.5x slower (12 x 4096 @
  // 4096x4096, 24 x 2048 @ 2048x2048: a new page every k, so no prefetch, while packing
  // streams along the rows); up to ldb = 1024 (8 x 2048 @ 2048x1024: 1.2-2.5 -> 0.59 ms) it
  // still won. With the 6-row tile, 24 rows read B in place four times and still win
  // (6 x 64, paired in one run, load average 3: 18x512 @ 512x512 82 -> 63 us, 24x512 @ 512x512
  // 91 -> 81), though less than the 12-row tile did (58 and 75 us).
  const bool direct_b = !tb && M <= kDirectBPanels * kMR && ldb <= kDirectBLd;
  float* pa = direct_a ? nullptr : t_pack_a.get(mc_max * kc_max);
  float* pb = t_pack_b.get((fuse_b || direct_b ? kNR : nc_max) * kc_max);
  for (int64_t jc = 0; jc < N; jc += nc_step) {
    const int64_t nc = min64(nc_step, N - jc);
    for (int64_t pc = 0; pc < K; pc += kc_max) {
      const int64_t kc = min64(kc_max, K - pc);
      const float beta_pc = pc == 0 ? beta : 1.0f;
      const float* bias_pc = pc == 0 ? bias : nullptr;
      if (!fuse_b && !direct_b) pack_b(tb, B, ldb, pc, jc, kc, nc, pb);
      for (int64_t ic = 0; ic < M; ic += mc_step) {
        const int64_t mc = min64(mc_step, M - ic);
        if (!direct_a) pack_a(ta, A, lda, ic, pc, mc, kc, alpha, pa);
        for (int64_t jr = 0; jr < nc; jr += kNR) {
          const int nr = static_cast<int>(min64(kNR, nc - jr));
          // direct_b: full micro-panels straight from B's rows, a ragged last one packed
          const bool b_in_place = direct_b && nr == kNR;
          if (fuse_b || (direct_b && !b_in_place)) pack_b(tb, B, ldb, pc, jc + jr, kc, nr, pb);
          const float* bp = b_in_place ? B + pc * ldb + jc + jr : fuse_b || direct_b ? pb : pb + jr * kc;
          const int64_t b_step = b_in_place ? ldb : kNR;
          float* cc = C + ic * ldc + jc + jr;
          const float* bias_tile = bias_pc ? bias_pc + jc + jr : nullptr;
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            const int mr = static_cast<int>(min64(kMR, mc - ir));
            if (direct_a)
              microkernel_rows<kMR, true>(mr, kc, A + (ic + ir) * a_r + pc * a_k, bp, cc + ir * ldc, ldc, nr,
                                          beta_pc, a_r, a_k, alpha, b_step, bias_tile);
            else
              microkernel_rows<kMR>(mr, kc, pa + ir * kc, bp, cc + ir * ldc, ldc, nr, beta_pc, 0, 0, 1.0f, b_step,
                                    bias_tile);
          }
        }
      }
    }
  }
}

void sgemm_block(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  sgemm_block_bias(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, nullptr, C, ldc);
}

}  // namespace

extern const GemmSimd gemm_simd = {&sgemm_block, &sgemm_block_bias, kMR, kNR, kVW};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
