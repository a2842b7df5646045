// SGEMM with a pre-packed B for one ISA: C = alpha * A @ op(B) + beta * C where op(B) was packed
// ONCE into the micro-kernel's panel layout and is then reused by many GEMMs. The use case is
// a recurrent layer: W_hh enters every time step's (batch x K) @ (K x G H) product, so packing
// it at every step (what sgemm must do) costs as much as a quarter of each small-M GEMM.
//
// Packed layout (kKCP-deep blocks of K, each holding all NR-column micro-panels of N):
//   block p (k in [p KC, p KC + kc)) starts at p * KC * Npad  (Npad = N rounded up to NR)
//   micro-panel q of block p at + q * NR * kc, element (k, j) at + k * NR + j (zero padded)
// A is not packed at all: the micro-kernel reads its rows in place (M x K, small for an RNN
// step), see gemm_packed_b. Micro-kernel and MR x NR tile: gemm_microkernel.h.
#include "gemm_microkernel.h"
#include "gemm.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

// K block: the B micro-panel (kKCP x NR floats: 64 KiB with AVX-512's 64-wide tile, 16 KiB
// with AVX2) is read by the row tiles of A in turn; with AVX-512 it streams from L2 (an RNN
// step's M = batch is a few tiles: 6 at batch 32).
constexpr int64_t kKCP = 256;
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

// Columns [q0 NR, min(q1 NR, N)) of C_b = alpha A @ op(B_b) + beta C_b for nb matrices B_b
// (same K and N, e.g. the gate blocks of W_hh) on the calling thread.
//
// A (row-major, M x K) is read in place by the micro-kernel, in ceil(M / MR) row tiles of
// near-equal height (32 rows: 5, 5, 6, 5, 5, 6), instead of being packed into MR-row panels
// (6, 6, 6, 6, 6, 2). A step's A is read only N / NR times (4-16), so packing it (0.5 cycle
// per element) did not pay, and the 2-row tail tile (8 multiply-adds per 4 vector loads of B)
// took 1.75x the time per multiply-add of the 6-row tiles. Measured in perf (Intel Xeon
// family 6 model 167, an LSTM layer's forward + backward, H 256, B 32, T 64, input size 1 so
// that the time loop dominates, 1 thread, load average 4-5): packing A was 3.6% of the
// samples and the tail tile 5.1%; the step products' samples against the unchanged
// whole-sequence dW_hh GEMM's went from 2.59 to 2.44 (-6%). Results are the same bits (the
// same sums in the same order). In CPU time (both builds in one process, alternating, min of
// 31-41) the layer's forward and backward moved within the noise of that machine (+-3%).
//
// Where the rest of an LSTM step's time goes here (batch 32, 1 thread, perf samples, Xeon
// with 2 MiB L2 per core, 2026-12): at H 256 (W_hh 1 MiB, in L2) the product runs within ~7%
// of the whole-sequence GEMM per multiply-add; at H 512 (W_hh 4 MiB, streamed from L3 every
// step) ~20-25% slower: the cost is bringing B in. Tried and dropped, no gain in alternating
// runs against nn.LSTM: prefetching the next micro-panel into L2 during the current one's row
// tiles (the stall moved onto the prefetches: 11.6% of the samples in gemm_packed_b, the
// micro-kernel's share down by as much), backing the packed matrices with 2 MiB pages
// (forward and fwd+bwd within noise), walking the panels in reverse order every other call
// so that the end of the last walk might still be in L2 (recurrent-product /
// whole-sequence-GEMM sample ratio 2.43-2.59 either way), and K blocks of 128 instead of 256
// so that a B micro-panel (32 KiB) stays in L1 across the row tiles (LSTM layer forward and
// backward within noise, 2026-12).
void gemm_packed_b(int64_t M, int64_t q0, int64_t q1, int64_t K, int64_t N, float alpha, const float* A,
                   int64_t lda, int nb, const float* const* packed, float beta, float* const* C, int64_t ldc) {
  const int64_t npad = padded_n(N);
  if (K <= 0 || alpha == 0.0f) {
    for (int b = 0; b < nb; ++b)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = q0 * kNR; j < min64(q1 * kNR, N); ++j)
          C[b][i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[b][i * ldc + j];
    return;
  }
  const int64_t tiles = (M + kMR - 1) / kMR;
  for (int64_t pc = 0; pc < K; pc += kKCP) {
    const int64_t kc = min64(kKCP, K - pc);
    const float beta_pc = pc == 0 ? beta : 1.0f;
    for (int b = 0; b < nb; ++b) {
      const float* blk = packed[b] + pc * npad;
      for (int64_t q = q0; q < q1; ++q) {
        const int nr = static_cast<int>(min64(kNR, N - q * kNR));
        const float* bp = blk + q * kNR * kc;
        float* cc = C[b] + q * kNR;
        for (int64_t t = 0; t < tiles; ++t) {
          const int64_t r0 = t * M / tiles, r1 = (t + 1) * M / tiles;
          microkernel_rows<kMR, true>(static_cast<int>(r1 - r0), kc, A + r0 * lda + pc, bp, cc + r0 * ldc, ldc, nr,
                                      beta_pc, lda, 1, alpha);
        }
      }
    }
  }
}

}  // namespace

extern const GemmPackedSimd gemm_packed_simd = {&packed_size, &pack_b_once, &gemm_packed_b, kNR};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
