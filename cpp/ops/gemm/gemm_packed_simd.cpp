// SGEMM with a pre-packed B for one ISA: C = alpha * A @ op(B) + beta * C where op(B) was packed
// ONCE into the micro-kernel's panel layout and is then reused by many GEMMs. The use case is
// a recurrent layer: W_hh enters every time step's (batch x K) @ (K x G H) product, so packing
// it at every step (what sgemm must do) costs as much as a quarter of each small-M GEMM.
//
// Packed layout (kKCP-deep blocks of K, each holding all NR-column micro-panels of N):
//   block p (k in [p KC, p KC + kc)) starts at p * KC * Npad  (Npad = N rounded up to NR)
//   micro-panel q of block p at + q * NR * kc, element (k, j) at + k * NR + j (zero padded)
// Per call only A is packed (M x K, small for an RNN step), block by block, into a buffer
// the caller provides. Micro-kernel and MR x NR tile: gemm_microkernel.h.
#include "gemm_microkernel.h"
#include "gemm.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

// K block: the B micro-panel (kKCP x NR floats: 64 KiB with AVX-512's 64-wide tile, 16 KiB
// with AVX2) is read by the MR-row A micro-panels of an M-block in turn; with AVX-512 it
// streams from L2 (an RNN step's M = batch is one or a few micro-panels, so it is read once
// or a few times anyway).
constexpr int64_t kKCP = 256;
// M block: the packed A block (kMCP x kKCP floats: 144 KiB with AVX-512, 72 KiB with AVX2, as
// with the 12-row AVX-512 tile before) lives in L2.
constexpr int64_t kMCP = (kVW == 16 ? 144 : 72) / kMR * kMR;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t padded_n(int64_t N) { return (N + kNR - 1) / kNR * kNR; }

int64_t packed_size(int64_t K, int64_t N) { return padded_n(N) * K; }

// op(B) (K x N; B stored N x K when trans_b) -> dst in the layout above. Once per B per call
// (per forward and backward of an RNN layer), 0.5-1.5% of an LSTM step when it was a scalar loop.
void pack_b_once(bool tb, int64_t K, int64_t N, const float* B, int64_t ldb, float* dst) {
  const int64_t npad = padded_n(N);
  for (int64_t pc = 0; pc < K; pc += kKCP) {
    const int64_t kc = min64(kKCP, K - pc);
    float* blk = dst + pc * npad;
    for (int64_t jp = 0; jp < npad; jp += kNR) {
      float* d = blk + jp * kc;
      const int nr = static_cast<int>(min64(kNR, N - jp));
      if (tb) {  // column j of op(B) is row j of B: 4 rows at a time through 4 x 4 transposes
        int j = 0;
        for (; j + 4 <= nr; j += 4) {
          const float* s0 = B + (jp + j) * ldb + pc;
          pack4_transposed(s0, s0 + ldb, s0 + 2 * ldb, s0 + 3 * ldb, kc, d + j, kNR, 1.0f);
        }
        for (; j < kNR; ++j)
          for (int64_t k = 0; k < kc; ++k) d[k * kNR + j] = j < nr ? B[(jp + j) * ldb + pc + k] : 0.0f;
      } else {  // each k row of the panel is a (zero-padded) contiguous copy
        for (int64_t k = 0; k < kc; ++k) store_padded_row(B + (pc + k) * ldb + jp, nr, d + k * kNR);
      }
    }
  }
}

// alpha * A[i0 : i0+mc, p0 : p0+kc] (A row-major M x K) into MR-row micro-panels (k-major).
void pack_a_block(const float* A, int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc, float alpha,
                  float* dst) {
  for (int64_t ip = 0; ip < mc; ip += kMR)
    pack_a_panel(A + (i0 + ip) * lda + p0, lda, static_cast<int>(min64(kMR, mc - ip)), kc, alpha, dst + ip * kc);
}

// Whole A packed ahead of the call (pack_a, e.g. by the threads of an RNN time loop, each for
// its own columns): block (pc, ic) of the blocking below at pc * Mpad + ic * kc (Mpad = M
// rounded up to MR), laid out as pack_a_block writes it.
inline int64_t padded_m(int64_t M) { return (M + kMR - 1) / kMR * kMR; }
int64_t packed_a_size(int64_t M, int64_t K) { return padded_m(M) * K; }

void pack_a_cols(int64_t M, int64_t K, int64_t k0, int64_t k1, const float* A, int64_t lda, float* dst) {
  const int64_t mpad = padded_m(M);
  for (int64_t pc = 0; pc < K; pc += kKCP) {
    const int64_t kc = min64(kKCP, K - pc);
    const int64_t ka = k0 > pc ? k0 : pc, kb = min64(k1, pc + kc);
    if (ka >= kb) continue;
    for (int64_t i = 0; i < mpad; i += kMR) {
      // panel i / MR: block ic = i - i % kMCP, row-panel ip = i % kMCP
      const int64_t ic = i - i % kMCP, ip = i % kMCP;
      float* d = dst + pc * mpad + ic * kc + ip * kc;
      pack_a_panel(A + i * lda + ka, lda, static_cast<int>(min64(kMR, M - i)), kb - ka, 1.0f, d + (ka - pc) * kMR);
    }
  }
}

// Columns [q0 NR, min(q1 NR, N)) of C_b = alpha A @ op(B_b) + beta C_b for nb matrices B_b
// (same K and N, e.g. the gate blocks of W_hh) on the calling thread: each block of A is
// packed once and used for all of them. a_buf holds kMCP x kKCP floats.
//
// Where an LSTM step's time goes here (batch 32 = row tiles of 12 + 12 + 8, 1 thread, perf
// samples, Xeon with 2 MiB L2 per core, 2026-12): the 8-row tail takes 0.7-0.9x the time per
// row of the 12-row tiles, so the M-tail is not what makes the product slower than a large
// GEMM. At H 256 (W_hh 1 MiB, in L2) the product runs within ~7% of the whole-sequence GEMM
// per multiply-add; at H 512 (W_hh 4 MiB, streamed from L3 every step) ~20-25% slower: the
// cost is bringing B in (the 8-row tile, last on a micro-panel already in L1, is the fastest
// per row). Tried and
// dropped, no gain in alternating runs against nn.LSTM: prefetching the next micro-panel into
// L2 during the current one's row tiles (the stall moved onto the prefetches: 11.6% of the
// samples in gemm_packed_b, the micro-kernel's share down by as much), backing the packed
// matrices with 2 MiB pages (forward and fwd+bwd within noise), and walking the panels in
// reverse order every other call so that the end of the last walk might still be in L2
// (recurrent-product / whole-sequence-GEMM sample ratio 2.43-2.59 either way).
void gemm_packed_b(int64_t M, int64_t q0, int64_t q1, int64_t K, int64_t N, float alpha, const float* A,
                   int64_t lda, int nb, const float* const* packed, float beta, float* const* C, int64_t ldc,
                   float* a_buf, const float* a_packed) {
  const int64_t npad = padded_n(N), mpad = padded_m(M);
  if (K <= 0 || alpha == 0.0f) {
    for (int b = 0; b < nb; ++b)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = q0 * kNR; j < min64(q1 * kNR, N); ++j)
          C[b][i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[b][i * ldc + j];
    return;
  }
  for (int64_t pc = 0; pc < K; pc += kKCP) {
    const int64_t kc = min64(kKCP, K - pc);
    const float beta_pc = pc == 0 ? beta : 1.0f;
    for (int64_t ic = 0; ic < M; ic += kMCP) {
      const int64_t mc = min64(kMCP, M - ic);
      const float* ap = a_buf;
      if (a_packed)
        ap = a_packed + pc * mpad + ic * kc;
      else
        pack_a_block(A, lda, ic, pc, mc, kc, alpha, a_buf);
      for (int b = 0; b < nb; ++b) {
        const float* blk = packed[b] + pc * npad;
        for (int64_t q = q0; q < q1; ++q) {
          const int nr = static_cast<int>(min64(kNR, N - q * kNR));
          const float* bp = blk + q * kNR * kc;
          float* cc = C[b] + ic * ldc + q * kNR;
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            const int mr = static_cast<int>(min64(kMR, mc - ir));
            microkernel_rows<kMR>(mr, kc, ap + ir * kc, bp, cc + ir * ldc, ldc, nr, beta_pc);
          }
        }
      }
    }
  }
}

}  // namespace

extern const GemmPackedSimd gemm_packed_simd = {&packed_size,   &pack_b_once,  &gemm_packed_b, &packed_a_size,
                                                &pack_a_cols,   kNR,           kMCP * kKCP};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
